"""Model files: a trained model saved byte-reproducibly and loaded back, checked against the split it
is run on, and the digest of its weights (the same for the same weights, whichever file they came from).

What every stage that reads or writes a ``.keras`` file runs, training or not: featuremaps, evaluate and
export only load models, so they need none of ``ricecnn.training``.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np

from ..core.errors import RiceError
from ..core.io import atomic_path

# Deterministic TensorFlow kernels for a model run after loading it, as for training
# (``ricecnn.training.runtime.configure``), set before the first op runs
os.environ.setdefault("TF_DETERMINISTIC_OPS", "1")


def save_model(model, path: str | os.PathLike) -> None:
    """Save a .keras file atomically (a stage killed mid-save leaves no half-written model) and
    byte-reproducibly (``reproducible``): the same weights give the same bytes on every run, so DVC's
    cache matches a rerun's model and a clean clone's ``dvc repro`` reproduces the committed lock."""
    with atomic_path(path) as tmp:
        raw = tmp.with_name(tmp.name + ".keras")  # Keras insists on the suffix
        try:
            model.save(raw)
            reproducible(raw, tmp)
        finally:
            raw.unlink(missing_ok=True)


FIXED_DATE = (1980, 1, 1, 0, 0, 0)  # the zip format's earliest date: a date that says it is not one


def reproducible(source: Path, out: Path) -> None:
    """``source`` (a .keras zip) rewritten to ``out`` with what changes from save to save made fixed.
    Keras writes the save time into the file twice (metadata.json's ``date_saved``, each zip entry's
    timestamp), and config.json numbers each shared object by its Python ``id()``, which differs in
    every process; so the same weights had other bytes on every save. Hand-written (Keras has no option
    for it): the entries are copied in their order with their compression; the dates become
    ``FIXED_DATE``, and the shared objects 1, 2, ... in order of first appearance (the loader only
    matches equal numbers)."""
    import json
    import re
    import zipfile

    with zipfile.ZipFile(source) as zin, zipfile.ZipFile(out, "w") as zout:
        for info in zin.infolist():
            data = zin.read(info.filename)
            if info.filename == "metadata.json":
                metadata = json.loads(data)
                metadata["date_saved"] = "1980-01-01@00:00:00"  # Keras' own format, kept for its loader
                data = json.dumps(metadata).encode()
            elif info.filename == "config.json":
                numbers: dict[str, str] = {}
                data = re.sub(rb'"shared_object_id": (\d+)',
                              lambda m: b'"shared_object_id": ' + numbers.setdefault(m.group(1), str(len(numbers) + 1)).encode(),
                              data)
            entry = zipfile.ZipInfo(info.filename, date_time=FIXED_DATE)
            entry.compress_type, entry.external_attr = info.compress_type, info.external_attr
            zout.writestr(entry, data)


def weights_digest(model) -> str:
    """SHA-256 of a model's layer names, weight shapes and weight bytes: the same for the same
    trained weights, whichever file they were saved to (a .keras file's bytes vary between saves)."""
    h = hashlib.sha256()
    for layer in model.layers:
        for w in layer.get_weights():
            h.update(f"{layer.name}:{w.dtype}:{w.shape};".encode())
            h.update(np.ascontiguousarray(w).tobytes())
    return h.hexdigest()


def load_model(path: Path, stage: str, image_shape: tuple, num_classes: int):
    """The model in ``path`` (written by ``stage``, a name ``ricecnn.networks.registry`` makes), checked against
    the split it is run on."""
    import keras

    path = Path(path)
    if not path.exists():
        raise RiceError(f"{path} not found: run `dvc repro {stage}` first")
    try:
        model = keras.models.load_model(path, compile=False)
    except Exception as e:  # a truncated or foreign file
        raise RiceError(f"cannot load {path}: {str(e).splitlines()[0] if str(e) else type(e).__name__}") from None
    if tuple(model.input_shape[1:]) != tuple(image_shape) or model.output_shape[-1] != num_classes:
        raise RiceError(
            f"{path} takes {model.input_shape[1:]} images and has {model.output_shape[-1]} outputs, but the split holds "
            f"{tuple(image_shape)} images of {num_classes} classes: rerun `dvc repro {stage}`"
        )
    return model
