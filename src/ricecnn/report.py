"""The study's tables and findings, computed from the stages' metrics (summarize writes them).

Every sentence of ``findings`` is generated from numbers and verdicts (``ricecnn.stats``): a
difference is called better or worse only when its test says so, and every accuracy carries its
95 % interval. Nothing here is written by hand about the results.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from . import plots, stats
from .augment import TRANSFORMS
from .models import REGISTRY, Evaluated

# What the original study reported (docs/paper.md), at 224 px on the real data, with a test set of
# 7,500 images (augmented accuracy and misclassified count per model).
PAPER_TEST_IMAGES = 7500
PAPER_RESULTS = pd.DataFrame(
    [
        ("cnn", 0.9963, 0.9988, 9),
        ("cnn_light", 0.9970, 0.9989, 8),
        ("googlenet", 0.9975, 0.9992, 6),
        ("googlenet_light", 0.9981, 0.9987, 10),
        ("vgg16", 0.9979, 0.9976, 18),
        ("vgg16_light", 0.9979, 0.9980, 15),
    ],
    columns=["model", "val_accuracy", "augmented_accuracy", "misclassified_of_7500"],
)


STATS_KEYS = ("params", "params_trainable", "flops", "macs", "filters", "flops_224")


def sources(models: list[Evaluated], metrics: dict[str, dict[str, dict]]) -> tuple[dict, dict, dict]:
    """Per evaluated model, its training, cost and feature-map numbers (train, flops, featuremaps
    dicts keyed by model name), each from the stage that made the model. ``metrics``: the stages'
    metrics by kind (train, flops, featuremaps, prune, trim, trim_scratch), keyed by trained model.

    A trained model's come from train, flops and featuremaps; a pruned model's from its prune
    stage; a trimmed model's from its trim stage; the scratch control's cost from trim and its
    training from trim_scratch."""
    train, flops, fmaps = {}, {}, {}
    for m in models:
        if m.variant in ("full", "light"):
            train[m.name], flops[m.name] = metrics["train"][m.name], metrics["flops"][m.name]
            fmaps[m.name] = metrics["featuremaps"][m.name]
        elif m.variant == "pruned":
            p = metrics["prune"][m.baseline]
            flops[m.name] = {k.removesuffix("_after"): v for k, v in p.items() if k.endswith("_after")}
            train[m.name] = {"val_accuracy": p.get("val_accuracy_finetuned", p["val_accuracy_after"])}
            fmaps[m.name] = {"dead_fraction": flops[m.name]["dead_fraction"]}
        else:  # trim, trim_scratch
            t = metrics["trim"][m.baseline]
            flops[m.name] = {k: t[k] for k in STATS_KEYS}
            train[m.name] = {"val_accuracy": t["val_accuracy"]} if m.variant == "trim" else metrics["trim_scratch"][m.baseline]
    return train, flops, fmaps


def trim_points(parent: str, models: list[Evaluated], flops: dict, train: dict) -> dict[str, tuple[float, float]]:
    """The models beside a trimming curve (``plots.trim_figure``): label -> (FLOPs at 224 px,
    validation accuracy) of the full model, its family's light and pruned models, and the control."""
    family = next(m.family for m in models if m.name == parent)
    names = [m.name for m in models if m.family == family and m.variant in ("light", "pruned")]
    names += [m.name for m in models if m.variant == "trim_scratch" and m.baseline == parent]
    points = {f"{parent} (full)": parent, **{n: n for n in names}}
    return {label: (flops[n]["flops_224"], train[n]["val_accuracy"]) for label, n in points.items()}


def summary_table(models: list[Evaluated], train: dict, flops: dict, featuremaps: dict, evaluate: dict) -> pd.DataFrame:
    """One row per model, in ``models``' order, from the stages' metrics dicts."""
    rows = []
    for m in models:
        f, e, t = flops[m.name], evaluate[m.name], train[m.name]
        rows.append({
            "model": m.name, "family": m.family, "variant": m.variant, "baseline": m.baseline or "",
            "params": f["params"], "params_trainable": f["params_trainable"],
            "flops": f["flops"], "flops_224": f["flops_224"], "macs": f["macs"], "filters": f["filters"],
            "dead_fraction": featuremaps.get(m.name, {}).get("dead_fraction"),
            "best_epoch": t.get("best_epoch"), "epochs_run": t.get("epochs_run"), "epochs_max": t.get("epochs_max"),
            "val_accuracy": t["val_accuracy"],
            "clean_accuracy": e["clean_accuracy"], "clean_accuracy_lo": e["clean_accuracy_lo"],
            "clean_accuracy_hi": e["clean_accuracy_hi"],
            "augmented_accuracy": e["augmented_accuracy"], "augmented_accuracy_lo": e["augmented_accuracy_lo"],
            "augmented_accuracy_hi": e["augmented_accuracy_hi"],
            "misclassified": e["misclassified"], "test_images": e["test_images"], "latency_ms": e["latency_ms"],
        })  # fmt: skip
    return pd.DataFrame(rows)


DIFF_COLUMNS = [f"{c}_{k}" for c in ("clean", "augmented") for k in ("diff_pp", "diff_lo_pp", "diff_hi_pp", "p", "verdict")]


def diff_columns(comparison: dict) -> dict:
    """A paired comparison (evaluate's ``vs_baseline``/``vs_others`` entry) as table columns, in points."""
    out = {}
    for c in ("clean", "augmented"):
        d = comparison[c]
        out.update({f"{c}_diff_pp": 100 * d["diff"], f"{c}_diff_lo_pp": 100 * d["lo"], f"{c}_diff_hi_pp": 100 * d["hi"],
                    f"{c}_p": d["p"], f"{c}_verdict": d["verdict"]})
    return out


def pair_table(df: pd.DataFrame, evaluate: dict) -> pd.DataFrame:
    """Each variant against its baseline (the family's full model for a light variant, the model it
    was made from for a pruned one): how much cheaper, and the paired accuracy differences."""
    def cut(full: float, other: float) -> float:
        return 100.0 * (1 - other / full) if full else float("nan")

    rows = []
    for _, r in df[df.baseline != ""].iterrows():
        f = df[df.model == r.baseline].iloc[0]
        row = {
            "family": r.family, "baseline": f.model, "variant": r.model,
            "flops_ratio_224": f.flops_224 / r.flops_224 if r.flops_224 else float("nan"),
            "params_reduction_pct": cut(f.params, r.params),
            "flops_224_reduction_pct": cut(f.flops_224, r.flops_224),
            "filters_reduction_pct": cut(f.filters, r.filters),
            **diff_columns(evaluate[r.model]["vs_baseline"]),
        }  # fmt: skip
        rows.append(row)
    return pd.DataFrame(rows)


def paper_table() -> pd.DataFrame:
    """The paper's light variants against their full models: its augmented accuracies (each of
    7,500 test images) compared unpaired, as the per-image predictions were not published."""
    acc = {r.model: stats.accuracy(PAPER_TEST_IMAGES - r.misclassified_of_7500, PAPER_TEST_IMAGES)
           for r in PAPER_RESULTS.itertuples()}
    full = {REGISTRY[m].family: m for m in acc if REGISTRY[m].variant == "full"}
    rows = []
    for light in (m for m in acc if REGISTRY[m].variant == "light"):
        baseline = full[REGISTRY[light].family]
        d = stats.unpaired(acc[light], acc[baseline])
        rows.append({"variant": light, "baseline": baseline,
                     "variant_accuracy": acc[light].value, "variant_lo": acc[light].lo, "variant_hi": acc[light].hi,
                     "baseline_accuracy": acc[baseline].value, "baseline_lo": acc[baseline].lo,
                     "baseline_hi": acc[baseline].hi,
                     "diff_pp": 100 * d.diff, "diff_lo_pp": 100 * d.lo, "diff_hi_pp": 100 * d.hi, "p": d.p,
                     "verdict": d.verdict})
    return pd.DataFrame(rows)


def others_table(models: list[Evaluated], evaluate: dict) -> pd.DataFrame:
    """The further paired comparisons: a trimmed model against the hand-made light one, the
    scratch control against the trimmed model (augmented and clean test sets)."""
    rows = [{"variant": m.name, "against": other, **diff_columns(cmp)}
            for m in models for other, cmp in evaluate[m.name].get("vs_others", {}).items()]
    return pd.DataFrame(rows, columns=["variant", "against", *DIFF_COLUMNS])


def robustness_table(models: list[Evaluated], evaluate: dict) -> pd.DataFrame:
    """Accuracy per model on the clean test set, under each augmentation alone, and all together."""
    rows = []
    for m in models:
        e = evaluate[m.name]
        rows.append({"model": m.name, "clean": e["clean_accuracy"],
                     **{t: e["by_transform"][t]["accuracy"] for t in TRANSFORMS}, "all five": e["augmented_accuracy"]})
    return pd.DataFrame(rows)


# --- text ------------------------------------------------------------------------------------------


def ci(value: float, lo: float, hi: float) -> str:
    return f"{value:.3f} [{lo:.3f}, {hi:.3f}]"


def pts(diff: float, lo: float, hi: float) -> str:
    return f"{diff:+.1f} pts [{lo:+.1f}, {hi:+.1f}]"


def times(ratio: float) -> str:
    """How many times cheaper: 138x, 11.4x, 1.07x."""
    return f"{ratio:.0f}x" if ratio >= 100 else f"{ratio:.1f}x" if ratio >= 10 else f"{ratio:.2f}x"


def p_value(p: float) -> str:
    return "p < 0.001" if p < 0.001 else f"p = {p:.3f}"


def training_status(r) -> str:
    """Whether training ended by early stopping, or at the epoch limit (and then how)."""
    if r.best_epoch is None or pd.isna(r.best_epoch):
        return ""
    best, run, limit = int(r.best_epoch), int(r.epochs_run), r.epochs_max
    if limit is None or pd.isna(limit) or run < int(limit):
        return f"stopped early (best epoch {best} of {run})"
    if best == run:
        return f"still improving at the epoch limit (best epoch {best} of {run})"
    return f"reached the epoch limit, best epoch {best} of {run}"


def findings(df: pd.DataFrame, pairs: pd.DataFrame, paper: pd.DataFrame, robust: pd.DataFrame,
             prune: dict[str, dict], others: pd.DataFrame | None = None, trim: dict[str, dict] | None = None) -> list[str]:
    """One sentence per comparison, and per fact the study rests on, all from the numbers."""
    rows = df.set_index("model")
    out = []
    for p in pairs.itertuples():
        v, b = rows.loc[p.variant], rows.loc[p.baseline]
        out.append(
            f"{p.variant}: {times(p.flops_ratio_224)} fewer FLOPs than {p.baseline}; augmented accuracy "
            f"{ci(v.augmented_accuracy, v.augmented_accuracy_lo, v.augmented_accuracy_hi)} vs "
            f"{ci(b.augmented_accuracy, b.augmented_accuracy_lo, b.augmented_accuracy_hi)}; paired difference "
            f"{pts(p.augmented_diff_pp, p.augmented_diff_lo_pp, p.augmented_diff_hi_pp)}, "
            f"{p_value(p.augmented_p)}: {p.augmented_verdict} (clean: "
            f"{pts(p.clean_diff_pp, p.clean_diff_lo_pp, p.clean_diff_hi_pp)}, {p_value(p.clean_p)}: {p.clean_verdict})."
        )
    for o in (others if others is not None else pd.DataFrame()).itertuples():
        v, b = rows.loc[o.variant], rows.loc[o.against]
        out.append(
            f"{o.variant} against {o.against} (paired): FLOPs at 224 px {v.flops_224:,.0f} vs {b.flops_224:,.0f}; "
            f"augmented accuracy {ci(v.augmented_accuracy, v.augmented_accuracy_lo, v.augmented_accuracy_hi)} vs "
            f"{ci(b.augmented_accuracy, b.augmented_accuracy_lo, b.augmented_accuracy_hi)}, difference "
            f"{pts(o.augmented_diff_pp, o.augmented_diff_lo_pp, o.augmented_diff_hi_pp)}, {p_value(o.augmented_p)}: "
            f"{o.augmented_verdict} (clean: {pts(o.clean_diff_pp, o.clean_diff_lo_pp, o.clean_diff_hi_pp)}, "
            f"{p_value(o.clean_p)}: {o.clean_verdict})."
        )
    for name, t in (trim or {}).items():
        first, kept = t["rounds"][0], t["rounds"][t["kept_round"]]
        out.append(
            f"Trimming {name}: kept round {t['kept_round']} of {len(t['rounds']) - 1} ({t['stopped']}); FLOPs at "
            f"224 px {int(first['flops_224']):,} -> {int(kept['flops_224']):,} ({times(first['flops_224'] / kept['flops_224'])} "
            f"fewer); validation accuracy {t['full_val_accuracy']:.3f} -> {kept['val_accuracy']:.3f} "
            f"(budget: {t['budget']:.3f} below the full model's)."
        )
    for p in paper.itertuples():
        out.append(
            f"The paper's {p.variant} vs {p.baseline} (its published counts, {PAPER_TEST_IMAGES:,} test images each, "
            f"unpaired): {ci(p.variant_accuracy, p.variant_lo, p.variant_hi)} vs "
            f"{ci(p.baseline_accuracy, p.baseline_lo, p.baseline_hi)}; difference "
            f"{pts(p.diff_pp, p.diff_lo_pp, p.diff_hi_pp)}, {p_value(p.p)} (Fisher): {p.verdict}."
        )
    trained = [r for r in df.itertuples() if training_status(r)]
    if trained:
        out.append("Training: " + "; ".join(f"{r.model} {training_status(r)}" for r in trained) + ".")
    drops = robust.set_index("model")
    worst = {m: min(TRANSFORMS, key=lambda t: drops.loc[m, t]) for m in drops.index}
    for t in TRANSFORMS:
        hit = [m for m, w in worst.items() if w == t]
        if hit:
            out.append(
                f"Robustness: alone, {t} costs the most accuracy for {len(hit)} of {len(worst)} models ("
                + ", ".join(f"{m} {drops.loc[m, 'clean']:.3f} -> {drops.loc[m, t]:.3f}" for m in hit) + ")."
            )
    for name, p in prune.items():
        out.append(
            f"Pruning {name}: {p['channels_removed']} of {p['channels_before']} channels removed "
            f"({p['dead_channels_trained_layers']} dead in trained layers, {p['dead_channels_frozen_layers']} in "
            f"frozen ones); largest output change {p['max_abs_output_diff']:.1e} on the {p['samples']} validation "
            f"images APoZ was measured on (the only images where no change is guaranteed), "
            f"{p['max_abs_output_diff_test_clean']:.1e} on the clean and {p['max_abs_output_diff_test_augmented']:.1e} "
            f"on the augmented test set ({p['predictions_changed_test_clean']} and "
            f"{p['predictions_changed_test_augmented']} predictions changed)."
        )
    return out


def setup_line(df: pd.DataFrame, img_size: int, per_class: str) -> str:
    n = int(df.test_images.iloc[0])
    return (f"Test set: {n:,} images ({per_class}), {img_size} px; every accuracy with its 95 % Wilson interval; "
            f"every variant compared with its baseline on the same images (exact McNemar test, 95 % interval of "
            f"the paired difference); a difference is `better` or `worse` only at p < 0.05.")


def fmt(col: str, v) -> str:
    """A table cell: FLOPs as k/M/G, counts with thousands separators, accuracies to 4 digits."""
    if isinstance(v, str):
        return v
    if v is None or (isinstance(v, float) and np.isnan(v)):
        return ""
    if col.endswith("_pp"):
        return f"{v:+.2f}"
    if col.endswith("_p") or col == "p":
        return p_value(v).removeprefix("p = ").removeprefix("p ")
    if col.endswith("_pct"):
        return f"{v:.1f}"
    if "ratio" in col:
        return times(v)
    if col.startswith(("flops", "macs", "FLOPs")):
        return plots.human(v)
    if col.startswith(("params", "filters", "misclassified", "test_images", "best_epoch", "epochs")):
        return f"{int(v):,}"
    if col == "latency_ms":
        return f"{v:.2f}"
    return f"{v:.4f}" if isinstance(v, (float, np.floating)) else str(v)


def markdown(df: pd.DataFrame) -> str:
    head = "| " + " | ".join(df.columns) + " |\n|" + "---|" * len(df.columns) + "\n"
    return head + "".join("| " + " | ".join(fmt(c, v) for c, v in row.items()) + " |\n" for _, row in df.iterrows())


def findings_page(setup: str, df: pd.DataFrame, pairs: pd.DataFrame, lines: list[str]) -> str:
    """reports/findings.md: the setup, the results table, one sentence per finding."""
    return "# Findings\n\n" + setup + "\n\n" + markdown(results_table(df, pairs)) + "\n" + "".join(f"- {x}\n" for x in lines)


def summary_page(setup: str, df, pairs, others, robust, paper) -> str:
    """reports/summary.md: every table."""
    return (
        "# Summary\n\n" + setup + " FLOPs per image at the training input size (`flops`) and at 224x224 "
        "(`flops_224`, the paper's size); `augmented`: the seeded augmented copy of the test split.\n\n"
        + markdown(df) + "\n## Variants against their baseline (paired, on the same test images)\n\n"
        "Reductions in %; differences in percentage points with their 95 % interval; `p`: exact McNemar test.\n\n"
        + markdown(pairs) + "\n## Further paired comparisons (trimmed vs hand-made light; scratch control vs trimmed)"
        "\n\n" + markdown(others) + "\n## Robustness by transform (accuracy on the test set)\n\n" + markdown(robust)
        + "\n## The paper's published numbers (224 px, real data, 7,500 test images per model)\n\n"
        + markdown(PAPER_RESULTS) + "\nIts light variants against their full models, unpaired (Fisher's "
        "exact test, Newcombe's interval): the paper published counts, not per-image predictions.\n\n"
        + markdown(paper)
    )


def results_table(df: pd.DataFrame, pairs: pd.DataFrame) -> pd.DataFrame:
    """The one table of the README: each model's cost and accuracies, and its verdict."""
    verdicts = {p.variant: f"{pts(p.augmented_diff_pp, p.augmented_diff_lo_pp, p.augmented_diff_hi_pp)} vs "
                           f"{p.baseline}, {p_value(p.augmented_p)}: {p.augmented_verdict}" for p in pairs.itertuples()}
    return pd.DataFrame({
        "model": df.model,
        "FLOPs/image (224 px)": df.flops_224,
        "params": df.params,
        "clean accuracy [95% CI]": [ci(*v) for v in zip(df.clean_accuracy, df.clean_accuracy_lo, df.clean_accuracy_hi)],
        "augmented accuracy [95% CI]": [ci(*v) for v in zip(df.augmented_accuracy, df.augmented_accuracy_lo,
                                                            df.augmented_accuracy_hi)],
        "augmented, vs baseline (paired)": [verdicts.get(m, "baseline") for m in df.model],
    })  # fmt: skip
