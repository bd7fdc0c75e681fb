"""Plotting helpers shared by the report stages: headless (Agg), no pyplot global state.

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


def family_colors(families: Sequence[str]) -> dict[str, str]:
    """One stable colour per family, in order of first appearance."""
    palette = [f"C{i}" for i in range(10)]
    unique = list(dict.fromkeys(families))
    return {f: palette[i % len(palette)] for i, f in enumerate(unique)}


def human(v: float) -> str:
    """12,939,077 -> '12.94M'; 1.5e9 -> '1.50G' (for FLOPs)."""
    for div, unit in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(v) >= div:
            return f"{v / div:.2f}{unit}"
    return f"{v:g}"


def accuracy_figure(df, x: str, xlabel: str, logx: bool) -> Figure:
    """Augmented accuracy against ``x`` (a column of a summary table), one point per model; arrows
    join each family's full model to its lighter variants, in the family's colour."""
    colors = family_colors(df.family)
    fig = Figure(figsize=(6.4, 4.4), layout="constrained")
    ax = fig.add_subplot()
    for fam, g in df.groupby("family", sort=False):
        for _, r in g[g.baseline != ""].iterrows():
            for _, f in df[df.model == r.baseline].iterrows():
                ax.annotate("", (r[x], r.augmented_accuracy), (f[x], f.augmented_accuracy),
                            arrowprops={"arrowstyle": "->", "color": colors[fam], "alpha": 0.6})  # fmt: skip
        err = [g.augmented_accuracy - g.augmented_accuracy_lo, g.augmented_accuracy_hi - g.augmented_accuracy]
        ax.errorbar(g[x], g.augmented_accuracy, yerr=err, fmt="o", color=colors[fam], label=fam, zorder=3, capsize=3)
    labels = [ax.annotate(r.model, (r[x], r.augmented_accuracy), textcoords="offset points", xytext=LABEL_SPOTS[0][:2],
                          fontsize=7) for _, r in df.iterrows()]
    if logx:
        ax.set_xscale("log")
    ax.margins(x=0.12, y=0.1)  # room for the labels
    ax.set_xlabel(xlabel)
    ax.set_ylabel("accuracy on the augmented test set (95% CI)")
    ax.set_title("accuracy against cost (arrows: baseline -> variant)", fontsize=9)
    ax.legend(fontsize=8)
    place_labels(fig, labels)
    return fig


# Where a point's label may go, in points from the point (x, y, alignment), tried in this order.
LABEL_SPOTS = ((4, 4, "left"), (4, -11, "left"), (-4, 4, "right"), (-4, -11, "right"), (4, 13, "left"),
               (4, -20, "left"), (-4, 13, "right"), (-4, -20, "right"))


def place_labels(fig: Figure, labels: list) -> None:
    """Move each point label to the first of ``LABEL_SPOTS`` where it overlaps no label placed before it
    (a pruned model sits on top of its full model). Written here because matplotlib places no labels
    itself and a placement library (adjustText) would be a dependency for two figures; measured on
    the figure as drawn, so the test (tests/test_summarize.py) and the PNG see the same boxes."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    renderer = FigureCanvasAgg(fig).get_renderer()
    fig.draw_without_rendering()
    placed = []
    for label in labels:
        for dx, dy, align in LABEL_SPOTS:
            label.xyann = (dx, dy)
            label.set_horizontalalignment(align)
            box = label.get_window_extent(renderer)
            if not any(box.overlaps(other) for other in placed):
                break
        placed.append(box)


def params_figure(df) -> Figure:
    """Parameters per model, log-scale bars in family colours."""
    colors = family_colors(df.family)
    fig = Figure(figsize=(6.4, 3.8), layout="constrained")
    ax = fig.add_subplot()
    ax.bar(df.model, df.params, color=[colors[f] for f in df.family])
    ax.set_yscale("log")
    ax.set_ylabel("parameters (log scale)")
    ax.tick_params(axis="x", labelrotation=30, labelsize=8)
    for i, v in enumerate(df.params):
        ax.text(i, v, human(v), ha="center", va="bottom", fontsize=7)
    return fig


def robustness_figure(table) -> Figure:
    """Accuracy per model (rows) on the clean test set, under each augmentation alone and under
    all five (columns), as a heat map with the values written in."""
    values = table.drop(columns="model").to_numpy(dtype=float)
    cols = list(table.columns[1:])
    fig = Figure(figsize=(1.2 + 0.95 * len(cols), 0.9 + 0.36 * len(table)), layout="constrained")
    ax = fig.add_subplot()
    ax.imshow(values, cmap="RdYlGn", vmin=0.0, vmax=1.0, aspect="auto")
    for (i, j), v in np.ndenumerate(values):
        ax.text(j, i, f"{v:.3f}", ha="center", va="center", fontsize=7)
    ax.set_xticks(range(len(cols)), cols, fontsize=8, rotation=30, ha="right")
    ax.set_yticks(range(len(table)), table.model, fontsize=8)
    ax.set_title("test accuracy by augmentation (each alone, then all five)", fontsize=9)
    return fig


def trim_figure(name: str, records: dict[int, dict], points: dict[str, tuple[float, float]]) -> Figure:
    """Validation accuracy against FLOPs at 224 px along the trimming rounds of ``name``, one line per
    training seed (``records``: seed -> trim's record), with the other models of its family
    (``points``: label -> (FLOPs, validation accuracy), means over the seeds) as points."""
    fig = Figure(figsize=(6.4, 4.4), layout="constrained")
    ax = fig.add_subplot()
    for k, (seed, record) in enumerate(records.items()):
        rounds, color = record["rounds"], f"C{k}"
        ax.plot([r["flops_224"] for r in rounds], [r["val_accuracy"] for r in rounds], "-", color=color, alpha=0.5,
                label=f"seed {seed}")
        for r in rounds:
            kept = r["round"] == record["kept_round"]
            ax.scatter(r["flops_224"], r["val_accuracy"], color=color, marker="*" if kept else ("o" if r["within_budget"] else "x"),
                       s=140 if kept else 30, zorder=3)
            ax.annotate(str(r["round"]), (r["flops_224"], r["val_accuracy"]), textcoords="offset points", xytext=(3, 4), fontsize=6)
    for label, (x, y) in points.items():
        ax.scatter(x, y, color="black", marker="D", s=30, zorder=4)
        ax.annotate(label, (x, y), textcoords="offset points", xytext=(4, -10), fontsize=7)
    ax.set_xscale("log")
    ax.set_xlabel("FLOPs per image at 224 px (log scale)")
    ax.set_ylabel("validation accuracy")
    ax.set_title(f"trimming {name}: rounds per seed (star: kept; x: beyond the budget); diamonds: its family", fontsize=9)
    ax.legend(fontsize=7)
    return fig


def effects_figure(comps, margin: float, seeds: list[int], colors: dict[str, str]) -> Figure:
    """Every comparison (rows), clean and augmented test set side by side: each seed's paired
    difference (dots), the mean over seeds with its interval (bar: the family's simultaneous interval
    the verdict is read off, or 95 % for an exploratory comparison; coloured by its verdict:
    ``colors``), and the margin (dashed)."""
    pairs = list(dict.fromkeys(zip(comps.variant, comps.against)))
    fig = Figure(figsize=(9.6, 1.2 + 0.42 * len(pairs)), layout="constrained")
    axes = fig.subplots(1, 2, sharey=True, sharex=True)
    for ax, condition in zip(axes, ("clean", "augmented")):
        g = comps[comps.condition == condition].set_index(["variant", "against"])
        ax.axvline(0, color="0.5", linewidth=0.8)
        ax.axvline(-100 * margin, color="0.3", linewidth=0.8, linestyle="--", label=f"-{100 * margin:g} pts: the margin")
        for i, pair in enumerate(pairs):
            r = g.loc[pair]
            y = len(pairs) - 1 - i
            if np.isnan(r.diff_pp):
                continue
            ax.plot([r.lo_pp, r.hi_pp], [y, y], color=colors[r.verdict], linewidth=3, solid_capstyle="butt")
            ax.scatter([r.diff_pp], [y], color=colors[r.verdict], marker="|", s=200, zorder=3)
            ax.annotate(f"{100 * r.level:.4g} %", (r.hi_pp, y), xytext=(3, -3), textcoords="offset points", fontsize=6)
            per_seed = [float(v) for v in r.per_seed_pp.split(";")]
            ax.scatter(per_seed, [y + 0.22] * len(per_seed), color="black", s=10, zorder=4)
        ax.set_yticks(range(len(pairs)), [f"{v} vs {a}" for v, a in reversed(pairs)], fontsize=7)
        ax.set_xlabel("accuracy difference, points (variant - against)")
        ax.set_title(f"{condition} test set", fontsize=9)
    level = f"mean of {len(seeds)} seeds with its interval (level beside it)" if len(seeds) > 1 else \
        "one seed: Tango's interval (level beside it)"
    legend = ", ".join(f"{c} {v}" for v, c in colors.items())
    fig.suptitle(f"paired comparisons: dots = each seed, bar = {level}; {legend}", fontsize=8)
    axes[0].legend(fontsize=7, loc="lower left")
    return fig


def criteria_figure(table, df) -> Figure:
    """Accuracy against the FLOPs kept at 224 px, one curve per channel criterion (the mean over seeds
    and its 95 % interval), a panel per pruned model and test set, the full model at 100 %."""
    parents = list(dict.fromkeys(table.parent)) if len(table) else []
    fig = Figure(figsize=(4.2 * 2, 0.4 + 3.0 * max(len(parents), 1)), layout="constrained")
    axes = np.atleast_2d(fig.subplots(max(len(parents), 1), 2, squeeze=False))
    by = df.set_index("model")
    for row, parent in zip(axes, parents):
        t = table[table.parent == parent]
        for ax, condition in zip(row, ("clean", "augmented")):
            rules = list(dict.fromkeys(t.rule))
            for i, (rule, g) in enumerate(t.groupby("rule", sort=False)):
                g = g.sort_values("flops_share_224")
                y, lo, hi = (100 * g[f"{condition}_accuracy{s}"].to_numpy() for s in ("", "_lo", "_hi"))
                dodge = 1.04 ** (i - (len(rules) - 1) / 2)  # the rules share their FLOPs: side by side, not on top
                ax.errorbar(100 * g.flops_share_224 * dodge, y, yerr=[y - lo, hi - y], marker="o", capsize=3, label=rule,
                            color=f"C{i}", alpha=0.9)
            full = by.loc[parent]
            ax.errorbar([100], [100 * full[f"{condition}_accuracy"]], yerr=[[100 * (full[f"{condition}_accuracy"] - full[f"{condition}_accuracy_lo"])],
                        [100 * (full[f"{condition}_accuracy_hi"] - full[f"{condition}_accuracy"])]], marker="s", color="black",
                        capsize=3, label=f"{parent} (full)")
            ax.set_xscale("log")
            ticks = sorted({*(round(100 * v) for v in t.flops_share_224), 100})
            ax.set_xticks(ticks, [f"{v} %" for v in ticks])
            ax.minorticks_off()
            ax.set_xlabel(f"FLOPs kept at 224 px, share of {parent}'s (log scale)")
            ax.set_ylabel(f"{condition} test accuracy, %")
            ax.set_title(f"{parent}, {condition} test set", fontsize=9)
            ax.legend(fontsize=7)
    fig.suptitle("channel criteria at matched FLOPs: mean over training seeds with its 95 % interval", fontsize=9)
    return fig
