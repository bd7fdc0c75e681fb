"""Intervals and tests behind every accuracy and every comparison the pipeline reports.

- An accuracy: k correct of n, with its 95 % Wilson score interval (scipy's ``binomtest``).
- Two models on the same images (paired): the difference of their accuracies, the exact McNemar
  test (a two-sided binomial test on the discordant images: those one model gets right and the
  other wrong), and the 95 % interval of the difference that goes with it: conditional on the
  n_d discordant images, the share b/n_d that favour the variant has an exact (Clopper-Pearson)
  interval [lo, hi], and the difference (b - c)/n = n_d/n * (2 b/n_d - 1) maps it to
  n_d/n * (2 [lo, hi] - 1). scipy has no interval for a paired difference; this one is computed
  from the same binomial as the test, so the two agree.
- Two accuracies on different images (unpaired, e.g. the paper's published counts): Fisher's exact
  test (scipy), and Newcombe's hybrid score interval of the difference (Newcombe 1998, "Interval
  estimation for the difference between independent proportions", method 10), built from the two
  Wilson intervals; scipy has no interval for a difference of independent proportions.
- A verdict from them: ``better`` or ``worse`` when p < 0.05, else ``no detectable difference
  (±x pts)``, x being the largest difference the interval still allows.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import stats

LEVEL = 0.95
ALPHA = 0.05


@dataclass(frozen=True)
class Accuracy:
    correct: int
    n: int
    lo: float
    hi: float

    @property
    def value(self) -> float:
        return self.correct / self.n


@dataclass(frozen=True)
class Difference:
    """variant - baseline, as a fraction (x 100 for percentage points)."""

    diff: float
    lo: float
    hi: float
    p: float
    paired: bool
    n: int  # images (paired) or the smaller of the two samples (unpaired)
    discordant: tuple[int, int] | None = None  # paired: (variant right only, baseline right only)

    @property
    def verdict(self) -> str:
        if self.p < ALPHA:
            return "better" if self.diff > 0 else "worse"
        return f"no detectable difference (±{100 * max(abs(self.lo), abs(self.hi)):.1f} pts)"


def accuracy(correct: np.ndarray | int, n: int | None = None) -> Accuracy:
    """Accuracy with its Wilson interval, from a boolean per-image array or a count of ``n``."""
    if n is None:
        correct = np.asarray(correct, dtype=bool)
        k, n = int(correct.sum()), len(correct)
    else:
        k = int(correct)
    ci = stats.binomtest(k, n).proportion_ci(confidence_level=LEVEL, method="wilson")
    return Accuracy(k, n, float(ci.low), float(ci.high))


def paired(variant: np.ndarray, baseline: np.ndarray) -> Difference:
    """Two models' per-image correctness on the same images: difference, interval, exact McNemar p."""
    variant, baseline = np.asarray(variant, dtype=bool), np.asarray(baseline, dtype=bool)
    if variant.shape != baseline.shape:
        raise ValueError("paired comparison of predictions on different images")
    n = len(variant)
    b, c = int(np.sum(variant & ~baseline)), int(np.sum(~variant & baseline))
    diff = (b - c) / n
    if b + c == 0:  # identical correctness on every image
        return Difference(0.0, 0.0, 0.0, 1.0, True, n, (b, c))
    test = stats.binomtest(b, b + c, 0.5)
    ci = test.proportion_ci(confidence_level=LEVEL, method="exact")
    share = (b + c) / n
    return Difference(diff, share * (2 * ci.low - 1), share * (2 * ci.high - 1), float(test.pvalue), True, n, (b, c))


def unpaired(variant: Accuracy, baseline: Accuracy) -> Difference:
    """Two accuracies measured on different images: difference, Newcombe interval, Fisher's p."""
    p1, p2 = variant.value, baseline.value
    d = p1 - p2
    lo = d - math.sqrt((p1 - variant.lo) ** 2 + (baseline.hi - p2) ** 2)
    hi = d + math.sqrt((variant.hi - p1) ** 2 + (p2 - baseline.lo) ** 2)
    table = [[variant.correct, variant.n - variant.correct], [baseline.correct, baseline.n - baseline.correct]]
    p = float(stats.fisher_exact(table).pvalue)
    return Difference(d, lo, hi, p, False, min(variant.n, baseline.n))
