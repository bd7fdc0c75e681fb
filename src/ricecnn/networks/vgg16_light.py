"""`vgg16_light`: the paper's light VGG16, blocks 1-3 of the same base (cut after block3_pool) and a
256-unit head (docs/paper.md, model 6)."""

from __future__ import annotations

import keras

from . import layers


def build(img_size: int, num_classes: int, weights: str | None = None, freeze: str | int = "paper") -> keras.Model:
    # paper: the whole truncated base (blocks 1-3, 10 layers) frozen
    return layers.vgg(img_size, num_classes, 3, 256, 0.2, weights, freeze, 10, "vgg16_light")
