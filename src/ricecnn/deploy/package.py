"""One model as a device team gets it (stage export): converted to every format
(``ricecnn.deploy.formats``), each file loaded in its runtime and scored on the test sets, its size, its
classes for every test image beside the true ones (``<model>.csv``), and its card
(``ricecnn.deploy.bundle``). A format a runtime cannot take gets one line on stderr and a record
saying why; the model's other formats are exported all the same."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..core.errors import RiceError
from ..core.io import atomic_path
from ..networks.flops import count_flops
from . import bundle
from .convert import ConversionError, convert
from .formats import Format
from .runtimes import integer_io, load


@dataclass
class Shipment:
    """What every model of one export shares: where its files go and what they are scored on."""

    folder: Path  # the files, labels.txt and the cards
    predictions: Path  # one CSV per model: every test image's class in every format
    classes: list[str]
    labels: np.ndarray  # the test images' classes
    sets: dict[str, np.ndarray]  # test set -> images (``evaluation.augment.condition_sets``: clean, augmented)
    calibration: np.ndarray  # the training images int8's activation ranges are measured on
    batch_size: int
    replicate: int
    trained_on: dict
    scratch: Path  # a folder for files that are measured, not kept
    formats: tuple[Format, ...]  # export.formats
    augmented: tuple[str, ...] = ()  # export.augmented_formats: the keys also scored on the sets other than clean

    def ship(self, model, name: str, keras_file: Path, keras_predictions: Path) -> dict:
        """Convert, score and describe ``model`` (saved as ``keras_file``; evaluate's classes for the same
        images in ``keras_predictions``); returns its record for metrics/export.json."""
        record = {"keras": {"runtime": "keras", "precision": "float32", "bytes": shipped_bytes(model, self.scratch)}}
        columns, exported, errors = {}, {}, {}
        described = bundle.description(name, self.classes, self.sets["clean"].shape[1], self.trained_on)
        for fmt in self.formats:
            path = self.folder / f"{name}{fmt.suffix}"
            try:
                convert(model, fmt, path, self.calibration, self.sets["clean"][:1])
            except ConversionError as e:
                print(f"ricecnn export: error: {name} cannot be converted to {fmt.label}: {e}; its other formats "
                      "and the other models are exported", file=sys.stderr, flush=True)
                record[fmt.key] = {"runtime": fmt.runtime, "precision": fmt.precision, "error": str(e)}
                errors[fmt.key] = str(e)
                continue
            if fmt.runtime == "onnx":
                bundle.describe_onnx(path, described)  # the int8 file too: the same input, output and labels
            exported[fmt.key] = path.name
            runner = load(fmt.runtime, path, os.cpu_count() or 1)  # scored on every core: the same classes
            for condition, images in self.sets.items():
                if condition != "clean" and fmt.key not in self.augmented:
                    continue
                columns[f"{fmt.key}_{condition}"] = runner.classes(images, self.batch_size, desc=f"{fmt.key} {condition}")
            record[fmt.key] = {"runtime": fmt.runtime, "precision": fmt.precision, "file": path.name,
                               "bytes": path.stat().st_size}
        self.write_predictions(self.predictions / f"{name}.csv", columns)
        if exported:  # a model no format took gets no card
            bundle.write_card(self.folder, bundle.card(
                described, self.replicate, formats=[f.key for f in self.formats], files=exported, errors=errors, flops=count_flops(model)["flops"],
                parameters=int(model.count_params()), scores=self.scores(columns, keras_predictions),
                integer_io=integer_io(self.folder / exported["litert_uint8"]) if "litert_uint8" in exported else None))
        return {"seed": self.replicate, "keras_md5": bundle.file_md5(keras_file), "formats": record}

    def scores(self, columns: dict[str, np.ndarray], keras_file: Path) -> dict:
        """Per converted format and test set: the accuracy, and the share of images on which it predicts the
        Keras model's class (evaluate's predictions of the same images, ``keras_file``)."""
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


def shipped_bytes(model, scratch: Path) -> int:
    """The size of the model's .keras file as it is shipped: weights and architecture, without the
    optimizer state that a training run's file keeps for resuming (for cnn 2.9 of its 4.3 MB)."""
    path = Path(scratch) / "shipped.keras"
    model.save(path)  # loaded with compile=False (training.runtime.load_model): no optimizer to write
    size = path.stat().st_size
    path.unlink()
    return size
