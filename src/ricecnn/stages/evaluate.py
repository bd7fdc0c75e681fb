"""Stage evaluate_augmented: clean and augmented test accuracy, loss, speed, confusion of all models.

Every model (the trained ones and the variants derived from them, ``ricecnn.models.evaluated``) is
judged on the same test split, on the same seeded augmented copy of it, and on each augmentation
alone (``ricecnn.augment``, drawn once into memory-mapped arrays). Every accuracy comes with its
95 % interval, every variant with a paired comparison to its baseline on the same images, and every
image's predicted class under every condition is kept (``predictions/<model>.csv``;
``ricecnn.evaluation``).
"""

from __future__ import annotations

import tempfile

import keras

from .. import evaluation, settings
from ..augment import condition_sets
from ..cli import parse
from ..data import load_classes, load_split
from ..errors import RiceError
from ..io import atomic_path, write_json
from ..models import evaluated
from ..runtime import load_model


def main(argv: list[str] | None = None) -> None:
    args = parse(argv, "evaluate", __doc__, "models-dir", "split-dir", "out", "plots-dir")
    s = settings.load(args.params)
    cfg = s.evaluate
    models = evaluated(list(s.models), s.prune.models, s.trim.models)
    files = {m.name: args.models_dir / f"{m.name}.keras" for m in models}
    for m in models:  # fail before the long work
        if not files[m.name].exists():
            raise RiceError(f"{files[m.name]} not found: run `dvc repro {m.stage}` first")
    classes = load_classes(args.split_dir)
    clean, labels = load_split(args.split_dir, "test")
    if len(labels) == 0:
        raise RiceError(f"the test split in {args.split_dir} is empty: raise split.test or the data size")
    results, predicted = {}, {}
    with tempfile.TemporaryDirectory(prefix=".conditions-", dir=args.split_dir.parent) as tmp, \
            atomic_path(args.plots_dir, directory=True) as out:
        sets = condition_sets(clean, s.seed, cfg.batch_size, folder=tmp)
        (out / "predictions").mkdir()
        for m in models:
            print(f"evaluate {m.name}", flush=True)
            model = load_model(files[m.name], m.stage, clean.shape[1:], len(classes))
            results[m.name], predicted[m.name] = evaluation.evaluate(model, sets, labels, cfg.batch_size,
                                                                     cfg.latency_repeats)
            results[m.name]["backend"] = keras.backend.backend()
            evaluation.write_predictions(out / "predictions" / f"{m.name}.csv", labels, predicted[m.name], classes)
            evaluation.write_plots(out, m.name, sets["augmented"], labels, predicted[m.name]["augmented"], classes,
                                   results[m.name])
            del model
            keras.backend.clear_session()  # one model in memory at a time
    for m in models:
        if m.baseline:
            results[m.name]["vs_baseline"] = {"baseline": m.baseline,
                                              **evaluation.comparison(predicted[m.name], predicted[m.baseline], labels)}
        if m.others:
            results[m.name]["vs_others"] = {o: evaluation.comparison(predicted[m.name], predicted[o], labels)
                                            for o in m.others}
    write_json(args.out, results)
