"""`cnn` and `cnn_light`: plain convolution / max-pooling stacks (docs/paper.md, models 1-2).

Initialization: He-normal for the ReLU layers (the standard for ReLU nets trained from scratch),
Keras' default Glorot-uniform for the softmax layer.
"""

from __future__ import annotations

import keras
from keras import layers


def _conv(x, filters, name, strides=1):
    return layers.Conv2D(
        filters, 3, strides=strides, padding="same", activation="relu", kernel_initializer="he_normal", name=name
    )(x)


def _head(x, units, num_classes):
    x = layers.Flatten(name="flatten")(x)
    x = layers.Dense(units, activation="relu", kernel_initializer="he_normal", name="fc1")(x)
    return layers.Dense(num_classes, activation="softmax", name="predictions")(x)


def cnn(img_size: int, num_classes: int) -> keras.Model:
    inputs = keras.Input((img_size, img_size, 3), name="image")
    x = layers.Rescaling(1.0 / 255, name="rescaling")(inputs)
    for i, filters in enumerate((32, 64, 128), start=1):
        x = _conv(x, filters, f"conv{i}")
        x = layers.MaxPooling2D(2, name=f"pool{i}")(x)
    return keras.Model(inputs, _head(x, 128, num_classes), name="cnn")


def cnn_light(img_size: int, num_classes: int) -> keras.Model:
    inputs = keras.Input((img_size, img_size, 3), name="image")
    x = layers.Rescaling(1.0 / 255, name="rescaling")(inputs)
    for i, filters in enumerate((8, 16), start=1):
        x = _conv(x, filters, f"conv{i}", strides=2)
        x = layers.MaxPooling2D(2, strides=2, name=f"pool{i}")(x)
    return keras.Model(inputs, _head(x, 16, num_classes), name="cnn_light")
