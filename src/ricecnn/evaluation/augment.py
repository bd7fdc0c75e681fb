"""The paper's test-time augmentation, drawn once from a seed: every model sees the same images.

The paper's augmentation (RandomFlip("horizontal"), RandomRotation(0.1), RandomZoom(0.1),
RandomTranslation(0.1, 0.1), RandomContrast(0.1); docs/paper.md) is drawn ONCE, per image, from numpy
Generators seeded by params `seed`, and applied with the very matrices and formulas of those Keras
layers (`keras.ops.image.affine_transform`, bilinear, fill_mode="reflect"). Drawing in numpy
rather than calling the layers keeps the draw independent of the backend and of the batch size,
so every model is judged on the same uint8 images, on every run.

Robustness by transform: ``condition_sets`` also applies each transform alone, with the very draw it
has in the full augmentation, so that a drop can be traced to the transform that causes it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import numpy as np
from tqdm import tqdm

FACTOR = 0.1  # every one of the paper's augmentation layers uses 0.1
TRANSFORMS = ("flip", "rotation", "zoom", "translation", "contrast")  # the paper's order
# The test sets every model is judged on: clean, each transform alone, all five together
CONDITIONS: dict[str, tuple[str, ...]] = {"clean": (), **{t: (t,) for t in TRANSFORMS}, "augmented": TRANSFORMS}
TEST_SETS = ("clean", "augmented")  # every model is scored on both, every comparison made on each


def draw_augmentation(n: int, height: int, width: int, seed: int) -> dict[str, np.ndarray]:
    """Per-image parameters of the five layers; layer i draws from its own child of ``seed``."""
    flip, rot, zoom, trans, contrast = (np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(5))
    shift = trans.uniform(-FACTOR, FACTOR, (n, 2))  # one (dy, dx) pair per image: image i's draw is the same for any n
    return {
        "flip": flip.uniform(size=n) <= 0.5,  # RandomFlip: flip where uniform <= 0.5
        "angle": rot.uniform(-FACTOR * 2 * np.pi, FACTOR * 2 * np.pi, n),  # factor is a fraction of 2 pi
        "zoom": zoom.uniform(1 - FACTOR, 1 + FACTOR, n),  # width zoom = height zoom (aspect kept)
        "dy": shift[:, 0] * height,
        "dx": shift[:, 1] * width,
        "contrast": contrast.uniform(1 - FACTOR, 1 + FACTOR, n),
    }


def _matrices(p: dict[str, np.ndarray], sl: slice, h: int, w: int) -> list[np.ndarray]:
    """Keras' output->input maps (a0 a1 a2 b0 b1 b2 0 0) for rotation, zoom and translation."""
    cos, sin, z = np.cos(p["angle"][sl]), np.sin(p["angle"][sl]), p["zoom"][sl]
    cx, cy, zero, one = (w - 1) / 2, (h - 1) / 2, np.zeros_like(z), np.ones_like(z)
    rotation = [cos, -sin, cx - cx * cos + cy * sin, sin, cos, cy - cx * sin - cy * cos, zero, zero]
    zooming = [z, zero, cx * (1 - z), zero, z, cy * (1 - z), zero, zero]
    translation = [one, zero, -p["dx"][sl], zero, one, -p["dy"][sl], zero, zero]
    return [np.stack(m, axis=1).astype(np.float32) for m in (rotation, zooming, translation)]


def augmented_batches(images: np.ndarray, seed: int, batch_size: int = 64,
                      transforms: tuple[str, ...] = TRANSFORMS, index: np.ndarray | None = None
                      ) -> Iterator[tuple[slice, np.ndarray]]:
    """(slice, its augmented uint8 images) batch by batch: ``augment``'s images, one batch of
    float32 in memory at a time. ``index``: the images' places in a larger set, whose draws they get."""
    from keras import ops

    unknown = set(transforms) - set(TRANSFORMS)
    if unknown:
        raise ValueError(f"unknown transforms {sorted(unknown)}; known: {', '.join(TRANSFORMS)}")
    n, h, w = images.shape[:3]
    if index is None:
        p = draw_augmentation(n, h, w, seed)
    else:  # image i's draw is the same for any number of images: draw up to the last one, keep theirs
        p = {k: v[index] for k, v in draw_augmentation(int(index.max()) + 1, h, w, seed).items()}
    for start in tqdm(range(0, n, batch_size), desc="augment", unit="batch", leave=False, disable=None):
        sl = slice(start, min(start + batch_size, n))
        x = np.asarray(images[sl], dtype=np.float32)
        if "flip" in transforms:
            x = np.where(p["flip"][sl, None, None, None], x[:, :, ::-1], x)
        for name, m in zip(("rotation", "zoom", "translation"), _matrices(p, sl, h, w)):
            if name in transforms:
                x = ops.convert_to_numpy(ops.image.affine_transform(x, m, interpolation="bilinear", fill_mode="reflect"))
        if "contrast" in transforms:
            mean = x.mean(axis=(1, 2), keepdims=True, dtype=np.float64)  # RandomContrast: per image and channel
            x = (x - mean) * p["contrast"][sl, None, None, None] + mean
        yield sl, np.clip(np.rint(x), 0, 255).astype(np.uint8)


def augment(images: np.ndarray, seed: int, batch_size: int = 64, transforms: tuple[str, ...] = TRANSFORMS,
            out: np.ndarray | None = None, index: np.ndarray | None = None) -> np.ndarray:
    """The augmented copy of uint8 NHWC ``images`` (same shape, uint8); a pure function of its inputs.

    ``transforms``: which of the five to apply (in the paper's order), each with its own seeded
    draw. ``out``: where to write it (e.g. a memory-mapped array; default a new array).
    """
    out = np.empty(images.shape, dtype=np.uint8) if out is None else out
    for sl, batch in augmented_batches(images, seed, batch_size, transforms, index):
        out[sl] = batch
    return out


def condition_sets(images: np.ndarray, seed: int, batch_size: int = 64, folder: Path | None = None,
                   alone: bool = True, index: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """Every condition of ``CONDITIONS``: the clean images, each transform alone (unless not
    ``alone``; with ``index``, of those images only, each with the draw it has in the full
    augmentation), all together.

    With ``folder`` each augmented set is a memory-mapped ``<condition>.npy`` there (the test set
    at 224 px is gigabytes per condition: on disk, not in memory); else an array in memory.
    """
    def target(name: str, x: np.ndarray) -> np.ndarray | None:
        if folder is None:
            return None
        return np.lib.format.open_memmap(Path(folder) / f"{name}.npy", mode="w+", dtype=np.uint8, shape=x.shape)

    part = images if index is None else images[index]  # what each transform alone is applied to, read once

    def one(name: str, t: tuple[str, ...]) -> np.ndarray:
        x, where = (part, index) if name in TRANSFORMS else (images, None)
        return augment(x, seed, batch_size, t, target(name, x), where)

    wanted = {name: t for name, t in CONDITIONS.items() if alone or name in ("clean", "augmented")}
    return {name: one(name, t) if t else images for name, t in wanted.items()}
