"""`cnn_light`: the paper's light plain network, two stride-2 convolutions of 8 and 16 filters, each
followed by a max-pooling, and a 16-unit dense layer (docs/paper.md, model 2)."""

from __future__ import annotations

import keras
from keras import layers

from .layers import conv, dense_head, image_input


def build(img_size: int, num_classes: int) -> keras.Model:
    inputs, x = image_input(img_size)
    for i, filters in enumerate((8, 16), start=1):
        x = conv(x, filters, 3, f"conv{i}", strides=2)
        x = layers.MaxPooling2D(2, strides=2, name=f"pool{i}")(x)
    return keras.Model(inputs, dense_head(x, 16, num_classes), name="cnn_light")
