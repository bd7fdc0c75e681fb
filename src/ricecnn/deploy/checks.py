"""What each exported file predicts (stage score_exports): every format's file of a model, loaded in
its runtime and run on every core over the clean test images, and over the augmented ones for the
formats of ``export.augmented_formats``; its class for every test image beside the true one
(``<model>.csv``, which summarize pairs with the Keras model's), and per format and test set the
accuracy and the share of images on which it predicts the Keras model's class (evaluate's predictions
of the same images). Kept apart from the conversion (``ricecnn.deploy.package``) so that the files,
which a clean clone makes again byte for byte, are all it has to remake: these scores are recomputed
only when a file or a scoring setting changes."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..core.errors import RiceError
from ..core.io import atomic_path
from . import bundle
from .formats import FORMATS
from .runtimes import load


@dataclass
class Checks:
    """What every model's files are scored on."""

    folder: Path  # the export stage's folder: the files and their cards
    predictions: Path  # one CSV per model: every test image's class in every format
    classes: list[str]
    labels: np.ndarray  # the test images' classes
    sets: dict[str, np.ndarray]  # test set -> images (``evaluation.augment.condition_sets``: clean, augmented)
    batch_size: int
    augmented: tuple[str, ...] = ()  # export.augmented_formats: the keys also scored on the sets other than clean

    def score(self, name: str, keras_predictions: Path) -> dict:
        """Score every file of ``name`` that its card lists; returns {format key -> {test set ->
        {"accuracy", "agreement_with_keras"}}} ({} for a model no format took: it has no card)."""
        card = self.folder / bundle.card_name(name)
        files = {k: f for k, f in bundle.read_card(card)["files"].items() if f} if card.exists() else {}
        columns = {}
        for fmt in (f for f in FORMATS if f.key in files):
            runner = load(fmt.runtime, self.folder / files[fmt.key], os.cpu_count() or 1)  # every core: the same classes
            for condition, images in self.sets.items():
                if condition == "clean" or fmt.key in self.augmented:
                    columns[f"{fmt.key}_{condition}"] = runner.classes(images, self.batch_size,
                                                                       desc=f"{name} {fmt.key} {condition}")
        self.write_predictions(self.predictions / f"{name}.csv", columns)
        return self.scores(columns, keras_predictions) if columns else {}

    def scores(self, columns: dict[str, np.ndarray], keras_file: Path) -> dict:
        import pandas as pd

        if not keras_file.exists():
            raise RiceError(f"{keras_file} not found: run `dvc repro` for the evaluate stage of this replicate first")
        keras_classes = pd.read_csv(keras_file)
        names = np.asarray(self.classes)
        out: dict[str, dict] = {}
        for key, predicted in columns.items():
            fmt, condition = key.rsplit("_", 1)
            out.setdefault(fmt, {})[condition] = {
                "accuracy": float(np.mean(predicted == self.labels)),
                "agreement_with_keras": bundle.agreement(names[predicted], keras_classes[condition].to_numpy(str))}
        return out

    def write_predictions(self, path: Path, columns: dict[str, np.ndarray]) -> None:
        """Every test image's class as each converted model predicts it (``<runtime>_<precision>_<condition>``)."""
        import pandas as pd

        names = np.asarray(self.classes)
        frame = pd.DataFrame({"image": np.arange(len(self.labels)), "actual": names[self.labels],
                              **{k: names[v] for k, v in columns.items()}})
        with atomic_path(path) as tmp:
            frame.to_csv(tmp, index=False, lineterminator="\n")
