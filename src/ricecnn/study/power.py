"""Power: what a design (k replicates, each a data draw and a training seed with n test images of its
own) can decide, before it runs (docs/statistics.md).

``decision_rates``, ``power``, ``seeds_needed``: simulated from the nested (one-way random-effects)
model of ``ricecnn.study.stats``, with the variance components ``parts`` = (replicate, image). A
simulated study draws what ``stats.architecture_effect`` reads of the data: the grand mean, normal with
variance replicate / k + image / (k n); the mean square between replicates, (n replicate + image)
chi2(k - 1) / (k - 1); and the mean square within them, image chi2(k (n - 1)) / (k (n - 1))
(independent under the normal-theory model: Searle, Casella and McCulloch 1992, ch. 3). From them it
builds the interval as ``architecture_effect`` does (t with k - 1 df on sqrt(MS_between / (k n)), at
least the floor over the k n images, z sqrt(MS_within / (k n)) plus the continuity correction's
0.5 / (k n)) at the claim's level: the probability of each verdict at a given true difference.

Hand-written because scipy has no power for a variance-components interval with a floor.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import stats

from .stats import CONTINUITY, LEVEL

POWER = 0.8  # the power a design is sized for
MOST_SEEDS = 200  # seeds_needed looks no further: more than this is "more than 200" replicates
NO_NUMBER = "none"  # the replicates a claim needs where no number decides it (``seeds_cannot_reach``)
DRAWS = 20_000  # simulated studies per power: a binomial SE of at most 0.0035

Parts = tuple[float, float]  # the variance components (replicate, image): ``stats.components``


def decision_rates(parts: Parts, theta: float, margin: float, seeds: int, images: int,
                   level: float = LEVEL, draws: int = DRAWS, rng_seed: int = 0) -> tuple[float, float]:
    """The probabilities (not worse, worse) of a claim whose true difference is ``theta``, with ``seeds``
    replicates (a data draw and a training seed each) of ``images`` test images each, at ``level``:
    simulated studies of the nested model with the variance components ``parts`` (replicate, image).
    Each draws the grand mean (normal) and the two mean squares (chi-square, each with its own degrees
    of freedom), and builds the interval as ``architecture_effect`` does. Seeded: the same arguments
    give the same rates."""
    if seeds < 2:
        return 0.0, 0.0
    k, n = seeds, images
    replicate, image = parts
    rng = np.random.default_rng(rng_seed)
    mean = rng.normal(theta, standard_error(parts, k, n), draws)
    ms_between = (n * replicate + image) * rng.chisquare(k - 1, draws) / (k - 1)
    ms_within = image * rng.chisquare(k * (n - 1), draws) / (k * (n - 1)) if n > 1 else np.zeros(draws)
    half = half_width(ms_between, ms_within, k, n, level)
    return float(np.mean(mean - half > -margin)), float(np.mean(mean + half < -margin))


def half_width(ms_between, ms_within, replicates: int, images: int, level: float = LEVEL):
    """The half-width of ``architecture_effect``'s interval from the two mean squares (arrays too): the t
    interval's, t(k - 1) sqrt(MS_between / (k n)), at least the floor's, Tango's over the k n images,
    whose variance is about MS_within / (k n), with its continuity correction of 1/2 on the counts."""
    k, n = replicates, images
    t, z = float(stats.t.ppf(1 - (1 - level) / 2, k - 1)), float(stats.norm.ppf(1 - (1 - level) / 2))
    return np.maximum(t * np.sqrt(ms_between / (k * n)), z * np.sqrt(ms_within / (k * n)) + CONTINUITY / (k * n))


def standard_error(parts: Parts, seeds: int, images: int) -> float:
    """The grand mean's standard error with ``seeds`` replicates of ``images`` images each: each
    replicate's mean varies by replicate + image / n, and k of them are averaged."""
    replicate, image = parts
    return math.sqrt(replicate / seeds + image / (seeds * images))


def power(parts: Parts, theta: float, margin: float, seeds: int, images: int, level: float = LEVEL) -> float:
    """The probability that the claim ends with the verdict its true difference ``theta`` implies:
    ``not worse`` when theta lies above -margin, ``worse`` when below (``decision_rates``), with
    ``seeds`` replicates (a data draw and a training seed each) of ``images`` test images."""
    not_worse, worse = decision_rates(parts, theta, margin, seeds, images, level)
    return not_worse if theta > -margin else worse


def seeds_needed(parts: Parts, theta: float, margin: float, images: int, level: float = LEVEL,
                 target: float = POWER, most: int = MOST_SEEDS) -> int | None:
    """The fewest replicates (a data draw and a training seed each; 2 to ``most``) of ``images`` test
    images each with ``power`` at least ``target``; None if more."""
    return next((k for k in range(2, most + 1) if power(parts, theta, margin, k, images, level) >= target), None)


def seeds_cannot_reach(parts: Parts, theta: float, margin: float, images: int, level: float = LEVEL,
                       target: float = POWER) -> bool:
    """Whether no number of replicates reaches ``target`` power. Each replicate brings test images of its
    own, so with ever more replicates both the t interval and the floor shrink to 0 whatever the
    components and the images per replicate (``images`` no longer matters): every true difference off
    the margin is decided in the end, and only one on it, theta = -margin, never is (its verdict's rate
    stays below (1 - level) / 2). How many replicates it takes otherwise: ``seeds_needed``, None beyond
    ``most``."""
    return theta == -margin and target > (1 - level) / 2


def seed_variance_range(seed_variance: float, seeds: int, image_variance: float = 0.0,
                        images: int = 1) -> tuple[float, float]:
    """The 95 % range of the replicate variance ``seed_variance`` estimated from ``seeds`` replicates of
    ``images`` test images each, whose image variance is ``image_variance``: the replicate means'
    variance, replicate + image / n, has k - 1 degrees of freedom (chi-square), and the image variance,
    with k (n - 1), is taken as known; each end at least 0."""
    df, noise = seeds - 1, image_variance / images
    total = seed_variance + noise
    ends = (df * total / float(stats.chi2.ppf(0.975, df)), df * total / float(stats.chi2.ppf(0.025, df)))
    return max(ends[0] - noise, 0.0), max(ends[1] - noise, 0.0)
