"""One training run from the command line's point of view, shared by the stages that train a model
(train: a registry model; trim_scratch: a trimmed architecture from scratch): load the split, check
its image size, place the run on the devices, train with the ``train`` settings and the model's
entry, then write the model, its metrics and DVCLive's curves."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import keras

from ..core.cli import print_timing, stage_name
from ..core.errors import RiceError
from ..core.io import write_json
from ..data.arrays import load_classes, load_split
from ..inference.files import save_model
from ..networks.parameters import count_parameters
from . import runtime
from .distribute import placement
from .fit import TIMINGS, curves, fit, settings_for
from .settings import Training


def train_and_save(stage: str, name: str, seed: int, s: Training, img_size: int, split_dir: Path,
                   make: Callable[[int, tuple], keras.Model], out: Path, metrics_path: Path, live_dir: Path) -> None:
    """Train the model ``make(num_classes, image_shape)`` returns (called inside the placement's scope,
    after the backend is seeded) as registry model ``name`` under training seed ``seed``."""
    t, entry = s.train, s.entry(name)
    classes = load_classes(split_dir)
    train_xy, val_xy = load_split(split_dir, "train"), load_split(split_dir, "val")
    if train_xy[0].shape[1] != img_size:
        raise RiceError(f"{split_dir} holds {train_xy[0].shape[1]} px images but data.img_size is "
                        f"{img_size}: rerun `dvc repro split`")
    where = placement(t.distribution, t.devices)  # before anything runs on the backend
    runtime.configure(seed, t.mixed_precision)
    with where.scope():
        model = make(len(classes), train_xy[0].shape[1:])
    if where.replicas > 1:
        print(f"{stage}: data parallel over {where.replicas} devices ({', '.join(where.devices)}), "
              f"global batch {t.batch_size * where.replicas}")
    with curves(str(live_dir)) as callbacks:
        metrics = fit(model, train_xy, val_xy, num_classes=len(classes), epochs=entry.epochs, callbacks=callbacks,
                      placement=where, **settings_for(s, name, seed))
    metrics.pop("curves")  # per-epoch curves: DVCLive's plots (--live-dir)
    timing = {k: metrics.pop(k) for k in TIMINGS}  # printed, not recorded (core.cli.print_timing)
    counted = count_parameters(model)
    metrics.update(params_total=counted["params"], params_trainable=counted["params_trainable"], epochs_max=entry.epochs,
                   model=name, seed=seed, backend=keras.backend.backend(), img_size=img_size,
                   weights=str(entry.weights or "none"), freeze=str("paper" if entry.freeze is None else entry.freeze))
    save_model(model, out)
    write_json(metrics_path, metrics)
    verdict = "" if metrics["learned"] else "  WARNING: no better than chance"
    print(f"{stage} {name}: val_accuracy {metrics['val_accuracy']:.4f} (kept epoch {metrics['best_epoch']}/"
          f"{metrics['epochs_run']}), {timing['train_images_per_second']:.0f} images/s{verdict}")
    print_timing(stage_name(stage, name, seed), {"model": name, "seed": seed, "train_images": len(train_xy[1]), **timing})
