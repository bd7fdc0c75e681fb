"""Stage `train@<model>-<seed>`: train one registry model on the split with one training seed
(``ricecnn.training.fit``: Adam over the model's epochs with the learning-rate schedule of
``train.schedule``, or early stopping with ``train.patience``).

With ``--from-architecture FILE`` (stage `trim_scratch@<model>-<seed>`) the model is the
architecture of a saved model, e.g. a trimmed one, trained from scratch with the same settings
(``runtime.from_scratch``): the control that tells what a trimmed model owes to its architecture
and what to its inherited weights (Liu et al. 2019, "Rethinking the Value of Network Pruning").
"""

from __future__ import annotations

import keras

from .. import runtime
from ..core import settings
from ..core.cli import parse
from ..data import load_classes, load_split
from ..distribute import placement
from ..core.errors import RiceError
from ..core.io import write_json
from ..models import build_model, check_input_size, trimmed_stage
from ..parameters import count_parameters
from ..training import curves, fit, settings_for


def main(argv: list[str] | None = None) -> None:
    args = parse(argv, "train", __doc__, "split-dir", "out", "metrics", "live-dir", model=True, seed=True,
                 optional=("from-architecture",))
    s = settings.load(args.params)
    name, t = args.model, s.train
    entry = s.entry(name)
    classes = load_classes(args.split_dir)
    train_xy, val_xy = load_split(args.split_dir, "train"), load_split(args.split_dir, "val")
    check_input_size(name, s.data.img_size)  # before placement starts a backend runtime
    if train_xy[0].shape[1] != s.data.img_size:
        raise RiceError(f"{args.split_dir} holds {train_xy[0].shape[1]} px images but data.img_size is "
                        f"{s.data.img_size}: rerun `dvc repro split`")
    where = placement(t.distribution, t.devices)  # before anything runs on the backend
    runtime.configure(args.seed, t.mixed_precision)
    with where.scope():
        if args.from_architecture:
            trimmed = runtime.load_model(args.from_architecture, trimmed_stage(name, args.seed), train_xy[0].shape[1:],
                                         len(classes))
            model = runtime.from_scratch(trimmed, pretrained=entry.weights not in (None, "none"))
        else:
            model = build_model(name, s.data.img_size, len(classes), entry.options())
    if where.replicas > 1:
        print(f"train: data parallel over {where.replicas} devices ({', '.join(where.devices)}), "
              f"global batch {t.batch_size * where.replicas}")
    with curves(str(args.live_dir)) as callbacks:
        metrics = fit(model, train_xy, val_xy, num_classes=len(classes), epochs=entry.epochs, callbacks=callbacks,
                      placement=where, **settings_for(s, name, args.seed))
    metrics.pop("curves")  # per-epoch curves: DVCLive's plots (--live-dir)
    counted = count_parameters(model)
    metrics.update(params_total=counted["params"], params_trainable=counted["params_trainable"], epochs_max=entry.epochs,
                   model=name, seed=args.seed, backend=keras.backend.backend(), img_size=s.data.img_size,
                   weights=str(entry.weights or "none"), freeze=str("paper" if entry.freeze is None else entry.freeze))
    runtime.save_model(model, args.out)
    write_json(args.metrics, metrics)
    verdict = "" if metrics["learned"] else "  WARNING: no better than chance"
    print(f"train {name}: val_accuracy {metrics['val_accuracy']:.4f} (kept epoch {metrics['best_epoch']}/"
          f"{metrics['epochs_run']}), {metrics['train_images_per_second']:.0f} images/s{verdict}")
