"""Stage trim@<model>-<seed>: a light model found from data. Iterative APoZ pruning with fine-tuning
(``ricecnn.channels.trimming``, Hu et al. 2016) of the trained model, until the validation accuracy falls
more than ``trim.budget`` below the full model's or ``trim.max_rounds`` is reached; the last model
within budget is kept. APoZ is measured on a seeded sample of the train split.
"""

from __future__ import annotations

from typing import Annotated, Literal

import keras  # noqa: F401  (Keras starts on import: inside the CLI's quiet start-up, core/cli.py)
from pydantic import Field, model_validator

from ..channels import apoz
from ..channels.records import kept, metrics
from ..channels.selection import Rule
from ..channels.stage import ChannelStage
from ..channels.trimming import trim
from ..core import settings
from ..core.cli import parse, stage_name
from ..core.io import write_json
from ..core.settings import Lists, PositiveInt, Section
from ..data.arrays import load_classes, load_split
from ..inference.files import load_model, save_model
from ..networks.flops import PAPER_SIZE
from ..training import runtime
from ..training.fit import fit, settings_for


class Trim(Lists):
    model_config = Section.model_config  # the whole section: every key it may hold
    rule: Literal["fraction", "std"]  # fraction: a share of each layer per round; std: Hu et al.'s mean + k std
    strength: Annotated[float, Field(gt=0)]  # the share (fraction, < 1) or k (std)
    min_channels: PositiveInt
    budget: Annotated[float, Field(ge=0, le=1)]  # largest fall of val accuracy below the full model's
    finetune_epochs: PositiveInt  # per round, with the train settings
    max_rounds: PositiveInt
    samples: PositiveInt  # train images APoZ is measured on each round
    batch_size: PositiveInt  # images per batch when a round's val accuracy is scored

    @model_validator(mode="after")
    def _fraction_below_one(self) -> Trim:
        if self.rule == "fraction" and self.strength >= 1:
            raise ValueError(f"trim.strength = {self.strength} must be below 1 with rule fraction (a share of each layer)")
        return self


class Settings(ChannelStage):
    SECTION = "trim"
    trim: Trim


def main(argv: list[str] | None = None) -> None:
    args = parse(argv, "trim", __doc__, "model-file", "split-dir", "out", "metrics", model=True, seed=True)
    name = args.model
    s = settings.load(args.params, Settings)
    cfg = s.trim
    s.entry(name)  # the model must have its settings
    classes = load_classes(args.split_dir)
    train_xy, val_xy = load_split(args.split_dir, "train"), load_split(args.split_dir, "val")
    # two seeds: the APoZ sample is drawn by params.yaml's `seed` (the same images for every replicate's
    # model), the fine-tuning runs under the replicate's own training seed (--seed)
    sample = apoz.sample(len(train_xy[1]), cfg.samples, seed=s.seed, what="trim.samples", where="train")
    runtime.configure(training_seed := args.seed, s.train.mixed_precision)
    model = load_model(args.model_file, stage_name("train", name, args.seed), train_xy[0].shape[1:], len(classes))

    def finetune(candidate) -> dict:
        return fit(candidate, train_xy, val_xy, num_classes=len(classes), epochs=cfg.finetune_epochs,
                   **settings_for(s, name, training_seed))

    trimmed, record = trim(model, train_xy, val_xy, sample, Rule(cfg.rule, cfg.strength, cfg.min_channels),
                           budget=cfg.budget, max_rounds=cfg.max_rounds, paper_size=PAPER_SIZE,
                           batch_size=cfg.batch_size, finetune=finetune)
    save_model(trimmed, args.out)
    write_json(args.metrics, metrics(record, model=name, seed=args.seed, rule=cfg.rule, strength=cfg.strength,
                                     budget=cfg.budget, samples=len(sample)))
    best = kept(record)
    print(f"trim {name}: kept round {record['kept_round']} of {len(record['rounds']) - 1} ({record['stopped']}); "
          f"FLOPs at 224 px {record['rounds'][0]['flops_224']:,} -> {best['flops_224']:,}, "
          f"val accuracy {record['full_val_accuracy']:.4f} -> {best['val_accuracy']:.4f}")
