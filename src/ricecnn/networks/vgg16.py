"""`vgg16`: Keras' VGG16 base (its five blocks) and a 512-unit head (docs/paper.md, model 5)."""

from __future__ import annotations

import keras

from . import layers


def build(img_size: int, num_classes: int, weights: str | None = None, freeze: str | int = "paper") -> keras.Model:
    # paper: all but the last 4 base layers (block5_conv1..3, block5_pool) frozen
    return layers.vgg(img_size, num_classes, 5, 512, 0.3, weights, freeze, 14, "vgg16")
