"""One image as a model's input: RGB, resized to the model's size with PIL's bilinear filter, uint8.
The split stage makes every training and test image so, and `ricecnn classify` makes a user's image
so: the same function, so that a model sees a new photograph as it saw its training images."""

from __future__ import annotations

import numpy as np
from PIL import Image


def as_input(im: Image.Image, size: int) -> np.ndarray:
    """``im`` (any mode) as an RGB (size, size, 3) uint8 array."""
    im.load()
    im = im.convert("RGB")
    if im.size != (size, size):
        im = im.resize((size, size), Image.Resampling.BILINEAR)
    return np.asarray(im, dtype=np.uint8)
