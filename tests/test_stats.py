"""The intervals, tests and verdicts behind every comparison (ricecnn.study.stats): published values, and
the coverage of the two intervals the verdicts rest on, computed exactly (one pair of networks) and
simulated (architectures over training seeds)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from scipy import stats as st
from scipy.special import expit, gammaln

from ricecnn.study import power, stats


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


# --- one pair of networks: Tango's score interval ----------------------------------------------------


def test_tango_interval_is_the_published_one():
    # Fagerland, Lydersen and Laake 2014 (Stat Med 33:2850), the airway reactivity example (n = 21, b = 1,
    # c = 7): Tango's asymptotic score interval -0.517 to -0.026
    lo, hi = stats.tango_interval(1, 7, 21, continuity=0)
    assert (round(float(lo), 3), round(float(hi), 3)) == (-0.517, -0.026)
    # its ends are where the score statistic is +-z
    assert stats.tango_score(1, 7, 21, lo, 0) == pytest.approx(stats.Z, abs=1e-6)
    assert stats.tango_score(1, 7, 21, hi, 0) == pytest.approx(-stats.Z, abs=1e-6)


def test_no_discordant_image_still_has_an_honest_interval():
    v, _ = outcomes(700, 0, 0, 300)
    d = stats.paired(v, v)
    assert (d.diff, d.p) == (0.0, 1.0)
    # without the correction the closed form is +-z^2 / (n + z^2): 0.38 points at 1,000 images; with it, wider
    assert float(stats.tango_interval(0, 0, 1000, continuity=0)[1]) == pytest.approx(stats.Z**2 / (1000 + stats.Z**2))
    assert -0.006 < d.lo < -0.004 and 0.004 < d.hi < 0.006


def test_the_interval_and_the_test_agree():
    rng = np.random.default_rng(0)
    for _ in range(200):
        n = int(rng.integers(50, 400))
        base = rng.random(n) < 0.7
        variant = np.where(rng.random(n) < rng.uniform(0, 0.3), ~base, base)
        d = stats.paired(variant, base)
        assert d.lo <= d.diff <= d.hi
        assert (d.p < 0.05) == (d.lo > 0 or d.hi < 0), d  # the test rejects exactly when 0 is outside
        b, c = d.discordant
        for delta in (-0.03, 0.03, d.lo - 1e-9, d.hi + 1e-9):  # and so for the margin's test
            assert (stats.tango_p(b, c, n, delta) < 0.05) == (delta < d.lo or delta > d.hi)


def test_paired_needs_the_same_images():
    with pytest.raises(ValueError):
        stats.paired(np.ones(3, bool), np.ones(4, bool))


def exact_coverage(n: int, p_b: float, p_c: float, continuity: float) -> float:
    """The probability, over every outcome (b, c) of n pairs with discordant probabilities p_b and
    p_c (trinomial), that the interval holds p_b - p_c: exact, not simulated."""
    b_max, c_max = (int(st.binom.ppf(1 - 1e-12, n, p)) + 1 for p in (p_b, p_c))
    b, c = np.meshgrid(np.arange(b_max + 1.0), np.arange(c_max + 1.0), indexing="ij")
    b, c = b[b + c <= n], c[b + c <= n]
    with np.errstate(divide="ignore", invalid="ignore"):
        log_p = (gammaln(n + 1) - gammaln(b + 1) - gammaln(c + 1) - gammaln(n - b - c + 1) + (n - b - c) * np.log1p(-p_b - p_c)
                 + np.where(b > 0, b * np.log(p_b) if p_b else -np.inf, 0) + np.where(c > 0, c * np.log(p_c) if p_c else -np.inf, 0))
    lo, hi = stats.tango_interval(b, c, n, continuity=continuity)
    return float(np.sum(np.exp(log_p) * ((lo <= p_b - p_c) & (p_b - p_c <= hi))))


GRID = [(n, d * share, d * (1 - share)) for n in (100, 1000) for d in (0.002, 0.005, 0.01, 0.04, 0.15, 0.3)
        for share in (0.5, 0.7, 0.9, 1.0)]  # share: of the discordant images, how many favour one model


def test_the_paired_interval_covers_at_least_94_percent_everywhere():
    worst = min((exact_coverage(n, pb, pc, stats.CONTINUITY), (n, pb, pc)) for n, pb, pc in GRID)
    assert worst[0] >= 0.94, worst
    # without the continuity correction it does not (Tango's plain interval dips to 0.931)
    plain = min(exact_coverage(n, pb, pc, 0.0) for n, pb, pc in GRID)
    assert plain < 0.94


# --- two architectures over training seeds -------------------------------------------------------------


def test_architecture_effect_is_the_mean_of_the_per_seed_differences():
    rng = np.random.default_rng(3)
    v, b = rng.random((3, 500)) < 0.8, rng.random((3, 500)) < 0.7
    e = stats.architecture_effect(v, b)
    per_seed = v.mean(axis=1) - b.mean(axis=1)
    assert e.per_seed == pytest.approx(tuple(per_seed)) and e.diff == pytest.approx(per_seed.mean())
    assert e.lo < e.diff < e.hi and 0 < e.p(0.0) < 1 and e.df == 2
    with pytest.raises(ValueError, match="at least 2 seeds"):
        stats.architecture_effect(v[:1], b[:1])


def test_seed_to_seed_spread_widens_the_interval():
    # the same images every seed: a model that varies from seed to seed is less certain than one that does not
    rng = np.random.default_rng(4)
    base = rng.random((3, 1000)) < 0.8
    steady = base.copy()
    steady[:, :200] = True  # about +4 points on every seed (a fifth of 200 images were wrong)
    shaky = base.copy()
    shaky[0, :600] = True  # about +12, 0, 0: the same mean, all from one seed
    e_steady, e_shaky = stats.architecture_effect(steady, base), stats.architecture_effect(shaky, base)
    assert e_shaky.hi - e_shaky.lo > 3 * (e_steady.hi - e_steady.lo)
    assert e_steady.lo > 0 and e_shaky.lo < 0 < e_shaky.hi


def simulated_coverage(mu_variant, mu_baseline, seed_sd, seeds=3, images=1000, reps=2000, rng_seed=0, bad=0.0,
                       threshold=None, validation=250, level=0.95, each=False):
    """Correctness from a logistic model (per image a difficulty shared by both models and a model-own
    deviation; per training run a seed effect): how often the interval holds the expected difference
    over new seeds and new images of the same population.

    ``bad``: the probability that a run of the variant goes bad (its logit 1.0-1.7 lower: 12-21 points
    at the baseline's 79 %). The expected difference is then that of the runs that trained, and with
    ``threshold`` the rule ``stats.failed_runs`` flags runs from their accuracy on ``validation``
    images of their own, and their seeds are left out, as summarize's sensitivity analysis does.
    ``level``: the interval's; ``each``: return whether each replicate's interval held (no failed runs)."""
    rng = np.random.default_rng(rng_seed)
    draws = 2_000_000  # the truth, by Monte Carlo: SE ~ 2e-4, far below the intervals' widths
    beta = rng.normal(0, 2.0, draws)
    theta = np.mean(expit(mu_variant + rng.normal(0, seed_sd, draws) + beta + rng.normal(0, 0.8, draws))
                    - expit(mu_baseline + rng.normal(0, seed_sd, draws) + beta + rng.normal(0, 0.8, draws)))
    hits = tested = 0
    held = []
    for _ in range(reps):
        mu = {"v": mu_variant + rng.normal(0, seed_sd, (seeds, 1)), "b": mu_baseline + rng.normal(0, seed_sd, (seeds, 1))}
        mu["v"] = mu["v"] - np.where(rng.random((seeds, 1)) < bad, rng.uniform(1.0, 1.7, (seeds, 1)), 0.0)
        right = {}
        for part, n in (("test", images), ("val", validation)):
            beta = rng.normal(0, 2.0, n)
            right[part] = {m: rng.random((seeds, n)) < expit(mu[m] + beta + rng.normal(0, 0.8, n)) for m in mu}
        used = list(range(seeds))
        if threshold is not None:
            failed = {s_ for m in mu for s_ in stats.failed_runs(dict(enumerate(right["val"][m].mean(axis=1))), threshold)}
            used = [s_ for s_ in used if s_ not in failed]
        if len(used) < 2:
            continue  # no comparison: summarize says so
        e = stats.architecture_effect(right["test"]["v"][used], right["test"]["b"][used], level)
        hits, tested = hits + (e.lo <= theta <= e.hi), tested + 1
        held.append(e.lo <= theta <= e.hi)
    return held if each else hits / tested


@pytest.mark.parametrize("seed_sd", [0.0, 0.3, 0.8])  # logit scale: 0.8 moves an accuracy of 0.9 by about +-5 points
@pytest.mark.parametrize("effect", [0.0, -0.4])
def test_the_architecture_interval_covers_at_least_94_percent(seed_sd, effect):
    assert simulated_coverage(2.2 + effect, 2.2, seed_sd, reps=1000) >= 0.94


DOC = (Path(__file__).resolve().parents[1] / "docs" / "statistics.md").read_text()


def failed_run_threshold() -> float:
    import yaml
    from conftest import ROOT

    return yaml.safe_load((ROOT / "params.yaml").read_text())["compare"]["failed_run"]


@pytest.mark.parametrize("seeds", [3, 5, 13])
def test_one_architecture_with_bad_runs_keeps_its_coverage(seeds):
    # one run in five of the variant goes bad (12-21 points down); the baseline's never do. The seed
    # spread of the runs that train is a converged recipe's (logit SD 0.15: about 2.5 points). With the
    # rule of params.yaml (compare.failed_run) the interval covers the trained runs' difference at least
    # 0.94 of the time at 3, 5 and 13 seeds; without it, at 13 seeds, it does not
    covered = simulated_coverage(2.2, 2.2, 0.15, seeds=seeds, reps=400, bad=0.2, threshold=failed_run_threshold())
    assert covered >= 0.94
    if seeds == 13:
        assert simulated_coverage(2.2, 2.2, 0.15, seeds=seeds, reps=400, bad=0.2) < 0.9
        # with the old recipe's larger spread (logit SD 0.3) the rule catches fewer bad runs: what
        # docs/statistics.md reports for that case
        harsh = simulated_coverage(2.2, 2.2, 0.3, seeds=seeds, reps=400, bad=0.2, threshold=failed_run_threshold())
        assert "0.915 in the simulation `tests/test_stats.py` keeps" in " ".join(DOC.split()) and harsh == 0.915


def test_the_failed_run_rule_is_relative_to_the_best_run():
    assert stats.failed_runs({1: 0.90, 2: 0.88, 3: 0.70}, 0.15) == [3]
    assert stats.failed_runs({1: 0.90, 2: 0.60, 3: 0.62}, 0.15) == [2, 3]  # most runs failed: still found
    assert stats.failed_runs({1: 0.90, 2: 0.80}, 0.15) == []


def simulated_verdicts(seeds, images, rng, seed_sd, image_share, resid_share, shift, level, reps=400,
                       margin=0.03) -> tuple[float, tuple[float, float, float], float]:
    """Whole studies whose per-image differences y (seed, image) come from the two-way model's three
    sources: images discordant the same way under every seed (``image_share`` of them, half each
    way, and ``shift`` more in the variant's favour), images discordant under one seed only
    (``resid_share``, either way), and a seed effect (under each seed, a N(0, ``seed_sd``) share of the
    images turned discordant one way). The share of studies ending ``not worse``, the true variance
    components and the true difference."""
    def draw():
        u = rng.random(images)
        fixed = np.where(u < image_share / 2 + shift, 1, np.where(u < image_share + shift, -1, 0))
        y = np.where(rng.random((seeds, images)) < resid_share, rng.choice([-1, 1], (seeds, images)), fixed[None, :])
        for s_ in range(seeds):
            d = rng.normal(0, seed_sd)
            y[s_, rng.choice(np.flatnonzero(y[s_] == 0), int(round(abs(d) * images)), replace=False)] = np.sign(d)
        return y >= 0, y <= 0  # variant, baseline right: v - b = y
    wins = 0
    for _ in range(reps):
        e = stats.architecture_effect(*draw(), level=level)
        wins += stats.verdict(e.lo, e.hi, margin) == stats.NOT_WORSE
    r, share = resid_share, image_share + shift
    parts = (seed_sd**2, (1 - r) ** 2 * (share - shift**2), r + r * (1 - r) * share)
    return wins / reps, parts, (1 - r) * shift


@pytest.mark.parametrize("seeds, seed_sd, image_share, resid_share, shift, level", [
    # the images' variance dominates and the t has 2 degrees of freedom: vgg16_light vs vgg16 of the 16-claim family
    (3, 0.0, 0.012, 0.025, 0.018, 1 - 0.05 / 16),
    (4, 0.008, 0.02, 0.02, 0.0, 1 - 0.05 / 3),  # seed-to-seed spread matters, the confirmatory family's level
])
def test_power_is_the_rate_at_which_studies_decide(seeds, seed_sd, image_share, resid_share, shift, level):
    # simulated whole studies, built like the pipeline's (two-way interval, floor, the verdict read off
    # it) against the power computed from their variance components: they agree
    rate, parts, theta = simulated_verdicts(seeds, 1000, np.random.default_rng(11), seed_sd, image_share, resid_share,
                                            shift, level)
    assert power.power(parts, theta, 0.03, seeds, 1000, level) == pytest.approx(rate, abs=0.06)
    if seeds == 3:  # where the noncentral t with k - 1 df for the whole standard error said about 0.1
        df = seeds - 1
        se = power.standard_error(parts, seeds, 1000)
        old = float(st.nct.sf(st.t.ppf(1 - (1 - level) / 2, df), df, (0.03 + theta) / se))
        assert rate < 0.03 < old


def test_power_needs_seeds_or_images_and_names_which():
    parts = (0.02**2, 0.0, 2 * 0.85 * 0.15)
    k = power.seeds_needed(parts, 0.0, 0.03, 1000)
    assert k == next(k for k in range(2, 200) if power.power(parts, 0.0, 0.03, k, 1000) >= 0.8)
    assert power.power(parts, 0.0, 0.03, k, 1000) >= 0.8 > power.power(parts, 0.0, 0.03, k - 1, 1000)
    # a claim whose true difference lies below -margin: its power is that of `worse`
    assert power.power(parts, -0.08, 0.03, 20, 1000) == power.decision_rates(parts, -0.08, 0.03, 20, 1000)[1]
    # where the images' own sampling is wider than the margin allows, no number of seeds would do
    assert power.seeds_cannot_reach((0.0, 0.3, 0.0), 0.0, 0.03, 1000) and power.seeds_needed((0.0, 0.3, 0.0), 0.0, 0.03, 1000) is None
    assert not power.seeds_cannot_reach(parts, 0.0, 0.03, 1000)
    lo, hi = power.seed_variance_range(0.02**2, 4)
    assert lo < 0.02**2 < hi and hi / lo > 20  # with 3 degrees of freedom the seed variance is known only roughly


@pytest.mark.parametrize("lo, hi, word", [
    (-0.029, 0.01, "not worse"),  # the interval lies above -m
    (-0.07, -0.031, "worse"),  # below -m
    (-0.031, 0.01, "inconclusive"),  # holds -m
    (-0.05, -0.02, "inconclusive"),
])
def test_the_verdict_is_read_off_the_interval(lo, hi, word):
    assert stats.verdict(lo, hi, 0.03) == word


def test_a_familys_intervals_hold_together():
    # three claims of one family with seed spreads that differ (logit SD 0, 0.3, 0.8), each interval at
    # the family's Bonferroni level 1 - 0.05/3: all three hold together at least 0.94 of the time
    level = stats.family_level(3)
    assert level == pytest.approx(1 - 0.05 / 3)
    hits = [simulated_coverage(2.2 - 0.2 * i, 2.2, sd, seeds=4, reps=300, rng_seed=i, level=level, each=True)
            for i, sd in enumerate((0.0, 0.3, 0.8))]
    together = float(np.mean(np.all(hits, axis=0)))
    assert together >= 0.94
    assert f"all three intervals hold together | 4 | {together:.3f} (≥ 0.94) |" in DOC  # what docs/statistics.md reports


def test_the_floor_is_over_the_images_not_the_image_seed_pairs():
    right = np.random.default_rng(0).random((3, 1000)) < 0.8
    e = stats.architecture_effect(right, right)  # a pruned model: its full model's predictions
    assert e.diff == 0 and e.p(0.0) == 1.0
    lo, hi = stats.tango_interval(0, 0, 1000)  # the seeds share their 1,000 images: not 3,000 pairs
    assert e.lo == pytest.approx(float(lo)) and e.hi == pytest.approx(float(hi))
    assert e.lo < -0.004 and e.hi > 0.004


def test_p_and_the_reported_interval_agree():
    # near-identical seeds, where the floor rather than the t interval can make the reported interval
    # (a few images discordant under one seed only): the test of any difference must follow the interval
    rng = np.random.default_rng(1)
    disagreements, floor_made = 0, 0
    for i in range(200):
        base = rng.random((3, 1000)) < 0.9
        variant = base.copy()
        if i % 2:  # the same few images change under every seed
            flips = rng.random(1000) < rng.uniform(0.001, 0.02)
            variant[:, flips] = rng.random(int(flips.sum())) < 0.6
        for _ in range(rng.integers(1, 4)):  # and a few under one seed only
            variant[rng.integers(3), rng.integers(1000)] ^= True
        e = stats.architecture_effect(variant, base)
        t_half = float(st.t.ppf(0.975, e.df)) * e.se
        floor_made += e.lo < e.diff - t_half - 1e-6
        for delta in np.linspace(e.lo - 0.01, e.hi + 0.01, 41):
            disagreements += (e.p(delta) < 0.05) != (delta < e.lo or delta > e.hi)
    assert disagreements == 0 and floor_made > 20  # the floor really made many of these intervals


def test_an_accuracy_over_seeds_is_never_an_interval_of_zero_width():
    e = stats.over_seeds(np.ones((3, 1000)))  # 100 % under every seed: plausible on the real data
    assert e[0] == e[2] == 1.0 and 0.995 < e[1] < 0.9999
    lo, _ = stats.wilson(1.0, 1000)
    assert e[1] == pytest.approx(lo)


def test_an_accuracy_over_seeds_stays_within_0_and_1():
    right = np.ones((3, 100))
    right[0, :40] = 0  # one seed far worse: a wide t interval around 0.87
    value, lo, hi = stats.over_seeds(right)
    assert 0 <= lo < value < hi == 1.0
