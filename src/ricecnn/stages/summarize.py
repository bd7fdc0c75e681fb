"""Stage summarize: every model's size, cost and accuracy (with intervals), each variant against its
baseline (paired tests and verdicts), robustness by transform, the paper's published numbers
compared the same way, the findings generated from all of it, and the SPEC pictures."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from .. import plots, report, settings
from ..cli import parse
from ..errors import RiceError
from ..io import atomic_path, read_json
from ..models import evaluated


def fmt(col: str, v) -> str:
    """A table cell: FLOPs as k/M/G, counts with thousands separators, accuracies to 4 digits."""
    if isinstance(v, str):
        return v
    if v is None or (isinstance(v, float) and np.isnan(v)):
        return ""
    if col.endswith("_pp"):
        return f"{v:+.2f}"
    if col.endswith("_p") or col == "p":
        return report.p_value(v).removeprefix("p = ").removeprefix("p ")
    if col.endswith("_pct"):
        return f"{v:.1f}"
    if "ratio" in col:
        return report.times(v)
    if col.startswith(("flops", "macs", "FLOPs")):
        return plots.human(v)
    if col.startswith(("params", "filters", "misclassified", "test_images", "best_epoch", "epochs")):
        return f"{int(v):,}"
    if col == "latency_ms":
        return f"{v:.2f}"
    return f"{v:.4f}" if isinstance(v, (float, np.floating)) else str(v)


def markdown(df: pd.DataFrame) -> str:
    return report.markdown(df, fmt)


def _csv(df: pd.DataFrame, path: Path) -> None:
    with atomic_path(path) as tmp:
        df.to_csv(tmp, index=False, lineterminator="\n", float_format="%.6g")


def _text(text: str, path: Path) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def main(argv: list[str] | None = None) -> None:
    args = parse(argv, "summarize", __doc__, "metrics-dir", "out-dir")
    s = settings.load(args.params)
    models, md = evaluated(list(s.models), s.prune.models, s.trim.models), args.metrics_dir
    train, flops, fmaps = ({m: read_json(md / kind / f"{m}.json") for m in s.models} for kind in ("train", "flops", "featuremaps"))
    prune = {m: read_json(md / "prune" / f"{m}.json") for m in s.prune.models}
    for m, p in prune.items():  # an auto-pruned model's numbers come from its prune stage
        after = {k[: -len("_after")]: v for k, v in p.items() if k.endswith("_after")}
        train[f"{m}_pruned"] = {"val_accuracy": p.get("val_accuracy_finetuned", p["val_accuracy_after"])}
        flops[f"{m}_pruned"] = after
        fmaps[f"{m}_pruned"] = {"dead_fraction": after["dead_fraction"]}
    trim = {m: read_json(md / "trim" / f"{m}.json") for m in s.trim.models}
    for m, t in trim.items():  # a trimmed model's numbers come from its trim stage, its control's from training
        stats_keys = ("params", "params_trainable", "flops", "macs", "filters", "flops_224")
        flops[f"{m}_trim"] = flops[f"{m}_trim_scratch"] = {k: t[k] for k in stats_keys}
        train[f"{m}_trim"] = {"val_accuracy": t["val_accuracy"]}
        train[f"{m}_trim_scratch"] = read_json(md / "trim_scratch" / f"{m}.json")
    evaluate = read_json(md / "evaluate.json")
    missing = [m.name for m in models if m.name not in evaluate]
    if missing:
        raise RiceError(f"{md / 'evaluate.json'} has no results for {', '.join(missing)}: rerun `dvc repro evaluate_augmented`")
    df = report.summary_table(models, train, flops, fmaps, evaluate)
    models_by_name = {m.name: m for m in models}
    pairs, paper, robust = report.pair_table(df, evaluate), report.paper_table(), report.robustness_table(models, evaluate)
    others = report.others_table(models, evaluate)
    first = flops[models[0].name]
    per_class = f"{int(df.test_images.iloc[0]) // first['num_classes']:,} per class"
    setup = report.setup_line(df, first["img_size"], per_class)
    out = args.out_dir
    _csv(df, out / "summary.csv")
    _csv(df[["model", "family", "flops", "filters", "params", "augmented_accuracy", "misclassified"]], out / "summary_points.csv")
    _csv(robust, out / "robustness.csv")
    findings = report.findings(df, pairs, paper, robust, prune, others, trim)
    _text("# Findings\n\n" + setup + "\n\n" + markdown(report.results_table(df, pairs)) + "\n"
          + "".join(f"- {line}\n" for line in findings), out / "findings.md")
    _text(
        "# Summary\n\n" + setup + " FLOPs per image at the training input size (`flops`) and at 224x224 "
        "(`flops_224`, the paper's size); `augmented`: the seeded augmented copy of the test split.\n\n"
        + markdown(df) + "\n## Variants against their baseline (paired, on the same test images)\n\n"
        "Reductions in %; differences in percentage points with their 95 % interval; `p`: exact McNemar test.\n\n"
        + markdown(pairs) + "\n## Further paired comparisons (trimmed vs hand-made light; scratch control vs trimmed)"
        "\n\n" + markdown(others) + "\n## Robustness by transform (accuracy on the test set)\n\n" + markdown(robust)
        + "\n## The paper's published numbers (224 px, real data, 7,500 test images per model)\n\n"
        + markdown(report.PAPER_RESULTS) + "\nIts light variants against their full models, unpaired (Fisher's "
        "exact test, Newcombe's interval): the paper published counts, not per-image predictions.\n\n"
        + markdown(paper),
        out / "summary.md",
    )  # fmt: skip
    plots.save_png(plots.accuracy_figure(df, "flops", "FLOPs per image (log scale)", True), out / "accuracy_vs_flops.png")
    plots.save_png(plots.accuracy_figure(df, "filters", "filters (paper's count, log scale)", True), out / "accuracy_vs_filters.png")
    plots.save_png(plots.params_figure(df), out / "params.png")
    plots.save_png(plots.robustness_figure(robust), out / "robustness.png")
    with atomic_path(out / "trim", directory=True) as folder:
        for m, t in trim.items():
            points = {f"{m} (full)": (flops[m]["flops_224"], train[m]["val_accuracy"])}
            for other in models:
                if other.family == models_by_name[m].family and other.variant in ("light", "pruned"):
                    points[other.name] = (flops[other.name]["flops_224"], train[other.name]["val_accuracy"])
            points[f"{m}_trim_scratch"] = (flops[m + "_trim_scratch"]["flops_224"], train[m + "_trim_scratch"]["val_accuracy"])
            plots.save_png(plots.trim_figure(m, t, points), folder / f"{m}.png")
