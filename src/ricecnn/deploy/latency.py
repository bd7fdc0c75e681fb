"""Batch-1 latency as a practitioner measures it: the same image, warm-up calls first (lazy
allocation, compilation, caches), then ``repeats`` timed calls; the median, with the quartiles as its
spread (one slow call from the operating system moves neither). Each call is timed on its own with
``time.perf_counter``, so a pause between calls is never counted."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable

import numpy as np


@dataclass(frozen=True)
class Latency:
    median_ms: float
    q1_ms: float  # the quartiles of the timed calls: the spread
    q3_ms: float
    repeats: int

    def as_dict(self) -> dict:
        return {"latency_ms": self.median_ms, "latency_q1_ms": self.q1_ms, "latency_q3_ms": self.q3_ms,
                "latency_repeats": self.repeats}


def measure(call: Callable[[np.ndarray], object], image: np.ndarray, warmup: int, repeats: int) -> Latency:
    """``call`` on ``image`` (one image, HWC) as a batch of one: ``warmup`` untimed calls, then
    ``repeats`` timed ones."""
    x = np.asarray(image[None], dtype=np.float32)
    for _ in range(warmup):
        call(x)
    times = np.empty(repeats)
    for i in range(repeats):
        start = time.perf_counter()
        call(x)
        times[i] = time.perf_counter() - start
    q1, median, q3 = np.percentile(times * 1000, [25, 50, 75])
    return Latency(float(median), float(q1), float(q3), repeats)
