"""An accuracy, k correct of n, with its 95 % Wilson score interval (scipy's ``binomtest``): what
evaluate reports for every model and test condition. The comparisons built on it are in
``ricecnn.study.stats`` (kept apart so that a change to the verdicts does not rerun the evaluation)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import stats

LEVEL = 0.95
ALPHA = 1 - LEVEL
Z = float(stats.norm.ppf(1 - ALPHA / 2))


@dataclass(frozen=True)
class Accuracy:
    correct: int
    n: int
    lo: float
    hi: float

    @property
    def value(self) -> float:
        return self.correct / self.n


def accuracy_interval(correct: np.ndarray | int, n: int | None = None) -> Accuracy:
    """Accuracy with its Wilson interval, from a boolean per-image array or a count of ``n``."""
    if n is None:
        correct = np.asarray(correct, dtype=bool)
        k, n = int(correct.sum()), len(correct)
    else:
        k = int(correct)
    ci = stats.binomtest(k, n).proportion_ci(confidence_level=LEVEL, method="wilson")
    return Accuracy(k, n, float(ci.low), float(ci.high))


def wilson(p: float, n: int, z: float = Z) -> tuple[float, float]:
    """Wilson's score interval for a proportion ``p`` of ``n``; a mean count over seeds need not be whole,
    which scipy's ``binomtest`` requires (hence written out: Wilson 1927, the score interval)."""
    centre, half = (p + z * z / (2 * n)) / (1 + z * z / n), z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return centre - half, centre + half
