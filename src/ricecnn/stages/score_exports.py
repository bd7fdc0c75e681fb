"""Stage score_exports@<model>: what every file export@<model> wrote (the model's line) predicts, in its own runtime (LiteRT,
ONNX Runtime), for every clean test image, and for every augmented one in the formats of
``export.augmented_formats`` (``ricecnn.deploy.checks``; scored on every core, batch by batch):
``<predictions-dir>/<model>.csv``, which summarize pairs with the Keras model's, and per model, format
and test set the accuracy and the agreement with the Keras model's classes (evaluate's predictions of
the same images, ``--keras-predictions``). The default scores the quantised formats alone on the
augmented set: quantisation is what can change a class there (its ranges were calibrated on clean
training images), while a float32 file computes Keras' function to round-off (100.0 % agreement on
both sets in every committed run), and scoring it on the augmented images too was a quarter of the
scoring's time.

A stage of its own, not part of export's: a clean clone converts every model to the committed bytes,
and DVC then finds these scores up to date (their inputs unchanged), so a clean `make repro` does not
score the files again.
"""

from __future__ import annotations

import tempfile

import keras  # noqa: F401  (the augmentation's ops, evaluation.augment: the backend starts with the module, and its
#                           start-up lines are kept out of the log, core.cli)

from ..core import settings
from ..core.cli import fill, parse, stage_name
from ..core.errors import RiceError
from ..core.io import atomic_path, write_json
from ..core.settings import Seed
from ..data.arrays import load_classes, load_split
from ..deploy.checks import Checks
from ..deploy.settings import Export
from ..evaluation.augment import TEST_SETS, condition_sets
from ..evaluation.plan import Plan, line_for


class Settings(Plan):
    seed: Seed
    export: Export


def main(argv: list[str] | None = None) -> None:
    args = parse(argv, "score_exports", __doc__, "exports-dir", "split-dir", "out", "predictions-dir", model=True, seed=True,
                 patterns=("keras-predictions",))
    s = settings.load(args.params, Settings)
    if not args.exports_dir.is_dir():
        raise RiceError(f"{args.exports_dir} not found: run `dvc repro {stage_name('export', args.model)}` first")
    classes = load_classes(args.split_dir)
    clean, labels = load_split(args.split_dir, "test")
    if len(labels) == 0:
        raise RiceError(f"the test split in {args.split_dir} is empty: raise split.test or the data size")
    results = {}
    with tempfile.TemporaryDirectory(prefix=".conditions-", dir=args.split_dir.parent) as tmp, \
            atomic_path(args.predictions_dir, directory=True) as predictions:
        sets = condition_sets(clean, s.seed, s.export.batch_size, folder=tmp, alone=False)
        checks = Checks(args.exports_dir, predictions, classes, labels, {c: sets[c] for c in TEST_SETS},
                        s.export.batch_size, tuple(s.export.augmented_formats))
        for m in line_for(s, args.model):
            print(f"score the exported files of {m.name} (replicate {args.seed})", flush=True)
            results[m.name] = checks.score(m.name, fill(args.keras_predictions, model=m.name))
    write_json(args.out, results)
