"""The study's figures, which summarize draws: accuracy against cost, parameters, the effects with their
intervals, robustness and the trimming rounds. Saved by ``ricecnn.pictures.save_png``
(headless, atomic, no varying metadata); the stages' own pictures are beside their code (feature maps:
``ricecnn.channels.pictures``, confusion matrices: ``ricecnn.evaluation.pictures``), so that a figure of
the study reruns summarize alone.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
from matplotlib.figure import Figure

from .. import pictures  # noqa: F401  (selects the headless Agg backend before any figure is made)
from ..evaluation.augment import TEST_SETS
from . import stats

# Verdict colours that differ in hue and in a grey print (lightness: black < blue, red, green < orange <
# light grey), and exploratory bars drawn thin (EXPLORATORY_WIDTH): a verdict is never told by shade alone
VERDICT_COLORS = {stats.NOT_WORSE: "#1f5fbf", stats.WORSE: "#c8102e", stats.INCONCLUSIVE: "#f28e2b", stats.IDENTICAL: "black",
                  stats.EXPLORATORY: "#b0b0b0", stats.BETTER: "#2e8b57"}
VERDICT_WIDTH, EXPLORATORY_WIDTH = 3.5, 1.5


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


def accuracy_figure(df, x: str, xlabel: str, logx: bool, condition: str = "clean") -> Figure:
    """Accuracy on the ``condition`` test set (the clean one: the verdicts') against ``x`` (a column of a
    summary table), one point per model, each named; arrows join each family's full model to its lighter
    variants, in the family's colour. Models on the same spot (a pruned model whose predictions are its
    full model's, at nearly its cost) share one label."""
    colors = family_colors(df.family)
    y = f"{condition}_accuracy"
    fig = Figure(figsize=(7.2, 4.8), layout="constrained")
    ax = fig.add_subplot()
    for fam, g in df.groupby("family", sort=False):
        for _, r in g[g.baseline != ""].iterrows():
            for _, f in df[df.model == r.baseline].iterrows():
                ax.annotate("", (r[x], r[y]), (f[x], f[y]),
                            arrowprops={"arrowstyle": "->", "color": colors[fam], "alpha": 0.6})  # fmt: skip
        err = [g[y] - g[f"{y}_lo"], g[f"{y}_hi"] - g[y]]
        ax.errorbar(g[x], g[y], yerr=err, fmt="o", color=colors[fam], label=fam, zorder=3, capsize=3)
    labels = [ax.annotate(", ".join(names), spot, textcoords="offset points", xytext=LABEL_SPOTS[0][:2], fontsize=7)
              for spot, names in together(df, x, y, logx).items()]
    if logx:
        ax.set_xscale("log")
    ax.margins(x=0.15, y=0.12)  # room for the labels
    ax.set_xlabel(xlabel)
    ax.set_ylabel(f"accuracy on the {condition} test set (mean, 95% CI)")
    ax.set_title("accuracy against cost (arrows: full model -> its variants)", fontsize=9)
    ax.legend(fontsize=8, title="family", title_fontsize=8)
    place_labels(fig, labels)
    return fig


def together(df, x: str, y: str, logx: bool) -> dict[tuple[float, float], list[str]]:
    """The models' points, those within 2 % of the x range (in log units when ``logx``) and 0.2 points of
    accuracy of each other merged into one spot: {(x, y) of its first model: the models' names}."""
    xs = np.log10(df[x].astype(float)) if logx else df[x].astype(float)
    span = max(float(xs.max() - xs.min()), 1e-12)
    spots: dict[tuple[float, float], list[str]] = {}
    kept: list[tuple[float, float, tuple[float, float]]] = []
    for (_, r), u in zip(df.iterrows(), xs):
        for ku, ky, key in kept:
            if abs(u - ku) <= 0.02 * span and abs(r[y] - ky) <= 0.002:
                spots[key].append(r.model)
                break
        else:
            key = (float(r[x]), float(r[y]))
            kept.append((u, r[y], key))
            spots[key] = [r.model]
    return spots


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
    ax.set_xticks(range(len(df)), df.model, rotation=35, ha="right", fontsize=8)  # anchored at their bars: no overlap
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
    labels = []
    for k, (seed, record) in enumerate(records.items()):
        rounds, color = record["rounds"], f"C{k}"
        ax.plot([r["flops_224"] for r in rounds], [r["val_accuracy"] for r in rounds], "-", color=color, alpha=0.5,
                label=f"seed {seed}")
        for r in rounds:
            kept = r["round"] == record["kept_round"]
            ax.scatter(r["flops_224"], r["val_accuracy"], color=color, marker="*" if kept else ("o" if r["within_budget"] else "x"),
                       s=140 if kept else 30, zorder=3)
            labels.append(ax.annotate(str(r["round"]), (r["flops_224"], r["val_accuracy"]), textcoords="offset points",
                                      xytext=(3, 4), fontsize=6))
    for label, (x, y) in points.items():
        ax.scatter(x, y, color="black", marker="D", s=30, zorder=4)
        labels.append(ax.annotate(label, (x, y), textcoords="offset points", xytext=(4, -10), fontsize=7))
    ax.set_xscale("log")
    ax.set_xlabel("FLOPs per image at 224 px (log scale)")
    ax.set_ylabel("validation accuracy")
    ax.set_title(f"trimming {name}: rounds per seed (star: kept; x: beyond the budget); diamonds: its family", fontsize=9)
    ax.legend(fontsize=7)
    place_labels(fig, labels)  # the full and the pruned model sit on one spot: their names apart
    return fig


def effects_figure(comps, margin: float, seeds: list[int], colors: dict[str, str]) -> Figure:
    """Every comparison (rows), clean and augmented test set side by side: each seed's paired
    difference (dots), the mean over seeds with its interval (bar: the family's simultaneous interval
    the verdict is read off, or 95 % for an exploratory comparison; coloured by its verdict:
    ``colors``), and the margin (dashed)."""
    pairs = list(dict.fromkeys(zip(comps.variant, comps.against)))
    fig = Figure(figsize=(9.6, 1.2 + 0.42 * len(pairs)), layout="constrained")
    axes = fig.subplots(1, 2, sharey=True, sharex=True)
    for ax, condition in zip(axes, TEST_SETS):
        g = comps[comps.condition == condition].set_index(["variant", "against"])
        ax.axvline(0, color="0.5", linewidth=0.8)
        ax.axvline(-100 * margin, color="0.3", linewidth=0.8, linestyle="--", label=f"-{100 * margin:g} pts: the margin")
        for i, pair in enumerate(pairs):
            r = g.loc[pair]
            y = len(pairs) - 1 - i
            if np.isnan(r.diff_pp):
                continue
            width = EXPLORATORY_WIDTH if r.verdict == stats.EXPLORATORY else VERDICT_WIDTH
            ax.plot([r.lo_pp, r.hi_pp], [y, y], color=colors[r.verdict], linewidth=width, solid_capstyle="butt")
            ax.scatter([r.diff_pp], [y], color=colors[r.verdict], marker="|", s=200, zorder=3)
            ax.annotate(f"{100 * r.level:.4g} %", (r.hi_pp, y), xytext=(3, -3), textcoords="offset points", fontsize=6)
            per_seed = [float(v) for v in r.per_seed_pp.split(";")]
            ax.scatter(per_seed, [y + 0.22] * len(per_seed), color="black", s=10, zorder=4)
        ax.set_yticks(range(len(pairs)), [f"{v} vs {a}" for v, a in reversed(pairs)], fontsize=7)
        ax.set_xlabel("accuracy difference, points (variant - against)")
        ax.set_title(f"{condition} test set", fontsize=9)
    from matplotlib.lines import Line2D

    level = f"the mean of {len(seeds)} replicates with its interval" if len(seeds) > 1 else \
        "one replicate: Tango's interval"
    fig.suptitle(f"Paired comparisons: dots = each replicate, bar = {level} (its level beside it)", fontsize=9)
    shown = [v for v in colors if v in set(comps.verdict)]
    handles = [Line2D([], [], color=colors[v], linewidth=EXPLORATORY_WIDTH if v == stats.EXPLORATORY else VERDICT_WIDTH,
                      label=v) for v in shown]
    handles.append(Line2D([], [], color="0.3", linewidth=0.8, linestyle="--", label=f"-{100 * margin:g} pts: the margin"))
    fig.legend(handles=handles, loc="outside lower center", ncols=len(handles), fontsize=8, frameon=False)
    return fig


RUNTIME_MARKERS = {("keras", "float32"): "o", ("keras_compiled", "float32"): "P", ("litert", "float32"): "s", ("litert", "int8"): "^", ("litert", "uint8"): "v", ("onnx", "float32"): "D", ("onnx", "int8"): "d"}


def deployment_figure(table) -> Figure:
    """The exported models' clean test accuracy (the export seed's networks) against FLOPs per image
    (left) and against measured batch-1 latency (right, one marker per runtime and precision): where
    FLOPs and time disagree, the two panels order the models differently."""
    from ..deploy.formats import RUNTIME_NAMES

    colors = family_colors(table.family)
    fig = Figure(figsize=(11, 4.4), layout="constrained")
    by_flops, by_time = fig.subplots(1, 2, sharey=True)
    done = table[table.error == ""]
    keras_rows = done[done.runtime == "keras"]
    for fam, g in keras_rows.groupby("family", sort=False):
        by_flops.scatter(g.flops, g.clean_accuracy, color=colors[fam], label=fam, zorder=3)
    labels = [by_flops.annotate(", ".join(names), spot, textcoords="offset points", xytext=LABEL_SPOTS[0][:2], fontsize=6)
              for spot, names in together(keras_rows, "flops", "clean_accuracy", True).items()]
    for (runtime, precision), marker in RUNTIME_MARKERS.items():
        g = done[(done.runtime == runtime) & (done.precision == precision)]
        g = g[g.latency_ms.notna()]
        err = [g.latency_ms - g.latency_low_ms, g.latency_high_ms - g.latency_ms]
        by_time.errorbar(g.latency_ms, g.clean_accuracy, xerr=err, fmt=marker, mfc="none", color="black", ms=6, lw=0.8,
                         label=f"{RUNTIME_NAMES[runtime]} {precision}", zorder=2)
        by_time.scatter(g.latency_ms, g.clean_accuracy, marker=marker, c=[colors[f] for f in g.family], s=22, zorder=3)
    timed = done[done.latency_ms.notna()]
    if timed.empty:
        by_time.text(0.5, 0.5, "latency not measured:\nrun bench/latency.py", ha="center", va="center", transform=by_time.transAxes)
    fastest = timed.loc[timed.groupby("model").latency_ms.idxmin()]  # each model named once, at its fastest format
    labels += [by_time.annotate(", ".join(names), spot, textcoords="offset points", xytext=LABEL_SPOTS[0][:2], fontsize=6)
               for spot, names in together(fastest, "latency_ms", "clean_accuracy", True).items()]
    for ax in (by_flops, by_time) if not timed.empty else (by_flops,):
        ax.set_xscale("log")
        ax.margins(x=0.1, y=0.1)
    by_flops.set_xlabel("FLOPs per image (log scale)")
    by_flops.set_ylabel("clean test accuracy (one trained network each)")
    by_flops.set_title("accuracy against FLOPs\n(the Keras models)", fontsize=9)
    by_flops.legend(fontsize=7, title="family (colour)", title_fontsize=7)
    by_time.set_xlabel("batch-1 latency, ms (log scale; median of rounds,\nbars: fastest and slowest round)")
    by_time.set_title("accuracy against measured latency, per runtime\n(each model named at its fastest format)", fontsize=9)
    by_time.legend(fontsize=7)
    place_labels(fig, labels)
    return fig
