"""Stage trim@<model>-<seed>: a light model found from data. Iterative APoZ pruning with fine-tuning
(``ricecnn.trimming``, Hu et al. 2016) of the trained model, until the validation accuracy falls
more than ``trim.budget`` below the full model's or ``trim.max_rounds`` is reached; the last model
within budget is kept. APoZ is measured on a seeded sample of the train split.
"""

from __future__ import annotations

from .. import apoz, runtime
from ..core import settings
from ..core.cli import parse
from ..data import load_classes, load_split
from ..core.io import write_json
from ..models import PAPER_SIZE, trained_stage
from ..selection import Rule
from ..training import fit, settings_for
from ..trimming import kept, metrics, trim


def main(argv: list[str] | None = None) -> None:
    args = parse(argv, "trim", __doc__, "model-file", "split-dir", "out", "metrics", model=True, seed=True)
    name = args.model
    s = settings.load(args.params)
    cfg = s.trim
    s.entry(name)  # the model must have its settings
    classes = load_classes(args.split_dir)
    train_xy, val_xy = load_split(args.split_dir, "train"), load_split(args.split_dir, "val")
    sample = apoz.sample(len(train_xy[1]), cfg.samples, s.seed, "trim.samples", "train")
    runtime.configure(args.seed, s.train.mixed_precision)
    model = runtime.load_model(args.model_file, trained_stage(name, args.seed), train_xy[0].shape[1:], len(classes))

    def finetune(candidate) -> dict:
        return fit(candidate, train_xy, val_xy, num_classes=len(classes), epochs=cfg.finetune_epochs,
                   **settings_for(s, name, args.seed))

    trimmed, record = trim(model, train_xy, val_xy, sample, Rule(cfg.rule, cfg.strength, cfg.min_channels),
                           budget=cfg.budget, max_rounds=cfg.max_rounds, paper_size=PAPER_SIZE,
                           batch_size=s.evaluate.batch_size, finetune=finetune)
    runtime.save_model(trimmed, args.out)
    write_json(args.metrics, metrics(record, model=name, seed=args.seed, rule=cfg.rule, strength=cfg.strength,
                                     budget=cfg.budget, samples=len(sample)))
    best = kept(record)
    print(f"trim {name}: kept round {record['kept_round']} of {len(record['rounds']) - 1} ({record['stopped']}); "
          f"FLOPs at 224 px {record['rounds'][0]['flops_224']:,} -> {best['flops_224']:,}, "
          f"val accuracy {record['full_val_accuracy']:.4f} -> {best['val_accuracy']:.4f}")
