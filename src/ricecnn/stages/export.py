"""Stage export@<model>: one line of the first replicate's models (the trained model and the variants
made from it, ``ricecnn.evaluation.plan.line_for``) as a practitioner ships them, in LiteRT (float32,
int8 calibrated on training images, and uint8, integer in and out too) and ONNX (float32, and int8 by
ONNX Runtime's quantiser), each with its file size (the Keras model's without its optimizer state, as
it is shipped). Beside the files, what a device team needs to use one (``ricecnn.deploy.bundle``):
``labels.txt`` (the classes in output order) and ``<model>.card.json`` (input, resize, output, FLOPs,
parameters and the training data); the ONNX file carries the same facts. What each file predicts is
measured by the next stage, score_exports@<model>: a clean clone converts to the committed bytes, and then
skips the scoring. Latency is not measured here: it differs on every run and machine, so a committed
record of it could never be reproduced; bench/latency.py times these files with its conditions
(docs/deployment.md).

Each model is converted and described by ``ricecnn.deploy.package``. The replicate dvc.yaml gives: size
and latency belong to the architecture, and one trained network each is enough to check that
conversion kept what it learned. A model a runtime cannot
take (an op it lacks) gets one line on stderr naming the model, the format and the op, and a record
saying so; its other formats and the other models are exported all the same. Conversion needs
TensorFlow's converter, so this stage runs Keras on TensorFlow whatever ``train.backend`` says (a
``.keras`` file is the same for every backend).
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import keras
import numpy as np
import tensorflow  # noqa: F401  (imported with the module: its start-up lines are kept out of the log, core.cli)

from ..core import settings
from ..core.cli import fill, parse
from ..core.errors import RiceError
from ..core.io import atomic_path, write_json
from ..core.settings import Seed
from ..data.arrays import load_classes, load_split, spread
from ..data.settings import Data
from ..deploy import bundle
from ..deploy.formats import chosen
from ..deploy.package import Shipment
from ..deploy.settings import Export
from ..evaluation.plan import Plan, line_for
from ..inference.files import load_model


class Settings(Plan):
    seed: Seed
    data: Data
    export: Export


def main(argv: list[str] | None = None) -> None:
    args = parse(argv, "export", __doc__, "split-dir", "out-dir", "metrics", model=True, seed=True, patterns=("model-file",))
    s = settings.load(args.params, Settings)
    cfg = s.export
    models = line_for(s, args.model)
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
    with tempfile.TemporaryDirectory(prefix=".export-", dir=args.split_dir.parent) as tmp, \
            atomic_path(args.out_dir, directory=True) as folder:
        bundle.write_labels(folder, classes)
        shipment = Shipment(folder, classes, clean.shape[1], np.asarray(train[spread(len(train), cfg.calibration_images)]),
                            np.asarray(clean[:1]), args.seed, trained_on, Path(tmp), chosen(cfg.formats))
        for m in models:
            print(f"export {m.name} (replicate {args.seed})", flush=True)
            model = load_model(files[m.name], m.stage_for(args.seed), clean.shape[1:], len(classes))
            results[m.name] = shipment.ship(model, m.name, files[m.name])
            del model
            keras.backend.clear_session()  # one model in memory at a time
    write_json(args.metrics, results)
