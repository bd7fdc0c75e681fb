"""Stage export: the first training seed's models as a practitioner ships them, in LiteRT (float32,
int8 calibrated on training images, and uint8, integer in and out too) and ONNX (float32, and int8 by
ONNX Runtime's quantiser), each with its file size (the Keras model's without
its optimizer state, as it is shipped) and its predicted class for every clean and augmented test image
(scored on every core, batch by batch), which summarize pairs with the Keras model's. Latency is not
measured here: it differs on every run and machine, so a committed record of it could never be
reproduced; bench/latency.py times these files with its conditions (docs/deployment.md). Beside the files, what a device team needs to use one (``ricecnn.deploy.bundle``):
``labels.txt`` (the classes in output order) and ``<model>.card.json`` (input, resize, output, FLOPs,
parameters, each format's accuracy and agreement with the Keras model's classes from evaluate's
predictions, ``--keras-predictions``, and the training data); the ONNX file carries the same facts.

Every evaluated model of the seed dvc.yaml gives (``ricecnn.study.plan.evaluated``): size and latency
belong to the architecture, and one trained network each is enough to check that conversion kept
what it learned. A model a runtime cannot take (an op it lacks) gets one line on stderr naming the
model, the format and the op, and a record saying so; its other formats and the other models are
exported all the same. Conversion needs TensorFlow's converter, so this stage runs Keras on
TensorFlow whatever ``train.backend`` says (a ``.keras`` file is the same for every backend).
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

import keras
import numpy as np
import tensorflow  # noqa: F401  (imported with the module: its start-up lines are kept out of the log, core.cli)

from ..core import settings
from ..core.cli import fill, parse
from ..core.errors import RiceError
from ..core.io import atomic_path, write_json
from ..core.settings import PositiveInt, Section, Seed
from ..data.arrays import load_classes, load_split
from ..data.settings import Data
from ..deploy import bundle
from ..deploy.convert import ConversionError, convert
from ..deploy.formats import FORMATS
from ..deploy.runtimes import integer_io, load
from ..evaluation.augment import TEST_SETS, condition_sets, spread
from ..networks.flops import count_flops
from ..study.plan import Plan, evaluated_for
from ..training.runtime import load_model


class Export(Section):
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
    calibration = np.asarray(train[spread(len(train), cfg.calibration_images)])
    trained_on = {"data": "the synthetic stand-in of the rice images (docs/standin.md)" if s.data.source == "synthetic"
                  else f"the rice images ({s.data.source})", "img_size": s.data.img_size, "train_images": len(train)}
    results = {}
    with tempfile.TemporaryDirectory(prefix=".conditions-", dir=args.split_dir.parent) as tmp, \
            atomic_path(args.out_dir, directory=True) as folder, \
            atomic_path(args.predictions_dir, directory=True) as predictions:
        sets = condition_sets(clean, s.seed, cfg.batch_size, folder=tmp, alone=False)
        bundle.write_labels(folder, classes)
        for m in models:
            print(f"export {m.name} (replicate {args.seed})", flush=True)
            model = load_model(files[m.name], m.stage_for(args.seed), clean.shape[1:], len(classes))
            record = {"keras": {"runtime": "keras", "precision": "float32", "bytes": _shipped_bytes(model, tmp)}}
            columns, exported, errors = {}, {}, {}
            size = clean.shape[1]
            described = bundle.description(m.name, classes, size, trained_on)
            for fmt in FORMATS:
                path = folder / f"{m.name}{fmt.suffix}"
                try:
                    convert(model, fmt, path, calibration, clean[:1])
                except ConversionError as e:
                    print(f"ricecnn export: error: {m.name} cannot be converted to {fmt.label}: {e}; its other formats "
                          "and the other models are exported", file=sys.stderr, flush=True)
                    record[fmt.key] = {"runtime": fmt.runtime, "precision": fmt.precision, "error": str(e)}
                    errors[fmt.key] = str(e)
                    continue
                if fmt.runtime == "onnx":
                    bundle.describe_onnx(path, described)  # the int8 file too: the same input, output and labels
                exported[fmt.key] = path.name
                runner = load(fmt.runtime, path, os.cpu_count() or 1)  # scored on every core: the same classes
                for c in TEST_SETS:
                    columns[f"{fmt.key}_{c}"] = runner.classes(sets[c], cfg.batch_size, desc=f"{fmt.key} {c}")
                record[fmt.key] = {"runtime": fmt.runtime, "precision": fmt.precision, "file": path.name,
                                   "bytes": path.stat().st_size}
            results[m.name] = {"seed": args.seed, "keras_md5": bundle.file_md5(files[m.name]), "formats": record}
            _write_predictions(predictions / f"{m.name}.csv", labels, columns, classes)
            if exported:  # a model no format took gets no card
                bundle.write_card(folder, bundle.card(
                    described, args.seed, files=exported, errors=errors, flops=count_flops(model)["flops"],
                    parameters=int(model.count_params()),
                    scores=_scores(columns, labels, classes, fill(args.keras_predictions, model=m.name)),
                    integer_io=integer_io(folder / exported["litert_uint8"]) if "litert_uint8" in exported else None))
            del model
            keras.backend.clear_session()  # one model in memory at a time
    write_json(args.metrics, results)


def _shipped_bytes(model, scratch: str) -> int:
    """The size of the model's .keras file as it is shipped: weights and architecture, without the
    optimizer state that a training run's file keeps for resuming (for cnn 2.9 of its 4.3 MB)."""
    path = Path(scratch) / "shipped.keras"
    model.save(path)  # loaded with compile=False (training.runtime.load_model): no optimizer to write
    size = path.stat().st_size
    path.unlink()
    return size


def _scores(columns: dict[str, np.ndarray], labels: np.ndarray, classes: list[str], keras_file) -> dict:
    """Per converted format and test set: the accuracy, and the share of images on which it predicts the
    Keras model's class (evaluate's predictions of the same images, ``keras_file``)."""
    import pandas as pd

    if not keras_file.exists():
        raise RiceError(f"{keras_file} not found: run `dvc repro` for the evaluate stage of this replicate first")
    keras_classes = pd.read_csv(keras_file)
    names = np.asarray(classes)
    out: dict[str, dict] = {}
    for key, predicted in columns.items():
        fmt, condition = key.rsplit("_", 1)
        out.setdefault(fmt, {})[condition] = {"accuracy": float(np.mean(predicted == labels)),
                                              "agreement_with_keras": bundle.agreement(names[predicted],
                                                                                       keras_classes[condition].to_numpy(str))}
    return out


def _write_predictions(path, labels: np.ndarray, columns: dict[str, np.ndarray], classes: list[str]) -> None:
    """Every test image's class as each converted model predicts it (``<runtime>_<precision>_<condition>``)."""
    import pandas as pd

    names = np.asarray(classes)
    frame = pd.DataFrame({"image": np.arange(len(labels)), "actual": names[labels],
                          **{k: names[v] for k, v in columns.items()}})
    with atomic_path(path) as tmp:
        frame.to_csv(tmp, index=False, lineterminator="\n")
