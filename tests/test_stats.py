"""The intervals, tests and verdicts behind every comparison (ricecnn.study.stats): published values, and
the coverage of the two intervals the verdicts rest on, computed exactly (one pair of networks) and
simulated (architectures over replicates, each a data draw and a training seed with test images of its
own); the power of a design (ricecnn.study.power) and the coverage tool (tools/coverage.py)."""

from __future__ import annotations

import importlib.util
import json

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
    a = stats.accuracy_interval(81, 263)
    assert (round(a.lo, 4), round(a.hi, 4)) == (0.2553, 0.3662)
    assert stats.accuracy_interval(np.array([True] * 66 + [False] * 34)).value == 0.66


def test_newcombe_interval_for_independent_proportions():
    # Newcombe 1998 (Stat Med 17:873), Table II, example (a): 56/70 - 48/80, method 10 -> +0.0524 to +0.3339
    d = stats.unpaired(stats.accuracy_interval(56, 70), stats.accuracy_interval(48, 80))
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


# --- two architectures over replicates (a data draw and a training seed each) ---------------------------


def test_architecture_effect_is_the_mean_of_the_per_replicate_differences():
    rng = np.random.default_rng(3)
    v, b = rng.random((3, 500)) < 0.8, rng.random((3, 500)) < 0.7
    e = stats.architecture_effect(v, b)
    per_replicate = v.mean(axis=1) - b.mean(axis=1)
    assert e.per_seed == pytest.approx(tuple(per_replicate)) and e.diff == pytest.approx(per_replicate.mean())
    assert e.lo < e.diff < e.hi and 0 < e.p(0.0) < 1 and e.df == 2
    assert e.se == pytest.approx(np.std(per_replicate, ddof=1) / np.sqrt(3))  # the replicate means' own spread
    assert e.discordant == (int(np.sum(v & ~b)), int(np.sum(~v & b)), 1500)  # the floor: every replicate's images
    with pytest.raises(ValueError, match="at least 2 replicates"):
        stats.architecture_effect(v[:1], b[:1])


def test_the_t_part_is_scipys_one_sample_t_of_the_replicate_means():
    rng = np.random.default_rng(5)
    base = rng.random((4, 800)) < 0.85
    variant = base.copy()
    for r, extra in enumerate((0, 40, 90, 160)):  # replicates that disagree widely: the t interval is the wider
        variant[r, np.flatnonzero(~base[r])[:extra]] = True
    level = stats.family_level(3)
    e = stats.architecture_effect(variant, base, level)
    d = variant.mean(axis=1) - base.mean(axis=1)
    lo, hi = st.ttest_1samp(d, 0.0).confidence_interval(level)
    assert (e.lo, e.hi) == pytest.approx((lo, hi))
    assert e.p(0.01) == pytest.approx(st.ttest_1samp(d, 0.01).pvalue)


def test_components_are_the_nested_method_of_moments():
    rng = np.random.default_rng(6)
    y = rng.normal(0, 1, (4, 50)) + rng.normal(0, 0.5, (4, 1))
    replicate, image = stats.components(y)
    within = np.mean([np.var(row, ddof=1) for row in y])  # MS_within: the pooled within-replicate variance
    assert image == pytest.approx(within)
    # the replicate means vary by replicate + image / n
    assert replicate + image / 50 == pytest.approx(np.var(y.mean(axis=1), ddof=1))
    # below 0 the estimate is clipped: replicate means closer together than the images allow
    y = np.tile([0.0, 1.0], (3, 20))
    assert stats.components(y) == (0.0, pytest.approx(np.var([0.0, 1.0] * 20, ddof=1)))


def nearest_mean_rule(x: np.ndarray, cut: float) -> np.ndarray:
    """A trained network stood in by a fixed rule: class 1 where the image's feature is above ``cut``."""
    return x > cut


def test_two_replicates_with_different_data_draws_and_identical_models_have_a_replicate_component():
    # the acceptance test: the same models (the same prediction rules) on two data draws whose test
    # images differ, the second draw's harder: the accuracies, and the paired difference, differ between
    # the replicates only because the images do, and that is replicate variation, not 0
    rng = np.random.default_rng(7)
    draws = [rng.normal(loc, 1.0, 2000) for loc in (2.0, 1.2)]  # each replicate's own test images (class 1)
    rules = {"variant": 0.0, "baseline": 0.4}
    right = {m: np.stack([nearest_mean_rule(x, cut) for x in draws]) for m, cut in rules.items()}
    replicate, image = stats.components(right["baseline"].astype(float))
    assert replicate > 0 and image > 0
    y = right["variant"].astype(float) - right["baseline"]
    assert stats.components(y)[0] > 0 and y.mean(axis=1)[1] > y.mean(axis=1)[0] + 0.05
    # and the interval carries it: wider than the floor over the 4,000 images
    e = stats.architecture_effect(right["variant"], right["baseline"])
    floor = stats.tango_interval(*e.discordant)
    assert e.hi - e.lo > 3 * float(floor[1] - floor[0])
    # the same rule on one draw scored twice (two training seeds, one shared test set: the old design) has none
    same = np.stack([nearest_mean_rule(draws[0], 0.4)] * 2)
    assert stats.components(same.astype(float))[0] == 0


def test_replicate_to_replicate_spread_widens_the_interval():
    # each replicate its own images: a model whose advantage varies from replicate to replicate is less
    # certain than one whose advantage does not
    rng = np.random.default_rng(4)
    base = rng.random((3, 1000)) < 0.8
    steady = base.copy()
    steady[:, :200] = True  # about +4 points in every replicate (a fifth of 200 images were wrong)
    shaky = base.copy()
    shaky[0, :600] = True  # about +12, 0, 0: the same mean, all from one replicate
    e_steady, e_shaky = stats.architecture_effect(steady, base), stats.architecture_effect(shaky, base)
    assert e_shaky.hi - e_shaky.lo > 3 * (e_steady.hi - e_steady.lo)
    assert e_steady.lo > 0 and e_shaky.lo < 0 < e_shaky.hi


def simulated_coverage(mu_variant, mu_baseline, seed_sd, seeds=3, images=1000, reps=2000, rng_seed=0, bad=0.0,
                       threshold=None, validation=250, level=0.95, each=False, floor=False):
    """Correctness from a logistic model (per image a difficulty shared by both models and a model-own
    deviation; per replicate a shift of each model's logit, N(0, ``seed_sd``), that stands for its data
    draw and its training seed), each replicate scored on test and validation images of its own: how
    often the interval holds the expected difference over new replicates of the same population.

    ``bad``: the probability that a run of the variant goes bad (its logit 1.0-1.7 lower: 12-21 points
    at the baseline's 79 %). The expected difference is then that of the runs that trained, and with
    ``threshold`` the rule ``stats.failed_runs`` flags runs from their accuracy on ``validation``
    images of their own, and their replicates are left out, as summarize's sensitivity analysis does.
    ``level``: the interval's; ``each``: return whether each study's interval held (no failed runs);
    ``floor``: also return the coverage of the floor alone (Tango over the k n images, as if every image
    were independent of its replicate: the interval without the replicate variation)."""
    rng = np.random.default_rng(rng_seed)
    draws = 2_000_000  # the truth, by Monte Carlo: SE ~ 2e-4, far below the intervals' widths
    beta = rng.normal(0, 2.0, draws)
    theta = np.mean(expit(mu_variant + rng.normal(0, seed_sd, draws) + beta + rng.normal(0, 0.8, draws))
                    - expit(mu_baseline + rng.normal(0, seed_sd, draws) + beta + rng.normal(0, 0.8, draws)))
    hits = tested = 0
    held, discordant = [], []  # discordant: each study's pooled (b, c) counts, for the floor
    z = float(st.norm.ppf(1 - (1 - level) / 2))
    for _ in range(reps):
        mu = {"v": mu_variant + rng.normal(0, seed_sd, (seeds, 1)), "b": mu_baseline + rng.normal(0, seed_sd, (seeds, 1))}
        mu["v"] = mu["v"] - np.where(rng.random((seeds, 1)) < bad, rng.uniform(1.0, 1.7, (seeds, 1)), 0.0)
        right = {}
        for part, n in (("test", images), ("val", validation)):
            beta = rng.normal(0, 2.0, (seeds, n))  # every replicate its own images
            right[part] = {m: rng.random((seeds, n)) < expit(mu[m] + beta + rng.normal(0, 0.8, (seeds, n))) for m in mu}
        used = list(range(seeds))
        if threshold is not None:
            failed = {s_ for m in mu for s_ in stats.failed_runs(dict(enumerate(right["val"][m].mean(axis=1))), threshold)}
            used = [s_ for s_ in used if s_ not in failed]
        if len(used) < 2:
            continue  # no comparison: summarize says so
        e = stats.architecture_effect(right["test"]["v"][used], right["test"]["b"][used], level)
        hits, tested = hits + (e.lo <= theta <= e.hi), tested + 1
        held.append(e.lo <= theta <= e.hi)
        if floor:
            discordant.append(e.discordant)
    if each:
        return held
    if floor:  # every study's floor at once: tango_interval works on arrays (one call, not one per study)
        lo, hi = stats.tango_interval(*np.asarray(discordant, dtype=np.float64).T, z=z)
        floor_hits = int(np.sum((lo <= theta) & (theta <= hi)))
    return (hits / tested, floor_hits / tested) if floor else hits / tested


@pytest.mark.parametrize("seed_sd", [0.0, 0.3, 0.8])  # logit scale: 0.8 moves an accuracy of 0.9 by about +-5 points
@pytest.mark.parametrize("effect", [0.0, -0.4])
def test_the_architecture_interval_covers_at_least_94_percent(seed_sd, effect):
    covered, floor_only = simulated_coverage(2.2 + effect, 2.2, seed_sd, reps=1000, floor=True)
    assert covered >= 0.94
    if seed_sd == 0.8:  # where the replicates vary, the images' sampling alone is far from enough: the test can fail
        assert floor_only < 0.6


def failed_run_threshold() -> float:
    import yaml
    from conftest import ROOT

    return yaml.safe_load((ROOT / "params.yaml").read_text())["compare"]["failed_run"]


@pytest.mark.parametrize("seeds", [3, 5, 13])
def test_one_architecture_with_bad_runs_keeps_its_coverage(seeds):
    # one run in five of the variant goes bad (12-21 points down); the baseline's never do. The replicate
    # spread of the runs that train is a converged recipe's (logit SD 0.15: about 2.5 points). With the
    # rule of params.yaml (compare.failed_run) the interval covers the trained runs' difference at least
    # 0.94 of the time at 3, 5 and 13 replicates; without it, at 13, it does not
    covered = simulated_coverage(2.2, 2.2, 0.15, seeds=seeds, reps=400, bad=0.2, threshold=failed_run_threshold())
    assert covered >= 0.94
    if seeds == 13:
        assert simulated_coverage(2.2, 2.2, 0.15, seeds=seeds, reps=400, bad=0.2) < 0.9


def test_the_failed_run_rule_is_relative_to_the_best_run():
    assert stats.failed_runs({1: 0.90, 2: 0.88, 3: 0.70}, 0.15) == [3]
    assert stats.failed_runs({1: 0.90, 2: 0.60, 3: 0.62}, 0.15) == [2, 3]  # most runs failed: still found
    assert stats.failed_runs({1: 0.90, 2: 0.80}, 0.15) == []


def simulated_verdicts(replicates, images, rng, replicate_sd, discordant, share, level, margin, reps=400):
    """Whole studies of the nested design: in each replicate (its own images) a share ``discordant`` of the
    images discordant, ``share`` of them the variant's, and a N(0, ``replicate_sd``) shift of the
    difference split between the two discordant cells (the data draw and the seed). The share of studies
    ending ``not worse``, the true variance components (replicate, image) and the true difference."""
    wins = 0
    for _ in range(reps):
        a = rng.normal(0, replicate_sd, (replicates, 1))
        plus, minus = discordant * share + a / 2, discordant * (1 - share) - a / 2
        u = rng.random((replicates, images))
        y = np.where(u < plus, 1, np.where(u < plus + minus, -1, 0))
        e = stats.architecture_effect(y >= 0, y <= 0, level=level)  # variant, baseline right: v - b = y
        wins += stats.verdict(e.lo, e.hi, margin) == stats.NOT_WORSE
    theta = discordant * (2 * share - 1)
    return wins / reps, (replicate_sd**2, discordant - theta**2 - replicate_sd**2), theta


@pytest.mark.parametrize("replicates, replicate_sd, discordant, share, level, margin", [
    (3, 0.01, 0.04, 0.5, 1 - 0.05 / 2, 0.03),  # the replicates' variance dominates, 2 degrees of freedom
    (4, 0.0, 0.03, 0.5, 1 - 0.05 / 16, 0.028),  # none: the floor makes the interval, a 16-claim family's level
    (4, 0.004, 0.03, 0.45, 1 - 0.05 / 3, 0.012),
])
def test_power_is_the_rate_at_which_studies_decide(replicates, replicate_sd, discordant, share, level, margin):
    # simulated whole studies, built like the pipeline's (the nested interval, the floor, the verdict read
    # off it) against the power computed from their variance components: they agree, at a power between
    # 0.1 and 0.9 where a wrong power would show
    rate, parts, theta = simulated_verdicts(replicates, 1000, np.random.default_rng(11), replicate_sd, discordant, share,
                                            level, margin)
    assert 0.1 < rate < 0.9
    assert power.power(parts, theta, margin, replicates, 1000, level) == pytest.approx(rate, abs=0.06)
    if replicate_sd == 0.01:  # leaving the replicate component out overstates the power: the check can fail
        assert power.power((0.0, parts[1]), theta, margin, replicates, 1000, level) > rate + 0.2


def test_power_needs_replicates_and_names_when_none_would_do():
    parts = (0.02**2, 2 * 0.85 * 0.15)
    k = power.seeds_needed(parts, 0.0, 0.03, 1000)
    assert k == next(k for k in range(2, 200) if power.power(parts, 0.0, 0.03, k, 1000) >= 0.8)
    assert power.power(parts, 0.0, 0.03, k, 1000) >= 0.8 > power.power(parts, 0.0, 0.03, k - 1, 1000)
    # a claim whose true difference lies below -margin: its power is that of `worse`
    assert power.power(parts, -0.08, 0.03, 20, 1000) == power.decision_rates(parts, -0.08, 0.03, 20, 1000)[1]
    # each replicate brings its own images: images that alone sample too widely for the margin no longer
    # rule a design out (with the images shared, as before, no number of seeds would have done), enough
    # replicates decide, and only a true difference on the margin is never decided
    wide = (0.0, 0.3)
    assert not power.seeds_cannot_reach(wide, 0.0, 0.03, 1000) and power.seeds_needed(wide, 0.0, 0.03, 1000) is not None
    assert power.seeds_cannot_reach(parts, -0.03, 0.03, 1000) and power.seeds_needed(parts, -0.03, 0.03, 1000) is None
    lo, hi = power.seed_variance_range(0.02**2, 4)
    assert lo < 0.02**2 < hi and hi / lo > 20  # with 3 degrees of freedom the replicate variance is known only roughly
    # the replicate means' variance, replicate + image / n, is what has the 3 degrees of freedom
    lo, hi = power.seed_variance_range(0.02**2, 4, 0.25, 1000)
    assert hi + 0.25 / 1000 == pytest.approx(3 * (0.02**2 + 0.25 / 1000) / st.chi2.ppf(0.025, 3))
    assert lo == 0.0  # the lower end of that variance lies below the images' share: no replicate variance ruled out


@pytest.mark.parametrize("lo, hi, word", [
    (-0.029, 0.01, "not worse"),  # the interval lies above -m
    (-0.07, -0.031, "worse"),  # below -m
    (-0.031, 0.01, "inconclusive"),  # holds -m
    (-0.05, -0.02, "inconclusive"),
])
def test_the_verdict_is_read_off_the_interval(lo, hi, word):
    assert stats.verdict(lo, hi, 0.03) == word


def test_a_familys_intervals_hold_together():
    # three claims of one family with replicate spreads that differ (logit SD 0, 0.3, 0.8), each interval
    # at the family's Bonferroni level 1 - 0.05/3: all three hold together at least 0.94 of the time
    level = stats.family_level(3)
    assert level == pytest.approx(1 - 0.05 / 3)
    hits = [simulated_coverage(2.2 - 0.2 * i, 2.2, sd, seeds=4, reps=300, rng_seed=i, level=level, each=True)
            for i, sd in enumerate((0.0, 0.3, 0.8))]
    together = float(np.mean(np.all(hits, axis=0)))
    assert together >= 0.94


def test_the_floor_is_over_every_replicates_images():
    right = np.random.default_rng(0).random((3, 1000)) < 0.8
    e = stats.architecture_effect(right, right)  # a pruned model: its full model's predictions
    assert e.diff == 0 and e.p(0.0) == 1.0
    lo, hi = stats.tango_interval(0, 0, 3000)  # each replicate its own 1,000 images: 3,000 images in all
    assert e.lo == pytest.approx(float(lo)) and e.hi == pytest.approx(float(hi))
    assert e.lo < -0.001 and e.hi > 0.001


def test_p_and_the_reported_interval_agree():
    # near-identical replicates, where the floor rather than the t interval can make the reported interval
    # (a few images discordant in one replicate only): the test of any difference must follow the interval
    rng = np.random.default_rng(1)
    disagreements, floor_made = 0, 0
    for i in range(200):
        base = rng.random((3, 1000)) < 0.9
        variant = base.copy()
        if i % 2:  # about the same share of images changes in every replicate
            flips = rng.random((3, 1000)) < rng.uniform(0.001, 0.02)
            variant[flips] = rng.random(int(flips.sum())) < 0.6
        for _ in range(rng.integers(1, 4)):  # and a few in one replicate only
            variant[rng.integers(3), rng.integers(1000)] ^= True
        e = stats.architecture_effect(variant, base)
        t_half = float(st.t.ppf(0.975, e.df)) * e.se
        floor_made += e.lo < e.diff - t_half - 1e-6
        for delta in np.linspace(e.lo - 0.01, e.hi + 0.01, 41):
            disagreements += (e.p(delta) < 0.05) != (delta < e.lo or delta > e.hi)
    assert disagreements == 0 and floor_made > 20  # the floor really made many of these intervals


def test_an_accuracy_over_replicates_is_never_an_interval_of_zero_width():
    e = stats.over_seeds(np.ones((3, 1000)))  # 100 % in every replicate: plausible on the real data
    assert e[0] == e[2] == 1.0 and 0.998 < e[1] < 0.9999
    lo, _ = stats.wilson(1.0, 3000)  # Wilson's over every replicate's images
    assert e[1] == pytest.approx(lo)


def test_an_accuracy_over_replicates_stays_within_0_and_1():
    right = np.ones((3, 100))
    right[0, :40] = 0  # one replicate far worse: a wide t interval around 0.87
    value, lo, hi = stats.over_seeds(right)
    assert 0 <= lo < value < hi == 1.0
    d = right.mean(axis=1)
    assert lo == pytest.approx(max(d.mean() - st.t.ppf(0.975, 2) * np.std(d, ddof=1) / np.sqrt(3), 0.0))


# --- the coverage tool (tools/coverage.py) ---------------------------------------------------------------


def coverage_tool():
    from conftest import ROOT

    spec = importlib.util.spec_from_file_location("coverage_tool", ROOT / "tools" / "coverage.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_coverage_tools_closed_form_is_architecture_effect():
    tool = coverage_tool()
    rng = np.random.default_rng(8)
    for level in (0.95, stats.family_level(2)):
        for _ in range(5):
            k, n = int(rng.integers(2, 5)), int(rng.integers(50, 400))
            cells = rng.multinomial(n, [0.8, 0.04, 0.03, 0.13], size=k)  # per replicate: both, variant only, ...
            variant = np.stack([np.repeat([1, 1, 0, 0], row) for row in cells]).astype(bool)
            baseline = np.stack([np.repeat([1, 0, 1, 0], row) for row in cells]).astype(bool)
            e = stats.architecture_effect(variant, baseline, level)
            diff, lo, hi = tool.interval(cells[None, :, 1], cells[None, :, 2], n, level)
            assert (float(diff[0]), float(lo[0]), float(hi[0])) == pytest.approx((e.diff, e.lo, e.hi))


def test_the_coverage_tool_writes_each_claims_and_each_familys_coverage(tmp_path):
    tool = coverage_tool()
    out = tmp_path / "coverage.json"
    result = tool.main(["--replicates", "3", "--images", "400", "--families", "2,1", "--draws", "400",
                        "--var-replicate", "1e-4", "--out", str(out)])
    assert json.loads(out.read_text()) == json.loads(json.dumps(result))
    assert result["design"]["families"] == [2, 1] and [r["scale"] for r in result["results"]] == [1.0, 3.0]
    for r in result["results"]:
        assert len(r["claims"]) == 3 and set(r["family_wise"]) == {"0", "1"}
        assert all(0.85 <= c["coverage"] <= 1.0 for c in r["claims"])
        assert r["family_wise"]["0"] <= min(c["coverage"] for c in r["claims"][:2])  # all of them at once
        assert r["family_wise"]["1"] == r["claims"][2]["coverage"]
    assert result["results"][1]["claims"][0]["var_replicate"] == pytest.approx(3e-4)
