"""Batch-1 latency that repeats (bench/latency.py): every model in every runtime is timed in rounds,
each round over all of them in a new shuffled order, so a slow minute of the machine falls on every
model alike instead of on whichever ran then. Within a round a model gets ``warmup`` untimed calls
(lazy allocation, compilation, caches) and ``repeats`` timed ones, each timed on its own with
``time.perf_counter`` (a pause between calls is never counted); the round's figure is their median.
A figure is the median of the round medians, with the fastest and the slowest round as its spread.
A ratio of two models (light over full) is taken within each round, where both ran on the same
machine state, and summarised the same way.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable, Hashable

import numpy as np

WIDE = 0.25  # a figure whose rounds spread over more than 25 % of its median is flagged: the machine moved


@dataclass(frozen=True)
class Spread:
    """The median of per-round values with the lowest and highest round: a latency in ms or a ratio."""

    median: float
    low: float
    high: float
    rounds: tuple[float, ...]

    @classmethod
    def of(cls, values) -> "Spread":
        v = np.asarray(values, dtype=float)
        return cls(float(np.median(v)), float(v.min()), float(v.max()), tuple(float(x) for x in v))

    @property
    def spread(self) -> float:
        """(high - low) / median: how far apart the rounds fell, as a share of the figure."""
        return (self.high - self.low) / self.median if self.median else float("inf")

    @property
    def wide(self) -> bool:
        return self.spread > WIDE

    def as_dict(self, unit: str = "") -> dict:
        return {f"median{unit}": self.median, f"low{unit}": self.low, f"high{unit}": self.high,
                f"rounds{unit}": list(self.rounds), "spread": self.spread, "wide": self.wide}


def block_median(call: Callable[[np.ndarray], object], x: np.ndarray, warmup: int, repeats: int) -> float:
    """``call(x)`` ``warmup`` times untimed, then ``repeats`` times timed: the median call, in ms."""
    for _ in range(warmup):
        call(x)
    times = np.empty(repeats)
    for i in range(repeats):
        start = time.perf_counter()
        call(x)
        times[i] = time.perf_counter() - start
    return float(np.median(times) * 1000)


def interleaved(calls: dict[Hashable, Callable[[np.ndarray], object]], image: np.ndarray, rounds: int, warmup: int,
                repeats: int, seed: int, progress: Callable[[int], None] | None = None) -> dict[Hashable, list[float]]:
    """Each call's round medians (ms): ``rounds`` rounds, each over every call in a shuffled order
    (seeded: the same order for the same seed), ``image`` (HWC) as a float32 batch of one."""
    x = np.asarray(image[None], dtype=np.float32)
    keys, rng = list(calls), np.random.default_rng(seed)
    out: dict[Hashable, list[float]] = {k: [] for k in keys}
    for r in range(rounds):
        for i in rng.permutation(len(keys)):
            out[keys[i]].append(block_median(calls[keys[i]], x, warmup, repeats))
        if progress:
            progress(r + 1)
    return out


def paired_ratio(numerator: list[float], denominator: list[float]) -> Spread:
    """The ratio of two calls' latencies, round by round (both measured in the same round)."""
    return Spread.of(np.asarray(numerator) / np.asarray(denominator))
