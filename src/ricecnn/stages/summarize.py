"""Stage summarize: every model's size, cost and accuracy over the training seeds, every comparison
(paired on the same test images, per seed and over seeds) with its verdict, robustness by transform,
the paper's published numbers, the findings generated from all of it (``ricecnn.report``), and the
pictures (``ricecnn.plots``)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from .. import plots, report, settings
from ..cli import parse
from ..data import load_classes
from ..errors import RiceError
from ..io import atomic_path, read_json
from ..models import evaluated

PER_SEED = ("train", "featuremaps", "prune", "trim", "trim_scratch")  # metrics/<kind>/<seed>/<model>.json


def _csv(df: pd.DataFrame, path: Path) -> None:
    with atomic_path(path) as tmp:
        df.to_csv(tmp, index=False, lineterminator="\n", float_format="%.6g")


def _text(text: str, path: Path) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def load(s: settings.Settings, metrics_dir: Path, predictions_dir: Path, classes: list[str]) -> report.Study:
    """Every training seed's metrics and predictions, as ``report.Study``."""
    models = evaluated(list(s.models), s.prune.models, s.trim.models)
    names = {"train": s.models, "featuremaps": s.models, "prune": s.prune.models, "trim": s.trim.models,
             "trim_scratch": s.trim.models}
    flops = {m: read_json(metrics_dir / "flops" / f"{m}.json") for m in s.models}
    by_seed: dict[str, dict] = {k: {} for k in ("train", "cost", "dead", "evaluate", "prune", "trim", "predictions")}
    for seed in s.training_seeds:
        metrics = {kind: {m: read_json(metrics_dir / kind / str(seed) / f"{m}.json") for m in names[kind]} for kind in PER_SEED}
        by_seed["train"][seed], by_seed["cost"][seed], by_seed["dead"][seed] = report.sources(models, {**metrics, "flops": flops})
        by_seed["prune"][seed], by_seed["trim"][seed] = metrics["prune"], metrics["trim"]
        samples = {f["samples"] for f in metrics["featuremaps"].values()}
        by_seed["evaluate"][seed] = read_json(metrics_dir / "evaluate" / f"{seed}.json")
        if missing := [m.name for m in models if m.name not in by_seed["evaluate"][seed]]:
            raise RiceError(f"{metrics_dir / 'evaluate' / f'{seed}.json'} has no results for {', '.join(missing)}: "
                            f"rerun `dvc repro evaluate@{seed}`")
        folder = predictions_dir / str(seed) / "predictions"
        for m in models:
            if not (folder / f"{m.name}.csv").is_file():
                raise RiceError(f"{folder / f'{m.name}.csv'} not found: rerun `dvc repro evaluate@{seed}`")
        by_seed["predictions"][seed] = {m.name: pd.read_csv(folder / f"{m.name}.csv") for m in models}
    frames, names = by_seed.pop("predictions"), [m.name for m in models]
    return report.Study(list(s.training_seeds), models, **by_seed, correct=report.correctness(frames, names),
                        predicted=report.correctness(frames, names, column="predicted"), margin=s.compare.margin,
                        failed_run=s.compare.failed_run, img_size=s.data.img_size, classes=classes, source=s.data.source,
                        dead_samples=samples.pop() if len(samples) == 1 else None)


def main(argv: list[str] | None = None) -> None:
    args = parse(argv, "summarize", __doc__, "metrics-dir", "predictions-dir", "split-dir", "out-dir")
    s = settings.load(args.params)
    study = load(s, args.metrics_dir, args.predictions_dir, load_classes(args.split_dir))
    df, comps, robust = report.summary_table(study), report.comparisons(study), report.robustness_table(study)
    paper = report.paper_table(s.compare.margin)
    out = args.out_dir
    _csv(df, out / "summary.csv")
    _csv(df[["model", "family", "flops", "filters", "params", "augmented_accuracy", "misclassified"]], out / "summary_points.csv")
    _csv(comps, out / "comparisons.csv")
    _csv(robust, out / "robustness.csv")
    power = report.power_table(comps)
    _csv(power, out / "power.csv")
    _text(report.findings_page(study, df, comps, report.findings(study, df, comps, paper, robust)), out / "findings.md")
    _text(report.summary_page(study, df, comps, report.per_seed_table(study), robust, paper, power), out / "summary.md")
    plots.save_png(plots.accuracy_figure(df, "flops", "FLOPs per image (log scale)", True), out / "accuracy_vs_flops.png")
    plots.save_png(plots.accuracy_figure(df, "filters", "filters (paper's count, log scale)", True), out / "accuracy_vs_filters.png")
    plots.save_png(plots.params_figure(df), out / "params.png")
    plots.save_png(plots.robustness_figure(robust), out / "robustness.png")
    plots.save_png(plots.effects_figure(comps, s.compare.margin, study.seeds, report.VERDICT_COLORS), out / "effects.png")
    with atomic_path(out / "trim", directory=True) as folder:
        for m in s.trim.models:
            points = {name: (df.set_index("model").loc[name, "flops_224"], df.set_index("model").loc[name, "val_accuracy"])
                      for name in report.trim_neighbours(study, m)}
            plots.save_png(plots.trim_figure(m, {seed: study.trim[seed][m] for seed in study.seeds}, points),
                           folder / f"{m}.png")
