"""Do FLOPs savings become latency savings? Batch-1 latency light/full, per family, in Keras, LiteRT
and ONNX Runtime, beside the FLOPs ratio, measured side by side in one run.

The six architectures of the registry, freshly built at --img-size (latency is the architecture's:
no training needed; VGG without its ImageNet download), exported to LiteRT float32 and ONNX with
the pipeline's own conversion (``ricecnn.deploy.convert``), each timed on one CPU thread through the
pipeline's own measurement (``ricecnn.deploy.latency``: warm-up, then the median of timed calls).
The runtimes and models take turns within each of --rounds rounds, so machine noise hits them alike;
the ratio printed uses each one's fastest median over the rounds.

    .venv/bin/python bench/export_latency.py                 # 32 px, the quick default's size
    .venv/bin/python bench/export_latency.py --img-size 224 --repeats 50 --rounds 2
"""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import tensorflow as tf  # threads are set before any TensorFlow op

tf.config.threading.set_intra_op_parallelism_threads(1)
tf.config.threading.set_inter_op_parallelism_threads(1)

import numpy as np

from ricecnn.deploy.convert import convert
from ricecnn.deploy.formats import FORMATS
from ricecnn.deploy.latency import measure
from ricecnn.deploy.runtimes import keras_runner, load
from ricecnn.networks.build import build_model
from ricecnn.networks.flops import count_flops
from ricecnn.networks.registry import REGISTRY

RUNTIMES = ("keras", "litert_float32", "onnx_float32")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--img-size", type=int, default=32)
    ap.add_argument("--repeats", type=int, default=200)
    ap.add_argument("--warmup", type=int, default=20)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    families = {}
    for name, spec in REGISTRY.items():
        families.setdefault(spec.family, {})[spec.variant] = name
    image = np.random.default_rng(0).integers(0, 256, (args.img_size, args.img_size, 3), dtype=np.uint8)
    runners, flops = {}, {}
    with tempfile.TemporaryDirectory() as tmp:
        for name in REGISTRY:
            options = {"weights": "none"} if REGISTRY[name].base_layers else {}
            model = build_model(name, args.img_size, 5, options)
            flops[name] = count_flops(model)["flops"]
            runners[name, "keras"] = keras_runner(model).predict
            for fmt in (f for f in FORMATS if f.key in RUNTIMES):
                path = Path(tmp) / f"{name}{fmt.suffix}"
                convert(model, fmt, path, image[None], image[None])
                runners[name, fmt.key] = load(fmt.runtime, path, threads=1).predict
        best = {}
        for _ in range(args.rounds):
            for key, run in runners.items():
                t = measure(run, image, args.warmup, args.repeats).median_ms
                best[key] = min(best.get(key, np.inf), t)
    print(f"batch-1 latency, 1 CPU thread, {args.img_size} px, fastest median of {args.repeats} calls over {args.rounds} rounds")
    print(f"{'family':<10} {'FLOPs light/full':>17} " + " ".join(f"{r + ' light/full':>26}" for r in RUNTIMES))
    for family, names in families.items():
        light, full = names["light"], names["full"]
        cells = [f"{best[light, r] / best[full, r]:>8.3f} ({best[light, r]:.3f}/{best[full, r]:.3f} ms)" for r in RUNTIMES]
        print(f"{family:<10} {flops[light] / flops[full]:>17.4f} " + " ".join(f"{c:>26}" for c in cells))


if __name__ == "__main__":
    main()
