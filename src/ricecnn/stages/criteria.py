"""Stage criteria@<model>-<rule>-<target>-<seed>: the trained model pruned by one channel criterion
(APoZ, the weights' L1 norm or chance; ``ricecnn.channels.criteria``) to a share of its FLOPs at 224 px, then
fine-tuned with the train settings for ``criteria.finetune_epochs`` (0: the cut model as it is).
With ``criteria.ranking: layer`` every rule keeps the same number of channels per convolution for the
same target, so the criterion is the only difference between their models; with ``global`` the
channels of all convolutions are ranked together and only the FLOPs are matched. The validation
accuracy right after the cut and after fine-tuning are both recorded, and both models are written
(``--out-cut`` before fine-tuning, ``--out`` after), so that evaluate scores both on the same test
images and summarize compares the rule's choice apart from the recovery, paired, under every seed.
"""

from __future__ import annotations

from typing import Literal

import keras  # noqa: F401  (Keras starts on import: inside the CLI's quiet start-up, core/cli.py)

from ..channels import apoz, criteria, surgery
from ..channels.settings import CriteriaLists
from ..channels.stage import ChannelStage
from ..core import settings
from ..core.cli import parse, print_timing, stage_name
from ..core.errors import RiceError
from ..core.io import write_json
from ..core.settings import NonNegativeInt, PositiveInt, Section
from ..data.arrays import load_classes, load_split
from ..networks.anatomy import relu_convs
from ..networks.flops import PAPER_SIZE, describe
from ..training import runtime
from ..training.fit import TIMINGS, fit, settings_for
from ..training.predict import model_accuracy


class Criteria(CriteriaLists):
    model_config = Section.model_config  # the whole section: every key it may hold
    min_channels: PositiveInt  # every conv keeps at least this many channels
    ranking: Literal["layer", "global"]  # the same share of every layer, or all channels in one ranking
    finetune_epochs: NonNegativeInt  # with the train settings, the same for every rule; 0: none
    samples: PositiveInt  # train images APoZ is measured on


class Settings(ChannelStage):
    SECTION = "criteria"
    criteria: Criteria


def main(argv: list[str] | None = None) -> None:
    args = parse(argv, "criteria", __doc__, "model-file", "split-dir", "out", "out-cut", "metrics", model=True, seed=True,
                 options={"rule": str, "target": float})
    name, s = args.model, settings.load(args.params, Settings)
    cfg = s.criteria
    s.entry(name)  # the model must have its settings
    if args.rule not in criteria.RULES:
        raise RiceError(f"unknown criterion {args.rule!r}: one of {', '.join(criteria.RULES)}")
    if not 0 < args.target < 1:
        raise RiceError(f"--target {args.target} must be a share of the full model's FLOPs, between 0 and 1")
    classes = load_classes(args.split_dir)
    train_xy, val_xy = load_split(args.split_dir, "train"), load_split(args.split_dir, "val")
    runtime.configure(args.seed, s.train.mixed_precision)
    model = runtime.load_model(args.model_file, stage_name("train", name, args.seed), train_xy[0].shape[1:], len(classes))
    images = None
    if args.rule == "apoz":  # the same seeded sample of training images for every model and seed
        images = train_xy[0][apoz.sample(len(train_xy[1]), cfg.samples, s.seed, "criteria.samples", "train")]
    convs, label = relu_convs(model), f"{model.name}_{args.rule}"
    if cfg.ranking == "layer":
        fraction, kept, reached = criteria.match(model, convs, args.target, cfg.min_channels, PAPER_SIZE)
        pruned, chosen = criteria.prune(model, args.rule, kept, images=images, seed=args.seed, name=label)
    else:
        ranked = criteria.global_scores(args.rule, criteria.scores(args.rule, model, convs, images=images, seed=args.seed))
        removed, chosen, reached = criteria.match_global(model, ranked, args.target, cfg.min_channels, PAPER_SIZE)
        pruned, kept = surgery.prune(model, chosen, name=label), {c: len(v) for c, v in chosen.items()}
        fraction = removed / sum(len(v) for v in ranked.values())  # of all the convolutions' channels
    record = {"rule": args.rule, "target": args.target, "ranking": cfg.ranking, "fraction": fraction,
              "flops_share_224": reached, "channels": kept, "kept": chosen}
    batch = s.evaluate.batch_size
    before = model_accuracy(pruned, *val_xy, batch)
    runtime.save_model(pruned, args.out_cut)  # before fine-tuning: evaluate scores it on the test images too
    tuned = {}
    if cfg.finetune_epochs:
        tuned = fit(pruned, train_xy, val_xy, num_classes=len(classes), epochs=cfg.finetune_epochs,
                    **settings_for(s, name, args.seed))
        tuned.pop("curves")
        timing = {k: tuned.pop(k) for k in TIMINGS}  # printed, not recorded: the record stays the same bytes on every run
        print_timing(stage_name("criteria", f"{name}-{args.rule}-{args.target}", args.seed), {"model": label, **timing})
    after = model_accuracy(pruned, *val_xy, batch)
    runtime.save_model(pruned, args.out)
    write_json(args.metrics, {
        "model": name, "seed": args.seed, **{k: v for k, v in record.items() if k != "kept"},
        **describe(pruned, PAPER_SIZE), "val_accuracy_pruned": before, "val_accuracy": after,
        "finetune_epochs": cfg.finetune_epochs, "finetune": tuned, "kept": record["kept"],
    })
    print(f"criteria {name} ({args.rule}, {100 * args.target:g} % of its FLOPs): {100 * record['flops_share_224']:.1f} % "
          f"reached, {100 * record['fraction']:.1f} % of each convolution's channels removed; val accuracy "
          f"{before:.4f} -> {after:.4f} after {cfg.finetune_epochs} epochs")
