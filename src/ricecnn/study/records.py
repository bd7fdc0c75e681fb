"""The study as summarize reads it: every training seed's metrics and every test image's predictions,
gathered from the stages that made each model (the stages' own records, read by
``ricecnn.channels.records``), and a model's accuracy over the seeds."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from ..channels import records as channel_records
from ..core.cli import fill, stage_name
from ..core.errors import RiceError
from ..core.io import read_json
from ..evaluation.augment import TEST_SETS, TRANSFORMS
from ..evaluation.plan import Evaluated
from . import stats

PER_SEED = ("train", "featuremaps", "prune", "trim", "trim_scratch")  # one file per seed and model each
CONDITIONS = TEST_SETS[::-1]  # the test sets every comparison is made on, the paper's first
COST_KEYS = ("params", "params_trainable", "flops", "macs", "filters", "flops_224", "params_224")
DATA_NAMES = {"synthetic": "the synthetic stand-in", "kaggle": "the Rice Image Dataset (Kaggle)",
              "path": "the images of data.path"}


@dataclass
class Study:
    """Everything summarize reads. Per training seed (``by seed -> model name -> dict``): ``train``
    (validation accuracy, epochs), ``cost`` (params, FLOPs, filters), ``dead`` (dead channel
    fraction or None), ``evaluate`` (evaluate's metrics), ``prune`` and ``trim`` (by trained model).
    ``correct``: model -> test condition -> (seeds, images) correctness; ``predicted``: the same
    shape, the predicted class."""

    seeds: list[int]
    models: list[Evaluated]
    train: dict[int, dict[str, dict]]
    cost: dict[int, dict[str, dict]]
    dead: dict[int, dict[str, float | None]]
    evaluate: dict[int, dict[str, dict]]
    correct: dict[str, dict[str, np.ndarray]]
    prune: dict[int, dict[str, dict]]
    trim: dict[int, dict[str, dict]]
    margin: float
    img_size: int
    classes: list[str]
    source: str = "synthetic"  # data.source: synthetic | kaggle | path
    predicted: dict[str, dict[str, np.ndarray]] | None = None
    failed_run: float = 1.0  # compare.failed_run: a run this far below its model's best run failed
    families: dict = field(default_factory=dict)  # compare.families: name -> its kinds and conditions (no family:
    #                                              every claim exploratory)
    dead_samples: int | None = None  # the validation images dead channels were measured on
    pictures_seed: int | None = None  # the seed whose models evaluate scored under each transform alone and timed
    robustness_rows: np.ndarray | None = None  # the test images each transform alone was scored on (None: all)

    @property
    def per_model(self) -> bool:
        """Whether a comparison is about architectures (two or more seeds)."""
        return len(self.seeds) >= 2

    @property
    def images(self) -> int:
        return self.correct[self.models[0].name]["clean"].shape[1]

    def mean(self, table: dict[int, dict[str, dict]], name: str, key: str) -> float:
        return float(np.mean([table[s][name][key] for s in self.seeds]))

    def failed(self, name: str) -> list[int]:
        """The training seeds under which ``name``'s run failed to train (``stats.failed_runs``)."""
        return stats.failed_runs({s: self.train[s][name]["val_accuracy"] for s in self.seeds}, self.failed_run)

    def identical(self, variant: str, against: str) -> bool:
        """Whether the two models predict the same class on every test image, under every condition
        and every seed: a comparison with nothing to test."""
        if self.predicted is None:
            return False
        v, b = self.predicted[variant], self.predicted[against]
        return all(np.array_equal(v[c], b[c]) for c in CONDITIONS)


def sources(models: list[Evaluated], metrics: dict[str, dict[str, dict]]) -> tuple[dict, dict, dict]:
    """For one training seed: each evaluated model's training, cost and dead-channel numbers, from the
    stage that made the model. ``metrics``: the stages' metrics by kind (train, flops, featuremaps,
    prune, trim, trim_scratch keyed by trained model). A trained
    model's come from train, flops and featuremaps; a pruned model's from its prune stage; a trimmed
    model's from its trim stage; the scratch control's cost from trim and its training from
    trim_scratch."""
    train, cost, dead = {}, {}, {}
    for m in models:
        if m.trained:
            train[m.name] = metrics["train"][m.name]  # how many parameters train (freeze) is train's record:
            cost[m.name] = {**metrics["flops"][m.name], "params_trainable": train[m.name]["params_trainable"]}  # flops@ counts the architecture alone
            dead[m.name] = metrics["featuremaps"][m.name]["dead_fraction"]
        elif m.variant == "pruned":
            p = metrics["prune"][m.parent]
            cost[m.name] = channel_records.cost(p)
            train[m.name] = {"val_accuracy": channel_records.validation_accuracy(p)}
            dead[m.name] = cost[m.name]["dead_fraction"]
        else:  # trim, trim_scratch
            kept = channel_records.kept(metrics["trim"][m.parent])
            cost[m.name] = {k: kept[k] for k in COST_KEYS}
            train[m.name] = {"val_accuracy": kept["val_accuracy"]} if m.variant == "trim" else metrics["trim_scratch"][m.parent]
            dead[m.name] = None
    return train, cost, dead


def correctness(predictions: dict[int, dict[str, pd.DataFrame]], names: list[str],
                column: str | None = None) -> dict[str, dict[str, np.ndarray]]:
    """model -> condition -> (seeds, images) booleans, from evaluate's per-image predictions, over
    the seeds that have the condition (each transform alone: the one seed evaluate drew), in seed order.
    With ``column`` "predicted": the predicted class names instead."""
    seeds = list(predictions)
    out = {}
    for name in names:
        frames = [predictions[s][name] for s in seeds]
        conditions = dict.fromkeys(c for f in frames for c in f.columns if c not in ("image", "actual"))
        # a condition scored on some of the images only (each transform alone) has those rows alone
        out[name] = {c: np.stack([(f[c] == f["actual"]).to_numpy()[f[c].notna().to_numpy()] if column is None
                                  else f[c].dropna().to_numpy(dtype=str) for f in frames if c in f]) for c in conditions}
    return out


def mean_accuracy(study: Study, name: str, condition: str) -> tuple[float, float, float]:
    """A model's accuracy on a test condition, (value, lo, hi): the mean over replicates with its interval
    (the replicate-to-replicate variation, data draw and training seed, and the test-image sampling; at
    least Wilson's over every replicate's images: ``stats.over_seeds``), or with one replicate Wilson's."""
    correct = study.correct[name][condition]
    if study.per_model:
        return stats.over_seeds(correct)
    a = stats.accuracy_interval(correct[0])
    return a.value, a.lo, a.hi


def trim_neighbours(study: Study, parent: str) -> list[str]:
    """The models beside a trimming curve: the full model, its family's light and pruned models, and
    the scratch control."""
    family = next(m.family for m in study.models if m.name == parent)
    return [parent, *(m.name for m in study.models if m.family == family and m.variant in ("light", "pruned")),
            *(m.name for m in study.models if m.variant == "trim_scratch" and m.parent == parent)]


def training_curves(folders: dict[tuple[int, str], Path]) -> pd.DataFrame:
    """Every training run's per-epoch accuracy and loss, one row per (model, seed, epoch, split), from
    the DVCLive folders ``folders[(seed, model)]`` (``plots/metrics/{train,eval}/{accuracy,loss}.tsv``)."""
    frames = []
    for (seed, model), folder in folders.items():
        for split, name in (("train", "train"), ("eval", "validation")):
            tsv = {k: pd.read_csv(folder / "plots" / "metrics" / split / f"{k}.tsv", sep="\t") for k in ("accuracy", "loss")}
            frame = tsv["accuracy"].merge(tsv["loss"], on="step")
            frames.append(frame.assign(model=model, seed=seed, split=name, epoch=frame.step + 1))
    columns = ["model", "seed", "split", "epoch", "accuracy", "loss"]
    return pd.concat(frames)[columns] if frames else pd.DataFrame(columns=columns)


def per_line(pattern: str, models: list[Evaluated], kind: str, seed: int | None = None) -> dict[str, dict]:
    """Every model's record from its line's file (``pattern`` with ``{line}``, and ``{seed}`` for a stage per
    replicate): one file per stage ``kind@<line>[-<seed>]`` (evaluate, export), merged. A model its line's
    file lacks: RiceError naming the file and the stage to rerun."""
    merged = {}
    for line in dict.fromkeys(m.line for m in models):
        where = fill(pattern, seed=seed, line=line)
        records = read_json(where)
        if missing := [m.name for m in models if m.line == line and m.name not in records]:
            raise RiceError(f"{where} has no results for {', '.join(missing)}: rerun `dvc repro {stage_name(kind, line, seed)}`")
        merged.update(records)
    return merged


def gather(s, models: list[Evaluated], patterns: dict[str, str], classes: list[str]) -> Study:
    """Every training seed's metrics and predictions of ``models`` (``plan.evaluated_for(s)``), as a
    ``Study``. ``s``: summarize's settings (replicates, models, prune, trim, data, compare);
    ``patterns``: dvc.yaml's path of each kind of file (``flops``, the ``PER_SEED`` kinds, ``evaluate``,
    ``predictions``, with ``{seed}``, ``{model}`` and ``{line}`` (``Evaluated.line``) in them). A missing file: RiceError naming the
    stage to rerun."""
    names = {"train": s.models, "featuremaps": s.models, "prune": s.prune.models, "trim": s.trim.models,
             "trim_scratch": s.trim.models}
    flops = {m: read_json(fill(patterns["flops"], model=m)) for m in s.models}
    by_seed: dict[str, dict] = {k: {} for k in ("train", "cost", "dead", "evaluate", "prune", "trim", "predictions")}
    samples: set[int] = set()
    for seed in s.replicates:
        metrics = {kind: {m: read_json(fill(patterns[kind], seed=seed, model=m)) for m in names[kind]} for kind in PER_SEED}
        by_seed["train"][seed], by_seed["cost"][seed], by_seed["dead"][seed] = sources(models, {**metrics, "flops": flops})
        by_seed["prune"][seed], by_seed["trim"][seed] = metrics["prune"], metrics["trim"]
        samples |= {f["samples"] for f in metrics["featuremaps"].values()}
        by_seed["evaluate"][seed] = per_line(patterns["evaluate"], models, "evaluate", seed)
        files = {m.name: fill(patterns["predictions"], seed=seed, line=m.line, model=m.name) for m in models}
        for m in models:
            if not files[m.name].is_file():
                raise RiceError(f"{files[m.name]} not found: rerun `dvc repro {stage_name('evaluate', m.line, seed)}`")
        by_seed["predictions"][seed] = {name: pd.read_csv(file) for name, file in files.items()}
    frames, names = by_seed.pop("predictions"), [m.name for m in models]
    alone = [seed for seed, f in frames.items() if any(TRANSFORMS[0] in df for df in f.values())]  # evaluate's choice
    rows = next((np.flatnonzero(df[TRANSFORMS[0]].notna().to_numpy()) for seed in alone[:1]
                 for df in frames[seed].values() if TRANSFORMS[0] in df), None)  # the images it scored them on
    return Study(list(s.replicates), models, **by_seed, correct=correctness(frames, names),
                 predicted=correctness(frames, names, column="predicted"), margin=s.compare.margin,
                 failed_run=s.compare.failed_run, families=s.compare.families, img_size=s.data.img_size, classes=classes, source=s.data.source,
                 dead_samples=samples.pop() if len(samples) == 1 else None, pictures_seed=alone[0] if alone else None,
                 robustness_rows=rows)
