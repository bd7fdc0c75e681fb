"""`googlenet`: Inception v1 without auxiliary heads, at the original widths (docs/paper.md, model 3)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import keras

# The widths are plain data, importable without Keras (bench/torch_models.py builds the PyTorch twin from them)
STEM = (64, 64, 192)  # conv1 7x7/2, conv2 1x1 reduce, conv2 3x3 filters
# Inception modules: (1x1, 3x3 reduce, 3x3, 5x5 reduce, 5x5, pool projection) filters
MODULES = {
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


def build(img_size: int, num_classes: int) -> keras.Model:
    from . import layers

    return layers.googlenet(img_size, num_classes, STEM, MODULES, "googlenet")
