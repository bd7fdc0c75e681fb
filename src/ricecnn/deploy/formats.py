"""The device formats a model is exported to (``ricecnn.deploy.convert`` writes them): LiteRT float32
and int8, ONNX float32; and the runtimes' names as the reports print them."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Format:
    runtime: str  # litert | onnx
    precision: str  # float32 | int8
    suffix: str  # the file name's end after the model's name

    @property
    def key(self) -> str:
        return f"{self.runtime}_{self.precision}"

    @property
    def label(self) -> str:
        return f"{RUNTIME_NAMES[self.runtime]} {self.precision}"


FORMATS = (Format("litert", "float32", ".tflite"), Format("litert", "int8", "_int8.tflite"),
           Format("onnx", "float32", ".onnx"))
RUNTIME_NAMES = {"keras": "Keras", "keras_compiled": "Keras compiled", "litert": "LiteRT", "onnx": "ONNX Runtime"}
