"""`ricecnn classify --model FILE IMAGE...`: the class of each image, by an exported model in its own runtime.

The model file is a LiteRT (``.tflite``, float32 or int8), ONNX (``.onnx``) or Keras (``.keras``) file;
the class names come from ``labels.txt`` beside it (export's bundle) or ``--labels``. Each image is
converted to RGB and resized to the model's input with PIL's bilinear filter, as the split stage made
the training images. Prints one line per image (its path, the class, the probability), or with
``--json`` one JSON list with every class's probability.

    ricecnn classify --model exports/201/cnn_light/cnn_light_int8.tflite grain1.jpg grain2.png
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from ..classifier import open_model, read_image


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="ricecnn classify", description=__doc__.splitlines()[0])
    ap.add_argument("--model", required=True, type=Path, help="a .tflite, .onnx or .keras file")
    ap.add_argument("--labels", type=Path, help="the class names, one per line in output order (default: labels.txt beside the model)")
    ap.add_argument("--json", action="store_true", help="one JSON list: image, class, probability, probabilities")
    ap.add_argument("--threads", type=int, default=1, help="CPU threads of the runtime")
    ap.add_argument("images", nargs="+", type=Path, help="image files (JPEG, PNG, ...)")
    args = ap.parse_args(argv)
    model = open_model(args.model, args.labels, args.threads)
    probs = model.classify([read_image(path, model.size) for path in args.images])  # every image read before any is run
    if probs.shape[1] != len(model.labels):
        from ..core.errors import RiceError

        raise RiceError(f"{args.model} gives {probs.shape[1]} probabilities but its labels name {len(model.labels)} classes")
    rows = [{"image": str(path), "class": model.labels[int(p.argmax())], "probability": float(p.max()),
             "probabilities": dict(zip(model.labels, map(float, p)))} for path, p in zip(args.images, probs)]
    if args.json:
        json.dump(rows, sys.stdout, indent=1)
        print()
    else:
        for r in rows:
            print(f"{r['image']}\t{r['class']}\t{r['probability']:.4f}")
