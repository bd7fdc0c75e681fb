"""Stage export: the first training seed's models as a practitioner ships them, in LiteRT (float32,
int8 calibrated on training images, and uint8, integer in and out too) and ONNX (float32, and int8 by
ONNX Runtime's quantiser), each with its file size (the Keras model's without
its optimizer state, as it is shipped) and its predicted class for every clean test image, and for every
augmented one in the formats of ``export.augmented_formats`` (scored on every core, batch by batch),
which summarize pairs with the Keras model's. The default scores the quantised formats alone on the
augmented set: quantisation is what can change a class there (its ranges were calibrated on clean
training images), while a float32 file computes Keras' function to round-off (100.0 % agreement on both
sets in every committed run), and scoring it on the augmented images too was a quarter of this stage's time. Latency is not
measured here: it differs on every run and machine, so a committed record of it could never be
reproduced; bench/latency.py times these files with its conditions (docs/deployment.md). Beside the files, what a device team needs to use one (``ricecnn.deploy.bundle``):
``labels.txt`` (the classes in output order) and ``<model>.card.json`` (input, resize, output, FLOPs,
parameters, each format's accuracy and agreement with the Keras model's classes from evaluate's
predictions, ``--keras-predictions``, and the training data); the ONNX file carries the same facts.

Each model is converted, scored and described by ``ricecnn.deploy.package``. Every evaluated model of the seed dvc.yaml gives (``ricecnn.study.plan.evaluated``): size and latency
belong to the architecture, and one trained network each is enough to check that conversion kept
what it learned. A model a runtime cannot take (an op it lacks) gets one line on stderr naming the
model, the format and the op, and a record saying so; its other formats and the other models are
exported all the same. Conversion needs TensorFlow's converter, so this stage runs Keras on
TensorFlow whatever ``train.backend`` says (a ``.keras`` file is the same for every backend).
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Annotated

import keras
import numpy as np
import tensorflow  # noqa: F401  (imported with the module: its start-up lines are kept out of the log, core.cli)

from pydantic import Field

from ..core import settings
from ..core.cli import fill, parse
from ..core.errors import RiceError
from ..core.io import atomic_path, write_json
from ..core.settings import Distinct, PositiveInt, Section, Seed
from ..data.arrays import load_classes, load_split
from ..data.settings import Data
from ..deploy import bundle
from ..deploy.formats import FormatKey, chosen
from ..deploy.package import Shipment
from ..evaluation.augment import TEST_SETS, condition_sets, spread
from ..study.plan import Plan, evaluated_for
from ..training.runtime import load_model


class Export(Section):
    formats: Annotated[list[FormatKey], Field(min_length=1), Distinct]  # which of deploy.formats.FORMATS to write
    augmented_formats: Annotated[list[FormatKey], Distinct]  # those also scored on the augmented test set (if written)
    calibration_images: PositiveInt  # training images (spread evenly) int8's activation ranges are measured on
    batch_size: PositiveInt  # images per call when scoring the test sets


class Settings(Plan):
    seed: Seed
    data: Data
    export: Export


def main(argv: list[str] | None = None) -> None:
    args = parse(argv, "export", __doc__, "split-dir", "out-dir", "metrics", "predictions-dir", seed=True,
                 patterns=("model-file", "keras-predictions"))
    s = settings.load(args.params, Settings)
    cfg = s.export
    models = evaluated_for(s)
    files = {m.name: fill(args.model_file, model=m.name) for m in models}
    for m in models:  # fail before the long work
        if not files[m.name].exists():
            raise RiceError(f"{files[m.name]} not found: run `dvc repro {m.stage_for(args.seed)}` first")
    classes = load_classes(args.split_dir)
    clean, labels = load_split(args.split_dir, "test")
    train, _ = load_split(args.split_dir, "train")
    if len(labels) == 0 or len(train) == 0:
        raise RiceError(f"the test or train split in {args.split_dir} is empty: raise the data size")
    trained_on = {"data": "the synthetic stand-in of the rice images (docs/standin.md)" if s.data.source == "synthetic"
                  else f"the rice images ({s.data.source})", "img_size": s.data.img_size, "train_images": len(train)}
    results = {}
    with tempfile.TemporaryDirectory(prefix=".conditions-", dir=args.split_dir.parent) as tmp, \
            atomic_path(args.out_dir, directory=True) as folder, \
            atomic_path(args.predictions_dir, directory=True) as predictions:
        sets = condition_sets(clean, s.seed, cfg.batch_size, folder=tmp, alone=False)
        bundle.write_labels(folder, classes)
        shipment = Shipment(folder, predictions, classes, labels, {c: sets[c] for c in TEST_SETS},
                            np.asarray(train[spread(len(train), cfg.calibration_images)]), cfg.batch_size, args.seed,
                            trained_on, Path(tmp), chosen(cfg.formats), tuple(cfg.augmented_formats))
        for m in models:
            print(f"export {m.name} (replicate {args.seed})", flush=True)
            model = load_model(files[m.name], m.stage_for(args.seed), clean.shape[1:], len(classes))
            results[m.name] = shipment.ship(model, m.name, files[m.name], fill(args.keras_predictions, model=m.name))
            del model
            keras.backend.clear_session()  # one model in memory at a time
    write_json(args.metrics, results)
