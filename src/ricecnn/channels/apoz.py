"""APoZ: the Average Percentage of Zeros of each channel's post-ReLU output (Hu et al. 2016,
"Network Trimming", arXiv:1607.03250), counted exactly over a sample of images.

A channel's APoZ is zeros / (images x height x width). A channel is dead on the sample when it is
zero at every position of every image (zeros == positions): the paper's "all-black feature map",
measured on data. The counts are integers, so a stage that reads them (prune) decides "dead" on
exactly what was measured, without rounding and without running the model again.
"""

from __future__ import annotations

import sys

import numpy as np

from ..inference.batches import outputs

BATCH = 16  # images per forward pass: bounds memory (VGG16 at 224: ~0.9 GB); no effect on the counts


def sample(n: int, count: int, seed: int, what: str, where: str) -> np.ndarray:
    """The sorted indices of ``count`` seeded images of ``n`` (featuremaps' sample of the val split,
    which prune reads; trim's of the train split). ``count`` above ``n`` takes all ``n``, and says
    so in one line naming the setting ``what`` and the split ``where``."""
    if count > n:
        print(f"ricecnn: note: {what} = {count} but the {where} split holds {n} images: measuring on all {n}",
              file=sys.stderr)
    return np.sort(np.random.default_rng(seed).permutation(n)[:count])


def probe(model, layer_names: list[str]):
    """A model from ``model``'s input to the outputs of ``layer_names`` (sharing its layers)."""
    import keras

    return keras.Model(model.inputs, [model.get_layer(n).output for n in layer_names])


def activations(model, layer_names: list[str], images: np.ndarray) -> list[np.ndarray]:
    """The post-ReLU outputs (N, H, W, C) of the layers for a few images (for the pictures)."""
    _, outs = next(outputs(probe(model, layer_names), images, len(images)))
    return [np.maximum(a, 0) for a in outs]  # relu is a no-op on relu'd outputs


def zero_counts(model, layer_names: list[str], images: np.ndarray, batch_size: int = BATCH) -> dict[str, dict]:
    """Per layer: ``zeros`` (int array, per channel) and ``positions`` (images x H x W) over ``images``."""
    zeros = [0] * len(layer_names)
    positions = [0] * len(layer_names)
    # every batch of one shape (the last padded; the padding is dropped): compiled once, not twice
    for _, outs in outputs(probe(model, layer_names), images, batch_size, multiple=batch_size, desc="apoz"):
        for i, a in enumerate(outs):
            zeros[i] = zeros[i] + (a <= 0).sum(axis=(0, 1, 2), dtype=np.int64)
            positions[i] += a.shape[0] * a.shape[1] * a.shape[2]
    return {n: {"zeros": np.asarray(z, dtype=np.int64), "positions": p} for n, z, p in zip(layer_names, zeros, positions)}


def report(counts: dict[str, dict]) -> dict:
    """The counts as the featuremaps metrics: per layer channels, dead channels, APoZ (exact
    counts, and rounded fractions for reading), and the totals."""
    layers = {}
    for name, c in counts.items():
        zeros, positions = np.asarray(c["zeros"]), int(c["positions"])
        frac = zeros / positions
        layers[name] = {
            "channels": len(zeros),
            "dead_channels": int(np.sum(zeros == positions)),
            "apoz_mean": float(frac.mean()),
            "positions": positions,
            "zeros": zeros.tolist(),
            "apoz": [round(float(v), 4) for v in frac],
        }
    total = sum(v["channels"] for v in layers.values())
    dead = sum(v["dead_channels"] for v in layers.values())
    return {"layers": layers, "channels": total, "dead_channels": dead, "dead_fraction": dead / max(total, 1)}


def exact(layers: dict[str, dict]) -> dict[str, np.ndarray]:
    """Unrounded per-channel APoZ from recorded counts (``report(...)["layers"]``)."""
    return {name: np.asarray(v["zeros"], dtype=np.int64) / int(v["positions"]) for name, v in layers.items()}


def record(model: str, seed: int, weights_sha256: str, indices: np.ndarray, counts: dict[str, dict]) -> dict:
    """The featuremaps metrics: which model and training seed, which weights
    (``inference.files.weights_digest``) and which val images the counts are from, and ``report(counts)``."""
    return {"model": model, "seed": seed, "weights_sha256": weights_sha256, "samples": len(indices),
            "sample": {"split": "val", "indices": np.asarray(indices).tolist()}, **report(counts)}


def check_record(recorded: dict, weights_sha256: str, where, val_images: int, stage: str) -> None:
    """The counts in ``recorded`` (``record``'s output, read from ``where``) must be those of the
    weights with digest ``weights_sha256``, measured on images of a val split of ``val_images``;
    else one line naming the ``stage`` to rerun."""
    from ..core.errors import RiceError

    rerun = f"rerun `dvc repro {stage}`"
    if "sample" not in recorded or "weights_sha256" not in recorded:
        raise RiceError(f"{where} does not record its sample and model weights: {rerun}")
    if recorded["weights_sha256"] != weights_sha256:
        raise RiceError(f"{where} was measured on other weights than the model's: {rerun}")
    if any(not 0 <= i < val_images for i in recorded["sample"]["indices"]):
        raise RiceError(f"{where} was measured on another val split (image index out of range): {rerun}")
