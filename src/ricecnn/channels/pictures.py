"""The featuremaps stage's pictures (featuremaps@<model>-<seed>): one image's feature maps, a grey grid of
each feature layer's first channels, and the dead channels and mean APoZ by layer. Saved by
``ricecnn.pictures.save_png``.
"""

from __future__ import annotations

import matplotlib
import numpy as np
from matplotlib.figure import Figure

from ..pictures import show_rgb

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
