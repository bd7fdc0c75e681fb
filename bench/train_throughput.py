"""Training throughput per model at the quick default size: TensorFlow vs JAX, side by side.

Each (model, backend) pair trains in its own process through ricecnn's own `train()` on the
same random uint8 data; images/s is taken from the fastest epoch after the first (which pays for
tracing/compilation). Backends alternate per model, so machine noise hits both alike.

    .venv/bin/python bench/train_throughput.py                # all six models, 64 px
    .venv/bin/python bench/train_throughput.py --models cnn_light --size 32 --images 64
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
from ricecnn import runtime
from ricecnn.models import build_model
from ricecnn.training import fit as train
name, size, n, batch, epochs, options = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]), json.loads(sys.argv[6])
rng = np.random.default_rng(0)
x = rng.integers(0, 256, (n, size, size, 3), dtype=np.uint8)
y = rng.integers(0, 5, n)
runtime.configure(0)
model = build_model(name, size, 5, options)
m = train(model, (x, y), (x[:batch], y[:batch]), num_classes=5, epochs=epochs, batch_size=batch, patience=epochs,
          learning_rate=1e-3, seed=0)
print("RESULT", json.dumps({"images_per_second": n / min(m["epoch_seconds"][1:]), "cached": m["frozen_prefix_cached"]}))
"""


def measure(name: str, backend: str, args) -> dict | str:
    options = {"weights": None, "freeze": "paper"} if name.startswith("vgg16") else {}
    env = {**os.environ, "KERAS_BACKEND": backend, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONPATH": str(ROOT / "src")}
    cmd = [sys.executable, "-c", WORKER, name, str(args.size), str(args.images), str(args.batch), str(args.epochs),
           json.dumps(options)]
    p = subprocess.run(cmd, env=env, capture_output=True, text=True)
    for line in p.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[7:])
    return "failed: " + (p.stderr.strip().splitlines() or ["?"])[-1][:80]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default=",".join(MODELS))
    ap.add_argument("--backends", default="tensorflow,jax")
    ap.add_argument("--size", type=int, default=64)
    ap.add_argument("--images", type=int, default=800, help="training images per epoch (the quick default: 800)")
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--out", help="also write the numbers as JSON here")
    args = ap.parse_args()
    backends = args.backends.split(",")
    results = {}
    print(f"train images/s at {args.size} px, batch {args.batch}, {args.images} images, best of epochs 2..{args.epochs}")
    print("| model | " + " | ".join(backends) + (" | ratio " + backends[1] + "/" + backends[0] if len(backends) == 2 else "") + " |")
    print("|---" * (len(backends) + 1 + (len(backends) == 2)) + "|")
    for name in args.models.split(","):
        row = {b: measure(name, b, args) for b in backends}
        results[name] = row
        cells = [f"{r['images_per_second']:,.0f}" if isinstance(r, dict) else r for r in row.values()]
        if len(backends) == 2 and all(isinstance(r, dict) for r in row.values()):
            cells.append(f"{row[backends[1]]['images_per_second'] / row[backends[0]]['images_per_second']:.2f}")
        print(f"| {name} | " + " | ".join(cells) + " |", flush=True)
    if args.out:
        Path(args.out).write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
