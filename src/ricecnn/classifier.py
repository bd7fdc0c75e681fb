"""A model file as a classifier: an exported LiteRT (``.tflite``) or ONNX (``.onnx``) file, or a Keras
model (``.keras``), each run in its own runtime, with the class names of its bundle (``labels.txt``
beside it, stage export). An image file of any size and mode becomes the model's input exactly as the
split stage made the training images (``ricecnn.data.images.as_input``)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .core.errors import RiceError
from .data.images import as_input

RUNTIMES = {".tflite": "litert", ".onnx": "onnx", ".keras": "keras"}


@dataclass
class Classifier:
    predict: object  # float32 NHWC batch -> probabilities
    size: int  # the model's square input, px
    labels: list[str]
    runtime: str

    def classify(self, images: list[np.ndarray]) -> np.ndarray:
        """Probabilities per image (uint8 HWC arrays of the model's size), one call per image: a LiteRT
        file takes a batch of one."""
        return np.stack([np.asarray(self.predict(np.asarray(x[None], np.float32)))[0] for x in images])


def open_model(path: Path, labels: Path | None = None, threads: int = 1) -> Classifier:
    """The classifier in ``path``; its labels from ``labels`` or the ``labels.txt`` beside it. One-line
    errors (RiceError) for a missing file, an unknown suffix, a file of another format, missing labels."""
    path = Path(path)
    if not path.is_file():
        raise RiceError(f"no model file {path}")
    runtime = RUNTIMES.get(path.suffix)
    if runtime is None:
        raise RiceError(f"{path}: unknown model format {path.suffix or '(no suffix)'!r}; give a .tflite, .onnx or .keras file")
    labels = Path(labels) if labels else path.parent / "labels.txt"
    if not labels.is_file():
        raise RiceError(f"no class names for {path}: {labels} not found (export writes it beside the files); give --labels")
    names = [line.strip() for line in labels.read_text().splitlines() if line.strip()]
    try:
        predict, shape = _load(runtime, path, threads)
    except RiceError:
        raise
    except Exception as e:  # noqa: BLE001  (the runtime's own reason, whatever its type, in one line)
        reason = str(e).strip().splitlines()[0][:200] if str(e).strip() else type(e).__name__
        raise RiceError(f"{path} is not a {runtime} model its runtime can open ({reason})") from None
    if len(shape) != 4 or shape[1] != shape[2] or shape[3] != 3:
        raise RiceError(f"{path}: input shape {list(shape)} is not (batch, size, size, 3)")
    return Classifier(predict, int(shape[1]), names, runtime)


def _load(runtime: str, path: Path, threads: int):
    if runtime == "keras":
        import keras

        model = keras.models.load_model(path, compile=False)
        return model.predict_on_batch, tuple(model.input_shape)
    from .deploy.runtimes import load

    runner = load(runtime, path, threads)  # the file opened once: its runner knows its input shape
    return runner.predict, runner.input_shape


def read_image(path: Path, size: int) -> np.ndarray:
    """The image file ``path`` as the model's input (``as_input``); RiceError when it cannot be read."""
    from PIL import Image, UnidentifiedImageError

    path = Path(path)
    if not path.is_file():
        raise RiceError(f"no image file {path}")
    try:
        with Image.open(path) as im:
            return as_input(im, size)
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as e:
        raise RiceError(f"cannot read {path} as an image ({str(e).splitlines()[0] if str(e) else type(e).__name__})") from None
