"""Evaluation's batch size, measured side by side: the pipeline's own batched prediction
(``ricecnn.evaluation.scoring.classify``) of the same images at two batch sizes, alternating, for the models
that cost evaluation the most at the quick default's 32 px (the VGG16s and GoogLeNet, untrained:
their cost does not depend on their weights).

    python bench/eval_batch.py                      # 2,000 images at 32 px, batch 64 vs 256, 3 rounds
    python bench/eval_batch.py --images 1000 --batches 64 128

Prints each model's median seconds per batch size and the ratio (the first batch size's time over
the second's): above 1, the second is faster. The machines are noisy: the ratio, measured in one
run with the two sizes alternating, is the number to read, not the seconds.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", nargs="+", default=["vgg16", "vgg16_light", "googlenet"])
    ap.add_argument("--images", type=int, default=2000)
    ap.add_argument("--size", type=int, default=32)
    ap.add_argument("--batches", nargs=2, type=int, default=[64, 256])
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()

    from ricecnn.evaluation.scoring import classify
    from ricecnn.networks.build import build_model

    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (args.images, args.size, args.size, 3), dtype=np.uint8)
    labels = rng.integers(0, 5, args.images)
    print(f"| model | batch {args.batches[0]}: s | batch {args.batches[1]}: s | ratio |\n|---|---:|---:|---:|")
    for name in args.models:
        model = build_model(name, args.size, 5, {"weights": "none"} if name.startswith("vgg16") else None)
        seconds: dict[int, list[float]] = {b: [] for b in args.batches}
        for b in args.batches:  # warm-up: each batch shape compiled once
            classify(model, images[:b], labels[:b], b)
        for _ in range(args.rounds):
            for b in args.batches:
                start = time.perf_counter()
                classify(model, images, labels, b)
                seconds[b].append(time.perf_counter() - start)
        first, second = (statistics.median(seconds[b]) for b in args.batches)
        print(f"| {name} | {first:.2f} | {second:.2f} | {first / second:.2f} |", flush=True)


if __name__ == "__main__":
    main()
