"""Stage featuremaps@<model>: per-layer activation pictures, and APoZ / dead channels over val data.

APoZ, the Average Percentage of Zeros of a channel's post-ReLU output (Hu et al. 2016, "Network
Trimming", arXiv:1607.03250): zeros / (samples * height * width). A channel is dead when it is
zero at every position of every sample: the seed's "all-black feature map", measured on data.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from tqdm import tqdm

from .. import params as params_mod
from ..data import load_classes, load_split
from ..errors import RiceError
from ..io import atomic_path, write_json
from ..runtime import load_model

GRID_COLS = 16  # tiles per row in the pictures
DPI = 80
BATCH = 16  # images per forward pass in the APoZ loop: bounds memory (VGG16 at 224: ~0.9 GB); no effect on results


def feature_layer_names(model) -> list[str]:
    from ..models import feature_layers  # the registry knows each architecture's feature layers

    return feature_layers(model)


def activations(model, layer_names: list[str]):
    """A function images (float, 0..255) -> list of post-ReLU outputs (N, H, W, C) of the layers."""
    import keras

    probe = keras.Model(model.inputs, [model.get_layer(n).output for n in layer_names])

    def run(images: np.ndarray) -> list[np.ndarray]:
        outs = probe.predict_on_batch(np.asarray(images, dtype=np.float32))
        outs = outs if isinstance(outs, (list, tuple)) else [outs]
        return [np.maximum(np.asarray(o), 0) for o in outs]  # relu is a no-op on relu'd outputs

    return run


def apoz(model, layer_names: list[str], images: np.ndarray, batch_size: int) -> dict:
    """Per-layer, per-channel APoZ and dead channels over ``images``, one batch in memory at a time."""
    run = activations(model, layer_names)
    zeros = [None] * len(layer_names)  # per channel: count of zero activations
    peak = [None] * len(layer_names)  # per channel: max activation
    positions = [0] * len(layer_names)
    for start in tqdm(range(0, len(images), batch_size), desc="apoz", unit="batch", leave=False):
        for i, a in enumerate(run(images[start : start + batch_size])):
            z, m = (a == 0).sum(axis=(0, 1, 2), dtype=np.int64), a.max(axis=(0, 1, 2))
            zeros[i] = z if zeros[i] is None else zeros[i] + z
            peak[i] = m if peak[i] is None else np.maximum(peak[i], m)
            positions[i] += a.shape[0] * a.shape[1] * a.shape[2]
    layers = {}
    for name, z, m, npos in zip(layer_names, zeros, peak, positions):
        frac = z / npos
        layers[name] = {
            "channels": len(z),
            "dead_channels": int(np.sum(m <= 0)),
            "apoz_mean": float(frac.mean()),
            "apoz": [round(float(v), 4) for v in frac],
        }
    total = sum(v["channels"] for v in layers.values())
    dead = sum(v["dead_channels"] for v in layers.values())
    return {"samples": len(images), "layers": layers, "channels": total, "dead_channels": dead, "dead_fraction": dead / max(total, 1)}


def layer_tiles(act: np.ndarray, max_channels: int) -> np.ndarray:
    """(H, W, C) activations -> the first ``max_channels`` channels as (n, H, W) tiles in [0, 1].

    One scale for the whole layer (0 .. the layer's max for this image; 0..1 if all zero), so an
    all-zero channel is exactly black and a weak channel looks weak.
    """
    scale = float(act.max())
    scale = scale if scale > 0 else 1.0
    return np.clip(np.moveaxis(act[..., :max_channels], -1, 0) / scale, 0, 1).astype(np.float32)


def _enlarge(tiles: np.ndarray, at_least: int = 16) -> np.ndarray:
    """Repeat pixels of small maps (GoogLeNet's 2x2) so that the 1 px separators stay thin."""
    k = -(-at_least // tiles.shape[1])
    return tiles.repeat(k, axis=1).repeat(k, axis=2) if k > 1 else tiles


def featuremap_figure(image: np.ndarray, acts: list[np.ndarray], layer_names: list[str], title: str, max_channels: int):
    """The input image, then one block per layer: a grey grid of its first channels."""
    from matplotlib.figure import Figure

    from .. import plots

    width, head, gap = 8.0, 2.2, 0.35  # inches: figure width, input image block, title line
    grids = [plots.mosaic(_enlarge(layer_tiles(a, max_channels)), GRID_COLS) for a in acts]
    heights = [gap + width * g.shape[0] / g.shape[1] for g in grids]
    total = head + sum(heights)
    fig = Figure(figsize=(width, total))
    ax = fig.add_axes((0, 1 - (head - 0.1) / total, 1, (head - gap) / total))
    plots.show_rgb(ax, image, title, fontsize=10)
    top = total - head
    for name, act, grid, h in zip(layer_names, acts, grids, heights):
        ax = fig.add_axes((0.01, (top - h) / total, 0.98, (h - gap) / total))
        plots.show_gray(ax, grid)
        shown, c = min(max_channels, act.shape[-1]), act.shape[-1]
        ax.set_title(f"{name} ({act.shape[0]}x{act.shape[1]}): showing {shown} of {c} channels", fontsize=8)
        top -= h
    return fig


def apoz_figure(result: dict, title: str):
    from matplotlib.figure import Figure

    names = list(result["layers"])
    dead = [v["dead_channels"] / v["channels"] for v in result["layers"].values()]
    mean = [v["apoz_mean"] for v in result["layers"].values()]
    fig = Figure(figsize=(max(5.0, 0.45 * len(names) + 2), 4.2), layout="constrained")
    ax = fig.add_subplot()
    ax.bar(range(len(names)), dead, color="C3", alpha=0.7, label="dead channels (fraction)")
    ax.plot(range(len(names)), mean, "o-", color="C0", label="mean APoZ")
    ax.set_xticks(range(len(names)), names, rotation=60, ha="right", fontsize=7)
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("fraction")
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=8)
    return fig


def sample_indices(labels: np.ndarray, num_classes: int, seed: int) -> dict[int, int]:
    """One val image per class, by seed only (so the same for every model)."""
    rng = np.random.default_rng(seed)
    picks = {}
    for c in range(num_classes):
        candidates = np.flatnonzero(labels == c)
        if len(candidates):
            picks[c] = int(candidates[rng.integers(len(candidates))])
    return picks


def main(argv: list[str] | None = None) -> None:
    from .. import plots

    ap = argparse.ArgumentParser(prog="ricecnn featuremaps", description=__doc__.splitlines()[0])
    ap.add_argument("model")
    ap.add_argument("--params", default="params.yaml")
    ap.add_argument("--model-file", type=Path)
    ap.add_argument("--split-dir", default="data/split", type=Path)
    ap.add_argument("--out-metrics")
    ap.add_argument("--out-dir", type=Path)
    args = ap.parse_args(argv)
    name = args.model
    p = params_mod.load(args.params)
    cfg, seed = p["featuremaps"], p["seed"]
    classes = load_classes(args.split_dir)
    x, y = load_split(args.split_dir, "val")
    model = load_model(args.model_file or Path("models") / f"{name}.keras", name, x.shape[1:], len(classes))
    names = feature_layer_names(model)
    if not names or not len(y):
        raise RiceError(f"{name} has no feature layers" if not names else f"the val split in {args.split_dir} is empty")
    idx = np.sort(np.random.default_rng(seed).permutation(len(y))[: cfg["samples"]])
    result = apoz(model, names, x[idx], BATCH)
    picks = sample_indices(y, len(classes), seed)
    acts = activations(model, names)(x[list(picks.values())]) if picks else []
    with atomic_path(args.out_dir or Path("reports/featuremaps") / name, directory=True) as out:
        for j, (c, i) in enumerate(tqdm(picks.items(), desc="pictures", unit="class", leave=False)):
            title = f"{name}: {classes[c]} (val image {i})"
            fig = featuremap_figure(x[i], [a[j] for a in acts], names, title, cfg["per_layer_max"])
            plots.save_png(fig, out / f"{classes[c]}.png", dpi=DPI, palette=True)
        title = f"{name}: dead channels and mean APoZ by layer ({result['samples']} val images)"
        plots.save_png(apoz_figure(result, title), out / "apoz.png", dpi=DPI)
    write_json(args.out_metrics or Path("metrics/featuremaps") / f"{name}.json", {"model": name, **result})
