"""Stage summarize: every model's size, cost and accuracy over the training seeds, every comparison
(paired on the same test images, per seed and over seeds) with its verdict, robustness by transform,
the paper's published numbers, the findings generated from all of it, and the pictures.

What it reads comes from dvc.yaml as path patterns (``{seed}``, ``{model}``, and ``{line}``: the trained
model a variant is made from, whose evaluate@ and export@ stages cover it), one per kind of file
(``ricecnn.study.records`` gathers them, ``ricecnn.study.tables`` and ``ricecnn.study.findings`` turn
them into tables and words, ``ricecnn.study.figures`` into pictures); what it writes goes into the
folder ``--out-dir`` (one out of dvc.yaml, replaced whole: a failed run leaves the last complete
one) under the names below, and the study's numbers as DVC's metrics into ``--metrics``
(``tables.study_metrics``). Latency is not the pipeline's: ``--latency`` is bench/latency.py's
committed record (its conditions with it); summary.csv's ``latency_ms`` is the compiled Keras call's.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from ..core import settings
from ..core.cli import fill, parse
from ..core.io import atomic_path, read_json, write_csv, write_json
from ..data.arrays import load_classes
from ..data.settings import Data
from ..evaluation.plan import Plan, evaluated_for
from ..pictures import save_png
from ..study import deployment, figures, findings, pages, tables
from ..study.paper import paper_table
from ..study.records import PER_SEED, gather, per_line, training_curves, trim_neighbours
from ..study.settings import Compare

OUTPUTS = ("summary.csv", "summary_points.csv", "comparisons.csv", "robustness.csv", "power.csv", "deployment.csv", "deployment.png",
           "training_curves.csv", "findings.md", "summary.md", "accuracy_vs_flops.png", "accuracy_vs_filters.png", "params.png",
           "robustness.png", "effects.png", "trim")


def _text(text: str, path: Path) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text)


class Settings(Plan):
    data: Data
    compare: Compare


def main(argv: list[str] | None = None) -> None:
    kinds = ("flops", *(k.replace("_", "-") for k in PER_SEED), "evaluate", "predictions")
    args = parse(argv, "summarize", __doc__, "split-dir", "out-dir", "metrics", "latency",
                 patterns=(*kinds, "curves", "export", "export-predictions"))
    s = settings.load(args.params, Settings)
    patterns = {k.replace("-", "_"): getattr(args, k.replace("-", "_")) for k in kinds}
    study = gather(s, evaluated_for(s), patterns, load_classes(args.split_dir))
    df, comps, robust = tables.summary_table(study), tables.comparisons(study), tables.robustness_table(study)
    exported = per_line(args.export, study.models, "export")  # one export@<line> each
    bench = read_json(args.latency) if args.latency.exists() else None
    deployed = deployment.deployment_table(study, exported, {m.name: pd.read_csv(fill(args.export_predictions, line=m.line,
                                                                                     model=m.name))
                                                             for m in study.models}, df, bench)
    keras_rows = deployed[deployed.runtime == "keras_compiled"].set_index("model")
    df.insert(df.columns.get_loc("failed_runs"), "latency_ms", df.model.map(keras_rows.latency_ms))  # the bench's
    paper = paper_table(s.compare.margin)
    power = tables.power_table(comps)
    curves = training_curves({(seed, m): fill(args.curves, seed=seed, model=m) for m in s.models for seed in s.replicates})
    with atomic_path(args.out_dir, directory=True) as folder:
        out = {name: folder / name for name in OUTPUTS}
        write_csv(df, out["summary.csv"])
        write_csv(df[["model", "family", "flops", "filters", "params", "clean_accuracy", "augmented_accuracy", "misclassified"]],
                  out["summary_points.csv"])
        write_csv(comps, out["comparisons.csv"])
        write_csv(robust, out["robustness.csv"])
        write_csv(power, out["power.csv"])
        write_csv(curves, out["training_curves.csv"])
        write_csv(deployed, out["deployment.csv"])
        lines = findings.findings(study, df, comps, paper, robust) + deployment.sentences(study, deployed, bench)
        _text(pages.findings_page(study, df, comps, lines), out["findings.md"])
        _text(pages.summary_page(study, df, comps, tables.per_seed_table(study), robust, paper, power,
                                   deployed, bench),
              out["summary.md"])
        save_png(figures.deployment_figure(deployed), out["deployment.png"])
        save_png(figures.accuracy_figure(df, "flops", "FLOPs per image (log scale)", True), out["accuracy_vs_flops.png"])
        save_png(figures.accuracy_figure(df, "filters", "filters (paper's count, log scale)", True),
                 out["accuracy_vs_filters.png"])
        save_png(figures.params_figure(df), out["params.png"])
        save_png(figures.robustness_figure(robust), out["robustness.png"])
        save_png(figures.effects_figure(comps, s.compare.margin, study.seeds, figures.VERDICT_COLORS), out["effects.png"])
        out["trim"].mkdir()
        for m in s.trim.models:
            points = {name: (df.set_index("model").loc[name, "flops_224"], df.set_index("model").loc[name, "val_accuracy"])
                      for name in trim_neighbours(study, m)}
            save_png(figures.trim_figure(m, {seed: study.trim[seed][m] for seed in study.seeds}, points),
                     out["trim"] / f"{m}.png")
    write_json(args.metrics, tables.study_metrics(df, comps))
