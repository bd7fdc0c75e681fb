"""Intervals, tests and verdicts behind every accuracy and every comparison the pipeline reports
(the method and its checks: docs/statistics.md).

- An accuracy: k correct of n, with its 95 % Wilson score interval (scipy's ``binomtest``).
- Two trained networks on the same images (``paired``): the difference of their accuracies, Tango's
  score interval for a difference of paired proportions (Tango 1998, Stat Med 17:891; recommended
  by Fagerland, Lydersen and Laake 2014, Stat Med 33:2850) with a continuity correction of 1/2 on
  the discordant counts, and the score test that goes with it (at a difference of 0 it is
  McNemar's test with that correction): the test rejects exactly when the interval excludes 0.
  Why the correction: without it the exact coverage dips to 0.931 at a nominal 0.95 (1,000
  images, 0.5 % discordant, 90 % of them one way); with it, it stays at or above 0.95 on the whole
  grid ``tests/test_stats.py`` computes, for an interval 2 % wider at the default's typical counts.
  It is correct with no discordant image (about ±0.5 points at 1,000 images). It is about these
  two weight files only.
- Two architectures, each trained once per training seed, on the same images
  (``architecture_effect``): the mean over seeds of the paired difference, and an interval that
  carries both the training-seed variation and the test-image sampling. The per-image differences
  y[s, i] (seed s, image i; -1, 0 or 1) follow a two-way random-effects model, y = theta + seed +
  image + residual; the variance of their grand mean is estimated from the two-way ANOVA mean
  squares, (MS_seed + MS_image - MS_residual) / (k n) (Searle, Casella and McCulloch 1992,
  "Variance Components", ch. 4), and the interval is Student's t with k - 1 degrees of freedom,
  those of the scarcer replicate, the seeds. Why not Satterthwaite's pooled degrees of freedom:
  tried first, they covered 0.92-0.94 in the simulation (the per-seed effects are few and skewed);
  with k - 1 the coverage is at least 0.95 there, wider where seeds hardly differ. Why not a
  bootstrap over seeds: with 3 seeds it has at most 10 distinct resamples, and its percentile
  interval is far too narrow. Where the seeds agree image by image (a pruned model makes its full
  model's predictions) the interval is widened to Tango's over all seeds' pairs pooled, so that no
  discordant image never means [0, 0]. ``tests/test_stats.py`` checks the coverage of both
  intervals.
- Two accuracies on different images (the paper's published counts): Fisher's exact test (scipy)
  and Newcombe's hybrid score interval of the difference (Newcombe 1998, Stat Med 17:873, method 10).
- Holm's step-down adjustment over the family of tests the findings report (``holm``).
- Verdicts with a stated margin m (``verdict``): ``better`` / ``worse`` where the Holm-adjusted p
  is below 0.05; else ``equivalent (within ±m)`` where the 95 % interval lies inside (-m, m),
  ``not worse (margin m)`` where it lies above -m, and ``inconclusive`` otherwise.

Hand-written where scipy has nothing: scipy has no interval for a paired difference, no
variance-components interval, no Holm adjustment (only ``false_discovery_control``, which is
Benjamini-Hochberg) and no interval for a difference of independent proportions.
"""

from __future__ import annotations

import dataclasses
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


@dataclass(frozen=True)
class Difference:
    """variant - baseline, as a fraction (x 100 for percentage points), with its interval and p."""

    diff: float
    lo: float
    hi: float
    p: float
    discordant: tuple[int, int] | None = None  # paired: (variant right only, baseline right only)


@dataclass(frozen=True)
class Effect:
    """The architecture-level difference over training seeds: the mean of the per-seed paired
    differences, its interval (seed variation and image sampling), p and degrees of freedom."""

    diff: float
    lo: float
    hi: float
    p: float
    df: float
    per_seed: tuple[float, ...]


def accuracy(correct: np.ndarray | int, n: int | None = None) -> Accuracy:
    """Accuracy with its Wilson interval, from a boolean per-image array or a count of ``n``."""
    if n is None:
        correct = np.asarray(correct, dtype=bool)
        k, n = int(correct.sum()), len(correct)
    else:
        k = int(correct)
    ci = stats.binomtest(k, n).proportion_ci(confidence_level=LEVEL, method="wilson")
    return Accuracy(k, n, float(ci.low), float(ci.high))


# --- one pair of networks ---------------------------------------------------------------------------


CONTINUITY = 0.5  # taken off |b - c - n delta| (see the module's docstring)


def tango_score(b, c, n, delta, continuity: float = CONTINUITY):
    """Tango's score statistic for H0: p_b - p_c = delta (b, c: the discordant counts of n pairs),
    with ``continuity`` taken off the numerator's size; decreasing in delta. Works on arrays."""
    b, c, n, delta = (np.asarray(v, dtype=np.float64) for v in (b, c, n, delta))
    # the maximum-likelihood p_c under the constraint (Tango 1998, eq. 4): a root of A x^2 + B x + C
    A = 2 * n
    B = -b - c + (2 * n - b + c) * delta
    C = -c * delta * (1 - delta)
    p_c = (np.sqrt(np.maximum(B * B - 4 * A * C, 0)) - B) / (2 * A)
    var = n * (2 * p_c + delta * (1 - delta))
    num = b - c - n * delta
    num = np.sign(num) * np.maximum(np.abs(num) - continuity, 0)
    edge = np.where(num > 0, np.inf, np.where(num < 0, -np.inf, 0.0))  # no variance: only the estimate fits
    return np.where(var > 0, num / np.sqrt(np.where(var > 0, var, 1.0)), edge)


def tango_interval(b, c, n, z: float = Z, continuity: float = CONTINUITY, iterations: int = 60):
    """The ``z`` score interval (lo, hi) of p_b - p_c: {delta : |score(delta)| < z}, its ends found by
    bisection on (-1, 1) (the score decreases in delta). Works on arrays of counts."""
    b, c, n = np.broadcast_arrays(*(np.asarray(v, dtype=np.float64) for v in (b, c, n)))
    ends = []
    for target in (z, -z):  # the lower end: score = +z; the upper end: score = -z
        lo, hi = np.full(b.shape, -1.0), np.full(b.shape, 1.0)
        for _ in range(iterations):
            mid = (lo + hi) / 2
            above = tango_score(b, c, n, mid, continuity) > target
            lo, hi = np.where(above, mid, lo), np.where(above, hi, mid)
        ends.append((lo + hi) / 2)
    return ends[0], ends[1]


def paired(variant: np.ndarray, baseline: np.ndarray) -> Difference:
    """Two networks' per-image correctness on the same images: difference, Tango interval, score p."""
    variant, baseline = np.asarray(variant, dtype=bool), np.asarray(baseline, dtype=bool)
    if variant.shape != baseline.shape:
        raise ValueError("paired comparison of predictions on different images")
    n = len(variant)
    b, c = int(np.sum(variant & ~baseline)), int(np.sum(~variant & baseline))
    lo, hi = tango_interval(b, c, n)
    p = 1.0 if b + c == 0 else float(2 * stats.norm.sf(max(abs(b - c) - CONTINUITY, 0) / math.sqrt(b + c)))
    return Difference((b - c) / n, float(lo), float(hi), p, (b, c))


# --- two architectures over training seeds ------------------------------------------------------------


def architecture_effect(variant: np.ndarray, baseline: np.ndarray) -> Effect:
    """``variant`` and ``baseline``: per-seed, per-image correctness, shape (seeds, images), the same
    images for every seed. Needs at least 2 seeds."""
    variant, baseline = np.asarray(variant, dtype=bool), np.asarray(baseline, dtype=bool)
    e = over_seeds(variant.astype(np.float64) - baseline.astype(np.float64), bounds=(-1.0, 1.0))
    # Where every seed gives nearly the same differences on the same images, the two-way interval is
    # narrower than the sampling of the images alone allows: with no discordant image at all it is
    # [0, 0]. Tango's interval over all k x n pairs, pooled as if they were independent, is the
    # least that sampling can give; the interval is the hull of the two.
    b, c = int(np.sum(variant & ~baseline)), int(np.sum(~variant & baseline))
    lo, hi = tango_interval(b, c, variant.size)
    return dataclasses.replace(e, lo=min(e.lo, float(lo)), hi=max(e.hi, float(hi)))


def _mean_squares(y: np.ndarray) -> tuple[float, np.ndarray, float, float, float]:
    """Two-way ANOVA of per-seed, per-image values ``y`` (seeds, images): the grand mean, the seed
    means, and the mean squares of seeds, images and the residual."""
    y = np.asarray(y, dtype=np.float64)
    if y.ndim != 2 or y.shape[0] < 2:
        raise ValueError("a mean over training seeds needs (seeds, images) arrays with at least 2 seeds")
    k, n = y.shape
    grand, by_seed, by_image = y.mean(), y.mean(axis=1), y.mean(axis=0)
    ms_seed = n * np.sum((by_seed - grand) ** 2) / (k - 1)
    ms_image = k * np.sum((by_image - grand) ** 2) / (n - 1)
    ms_resid = np.sum((y - by_seed[:, None] - by_image[None, :] + grand) ** 2) / ((k - 1) * (n - 1))
    return float(grand), by_seed, float(ms_seed), float(ms_image), float(ms_resid)


def components(y: np.ndarray) -> tuple[float, float, float]:
    """The variance components (seed, image, residual) of per-seed, per-image values ``y``, each at
    least 0: E[MS_seed] = resid + n seed, E[MS_image] = resid + k image, E[MS_resid] = resid."""
    k, n = np.shape(y)
    _, _, ms_seed, ms_image, ms_resid = _mean_squares(y)
    return max((ms_seed - ms_resid) / n, 0.0), max((ms_image - ms_resid) / k, 0.0), ms_resid


def seeds_needed(parts: tuple[float, float, float], margin: float, images: int, power: float = 0.8,
                 most: int = 100) -> int | None:
    """The fewest training seeds k (2 to ``most``) with which a comparison whose true difference is 0
    ends `not worse (margin m)` with probability ``power``: (t(k-1) + z(power)) SE <= m, where
    SE^2 = seed/k + image/n + residual/(k n) from the variance components ``parts``; None if more."""
    seed, image, resid = parts
    z = float(stats.norm.ppf(power))
    for k in range(2, most + 1):
        se = math.sqrt(seed / k + image / images + resid / (k * images))
        if (float(stats.t.ppf(1 - ALPHA / 2, k - 1)) + z) * se <= margin:
            return k
    return None


def resolvable_margin(parts: tuple[float, float, float], seeds: int, images: int, power: float = 0.8) -> float:
    """The smallest margin m that ``seeds`` and ``images`` resolve with ``power`` (see ``seeds_needed``)."""
    seed, image, resid = parts
    se = math.sqrt(seed / seeds + image / images + resid / (seeds * images))
    return (float(stats.t.ppf(1 - ALPHA / 2, seeds - 1)) + float(stats.norm.ppf(power))) * se


def over_seeds(y: np.ndarray, bounds: tuple[float, float] = (0.0, 1.0)) -> Effect:
    """The grand mean of per-seed, per-image values ``y`` (seeds, images) and its interval from the
    two-way random-effects model (see the module's docstring), cut to ``bounds`` (the values' range:
    an accuracy cannot exceed 1): a mean accuracy when ``y`` is correctness, a mean paired
    difference when it is a difference of correctness (bounds -1, 1)."""
    k, n = np.shape(y)
    grand, by_seed, ms_seed, ms_image, ms_resid = _mean_squares(y)
    total = ms_seed + ms_image - ms_resid
    if total <= 0:  # the unbiased estimate can fall below 0: keep the conservative one
        total = ms_seed + ms_image
    se, df = math.sqrt(total / (k * n)), k - 1
    if se == 0:  # every image the same way under every seed
        return Effect(float(grand), float(grand), float(grand), 1.0 if grand == 0 else 0.0, df, tuple(by_seed))
    t = float(stats.t.ppf(1 - ALPHA / 2, df))
    p = float(2 * stats.t.sf(abs(grand) / se, df))
    lo, hi = max(grand - t * se, bounds[0]), min(grand + t * se, bounds[1])
    return Effect(float(grand), float(lo), float(hi), p, float(df), tuple(float(v) for v in by_seed))


# --- different images -----------------------------------------------------------------------------------


def unpaired(variant: Accuracy, baseline: Accuracy) -> Difference:
    """Two accuracies measured on different images: difference, Newcombe interval, Fisher's p."""
    p1, p2 = variant.value, baseline.value
    d = p1 - p2
    lo = d - math.sqrt((p1 - variant.lo) ** 2 + (baseline.hi - p2) ** 2)
    hi = d + math.sqrt((variant.hi - p1) ** 2 + (p2 - baseline.lo) ** 2)
    table = [[variant.correct, variant.n - variant.correct], [baseline.correct, baseline.n - baseline.correct]]
    return Difference(d, lo, hi, float(stats.fisher_exact(table).pvalue))


# --- the family and the verdicts ----------------------------------------------------------------------


def holm(p: list[float]) -> list[float]:
    """Holm's step-down adjusted p-values (Holm 1979), in the order given."""
    m = len(p)
    order = sorted(range(m), key=lambda i: p[i])
    adjusted, running = [0.0] * m, 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p[i]))
        adjusted[i] = running
    return adjusted


def verdict(diff: float, lo: float, hi: float, p_adjusted: float, margin: float) -> str:
    """The verdict word from the Holm-adjusted p and the 95 % interval, against the ``margin``."""
    if p_adjusted < ALPHA:
        return "better" if diff > 0 else "worse"
    if -margin < lo and hi < margin:
        return f"equivalent (within ±{100 * margin:g} pts)"
    if lo > -margin:
        return f"not worse (margin {100 * margin:g} pts)"
    return "inconclusive"
