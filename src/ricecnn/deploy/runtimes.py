"""One way to run a model in each runtime: Keras (the model as trained), the LiteRT interpreter
(``ai-edge-litert``) and ONNX Runtime, each on a fixed number of CPU threads, float32 images in,
class probabilities out. Batches of any size; a runtime with a fixed input shape (LiteRT) is
resized when the batch size changes, so timing at batch 1 after a batched pass pays that once."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import numpy as np

from ..training.predict import outputs


class Runner:
    """``predict(images)``: probabilities for a batch (float32 or uint8 NHWC)."""

    def __init__(self, predict: Callable[[np.ndarray], np.ndarray]):
        self._predict = predict

    def predict(self, images: np.ndarray) -> np.ndarray:
        return np.asarray(self._predict(np.asarray(images, dtype=np.float32)), dtype=np.float32)

    def classes(self, images: np.ndarray, batch_size: int, desc: str | None = None) -> np.ndarray:
        """Each image's predicted class, ``batch_size`` images at a time (memory-mapped arrays stay on disk)."""
        return np.concatenate([probs.argmax(1) for _, (probs,) in outputs(self, images, batch_size, desc=desc)]
                              or [np.empty(0, np.int64)])

    def predict_on_batch(self, batch: np.ndarray) -> np.ndarray:  # what ``training.predict.outputs`` calls
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
    sink = interpreter.get_output_details()[0]["index"]
    shape = [None]

    def predict(x: np.ndarray) -> np.ndarray:
        if shape[0] != x.shape:  # the interpreter's tensors have one shape: resize on a new batch size
            interpreter.resize_tensor_input(source["index"], list(x.shape))
            interpreter.allocate_tensors()
            shape[0] = x.shape
        interpreter.set_tensor(source["index"], x)
        interpreter.invoke()
        return interpreter.get_tensor(sink)

    return Runner(predict)


def _onnx(path: Path, threads: int) -> Runner:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads, options.inter_op_num_threads = threads, 1
    options.log_severity_level = 3  # errors only: its graph notices would bury the stage's own lines
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    return Runner(lambda x: session.run(None, {name: x})[0])
