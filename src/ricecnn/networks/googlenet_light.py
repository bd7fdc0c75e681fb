"""`googlenet_light`: the paper's light GoogLeNet, the same stem and poolings with fewer filters and
eight Inception modules instead of nine (no 4e), each far narrower (docs/paper.md, model 4)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import keras

# The widths are plain data, importable without Keras (bench/torch_models.py builds the PyTorch twin from them)
STEM = (16, 16, 64)  # conv1 7x7/2, conv2 1x1 reduce, conv2 3x3 filters
# Inception modules: (1x1, 3x3 reduce, 3x3, 5x5 reduce, 5x5, pool projection) filters
MODULES = {
    "3a": (16, 16, 24, 4, 8, 8),
    "3b": (24, 24, 32, 4, 8, 8),
    "4a": (32, 32, 48, 8, 16, 16),
    "4b": (48, 48, 64, 8, 16, 16),
    "4c": (64, 64, 96, 12, 24, 24),
    "4d": (96, 64, 96, 12, 24, 24),
    "5a": (96, 64, 96, 12, 24, 24),
    "5b": (96, 96, 128, 16, 32, 32),
}


def build(img_size: int, num_classes: int) -> keras.Model:
    from . import layers

    return layers.googlenet(img_size, num_classes, STEM, MODULES, "googlenet_light")
