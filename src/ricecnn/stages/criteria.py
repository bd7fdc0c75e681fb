"""Stage criteria@<model>-<replicate>: does APoZ choose better *live* channels than the weights' L1
norm and chance? It starts from ``<m>_pruned`` (prune@: the dead channels gone, no prediction
changed) and cuts its live channels by every rule (``criteria.rules``; random ``criteria.draws``
times) to every FLOPs target at 224 px (``criteria.targets``, a share of ``<m>_pruned``'s own), under
every ranking (``criteria.rankings``), each cut scored on the same test images right after the cut.
The layer ranking's cuts (one architecture per target, the criterion the only difference) are also
fine-tuned for ``criteria.finetune_epochs`` with the train settings, and that architecture is trained
from scratch with the model's own settings as the control (for the models ``criteria.scratch`` names). It writes one record
(``--metrics``) and every cut's per-image correctness (``--scores``: rows named in the record)."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated, Literal

from pydantic import Field, model_validator

import keras  # noqa: F401  (Keras starts on import: inside the CLI's quiet start-up, core/cli.py)
import numpy as np

from ..channels import apoz, surgery, sweep
from ..channels.criteria import Cost
from ..channels.cuts import CUT, TUNED, scratch_key
from ..channels.settings import CriteriaLists
from ..channels.stage import ChannelStage
from ..core import settings
from ..core.cli import parse, print_timing, stage_name
from ..core.errors import RiceError
from ..core.io import atomic_path, write_json
from ..core.settings import Distinct, Lists, NonNegativeInt, PositiveInt, Section
from ..data.arrays import load_classes, load_split
from ..inference.files import load_model
from ..networks.anatomy import relu_convs
from ..networks.flops import PAPER_SIZE
from ..networks.parameters import count_parameters
from ..networks.registry import REGISTRY
from ..training import runtime
from ..training.fit import TIMINGS, fit, settings_for


class Criteria(CriteriaLists):
    model_config = Section.model_config  # the whole section: every key it may hold
    rankings: Annotated[list[Literal["layer", "global"]], Distinct]  # the same share of every layer, or one ranking
    draws: PositiveInt  # random's draws per replicate
    min_channels: PositiveInt  # every conv keeps at least this many channels
    finetune_epochs: NonNegativeInt  # the layer ranking's cuts, with the train settings; 0: none
    scratch: Annotated[list[str], Distinct]  # models whose layer-ranking architecture at each target is trained from scratch (the control)
    samples: PositiveInt  # train images APoZ is measured on
    test_images: PositiveInt  # test images every cut is scored on (evenly spread)
    batch_size: PositiveInt  # images per batch when a cut is scored
    margin: Annotated[float, Field(ge=0)]  # the thesis family's: 0, superiority (criteria_report@)


class Settings(ChannelStage):
    SECTION = "criteria"
    criteria: Criteria
    prune: Lists

    @model_validator(mode="after")
    def _starts_from_pruned(self) -> Settings:
        if missing := [m for m in self.criteria.models if m not in self.prune.models]:
            raise ValueError(f"criteria.models names {missing[0]!r}, which is not in prune.models: the criteria start "
                             "from its dead-pruned model (<m>_pruned)")
        if stray := [m for m in self.criteria.scratch if m not in REGISTRY]:  # a subset of any run's models
            raise ValueError(f"criteria.scratch names {stray[0]!r}, which is no model; one of {', '.join(REGISTRY)}")
        return self


def frozen_at_random(model, convs: list[str], weights) -> list[str]:
    """The convolutions a rule could cut that never learned: frozen, in a model whose weights started
    random (``weights: none``). Cutting them measures a head fitted to random features, not a criterion."""
    return [c for c in convs if not model.get_layer(c).trainable] if weights in (None, "none") else []


def main(argv: list[str] | None = None) -> None:
    args = parse(argv, "criteria", __doc__, "model-file", "split-dir", "metrics", "scores", model=True, seed=True)
    name, s = args.model, settings.load(args.params, Settings)
    cfg, entry = s.criteria, s.entry(args.model)
    classes = load_classes(args.split_dir)
    train_xy, val_xy, test_xy = (load_split(args.split_dir, k) for k in ("train", "val", "test"))
    runtime.configure(args.seed, s.train.mixed_precision)
    model = load_model(args.model_file, stage_name("prune", name, args.seed), train_xy[0].shape[1:], len(classes))
    convs = relu_convs(model)
    if frozen := frozen_at_random(model, convs, entry.weights):
        raise RiceError(f"criteria {name}: {len(frozen)} convolutions ({frozen[0]}, ...) are frozen at their random "
                        f"initialisation (models.{name}.weights: none): no criterion may cut a layer that never learned; "
                        "give it learned weights (weights: standin) or leave it out of criteria.models")
    images = train_xy[0][apoz.sample(len(train_xy[1]), cfg.samples, s.seed, "criteria.samples", "train")]
    idx = sweep.test_subset(len(test_xy[1]), cfg.test_images)
    test = (np.asarray(test_xy[0][idx]), test_xy[1][idx])
    batch, pretrained = cfg.batch_size, entry.weights not in (None, "none")
    ranked = sweep.scores(model, convs, cfg.rules, cfg.draws, args.seed, images)
    rows, keys, records, scratch = [], [], [], []
    cuts = list(sweep.cuts(model, convs, ranked, cfg.rankings, cfg.targets, cfg.min_channels, Cost(model, PAPER_SIZE)))
    from tqdm import tqdm

    for cut, record, chosen in tqdm(cuts, desc=f"criteria {name}", unit="cut", disable=None):
        cut_model = surgery.prune(model, chosen, name=f"{name}_{cut.rule}")
        right = sweep.correct(cut_model, *test, batch)
        rows.append(right), keys.append(cut.key(CUT))
        record.update(params=count_parameters(cut_model)["params"], test_cut=right.mean())
        tuned = cut.ranking == "layer" and cfg.finetune_epochs and cut.draw == 0
        if tuned:
            runtime.configure(args.seed, s.train.mixed_precision)  # each fit from the same seed, whatever ran before
            timing = fit(cut_model, train_xy, val_xy, num_classes=len(classes), epochs=cfg.finetune_epochs,
                         **settings_for(s, name, args.seed))
            right = sweep.correct(cut_model, *test, batch)
            rows.append(right), keys.append(cut.key(TUNED))
            record.update(val_tuned=sweep.correct(cut_model, *val_xy, batch).mean(), test_tuned=right.mean())
            print_timing(stage_name("criteria", name, args.seed), {"cut": cut.key(TUNED),
                                                                    **{k: timing[k] for k in TIMINGS}})
        records.append({**asdict(cut), **record})
        if tuned and name in cfg.scratch and cut.rule == cfg.rules[0]:  # one architecture per target: one control
            runtime.configure(args.seed, s.train.mixed_precision)
            control = runtime.from_scratch(cut_model, pretrained=pretrained)
            fit(control, train_xy, val_xy, num_classes=len(classes), epochs=entry.epochs, **settings_for(s, name, args.seed))
            right = sweep.correct(control, *test, batch)
            rows.append(right), keys.append(scratch_key(cut.target))
            scratch.append({"target": cut.target, "flops_share_224": record["flops_share_224"], "epochs": entry.epochs,
                            "val": sweep.correct(control, *val_xy, batch).mean(), "test": right.mean()})
    with atomic_path(args.scores) as tmp, open(tmp, "wb") as f:
        np.save(f, np.packbits(np.asarray(rows, dtype=bool), axis=1))  # one row of bits per key
    write_json(args.metrics, {"model": name, "seed": args.seed, "test_images": len(idx),
                              "finetune_epochs": cfg.finetune_epochs, "keys": keys, "cuts": records, "scratch": scratch})
    print(f"criteria {name}: {len(records)} cuts, {sum(1 for k in keys if k.endswith(TUNED))} fine-tuned, "
          f"{len(scratch)} from scratch, scored on {len(idx)} test images")
