"""Stage `flops@<model>`: FLOPs/MACs per image, parameters and filters of one registry model.

Counts are analytic (ricecnn.flops, TensorFlow profiler rules), at `data.img_size` and at the
seed's 224 px, for the number of classes of the split. Weights do not change any count, so the
model is built without them (no download); `freeze` is kept for the trainable parameter count.
"""

from __future__ import annotations

import argparse
import math

from .. import params as params_mod
from ..data import load_classes
from ..errors import RiceError
from ..flops import count_filters, count_flops
from ..io import write_json
from ..models import build_model, check_name, feature_layers

SEED_SIZE = 224


def _count(model) -> dict:
    flops = count_flops(model)
    return {
        "flops": flops["flops"],
        "macs": flops["macs"],
        "params": model.count_params(),
        "params_trainable": sum(math.prod(w.shape) for w in model.trainable_weights),
        "per_layer": flops["per_layer"],
    }


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="ricecnn flops", description=__doc__.splitlines()[0])
    ap.add_argument("model", help="registry name, e.g. cnn_light")
    ap.add_argument("--params", default="params.yaml", help="params file (default: params.yaml)")
    ap.add_argument("--split-dir", default="data/split", help="split folder with classes.json (default: data/split)")
    ap.add_argument("--out", default=None, help="output JSON (default: metrics/flops/<model>.json)")
    args = ap.parse_args(argv)
    check_name(args.model)
    out = args.out or f"metrics/flops/{args.model}.json"

    params = params_mod.load(args.params)
    entry = (params.get("models") or {}).get(args.model)
    if entry is None:
        raise RiceError(f"params.yaml: models.{args.model} is missing: add it, e.g. {args.model}: {{epochs: 30}}")
    options = {"freeze": entry["freeze"]} if isinstance(entry, dict) and "freeze" in entry else {}
    img_size = params["data"]["img_size"]
    num_classes = len(load_classes(args.split_dir))

    model = build_model(args.model, img_size, num_classes, options)
    at_size = _count(model)
    at_224 = at_size if img_size == SEED_SIZE else _count(build_model(args.model, SEED_SIZE, num_classes, options))
    write_json(
        out,
        {
            "model": args.model,
            "img_size": img_size,
            "num_classes": num_classes,
            "flops": at_size["flops"],
            "macs": at_size["macs"],
            "params": at_size["params"],
            "params_trainable": at_size["params_trainable"],
            "filters": count_filters(model),
            "feature_layers": len(feature_layers(model)),
            "flops_224": at_224["flops"],
            "macs_224": at_224["macs"],
            "params_224": at_224["params"],
            "params_trainable_224": at_224["params_trainable"],
            "per_layer": at_size["per_layer"],
        },
    )
