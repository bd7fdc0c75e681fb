"""The dataset on disk, as every stage after `split` sees it.

`split` writes into its output folder (default ``data/split``):
  classes.json            class names; class index = position (folder names sorted)
  manifest.csv            file,label,split,index  (file = path inside the raw archive)
  <split>_x.npy           uint8 NHWC RGB images at ``data.img_size``, memory-mappable
  <split>_y.npy           int64 class indices
for split in ("train", "val", "test").
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ..core.errors import RiceError
from ..core.settings import ImageSize, View

SPLITS = ("train", "val", "test")


class Images(View):
    """What a stage after split reads of ``data``: the image size of the split's arrays."""

    img_size: ImageSize


def load_classes(split_dir: str | Path) -> list[str]:
    path = Path(split_dir) / "classes.json"
    if not path.exists():
        raise RiceError(f"{path} not found: run `dvc repro split` first")
    return json.loads(path.read_text())


def load_split(split_dir: str | Path, split: str, *, mmap: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Return (images uint8 NHWC, labels int64) of one split; images are memory-mapped."""
    if split not in SPLITS:
        raise RiceError(f"unknown split {split!r}; one of {', '.join(SPLITS)}")
    split_dir = Path(split_dir)
    xp, yp = split_dir / f"{split}_x.npy", split_dir / f"{split}_y.npy"
    if not xp.exists() or not yp.exists():
        raise RiceError(f"{xp} not found: run `dvc repro split` first")
    x = np.load(xp, mmap_mode="r" if mmap else None)
    y = np.load(yp)
    if x.dtype != np.uint8 or x.ndim != 4 or len(x) != len(y):
        raise RiceError(f"{xp} is not a uint8 NHWC array matching {yp.name}: rerun `dvc repro -f split`")
    return x, y


def spread(n: int, k: int) -> np.ndarray:
    """``k`` indices of ``n`` images spread evenly over them (all of them when k >= n): a subset with
    every class in its share however the images are ordered (the split stores them class by class)."""
    return np.arange(n) if k >= n else np.unique(np.linspace(0, n - 1, k).round().astype(np.int64))
