"""`googlenet` and `googlenet_light`: Inception v1 without auxiliary heads (docs/paper.md, models 3-4).

Layer names follow the original Caffe GoogLeNet (conv1_7x7_s2, inception_3a, ...). A module's
own layers are named ``<module>_...`` and its output (the Concatenate) is named ``<module>``.

Initialization: He-normal for every ReLU convolution. There is no batch normalization, so the
init alone must keep the activations from vanishing through ~22 layers; He-normal does (Keras'
default Glorot-uniform halves the variance at each ReLU layer, and such a net can sit at chance
accuracy for many epochs). The softmax layer keeps Keras' default Glorot-uniform.
"""

from __future__ import annotations

import keras
from keras import layers


def _conv(x, filters, size, name, strides=1):
    return layers.Conv2D(
        filters, size, strides=strides, padding="same", activation="relu", kernel_initializer="he_normal", name=name
    )(x)


def inception(x, f1, f3r, f3, f5r, f5, pp, name):
    """Inception module: concat of 1x1 | 1x1->3x3 | 1x1->5x5 | 3x3 max-pool->1x1 branches."""
    b1 = _conv(x, f1, 1, f"{name}_1x1")
    b3 = _conv(x, f3r, 1, f"{name}_3x3_reduce")
    b3 = _conv(b3, f3, 3, f"{name}_3x3")
    b5 = _conv(x, f5r, 1, f"{name}_5x5_reduce")
    b5 = _conv(b5, f5, 5, f"{name}_5x5")
    bp = layers.MaxPooling2D(3, strides=1, padding="same", name=f"{name}_pool")(x)
    bp = _conv(bp, pp, 1, f"{name}_pool_proj")
    return layers.Concatenate(name=name)([b1, b3, b5, bp])


def _googlenet(img_size, num_classes, stem, modules, name):
    inputs = keras.Input((img_size, img_size, 3), name="image")
    x = layers.Rescaling(1.0 / 255, name="rescaling")(inputs)

    # Stem
    x = _conv(x, stem[0], 7, "conv1_7x7_s2", strides=2)
    x = layers.MaxPooling2D(3, strides=2, padding="same", name="pool1_3x3_s2")(x)
    x = _conv(x, stem[1], 1, "conv2_3x3_reduce")
    x = _conv(x, stem[2], 3, "conv2_3x3")
    x = layers.MaxPooling2D(3, strides=2, padding="same", name="pool2_3x3_s2")(x)

    # Inception modules, with a stride-2 max-pooling after the last module of stages 3 and 4
    last = {module[0]: module for module in modules}  # stage -> its last module
    for module, filters in modules.items():
        x = inception(x, *filters, name=f"inception_{module}")
        if module[0] in "34" and module == last[module[0]]:
            x = layers.MaxPooling2D(3, strides=2, padding="same", name=f"pool{module[0]}_3x3_s2")(x)

    # Classifier
    x = layers.GlobalAveragePooling2D(name="avg_pool")(x)
    x = layers.Dropout(0.4, name="dropout")(x)
    outputs = layers.Dense(num_classes, activation="softmax", name="predictions")(x)
    return keras.Model(inputs, outputs, name=name)


def googlenet(img_size: int, num_classes: int) -> keras.Model:
    modules = {
        "3a": (64, 96, 128, 16, 32, 32),
        "3b": (128, 128, 192, 32, 96, 64),
        "4a": (192, 96, 208, 16, 48, 64),
        "4b": (160, 112, 224, 24, 64, 64),
        "4c": (128, 128, 256, 24, 64, 64),
        "4d": (112, 144, 288, 32, 64, 64),
        "4e": (256, 160, 320, 32, 128, 128),
        "5a": (256, 160, 320, 32, 128, 128),
        "5b": (384, 192, 384, 48, 128, 128),
    }
    return _googlenet(img_size, num_classes, (64, 64, 192), modules, "googlenet")


def googlenet_light(img_size: int, num_classes: int) -> keras.Model:
    modules = {
        "3a": (16, 16, 24, 4, 8, 8),
        "3b": (24, 24, 32, 4, 8, 8),
        "4a": (32, 32, 48, 8, 16, 16),
        "4b": (48, 48, 64, 8, 16, 16),
        "4c": (64, 64, 96, 12, 24, 24),
        "4d": (96, 64, 96, 12, 24, 24),
        "5a": (96, 64, 96, 12, 24, 24),
        "5b": (96, 96, 128, 16, 32, 32),
    }
    return _googlenet(img_size, num_classes, (16, 16, 64), modules, "googlenet_light")
