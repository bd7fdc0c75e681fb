"""The intervals, tests and verdicts behind every comparison (ricecnn.stats), against published values."""

from __future__ import annotations

import numpy as np
import pytest

from ricecnn import stats


def outcomes(both: int, variant_only: int, baseline_only: int, neither: int) -> tuple[np.ndarray, np.ndarray]:
    variant = [1] * both + [1] * variant_only + [0] * baseline_only + [0] * neither
    baseline = [1] * both + [0] * variant_only + [1] * baseline_only + [0] * neither
    return np.array(variant, bool), np.array(baseline, bool)


def test_wilson_interval():
    # Newcombe 1998 (Stat Med 17:857), Table I: 81/263 -> 0.2553 to 0.3662 by the score method
    a = stats.accuracy(81, 263)
    assert (round(a.lo, 4), round(a.hi, 4)) == (0.2553, 0.3662)
    assert stats.accuracy(np.array([True] * 66 + [False] * 34)).value == 0.66


def test_newcombe_interval_for_independent_proportions():
    # Newcombe 1998 (Stat Med 17:873), Table II, example (a): 56/70 - 48/80, method 10 -> +0.0524 to +0.3339
    d = stats.unpaired(stats.accuracy(56, 70), stats.accuracy(48, 80))
    assert d.diff == pytest.approx(56 / 70 - 48 / 80)
    assert (round(d.lo, 4), round(d.hi, 4)) == (0.0524, 0.3339)
    assert d.p < 0.05 and d.verdict == "better" and not d.paired


def test_exact_mcnemar_and_its_interval():
    v, b = outcomes(60, 0, 6, 34)  # the variant loses 6 images, wins none
    d = stats.paired(v, b)
    assert d.diff == pytest.approx(-0.06) and d.discordant == (0, 6)
    assert d.p == pytest.approx(2 * 0.5**6)  # exact binomial, two-sided
    assert d.verdict == "worse" and d.hi < 0
    # conditional on the 10 discordant images, 8 for the variant: Clopper-Pearson [0.4439, 0.9748] for 8/10
    d = stats.paired(*outcomes(50, 8, 2, 40))
    assert (round(d.lo, 4), round(d.hi, 4)) == (round(0.1 * (2 * 0.44390 - 1), 4), round(0.1 * (2 * 0.97479 - 1), 4))
    assert d.p == pytest.approx(0.109375) and d.verdict == "no detectable difference (±9.5 pts)"


def test_identical_predictions_are_no_difference_at_all():
    v, _ = outcomes(70, 0, 0, 30)
    d = stats.paired(v, v)
    assert (d.diff, d.lo, d.hi, d.p) == (0.0, 0.0, 0.0, 1.0)
    assert d.verdict == "no detectable difference (±0.0 pts)"


def test_the_interval_and_the_test_agree():
    rng = np.random.default_rng(0)
    for _ in range(200):
        n = int(rng.integers(50, 400))
        base = rng.random(n) < 0.7
        variant = np.where(rng.random(n) < rng.uniform(0, 0.3), ~base, base)
        d = stats.paired(variant, base)
        assert d.lo <= d.diff <= d.hi
        if d.p < 0.05:
            assert d.lo > 0 or d.hi < 0, d  # a significant difference has an interval without 0


def test_paired_needs_the_same_images():
    with pytest.raises(ValueError):
        stats.paired(np.ones(3, bool), np.ones(4, bool))
