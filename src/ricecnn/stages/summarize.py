"""Stage summarize: one table of every model's size, cost and accuracy, the reductions of each
variant against its baseline, the paper's reported numbers beside them, and the SPEC pictures."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from .. import plots, settings
from ..cli import parse
from ..errors import RiceError
from ..io import atomic_path, read_json
from ..models import Evaluated, evaluated

# SPEC "Training (seed)": what the original study (the paper) reported, test set of 7,500 images.
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


def summary_table(models: list[Evaluated], train: dict, flops: dict, featuremaps: dict, evaluate: dict) -> pd.DataFrame:
    """One row per model, in ``models``' order, from the stages' metrics dicts."""
    rows = []
    for m in models:
        f, e = flops[m.name], evaluate[m.name]
        rows.append({
            "model": m.name, "family": m.family, "variant": m.variant, "baseline": m.baseline or "",
            "params": f["params"], "params_trainable": f["params_trainable"],
            "flops": f["flops"], "flops_224": f["flops_224"], "macs": f["macs"], "filters": f["filters"],
            "dead_fraction": featuremaps[m.name]["dead_fraction"], "val_accuracy": train[m.name]["val_accuracy"],
            "clean_accuracy": e["clean_accuracy"], "augmented_accuracy": e["augmented_accuracy"],
            "misclassified": e["misclassified"], "latency_ms": e["latency_ms"],
        })  # fmt: skip
    return pd.DataFrame(rows)


def pair_table(df: pd.DataFrame) -> pd.DataFrame:
    """Each variant against its baseline: the family's full model for a light variant, the model
    it was made from for a pruned one (reductions in %, accuracy in pp)."""
    def cut(full: float, other: float) -> float:
        return 100.0 * (1 - other / full) if full else float("nan")

    rows = []
    for _, r in df[df.baseline != ""].iterrows():
        f = df[df.model == r.baseline].iloc[0]
        rows.append({
            "family": r.family, "baseline": f.model, "variant": r.model,
            "params_reduction_pct": cut(f.params, r.params),
            "flops_224_reduction_pct": cut(f.flops_224, r.flops_224),
            "flops_reduction_pct": cut(f.flops, r.flops),
            "filters_reduction_pct": cut(f.filters, r.filters),
            "flops_ratio_224": f.flops_224 / r.flops_224 if r.flops_224 else float("nan"),
            "flops_ratio": f.flops / r.flops if r.flops else float("nan"),
            "augmented_accuracy_change_pp": 100.0 * (r.augmented_accuracy - f.augmented_accuracy),
        })  # fmt: skip
    return pd.DataFrame(rows)


def fmt(col: str, v) -> str:
    """A table cell: FLOPs as k/M/G, counts with thousands separators, accuracies to 4 digits."""
    if isinstance(v, str):
        return v
    if col.endswith("_pp"):
        return f"{v:+.2f}"
    if col.endswith("_pct"):
        return f"{v:.1f}"
    if "ratio" in col:
        return f"{v:.1f}x"
    if col.startswith(("flops", "macs")):
        return plots.human(v)
    if col.startswith(("params", "filters", "misclassified")):
        return f"{int(v):,}"
    if col == "latency_ms":
        return f"{v:.2f}"
    return f"{v:.4f}" if isinstance(v, (float, np.floating)) else str(v)


def markdown(df: pd.DataFrame) -> str:
    head = "| " + " | ".join(df.columns) + " |\n|" + "---|" * len(df.columns) + "\n"
    return head + "".join("| " + " | ".join(fmt(c, v) for c, v in row.items()) + " |\n" for _, row in df.iterrows())


def _csv(df: pd.DataFrame, path: Path) -> None:
    with atomic_path(path) as tmp:
        df.to_csv(tmp, index=False, lineterminator="\n", float_format="%.6g")


def main(argv: list[str] | None = None) -> None:
    args = parse(argv, "summarize", __doc__, "metrics-dir", "out-dir")
    s = settings.load(args.params)
    models, md = evaluated(list(s.models), s.prune.models), args.metrics_dir
    train, flops, fmaps = ({m: read_json(md / kind / f"{m}.json") for m in s.models} for kind in ("train", "flops", "featuremaps"))
    for m in s.prune.models:  # an auto-pruned model's numbers come from its prune stage
        p = read_json(md / "prune" / f"{m}.json")
        after = {k[: -len("_after")]: v for k, v in p.items() if k.endswith("_after")}
        train[f"{m}_pruned"] = {"val_accuracy": p.get("val_accuracy_finetuned", p["val_accuracy_after"])}
        flops[f"{m}_pruned"] = after
        fmaps[f"{m}_pruned"] = {"dead_fraction": after["dead_fraction"]}
    evaluate = read_json(md / "evaluate.json")
    missing = [m.name for m in models if m.name not in evaluate]
    if missing:
        raise RiceError(f"{md / 'evaluate.json'} has no results for {', '.join(missing)}: rerun `dvc repro evaluate_augmented`")
    df = summary_table(models, train, flops, fmaps, evaluate)
    pairs = pair_table(df)
    out = args.out_dir
    _csv(df, out / "summary.csv")
    _csv(df[["model", "family", "flops", "filters", "params", "augmented_accuracy", "misclassified"]], out / "summary_points.csv")
    text = (
        "# Summary\n\nFLOPs per image at the training input size (`flops`) and at 224x224 (`flops_224`); "
        "accuracies on the test split, `augmented` on the seeded augmented copy of it.\n\n" + markdown(df)
        + "\n## Lighter variants against their baseline\n\nReductions in %, `flops_ratio`: how many times "
        "cheaper, accuracy change in percentage points.\n\n" + markdown(pairs)
        + "\n## The paper's reported numbers (224x224, test set of 7,500)\n\n" + markdown(PAPER_RESULTS)
    )  # fmt: skip
    with atomic_path(out / "summary.md") as tmp:
        tmp.write_text(text)
    plots.save_png(plots.accuracy_figure(df, "flops", "FLOPs per image (log scale)", True), out / "accuracy_vs_flops.png")
    plots.save_png(plots.accuracy_figure(df, "filters", "filters (paper's count, log scale)", True), out / "accuracy_vs_filters.png")
    plots.save_png(plots.params_figure(df), out / "params.png")
