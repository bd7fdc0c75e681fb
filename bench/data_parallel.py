"""Data-parallel overhead: training images/s on 1 device vs 4 simulated devices, side by side.

Each run trains through ricecnn's own `train()` with `distribute.placement` in a process of its
own (XLA_FLAGS=--xla_force_host_platform_device_count=4 for every run, so only the distribution
differs). Three set-ups per (model, backend), alternating within each round so machine noise hits
them alike; images/s is the fastest epoch after the first, best over the rounds:

    1 x B    distribution none, batch B (the baseline)
    4 x B/4  data_parallel over 4 devices at the same global batch B (the pure overhead)
    4 x B    data_parallel, batch B per device (global 4B: what one does on 4 real GPUs)

On a CPU the 4 "devices" share the same cores, so no speed-up is possible: the ratios measure what
splitting, replicating and all-reducing cost. On real accelerators each device brings its own
compute and the same code scales.

    .venv/bin/python bench/data_parallel.py
    .venv/bin/python bench/data_parallel.py --models cnn_light --backends jax --images 128 --rounds 1
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

WORKER = """
import json, os, sys
import numpy as np
from ricecnn.training import runtime
from ricecnn.training.distribute import placement
from ricecnn.networks.build import build_model
from ricecnn.training.fit import fit as train
name, size, n, batch, epochs, devices = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6])
where = placement("none" if devices == 1 else "data_parallel", devices)
runtime.configure(0)
rng = np.random.default_rng(0)
x = rng.integers(0, 256, (n, size, size, 3), dtype=np.uint8)
y = rng.integers(0, 5, n)
with where.scope():
    model = build_model(name, size, 5, {"weights": None, "freeze": "paper"} if name.startswith("vgg16") else {})
m = train(model, (x, y), (x[:64], y[:64]), num_classes=5, epochs=epochs, batch_size=batch, patience=epochs,
          learning_rate=1e-3, seed=0, placement=where)
print("RESULT", json.dumps({"images_per_second": n / min(m["epoch_seconds"][1:]), "replicas": m["replicas"]}))
"""


def measure(name: str, backend: str, devices: int, batch: int, args) -> float | None:
    env = {**os.environ, "KERAS_BACKEND": backend, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONPATH": str(ROOT / "src"),
           "XLA_FLAGS": "--xla_force_host_platform_device_count=4"}
    cmd = [sys.executable, "-c", WORKER, name, str(args.size), str(args.images), str(batch), str(args.epochs),
           str(devices)]
    p = subprocess.run(cmd, env=env, capture_output=True, text=True)
    for line in p.stdout.splitlines():
        if line.startswith("RESULT "):
            r = json.loads(line[7:])
            assert r["replicas"] == devices, r
            return r["images_per_second"]
    print(f"  {name}/{backend}/{devices} failed: " + (p.stderr.strip().splitlines() or ["?"])[-1][:120], file=sys.stderr)
    return None


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default="cnn_light,cnn")
    ap.add_argument("--backends", default="jax,tensorflow")
    ap.add_argument("--size", type=int, default=64)
    ap.add_argument("--images", type=int, default=512, help="training images per epoch")
    ap.add_argument("--batch", type=int, default=32, help="the global batch B of the baseline")
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--out", help="also write the numbers as JSON here")
    args = ap.parse_args()
    b = args.batch
    setups = {f"1 x {b}": (1, b), f"4 x {b // 4}": (4, b // 4), f"4 x {b}": (4, b)}
    print(f"train images/s at {args.size} px, {args.images} images, best epoch of 2..{args.epochs}, "
          f"best of {args.rounds} rounds; 4 simulated CPU devices on {os.cpu_count()} cores")
    names = list(setups)
    print(f"| model | backend | {' | '.join(names)} | {names[1]} / {names[0]} | {names[2]} / {names[0]} |")
    print("|---" * (len(names) + 4) + "|")
    results = {}
    for name in args.models.split(","):
        for backend in args.backends.split(","):
            best: dict[str, float] = {}
            for r in range(args.rounds):
                order = names if r % 2 == 0 else names[::-1]
                for s in order:
                    v = measure(name, backend, *setups[s], args)
                    if v is not None:
                        best[s] = max(best.get(s, 0.0), v)
            results[f"{name}/{backend}"] = best
            cells = [f"{best[s]:,.0f}" if s in best else "failed" for s in names]
            base = best.get(names[0])
            ratios = [f"{best[s] / base:.2f}" if base and s in best else "-" for s in names[1:]]
            print(f"| {name} | {backend} | " + " | ".join(cells + ratios) + " |", flush=True)
    if args.out:
        Path(args.out).write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
