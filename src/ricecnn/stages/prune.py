"""Stage prune@<model>-<seed>: remove the channels APoZ calls dead, physically, and check what changed.

Reads the trained model and the zero counts its featuremaps stage recorded over a validation
sample (``ricecnn.channels.apoz``), removes every conv channel with APoZ >= prune.apoz_threshold (each conv
keeps at least prune.min_channels; ``ricecnn.channels.selection``, ``ricecnn.channels.surgery``), optionally
fine-tunes the result, and records what changed (``ricecnn.channels.pruning``): channels per layer, params
and FLOPs, and the largest output change and changed predictions on the sample and the whole
validation split. With threshold 1.0 the outputs on the sample may change by float round-off only:
beyond prune.tolerance the stage stops with an error. What it does to the test sets, summarize
says from every seed's predictions.
"""

from __future__ import annotations

from typing import Annotated

import keras  # noqa: F401  (Keras starts on import: inside the CLI's quiet start-up, core/cli.py)
import numpy as np
from pydantic import Field

from ..channels import apoz, pruning, records, selection, surgery
from ..channels.stage import ChannelStage
from ..core import settings
from ..core.cli import parse, print_timing, stage_name
from ..core.errors import RiceError
from ..core.io import read_json, write_json
from ..core.settings import Lists, NonNegativeInt, PositiveInt, Section
from ..data.arrays import load_classes, load_split
from ..inference.batches import model_accuracy
from ..inference.files import load_model, save_model, weights_digest
from ..networks.anatomy import feature_layers
from ..networks.flops import PAPER_SIZE, describe
from ..training import runtime
from ..training.fit import TIMINGS, fit, settings_for


class Prune(Lists):
    model_config = Section.model_config  # the whole section: every key it may hold
    apoz_threshold: Annotated[float, Field(gt=0, le=1)]
    min_channels: PositiveInt
    finetune_epochs: NonNegativeInt
    tolerance: Annotated[float, Field(gt=0)]  # largest output change on the APoZ sample at threshold 1.0
    batch_size: PositiveInt  # images per batch of its checks (outputs before and after, val accuracy)


class Settings(ChannelStage):
    SECTION = "prune"
    prune: Prune


def main(argv: list[str] | None = None) -> None:
    args = parse(argv, "prune", __doc__, "model-file", "featuremaps", "split-dir", "out", "metrics", model=True,
                 seed=True)
    name = args.model
    s = settings.load(args.params, Settings)
    cfg = s.prune
    s.entry(name)  # the model must have its settings
    recorded = read_json(args.featuremaps)
    if recorded.get("model") != name:
        raise RiceError(f"{args.featuremaps} holds the feature maps of {recorded.get('model')!r}, not {name!r}")
    classes = load_classes(args.split_dir)
    x, y = load_split(args.split_dir, "val")
    runtime.configure(args.seed, s.train.mixed_precision and cfg.finetune_epochs > 0)
    model = load_model(args.model_file, stage_name("train", name, args.seed), x.shape[1:], len(classes))
    counted_by = stage_name("featuremaps", name, args.seed)
    apoz.check_record(recorded, weights_digest(model), args.featuremaps, len(y), counted_by)
    names, measured = feature_layers(model), apoz.exact(recorded["layers"])
    if missing := [n for n in names if n not in measured]:
        raise RiceError(f"{args.featuremaps} has no counts for layer {missing[0]!r} of {name}: rerun `dvc repro {counted_by}`")
    idx = np.asarray(recorded["sample"]["indices"], dtype=np.int64)
    keep = selection.plan(model, {n: measured[n] for n in names}, cfg.apoz_threshold, cfg.min_channels)
    pruned = surgery.prune(model, keep, name=f"{model.name}_pruned")

    batch = cfg.batch_size
    sample = pruning.output_change(model, pruned, [x[idx]], apoz.BATCH)
    pruning.check_tolerance(name, sample["max_abs_output_diff"], cfg.apoz_threshold, cfg.tolerance, args.featuremaps, counted_by)
    val = pruning.output_change(model, pruned, pruning.in_batches(x, batch), batch, labels=y)
    before, after = describe(model, PAPER_SIZE), describe(pruned, PAPER_SIZE)
    metrics = records.record(
        before, after, sample, val, pruning.channels_by_feature_layer(model, keep, names, recorded),
        apoz.report(apoz.zero_counts(pruned, names, x[idx]))["dead_fraction"], model=name, seed=args.seed,
        apoz_threshold=cfg.apoz_threshold, min_channels=cfg.min_channels, finetune_epochs=cfg.finetune_epochs,
        samples=len(idx))
    if cfg.finetune_epochs:
        metrics["finetune"] = fit(pruned, load_split(args.split_dir, "train"), (x, y), num_classes=len(classes),
                                  epochs=cfg.finetune_epochs, **settings_for(s, name, args.seed))
        timing = {k: metrics["finetune"].pop(k) for k in TIMINGS}  # printed, not recorded: the same bytes on every run
        print_timing(stage_name("prune", name, args.seed), {"model": name, **timing})
        metrics["val_accuracy_finetuned"] = model_accuracy(pruned, x, y, batch)
    save_model(pruned, args.out)
    write_json(args.metrics, metrics)
    print(f"prune {name}: {metrics['channels_removed']} of {metrics['channels_before']} channels removed, params "
          f"{before['params']:,} -> {after['params']:,}, FLOPs x{1 / metrics['flops_ratio']:.3f}, max output change "
          f"{sample['max_abs_output_diff']:.2e} on the APoZ sample")
