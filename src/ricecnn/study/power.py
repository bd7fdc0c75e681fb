"""Power: what a design (training seeds, test images) can decide, before it runs (docs/statistics.md).

``decision_rates``, ``power``, ``seeds_needed``: simulated from the two-way model's mean squares
(``ricecnn.study.stats``), each with its own degrees of freedom (seeds k - 1, images n - 1, residual
(k - 1)(n - 1); independent chi-squares under the normal-theory model, the grand mean normal beside
them), the interval built from them as ``stats.architecture_effect`` builds it (t with k - 1 df, at
least the floor over the images) at the claim's level: the probability of each verdict at a given
true difference. The noncentral t used before gave the whole standard error k - 1 degrees of freedom
and overstated the power where the images' variance dominates (0.098 against 0.000).

Hand-written because scipy has no power for a variance-components interval.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import stats

from .stats import CONTINUITY, LEVEL

POWER = 0.8  # the power a design is sized for
MOST_SEEDS = 200  # seeds_needed looks no further: more than this is "more than 200"
DRAWS = 20_000  # simulated studies per power: a binomial SE of at most 0.0035


def decision_rates(parts: tuple[float, float, float], theta: float, margin: float, seeds: int, images: int,
                   level: float = LEVEL, draws: int = DRAWS, rng_seed: int = 0) -> tuple[float, float]:
    """The probabilities (not worse, worse) of a claim whose true difference is ``theta``, with
    ``seeds`` training seeds and ``images`` test images, at ``level``: simulated studies of the
    two-way random-effects model with the variance components ``parts`` (seed, image, residual).
    Each draws the grand mean (normal) and the three mean squares (chi-square, each with its own
    degrees of freedom), and builds the interval as ``architecture_effect`` does. Seeded: the same
    arguments give the same rates."""
    if seeds < 2:
        return 0.0, 0.0
    k, n = seeds, images
    seed, image, resid = parts
    rng = np.random.default_rng(rng_seed)
    mean = rng.normal(theta, standard_error(parts, k, n), draws)
    dfs = (k - 1, n - 1, (k - 1) * (n - 1))
    ms_seed, ms_image, ms_resid = (expected * rng.chisquare(df, draws) / df for expected, df in
                                   zip((resid + n * seed, resid + k * image, resid), dfs))
    total = ms_seed + ms_image - ms_resid
    total = np.where(total > 0, total, ms_seed + ms_image)
    t, z = float(stats.t.ppf(1 - (1 - level) / 2, k - 1)), float(stats.norm.ppf(1 - (1 - level) / 2))
    # the floor: Tango over the n images, whose variance is the images' sampling variance of the seeds'
    # mean per-image difference (MS_image / k over n), with its continuity correction of 1/2
    half = np.maximum(t * np.sqrt(total / (k * n)), z * np.sqrt(ms_image / (k * n)) + CONTINUITY / n)
    return float(np.mean(mean - half > -margin)), float(np.mean(mean + half < -margin))


def standard_error(parts: tuple[float, float, float], seeds: int, images: int) -> float:
    seed, image, resid = parts
    return math.sqrt(seed / seeds + image / images + resid / (seeds * images))


def power(parts: tuple[float, float, float], theta: float, margin: float, seeds: int, images: int,
          level: float = LEVEL) -> float:
    """The probability that the claim ends with the verdict its true difference ``theta`` implies:
    ``not worse`` when theta lies above -margin, ``worse`` when below (``decision_rates``)."""
    not_worse, worse = decision_rates(parts, theta, margin, seeds, images, level)
    return not_worse if theta > -margin else worse


def seeds_needed(parts: tuple[float, float, float], theta: float, margin: float, images: int, level: float = LEVEL,
                 target: float = POWER, most: int = MOST_SEEDS) -> int | None:
    """The fewest training seeds (2 to ``most``) with ``power`` at least ``target``; None if more."""
    return next((k for k in range(2, most + 1) if power(parts, theta, margin, k, images, level) >= target), None)


def seeds_cannot_reach(parts: tuple[float, float, float], theta: float, margin: float, images: int,
                       level: float = LEVEL, target: float = POWER) -> bool:
    """Whether no number of seeds reaches ``target`` power at this many test images: with infinitely
    many the interval is the images' own z interval, sqrt(image / n) wide on each side per z."""
    se = math.sqrt(parts[1] / images)
    if se == 0:
        return False
    z = float(stats.norm.ppf(1 - (1 - level) / 2))
    return float(stats.norm.cdf(abs(theta + margin) / se - z)) < target


def seed_variance_range(seed_variance: float, seeds: int) -> tuple[float, float]:
    """The 95 % range of a seed variance estimated from ``seeds`` runs (chi-square, seeds - 1 df)."""
    df = seeds - 1
    return df * seed_variance / float(stats.chi2.ppf(0.975, df)), df * seed_variance / float(stats.chi2.ppf(0.025, df))
