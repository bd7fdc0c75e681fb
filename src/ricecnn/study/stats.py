"""Intervals, tests and verdicts behind every accuracy and every comparison the pipeline reports
(the method and its checks: docs/statistics.md).

- An accuracy: k correct of n, with its 95 % Wilson score interval (``ricecnn.evaluation.proportions``).
- Two trained networks on the same images (``paired``): the difference of their accuracies, Tango's
  score interval for a difference of paired proportions (Tango 1998, Stat Med 17:891; recommended
  by Fagerland, Lydersen and Laake 2014, Stat Med 33:2850) with a continuity correction of 1/2 on
  the discordant counts, and the score test that goes with it: the test of a difference delta
  rejects exactly when the interval excludes delta. Why the correction: without it the exact
  coverage dips to 0.931 at a nominal 0.95 (1,000 images, 0.5 % discordant, 90 % of them one way);
  with it, it stays at or above 0.95 on the whole grid ``tests/test_stats.py`` computes. It is
  about these two weight files only.
- Two architectures over replicates (``architecture_effect``): a replicate is a data draw and a
  training seed together (its own train, validation and test images, its own seed: randomising the
  data draw jointly with the seed, as Bouthillier et al. 2021, "Accounting for variance in machine
  learning benchmarks", MLSys, recommend, so that the interval is about the architectures on new
  data, not on one test set). Both architectures are scored on the replicate's own test images, so
  the comparison is paired within a replicate; the images differ between replicates, so they are
  nested in them. The per-image differences y[r, i] (replicate r, image i of that replicate; -1, 0
  or 1) follow the one-way random-effects model y = theta + a_r + e_ri, a_r ~ (0, var_replicate)
  (the data draw, the seed and their interaction), e_ri ~ (0, var_image) (Searle, Casella and
  McCulloch 1992, "Variance Components", ch. 3). The replicate means d_r have variance var_replicate
  + var_image / n, so the grand mean's standard error is sd(d_r) / sqrt(k) = sqrt(MS_between / (k n))
  and the interval is Student's t with k - 1 degrees of freedom: exact for normal replicate means,
  whatever the split between the two components (no Satterthwaite approximation is needed). Where the replicates
  agree closely, that estimate can be smaller than the sampling of the k n images allows (0 when
  every replicate's difference is the same), so the interval is at least Tango's over the k n
  images, their discordant counts pooled over the replicates (the floor; every image is a different
  image now). The test of a difference delta is the interval's own: its p is the larger of the t
  test's and the floor's, so that p < 0.05 exactly when the reported interval excludes delta.
  ``components`` gives the method-of-moments estimates: var_image = MS_within, var_replicate =
  (MS_between - MS_within) / n, at least 0.
- A mean accuracy over replicates (``over_seeds``): the same one-way interval of the correctness, at
  least Wilson's over the k n images at the mean (no interval of zero width at 100 %).
- Two accuracies on different images (the paper's published counts): Fisher's exact test (scipy)
  and Newcombe's hybrid score interval of the difference (Newcombe 1998, Stat Med 17:873, method 10).
- Verdicts against a margin m fixed beforehand (``verdict``): each claim "the variant loses less than
  m" belongs to a family fixed in params.yaml (``compare.families``); a family of c claims reports
  each claim's interval at the simultaneous level 1 - 0.05 / c (Bonferroni, ``family_level``), and
  the verdict is read off that very interval: ``not worse`` when it lies above -m, ``worse`` when
  it lies below -m, ``inconclusive`` otherwise. The family-wise error of each family is at most
  0.05, and a verdict can never disagree with the interval printed beside it. A claim in no family
  is exploratory: its estimate and 95 % interval, no verdict.
- Power, what a design can decide before it runs: ``ricecnn.study.power``.

Hand-written where scipy has nothing: scipy has no interval for a paired difference and none for a
difference of independent proportions, and nothing that takes the larger of two intervals. The t
part over replicates is the one-sample t interval of the replicate means (what scipy's
``ttest_1samp`` gives; ``tests/test_stats.py`` checks that they agree), written with scipy's t.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import stats

from ..evaluation.proportions import ALPHA, LEVEL, Accuracy, Z, accuracy_interval, wilson  # noqa: F401  (one accuracy, one interval)


@dataclass(frozen=True)
class Difference:
    """variant - baseline, as a fraction (x 100 for percentage points), with its interval and p."""

    diff: float
    lo: float
    hi: float
    p: float
    discordant: tuple[int, int] | None = None  # paired: (variant right only, baseline right only)


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


def tango_p(b, c, n, delta: float = 0.0, continuity: float = CONTINUITY) -> float:
    """The two-sided p of Tango's score test of a difference ``delta``: below 0.05 exactly when the
    95 % interval ``tango_interval`` excludes ``delta``."""
    return float(2 * stats.norm.sf(abs(float(tango_score(b, c, n, delta, continuity)))))


def tango_interval(b, c, n, z: float = Z, continuity: float = CONTINUITY, iterations: int = 60):
    """The ``z`` score interval (lo, hi) of p_b - p_c: {delta : |score(delta)| < z}, its ends found by
    bisection on (-1, 1) (the score decreases in delta). Works on arrays of counts."""
    b, c, n = np.broadcast_arrays(*(np.asarray(v, dtype=np.float64) for v in (b, c, n)))
    # both ends at once, each element its own bisection (element-wise: the same numbers as one end at a time)
    target = np.array([z, -z]).reshape((2,) + (1,) * b.ndim)  # the lower end: score = +z; the upper end: score = -z
    lo, hi = np.full((2,) + b.shape, -1.0), np.full((2,) + b.shape, 1.0)
    for _ in range(iterations):
        mid = (lo + hi) / 2
        above = tango_score(b, c, n, mid, continuity) > target
        lo, hi = np.where(above, mid, lo), np.where(above, hi, mid)
    ends = (lo + hi) / 2
    return ends[0], ends[1]


def paired(variant: np.ndarray, baseline: np.ndarray, level: float = LEVEL) -> Difference:
    """Two networks' per-image correctness on the same images: difference, Tango interval at ``level``,
    score p."""
    variant, baseline = np.asarray(variant, dtype=bool), np.asarray(baseline, dtype=bool)
    if variant.shape != baseline.shape:
        raise ValueError("paired comparison of predictions on different images")
    n = len(variant)
    b, c = int(np.sum(variant & ~baseline)), int(np.sum(~variant & baseline))
    lo, hi = tango_interval(b, c, n, z=float(stats.norm.ppf(1 - (1 - level) / 2)))
    return Difference((b - c) / n, float(lo), float(hi), tango_p(b, c, n), (b, c))


# --- two architectures over replicates (a data draw and a training seed each) -------------------------


@dataclass(frozen=True)
class Effect:
    """The architecture-level difference over replicates: the mean of the per-replicate paired
    differences, its 95 % interval (replicate variation and image sampling, at least the floor over
    the k n images), and what the test of any difference needs (``p``)."""

    diff: float
    lo: float
    hi: float
    df: float
    per_seed: tuple[float, ...]  # each replicate's paired difference (a data draw and a training seed each)
    se: float  # the one-way random-effects standard error of ``diff``: sd of the replicate means / sqrt(k)
    discordant: tuple[int, int, int]  # the floor's counts over every replicate's images (variant only, baseline only
    #                                   right) and its n, the k n images

    def p(self, delta: float = 0.0) -> float:
        """Two-sided p of the test that the difference is ``delta``, from the interval's own
        construction: the larger of the t test's and the floor's (Tango over the k n images)."""
        b, c, n = self.discordant
        floor = tango_p(b, c, n, delta)
        if self.se == 0:
            return floor
        return max(float(2 * stats.t.sf(abs(self.diff - delta) / self.se, self.df)), floor)

    def one_sided(self, delta: float) -> float:
        """p of "the difference is at most ``delta``" (small when the data say it is above)."""
        p = self.p(delta) / 2
        return p if self.diff > delta else 1 - p


def _mean_squares(y: np.ndarray) -> tuple[float, np.ndarray, float, float]:
    """One-way ANOVA of per-replicate, per-image values ``y`` (replicates, images; each replicate its own
    images): the grand mean, the replicate means, and the mean squares between and within replicates."""
    y = np.asarray(y, dtype=np.float64)
    if y.ndim != 2 or y.shape[0] < 2:
        raise ValueError("a mean over replicates needs (replicates, images) arrays with at least 2 replicates")
    k, n = y.shape
    grand, by_replicate = y.mean(), y.mean(axis=1)
    ms_between = n * float(np.sum((by_replicate - grand) ** 2)) / (k - 1)
    ms_within = float(np.sum((y - by_replicate[:, None]) ** 2)) / (k * (n - 1)) if n > 1 else 0.0
    return float(grand), by_replicate, ms_between, ms_within


def _nested_se(y: np.ndarray) -> tuple[float, np.ndarray, float]:
    """The grand mean of ``y`` (replicates, images), the replicate means and the grand mean's standard
    error, sqrt(MS_between / (k n)): the replicate means' own spread, whatever its components."""
    k, n = np.shape(y)
    grand, by_replicate, ms_between, _ = _mean_squares(y)
    return grand, by_replicate, math.sqrt(ms_between / (k * n))  # = sd(replicate means) / sqrt(k)


def components(y: np.ndarray) -> tuple[float, float]:
    """The variance components (replicate, image) of per-replicate, per-image values ``y``, each at least
    0 (method of moments): E[MS_within] = image, E[MS_between] = image + n replicate."""
    k, n = np.shape(y)
    _, _, ms_between, ms_within = _mean_squares(y)
    return max((ms_between - ms_within) / n, 0.0), ms_within


def architecture_effect(variant: np.ndarray, baseline: np.ndarray, level: float = LEVEL) -> Effect:
    """``variant`` and ``baseline``: per-replicate, per-image correctness, shape (replicates, images), the
    two models on the same images within a replicate, other images in each replicate (or, per image, a
    share of several models right, e.g. chance's draws: the floor's counts are then the sums of the
    per-image differences each way); the interval at
    ``level`` (a family's simultaneous level: ``family_level``). Needs at least 2 replicates."""
    variant, baseline = np.asarray(variant, dtype=np.float64), np.asarray(baseline, dtype=np.float64)
    if variant.shape != baseline.shape:
        raise ValueError("paired comparison of predictions on different images")
    y = variant - baseline
    grand, by_replicate, se = _nested_se(y)
    k, n = y.shape
    df = k - 1
    t = float(stats.t.ppf(1 - (1 - level) / 2, df))
    # the floor: Tango's interval over the k n images (each replicate has its own), the discordant counts
    # pooled over the replicates
    b, c = (int(v) if v.is_integer() else v for v in (float(np.sum(np.clip(y, 0, None))), float(np.sum(np.clip(-y, 0, None)))))
    floor_lo, floor_hi = tango_interval(b, c, k * n, z=float(stats.norm.ppf(1 - (1 - level) / 2)))
    lo, hi = min(grand - t * se, float(floor_lo)), max(grand + t * se, float(floor_hi))
    return Effect(grand, max(lo, -1.0), min(hi, 1.0), float(df), tuple(float(v) for v in by_replicate), se, (b, c, k * n))


def over_seeds(correct: np.ndarray) -> tuple[float, float, float]:
    """A mean accuracy over replicates from per-replicate, per-image correctness (replicates, images):
    (mean, lo, hi), the one-way interval, at least Wilson's over the k n images at the mean, within [0, 1]."""
    correct = np.asarray(correct, dtype=np.float64)
    grand, _, se = _nested_se(correct)
    k, n = correct.shape
    t = float(stats.t.ppf(1 - ALPHA / 2, k - 1))
    w_lo, w_hi = wilson(grand, k * n)
    return grand, max(min(grand - t * se, w_lo), 0.0), min(max(grand + t * se, w_hi), 1.0)


# --- different images -----------------------------------------------------------------------------------


def unpaired(variant: Accuracy, baseline: Accuracy) -> Difference:
    """Two accuracies measured on different images: difference, Newcombe interval, Fisher's p."""
    p1, p2 = variant.value, baseline.value
    d = p1 - p2
    lo = d - math.sqrt((p1 - variant.lo) ** 2 + (baseline.hi - p2) ** 2)
    hi = d + math.sqrt((variant.hi - p1) ** 2 + (p2 - baseline.lo) ** 2)
    table = [[variant.correct, variant.n - variant.correct], [baseline.correct, baseline.n - baseline.correct]]
    return Difference(d, lo, hi, float(stats.fisher_exact(table).pvalue))


# --- the families and the verdicts --------------------------------------------------------------------

NOT_WORSE, WORSE, INCONCLUSIVE, IDENTICAL = "not worse", "worse", "inconclusive", "identical"
BETTER = "better"  # a superiority claim (a family with margin 0): the interval lies above 0
EXPLORATORY = "exploratory"  # a claim in no family: its estimate and 95 % interval, no verdict
UNDECIDABLE = "undecidable"  # a claim a family names (the plan withholds it: its pilot interval held the margin)
NEAR = 0.01  # a claim whose estimate lies within this of -margin is one no affordable design decides: at the
#              estimate, 80 % power takes an interval narrower than that distance (docs/statistics.md)


def family_level(claims: int, level: float = LEVEL) -> float:
    """The simultaneous (Bonferroni) level of each interval of a family of ``claims``: with it, all of
    them hold together at least ``level`` of the time, whatever their dependence."""
    return 1 - (1 - level) / max(claims, 1)


def verdict(lo: float, hi: float, margin: float) -> str:
    """The verdict of "the variant loses less than ``margin``", read off the interval (lo, hi) shown;
    with ``margin`` 0 the claim is superiority, "the variant is better": ``better`` above 0, ``worse`` below."""
    if lo > -margin:
        return BETTER if margin == 0 else NOT_WORSE
    return WORSE if hi < -margin else INCONCLUSIVE


# --- runs that failed ----------------------------------------------------------------------------------


def failed_runs(val_accuracy: dict[int, float], threshold: float) -> list[int]:
    """The training seeds whose run failed to train: its validation accuracy more than ``threshold``
    below the best of the model's runs (the rule is stated in params.yaml's compare.failed_run).
    Relative to the best run, not the median, so that it holds when most runs of a model fail."""
    if not val_accuracy:
        return []
    best = max(val_accuracy.values())
    return [s for s, v in val_accuracy.items() if v < best - threshold]
