"""One model as a device team gets it (stage export): converted to every format
(``ricecnn.deploy.formats``), each file's size, and its card (``ricecnn.deploy.bundle``). A format a
runtime cannot take gets one line on stderr and a record saying why; the model's other formats are
exported all the same. Scoring the files is ``ricecnn.deploy.checks``' (stage score_exports): a
clean clone that converts to the committed bytes then skips it."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..networks.flops import count_flops
from . import bundle
from .convert import ConversionError, convert
from .formats import Format
from .runtimes import integer_io


@dataclass
class Shipment:
    """What every model of one export shares: where its files go and what conversion needs."""

    folder: Path  # the files, labels.txt and the cards
    classes: list[str]
    img_size: int
    calibration: np.ndarray  # the training images int8's activation ranges are measured on
    sample: np.ndarray  # one test image: the converters' input signature
    replicate: int
    trained_on: dict
    scratch: Path  # a folder for files that are measured, not kept
    formats: tuple[Format, ...]  # export.formats

    def ship(self, model, name: str, keras_file: Path) -> dict:
        """Convert and describe ``model`` (saved as ``keras_file``); returns its record for metrics/export/<line>.json."""
        record = {"keras": {"runtime": "keras", "precision": "float32", "bytes": shipped_bytes(model, self.scratch)}}
        exported, errors = {}, {}
        described = bundle.description(name, self.classes, self.img_size, self.trained_on)
        for fmt in self.formats:
            path = self.folder / f"{name}{fmt.suffix}"
            try:
                convert(model, fmt, path, self.calibration, self.sample)
            except ConversionError as e:
                print(f"ricecnn export: error: {name} cannot be converted to {fmt.label}: {e}; its other formats "
                      "and the other models are exported", file=sys.stderr, flush=True)
                record[fmt.key] = {"runtime": fmt.runtime, "precision": fmt.precision, "error": str(e)}
                errors[fmt.key] = str(e)
                continue
            if fmt.runtime == "onnx":
                bundle.describe_onnx(path, described)  # the int8 file too: the same input, output and labels
            exported[fmt.key] = path.name
            record[fmt.key] = {"runtime": fmt.runtime, "precision": fmt.precision, "file": path.name,
                               "bytes": path.stat().st_size}
        if exported:  # a model no format took gets no card
            bundle.write_card(self.folder, bundle.card(
                described, self.replicate, formats=[f.key for f in self.formats], files=exported, errors=errors,
                flops=count_flops(model)["flops"], parameters=int(model.count_params()),
                integer_io=integer_io(self.folder / exported["litert_uint8"]) if "litert_uint8" in exported else None))
        return {"seed": self.replicate, "keras_md5": bundle.file_md5(keras_file), "formats": record}


def shipped_bytes(model, scratch: Path) -> int:
    """The size of the model's .keras file as it is shipped: weights and architecture, without the
    optimizer state that a training run's file keeps for resuming (for cnn 2.9 of its 4.3 MB)."""
    path = Path(scratch) / "shipped.keras"
    model.save(path)  # loaded with compile=False (inference.files.load_model): no optimizer to write
    size = path.stat().st_size
    path.unlink()
    return size
