"""The device formats a model is exported to (``ricecnn.deploy.convert`` writes them): LiteRT float32,
int8 (integer inside, float32 in and out: takes the same images as every other format) and uint8
(integer only, its input and output too: what microcontrollers and integer-only NPUs take; it reads
the pixels as uint8, quantised by the range its calibration images span (0-255: the pixels as they
are), and gives each class's probability quantised to 1/256), ONNX float32
and int8 (ONNX Runtime's static quantiser, QDQ, float32 in and out); and the runtimes' names as the
reports print them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal


@dataclass(frozen=True)
class Format:
    runtime: str  # litert | onnx
    precision: str  # float32 | int8 | uint8
    suffix: str  # the file name's end after the model's name

    @property
    def key(self) -> str:
        return f"{self.runtime}_{self.precision}"

    @property
    def label(self) -> str:
        return f"{RUNTIME_NAMES[self.runtime]} {self.precision}"


FORMATS = (Format("litert", "float32", ".tflite"), Format("litert", "int8", "_int8.tflite"),
           Format("litert", "uint8", "_uint8.tflite"), Format("onnx", "float32", ".onnx"), Format("onnx", "int8", "_int8.onnx"))
FormatKey = Literal["litert_float32", "litert_int8", "litert_uint8", "onnx_float32", "onnx_int8"]  # export.formats
INTEGER = ("int8", "uint8")  # the precisions quantised in full, weights and activations
RUNTIME_NAMES = {"keras": "Keras", "keras_compiled": "Keras compiled", "litert": "LiteRT", "onnx": "ONNX Runtime"}


def chosen(keys) -> tuple[Format, ...]:
    """The formats named by ``keys`` (``Format.key``; export.formats), in ``FORMATS``' order."""
    return tuple(f for f in FORMATS if f.key in set(keys))
