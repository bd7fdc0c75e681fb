"""Training throughput per model: two or more variants side by side (a backend, optionally with
settings of the training loop), TensorFlow vs JAX by default.

Each (model, variant) pair trains in its own process through ricecnn's own `fit()` on the same
random uint8 data; images/s is taken from the fastest epoch after the first (which pays for
tracing/compilation). Variants alternate per model, so machine noise hits them alike. A variant is
`backend[:key=value,...]` with keys of `training.fit` (e.g. `tensorflow:jit_compile=true`,
`tensorflow:steps_per_execution=8`; and `mixed_precision=true`, ``runtime.configure``'s), variants
separated by `;`; the last column is the last
variant's rate over the first's.

    .venv/bin/python bench/train_throughput.py                # all six models, 64 px, TF vs JAX
    .venv/bin/python bench/train_throughput.py --models cnn_light --size 32 --images 64
    .venv/bin/python bench/train_throughput.py --size 32 --images 2500 --variants 'tensorflow;tensorflow:jit_compile=true'
    .venv/bin/python bench/train_throughput.py --models cnn_light,vgg16_light --size 32 --images 750 \
        --variants 'tensorflow:patience=null,graph_bytes=0,steps_per_execution=8;tensorflow:patience=null,steps_per_execution=8'
                                                               # PyDataset vs the in-graph batches (training.fit)
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MODELS = ["cnn", "cnn_light", "googlenet", "googlenet_light", "vgg16", "vgg16_light"]

WORKER = """
import json, sys
import numpy as np
from ricecnn.training import runtime
from ricecnn.networks.build import build_model
from ricecnn.training import fit as fitting
from ricecnn.training.fit import fit as train
name, size, n, batch, epochs, options, extra = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]), json.loads(sys.argv[6]), json.loads(sys.argv[7])
rng = np.random.default_rng(0)
x = rng.integers(0, 256, (n, size, size, 3), dtype=np.uint8)
y = rng.integers(0, 5, n)
runtime.configure(0, extra.pop("mixed_precision", False))
fitting.GRAPH_BYTES = extra.pop("graph_bytes", fitting.GRAPH_BYTES)  # 0: the PyDataset path (fit.graph_batches)
patience = extra.pop("patience", epochs)  # null: no early stopping, the in-graph input path's condition
model = build_model(name, size, 5, options)
m = train(model, (x, y), (x[:batch], y[:batch]), num_classes=5, epochs=epochs, batch_size=batch, patience=patience,
          learning_rate=1e-3, seed=0, **extra)
print("RESULT", json.dumps({"images_per_second": n / min(m["epoch_seconds"][1:]), "cached": m["frozen_prefix_cached"]}))
"""


def variant(spec: str) -> tuple[str, dict]:
    """'tensorflow:jit_compile=true,steps_per_execution=8' -> ('tensorflow', {...}), values read as JSON."""
    backend, _, rest = spec.partition(":")
    extra = {}
    for item in filter(None, rest.split(",")):
        key, _, value = item.partition("=")
        try:
            extra[key] = json.loads(value)
        except json.JSONDecodeError:
            extra[key] = value
    return backend, extra


def measure(name: str, spec: str, args) -> dict | str:
    backend, extra = variant(spec)
    options = {"weights": None, "freeze": "paper"} if name.startswith("vgg16") else {}
    env = {**os.environ, "KERAS_BACKEND": backend, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONPATH": str(ROOT / "src")}
    cmd = [sys.executable, "-c", WORKER, name, str(args.size), str(args.images), str(args.batch), str(args.epochs),
           json.dumps(options), json.dumps(extra)]
    p = subprocess.run(cmd, env=env, capture_output=True, text=True)
    for line in p.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[7:])
    return "failed: " + (p.stderr.strip().splitlines() or ["?"])[-1][:80]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default=",".join(MODELS))
    ap.add_argument("--variants", default="tensorflow;jax", help="variants separated by ';' (see above)")
    ap.add_argument("--size", type=int, default=64)
    ap.add_argument("--images", type=int, default=800, help="training images per epoch (the quick default: 800)")
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--out", help="also write the numbers as JSON here")
    args = ap.parse_args()
    specs = [v.strip() for v in args.variants.split(";") if v.strip()]
    results = {}
    print(f"train images/s at {args.size} px, batch {args.batch}, {args.images} images, best of epochs 2..{args.epochs}")
    print("| model | " + " | ".join(specs) + " | ratio last/first |")
    print("|---" * (len(specs) + 2) + "|")
    for name in args.models.split(","):
        row = {v: measure(name, v, args) for v in specs}
        results[name] = row
        cells = [f"{r['images_per_second']:,.0f}" if isinstance(r, dict) else r for r in row.values()]
        first, last = row[specs[0]], row[specs[-1]]
        cells.append(f"{last['images_per_second'] / first['images_per_second']:.2f}"
                     if isinstance(first, dict) and isinstance(last, dict) else "")
        print(f"| {name} | " + " | ".join(cells) + " |", flush=True)
    if args.out:
        Path(args.out).write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
