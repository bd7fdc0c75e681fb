"""Stage evaluate@<model>-<seed>: clean and augmented test accuracy, loss and confusion of one trained
model's line under one replicate: the model and the variants derived from it
(``ricecnn.evaluation.plan.line_for``), so that a change to one model rescores its line alone.

Every model is judged on the same test split and on the same seeded augmented copy of it
(``ricecnn.evaluation.augment``, drawn once into memory-mapped arrays, from the data's seed: the same images
for every training seed). Every accuracy comes with its 95 % interval, and every image's predicted
class under every condition is kept (``<predictions-dir>/<model>.csv``): summarize compares the
models from them (``ricecnn.evaluation.scoring``). For the trained models (the full and the light ones) of
the training seed dvc.yaml gives as ``--pictures-seed``, each augmentation alone (the robustness
table) is measured too, and the pictures (confusion matrix, misclassified
images) drawn: no comparison reads them, and they would cost most of the scoring.
"""

from __future__ import annotations

import tempfile

import keras

from ..core import settings
from ..core.cli import fill, parse
from ..core.errors import RiceError
from ..core.io import atomic_path, write_json
from ..core.settings import PositiveInt, Section, Seed
from ..data.arrays import load_classes, load_split, spread
from ..evaluation import scoring
from ..evaluation.augment import TEST_SETS, condition_sets
from ..evaluation.plan import Plan, line_for
from ..inference.files import load_model


class Evaluate(Section):
    batch_size: PositiveInt  # images per batch when the models score the test sets
    robustness_images: PositiveInt  # test images (spread evenly) scored under each augmentation alone


class Settings(Plan):
    seed: Seed
    evaluate: Evaluate


def main(argv: list[str] | None = None) -> None:
    args = parse(argv, "evaluate", __doc__, "split-dir", "out", "predictions-dir", "pictures-dir", model=True, seed=True,
                 pictures=True, patterns=("model-file",))
    draw = args.pictures  # this seed's models are drawn, and measured under each transform alone
    s = settings.load(args.params, Settings)
    cfg = s.evaluate
    models = line_for(s, args.model)
    files = {m.name: fill(args.model_file, model=m.name) for m in models}
    for m in models:  # fail before the long work
        if not files[m.name].exists():
            raise RiceError(f"{files[m.name]} not found: run `dvc repro {m.stage_for(args.seed)}` first")
    classes = load_classes(args.split_dir)
    clean, labels = load_split(args.split_dir, "test")
    if len(labels) == 0:
        raise RiceError(f"the test split in {args.split_dir} is empty: raise split.test or the data size")
    results = {}
    with tempfile.TemporaryDirectory(prefix=".conditions-", dir=args.split_dir.parent) as tmp, \
            atomic_path(args.predictions_dir, directory=True) as predictions, \
            atomic_path(args.pictures_dir, directory=True) as pictures:
        index = spread(len(labels), cfg.robustness_images)  # the images each transform alone is scored on
        sets = condition_sets(clean, s.seed, cfg.batch_size, folder=tmp, alone=draw, index=index)
        for m in models:
            print(f"evaluate {m.name} (replicate {args.seed})", flush=True)
            model = load_model(files[m.name], m.stage_for(args.seed), clean.shape[1:], len(classes))
            robustness = draw and m.trained
            scored = sets if robustness else {c: sets[c] for c in TEST_SETS}
            results[m.name], predicted = scoring.evaluate(model, scored, labels, cfg.batch_size, index, m.name)
            results[m.name].update(seed=args.seed, backend=keras.backend.backend())
            scoring.write_predictions(predictions / f"{m.name}.csv", labels, predicted, classes, index)
            if robustness:  # a derived model's pictures would repeat its parent's (a pruned one's are the same)
                scoring.write_plots(pictures, m.name, sets["augmented"], labels, predicted["augmented"], classes,
                                       results[m.name])
            del model
            keras.backend.clear_session()  # one model in memory at a time
        if not draw:
            (pictures / "README.txt").write_text(f"Pictures are drawn for replicate {args.pictures_seed}'s models only.\n")
    write_json(args.out, results)
