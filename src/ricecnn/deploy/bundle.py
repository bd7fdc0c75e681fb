"""What a device team needs beside an exported file, written next to it (stage export): the class names
in output order (``labels.txt``) and a model card per model (``<model>.card.json``): the input (shape,
dtype, range, layout, the resize that made the training images), what the output means, the model's
FLOPs and parameters, and the data it was trained on (each format's accuracy and agreement with the
Keras model are measured on the test images by the next stage, score_exports, and kept in its metrics). ONNX carries the same facts inside the file (``metadata_props``, and
its input and output named ``image`` and ``probabilities``); LiteRT files carry none (the TFLite
metadata writer, tflite-support, is no longer maintained), so for them the card and the labels are the
description, and the card says so.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ..core.io import atomic_path

LABELS = "labels.txt"
INPUT, OUTPUT = "image", "probabilities"  # the ONNX graph's input and output names
SCORES = ("each format's accuracy and agreement with the Keras model's classes on the clean and augmented test "
          "images: measured by the study's stage score_exports, in its metrics (docs/deployment.md)")
RESIZE = ("the image converted to RGB and resized to {size}x{size} px with PIL's bilinear filter "
          "(Image.Resampling.BILINEAR), as the split stage made every training and test image")


def file_md5(path: Path) -> str:
    """The MD5 of a file, as DVC names it: what ties bench/latency.py's figures to the models export
    recorded (a latency belongs to the file it timed)."""
    import hashlib

    return hashlib.md5(Path(path).read_bytes()).hexdigest()


def card_name(model: str) -> str:
    return f"{model}.card.json"


def read_card(path: Path) -> dict:
    return json.loads(Path(path).read_text())


def write_labels(folder: Path, classes: list[str]) -> None:
    with atomic_path(folder / LABELS) as tmp:
        tmp.write_text("".join(f"{c}\n" for c in classes))


def agreement(predicted: np.ndarray, keras_classes: np.ndarray) -> float:
    return float(np.mean(predicted == keras_classes)) if len(predicted) else float("nan")


def description(model: str, classes: list[str], img_size: int, data: dict) -> dict:
    """What using ``model``'s files takes, known before any is converted: its classes, input, output and
    training data (``data``). The ONNX file carries it (``describe_onnx``); the card adds the rest."""
    return {
        "model": model,
        "classes": classes,
        "input": {
            "name": INPUT,
            "shape": {"litert": [1, img_size, img_size, 3], "onnx": ["batch", img_size, img_size, 3]},
            "layout": "NHWC, RGB",
            "dtype": "float32 in every file but <model>_uint8.tflite, whose input and output are uint8 (its card's "
                     "integer_io: q = round(pixel / scale) + zero_point in, value = (q - zero_point) * scale out)",
            "range": [0, 255],
            "scaling": "none before the model: the pixels as they are, 0 to 255 (the model divides by 255 itself)",
            "resize": RESIZE.format(size=img_size),
        },
        "output": {"name": OUTPUT, "shape": ["batch", len(classes)],
                   "meaning": f"softmax probabilities over the classes of {LABELS}, in its order"},
        "trained_on": data,
    }


def card(described: dict, replicate: int, *, formats: list[str], files: dict[str, str | None], errors: dict[str, str],
         flops: int, parameters: int, integer_io: dict | None = None) -> dict:
    """The model card: ``described`` (``description``) with the replicate, the files of the ``formats``
    exported (format key -> file name; None: not converted, ``errors`` says why), FLOPs and parameters;
    ``integer_io``: the uint8 file's input and output quantisation (``runtimes.integer_io``), None when
    it was not converted."""
    return {
        "model": described["model"],
        "replicate": replicate,
        "files": {key: files.get(key) for key in formats},
        "not_converted": errors,
        "labels": LABELS,
        **{k: v for k, v in described.items() if k != "model"},
        "flops_per_image": flops,
        "parameters": parameters,
        "scores": SCORES,
        "integer_io": integer_io,
        "metadata": {"onnx": f"metadata_props hold this card's facts; input {INPUT!r}, output {OUTPUT!r}",
                     "litert": "none in the file (no maintained metadata writer): this card and labels.txt describe it"},
    }


def write_card(folder: Path, record: dict) -> None:
    with atomic_path(folder / card_name(record["model"])) as tmp:
        tmp.write_text(json.dumps(record, indent=1, sort_keys=False) + "\n")


def describe_onnx(path: Path, record: dict) -> None:  # record: ``description``'s
    """Name the ONNX graph's input and output (``INPUT``, ``OUTPUT``) and write the card's facts into its
    ``metadata_props`` (in place, atomically). Hand-written renaming: the onnx library has no call that
    renames a graph's tensor everywhere it is used."""
    import onnx

    proto = onnx.load(str(path))
    graph = proto.graph
    renames = {graph.input[0].name: INPUT, graph.output[0].name: OUTPUT}
    for value in (*graph.input, *graph.output, *graph.value_info):
        value.name = renames.get(value.name, value.name)
    for node in graph.node:
        node.input[:] = [renames.get(n, n) for n in node.input]
        node.output[:] = [renames.get(n, n) for n in node.output]
    facts = {"labels": json.dumps(record["classes"]), "input": json.dumps(record["input"]),
             "output": json.dumps(record["output"]), "model": record["model"],
             "trained_on": json.dumps(record["trained_on"])}
    del proto.metadata_props[:]
    for key, value in facts.items():
        proto.metadata_props.add(key=key, value=value)
    proto.doc_string = f"ricecnn {record['model']}: {record['output']['meaning']}"
    onnx.checker.check_model(proto)
    with atomic_path(path) as tmp:
        onnx.save(proto, str(tmp))
