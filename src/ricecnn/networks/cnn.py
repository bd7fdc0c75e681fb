"""`cnn`: a plain convolution / max-pooling stack, three convolutions of 32, 64 and 128 filters and a
128-unit dense layer (docs/paper.md, model 1)."""

from __future__ import annotations

import keras
from keras import layers

from .layers import conv, dense_head, image_input


def build(img_size: int, num_classes: int) -> keras.Model:
    inputs, x = image_input(img_size)
    for i, filters in enumerate((32, 64, 128), start=1):
        x = conv(x, filters, 3, f"conv{i}")
        x = layers.MaxPooling2D(2, name=f"pool{i}")(x)
    return keras.Model(inputs, dense_head(x, 128, num_classes), name="cnn")
