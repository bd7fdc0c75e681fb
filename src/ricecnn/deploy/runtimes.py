"""One way to run a model in each runtime: Keras (the model as trained), the LiteRT interpreter
(``ai-edge-litert``) and ONNX Runtime, each on a fixed number of CPU threads, float32 images in,
class probabilities out. Batches of any size; a runtime with a fixed input shape (LiteRT) is
resized when the batch size changes, so timing at batch 1 after a batched pass pays that once."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import numpy as np

from ..inference.batches import outputs


class Runner:
    """``predict(images)``: probabilities for a batch (float32 or uint8 NHWC)."""

    def __init__(self, predict: Callable[[np.ndarray], np.ndarray], cast: bool = True, input_shape: tuple | None = None):
        self._predict, self._cast = predict, cast  # cast: to float32 here (else the runtime's own input type)
        self.input_shape = input_shape  # as the file declares it (batch, height, width, channels)

    def predict(self, images: np.ndarray) -> np.ndarray:
        x = np.asarray(images, dtype=np.float32) if self._cast else np.asarray(images)
        return np.asarray(self._predict(x), dtype=np.float32)

    def classes(self, images: np.ndarray, batch_size: int, desc: str | None = None) -> np.ndarray:
        """Each image's predicted class, ``batch_size`` images at a time (memory-mapped arrays stay on disk)."""
        return np.concatenate([probs.argmax(1) for _, (probs,) in outputs(self, images, batch_size, desc=desc)]
                              or [np.empty(0, np.int64)])

    def predict_on_batch(self, batch: np.ndarray) -> np.ndarray:  # what ``inference.batches.outputs`` calls
        return self.predict(batch)


def keras_runner(model) -> Runner:
    """Keras' own batch inference (``predict_on_batch``: the compiled predict step, no callbacks)."""
    return Runner(model.predict_on_batch)


def load(runtime: str, path: Path, threads: int) -> Runner:
    """A runner for the exported file ``path`` in ``runtime`` (litert | onnx) on ``threads`` threads."""
    if runtime == "litert":
        return _litert(path, threads)
    if runtime == "onnx":
        return _onnx(path, threads)
    raise ValueError(f"unknown runtime {runtime!r}")


def _litert(path: Path, threads: int) -> Runner:
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=str(path), num_threads=threads)
    source, = interpreter.get_input_details()
    sink = interpreter.get_output_details()[0]
    shape = [None]

    def predict(x: np.ndarray) -> np.ndarray:
        if shape[0] != x.shape:  # the interpreter's tensors have one shape: resize on a new batch size
            interpreter.resize_tensor_input(source["index"], list(x.shape))
            interpreter.allocate_tensors()
            shape[0] = x.shape
        interpreter.set_tensor(source["index"], quantise(x, source))
        interpreter.invoke()
        return dequantise(interpreter.get_tensor(sink["index"]), sink)

    return Runner(predict, cast=False, input_shape=tuple(source["shape"]))


def quantise(x: np.ndarray, tensor: dict) -> np.ndarray:
    """Float values as an integer input tensor takes them (its scale and zero point); float tensors as they are."""
    kind = np.dtype(tensor["dtype"])
    if kind.kind == "f":
        return x.astype(kind)
    scale, zero = tensor["quantization"]
    if x.dtype == kind and scale == 1 and zero == 0:  # already what it takes (uint8 pixels into a uint8 file)
        return x
    info = np.iinfo(kind)
    return np.clip(np.round(x / scale + zero), info.min, info.max).astype(kind)


def dequantise(q: np.ndarray, tensor: dict) -> np.ndarray:
    """An integer output tensor's values as floats (its scale and zero point)."""
    if np.dtype(tensor["dtype"]).kind == "f":
        return q
    scale, zero = tensor["quantization"]
    return (q.astype(np.float32) - zero) * scale


def integer_io(path: Path) -> dict | None:
    """A LiteRT file's input and output quantisation when they are integers (None when float32): what a
    device feeds it and how to read its output, ``value = (q - zero_point) * scale``."""
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=str(path))
    ends = {"input": interpreter.get_input_details()[0], "output": interpreter.get_output_details()[0]}
    if all(np.dtype(t["dtype"]).kind == "f" for t in ends.values()):
        return None
    return {end: {"dtype": np.dtype(t["dtype"]).name, "scale": float(t["quantization"][0]),
                  "zero_point": int(t["quantization"][1])} for end, t in ends.items()}


def _onnx(path: Path, threads: int) -> Runner:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads, options.inter_op_num_threads = threads, 1
    options.log_severity_level = 3  # errors only: its graph notices would bury the stage's own lines
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    return Runner(lambda x: session.run(None, {name: x})[0], input_shape=tuple(session.get_inputs()[0].shape))
