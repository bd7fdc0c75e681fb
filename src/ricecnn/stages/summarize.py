"""Stage summarize: every model's size, cost and accuracy (with intervals), each variant against its
baseline (paired tests and verdicts), robustness by transform, the paper's published numbers
compared the same way, the findings generated from all of it (``ricecnn.report``), and the summary
pictures (``ricecnn.plots``)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from .. import plots, report, settings
from ..cli import parse
from ..errors import RiceError
from ..io import atomic_path, read_json
from ..models import evaluated


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
    by_stage = {"train": s.models, "flops": s.models, "featuremaps": s.models, "prune": s.prune.models,
                "trim": s.trim.models, "trim_scratch": s.trim.models}
    metrics = {kind: {m: read_json(md / kind / f"{m}.json") for m in names} for kind, names in by_stage.items()}
    train, flops, fmaps = report.sources(models, metrics)
    evaluate = read_json(md / "evaluate.json")
    if missing := [m.name for m in models if m.name not in evaluate]:
        raise RiceError(f"{md / 'evaluate.json'} has no results for {', '.join(missing)}: rerun `dvc repro evaluate_augmented`")
    df = report.summary_table(models, train, flops, fmaps, evaluate)
    pairs, paper, robust = report.pair_table(df, evaluate), report.paper_table(), report.robustness_table(models, evaluate)
    others = report.others_table(models, evaluate)
    first = flops[models[0].name]
    setup = report.setup_line(df, first["img_size"], f"{int(df.test_images.iloc[0]) // first['num_classes']:,} per class")
    out = args.out_dir
    _csv(df, out / "summary.csv")
    _csv(df[["model", "family", "flops", "filters", "params", "augmented_accuracy", "misclassified"]], out / "summary_points.csv")
    _csv(robust, out / "robustness.csv")
    lines = report.findings(df, pairs, paper, robust, metrics["prune"], others, metrics["trim"])
    _text(report.findings_page(setup, df, pairs, lines), out / "findings.md")
    _text(report.summary_page(setup, df, pairs, others, robust, paper), out / "summary.md")
    plots.save_png(plots.accuracy_figure(df, "flops", "FLOPs per image (log scale)", True), out / "accuracy_vs_flops.png")
    plots.save_png(plots.accuracy_figure(df, "filters", "filters (paper's count, log scale)", True), out / "accuracy_vs_filters.png")
    plots.save_png(plots.params_figure(df), out / "params.png")
    plots.save_png(plots.robustness_figure(robust), out / "robustness.png")
    with atomic_path(out / "trim", directory=True) as folder:
        for m, t in metrics["trim"].items():
            plots.save_png(plots.trim_figure(m, t, report.trim_points(m, models, flops, train)), folder / f"{m}.png")
