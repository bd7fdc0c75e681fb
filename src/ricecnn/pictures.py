"""The pictures the stages draw (feature maps, APoZ, confusion matrices, misclassified images), and
the one way every picture is saved: headless (Agg), no pyplot global state.

Figures are plain ``matplotlib.figure.Figure`` objects saved by :func:`save_png`, which writes
atomically and leaves out the PNG metadata that would otherwise vary between runs.
"""

from __future__ import annotations

import io
import os
from typing import Sequence

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from PIL import Image  # noqa: E402

from .core.io import atomic_path  # noqa: E402

GRID_PAD = np.nan  # tile separators: drawn in SEPARATOR, a colour outside the grey scale
SEPARATOR = "#4a7ab8"
GRID_COLS = 16  # feature-map tiles per row


def mosaic(tiles: np.ndarray, cols: int, pad: int = 1, pad_value: float = GRID_PAD) -> np.ndarray:
    """Lay out ``tiles`` (n, h, w) row-major on a 2-D grid of ``cols`` columns, ``pad`` px apart.

    Tile values are kept as they are (no per-tile stretching); unused cells are ``pad_value``.
    """
    n, h, w = tiles.shape
    cols = max(1, min(cols, n))
    rows = -(-n // cols)
    grid = np.full((rows * (h + pad) - pad, cols * (w + pad) - pad), pad_value, dtype=np.float32)
    for i, tile in enumerate(tiles):
        r, c = divmod(i, cols)
        grid[r * (h + pad) : r * (h + pad) + h, c * (w + pad) : c * (w + pad) + w] = tile
    return grid


def show_gray(ax, grid: np.ndarray) -> None:
    """Draw a [0, 1] array in greys with a fixed scale: 0 is exactly black, 1 white, NaN SEPARATOR."""
    cmap = matplotlib.colormaps["gray"].with_extremes(bad=SEPARATOR)
    ax.imshow(grid, cmap=cmap, vmin=0.0, vmax=1.0, interpolation="nearest")
    ax.set_axis_off()


def show_rgb(ax, image: np.ndarray, title: str | None = None, fontsize: float = 8) -> None:
    """Draw a uint8 RGB image without axes."""
    ax.imshow(np.asarray(image, dtype=np.uint8), interpolation="nearest")
    ax.set_axis_off()
    if title:
        ax.set_title(title, fontsize=fontsize)


def render(fig: Figure, dpi: float) -> np.ndarray:
    """The figure as an (H, W, 4) uint8 RGBA array, as it would be saved."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    return np.asarray(Image.open(buf).convert("RGBA"))


def save_png(fig: Figure, path: str | os.PathLike, dpi: float = 80, palette: bool = False) -> None:
    """Save ``fig`` as a PNG atomically. ``palette`` stores it with 256 colours (much smaller
    for big greyscale grids); the result is byte-identical for the same figure."""
    with atomic_path(path) as tmp:
        if palette:
            image = Image.fromarray(render(fig, dpi)).convert("RGB")
            image.quantize(colors=256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE).save(
                tmp, format="png", optimize=True
            )
        else:
            fig.savefig(tmp, format="png", dpi=dpi, metadata={"Software": None})


def layer_tiles(act: np.ndarray, max_channels: int) -> np.ndarray:
    """(H, W, C) activations -> the first ``max_channels`` channels as (n, H, W) tiles in [0, 1].

    One scale for the whole layer (0 .. the layer's max for this image; 0..1 if all zero), so an
    all-zero channel is exactly black and a weak channel looks weak.
    """
    scale = float(act.max())
    scale = scale if scale > 0 else 1.0
    return np.clip(np.moveaxis(act[..., :max_channels], -1, 0) / scale, 0, 1).astype(np.float32)


def enlarge(tiles: np.ndarray, at_least: int = 16) -> np.ndarray:
    """Repeat pixels of small maps (GoogLeNet's 2x2) so that the 1 px separators stay thin."""
    k = -(-at_least // tiles.shape[1])
    return tiles.repeat(k, axis=1).repeat(k, axis=2) if k > 1 else tiles


def featuremap_figure(image: np.ndarray, acts: list[np.ndarray], layer_names: list[str], title: str,
                      max_channels: int) -> Figure:
    """The input image, then one block per layer: a grey grid of its first channels."""
    width, head, gap = 8.0, 2.2, 0.35  # inches: figure width, input image block, title line
    grids = [mosaic(enlarge(layer_tiles(a, max_channels)), GRID_COLS) for a in acts]
    heights = [gap + width * g.shape[0] / g.shape[1] for g in grids]
    total = head + sum(heights)
    fig = Figure(figsize=(width, total))
    ax = fig.add_axes((0, 1 - (head - 0.1) / total, 1, (head - gap) / total))
    show_rgb(ax, image, title, fontsize=10)
    top = total - head
    for name, act, grid, h in zip(layer_names, acts, grids, heights):
        ax = fig.add_axes((0.01, (top - h) / total, 0.98, (h - gap) / total))
        show_gray(ax, grid)
        shown, c = min(max_channels, act.shape[-1]), act.shape[-1]
        ax.set_title(f"{name} ({act.shape[0]}x{act.shape[1]}): showing {shown} of {c} channels", fontsize=8)
        top -= h
    return fig


def apoz_figure(result: dict, title: str) -> Figure:
    """Per layer: the fraction of dead channels (bars) and the mean APoZ (line)."""
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


def text_figure(text: str, size: tuple[float, float] = (4, 1.5)) -> Figure:
    fig = Figure(figsize=size)
    fig.text(0.5, 0.5, text, ha="center", va="center", fontsize=12)
    return fig


def confusion_figure(counts: np.ndarray, classes: Sequence[str], title: str) -> Figure:
    """A confusion matrix (rows actual, columns predicted) with each count written in its cell."""
    k = len(classes)
    fig = Figure(figsize=(1.2 + 0.8 * k, 1.0 + 0.8 * k), layout="constrained")
    ax = fig.add_subplot()
    ax.imshow(counts, cmap="Blues", vmin=0, vmax=max(1, counts.max()))
    for (i, j), v in np.ndenumerate(counts):
        ax.text(j, i, str(v), ha="center", va="center", fontsize=8, color="white" if v > counts.max() / 2 else "black")
    ax.set_xticks(range(k), classes, rotation=45, ha="right", fontsize=8)
    ax.set_yticks(range(k), classes, fontsize=8)
    ax.set_xlabel("predicted")
    ax.set_ylabel("actual")
    ax.set_title(title, fontsize=9)
    return fig


def image_grid(images: np.ndarray, titles: Sequence[str], suptitle: str, cols: int = 5) -> Figure:
    """Up to ``len(images)`` RGB tiles with a small title each."""
    n = len(images)
    cols = max(1, min(cols, n))
    rows = -(-n // cols)
    fig = Figure(figsize=(1.8 * cols, 2.0 * rows + 0.4), layout="constrained")
    fig.suptitle(suptitle, fontsize=10)
    for i, (image, title) in enumerate(zip(images, titles)):
        show_rgb(fig.add_subplot(rows, cols, i + 1), image, title, fontsize=7)
    return fig
