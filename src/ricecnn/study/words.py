"""How the study words its numbers, intervals and verdicts: every phrase the findings and the summary
page share, and each verdict's legend (``VERDICTS``), so that a verdict is worded in one place."""

from __future__ import annotations

import numpy as np

from . import power, stats
from .records import Study

VERDICTS = {  # every verdict word, and what it says (the findings' legend)
    stats.NOT_WORSE: "loses less than the margin: the family's simultaneous interval lies above -m",
    stats.WORSE: "loses more than the margin: the family's simultaneous interval lies below -m",
    stats.INCONCLUSIVE: "the interval holds -m: the data cannot tell whether it loses more or less than the margin",
    stats.IDENTICAL: "the same predicted class as its baseline on every test image of every replicate: no test needed",
    stats.EXPLORATORY: "in no family fixed before the runs: the estimate and its 95 % interval, no verdict",
    stats.BETTER: "a superiority claim (a family of margin 0): the family's simultaneous interval lies above 0",
}


def ci(value: float, lo: float, hi: float) -> str:
    return f"{value:.3f} [{lo:.3f}, {hi:.3f}]"


def pct(value: float) -> str:
    return f"{100 * value:.1f} %"


def pts(diff: float, lo: float, hi: float) -> str:
    if np.isnan(diff):
        return "-"
    return f"{diff:+.1f} pts [{lo:+.1f}, {hi:+.1f}]"


def and_list(items: list[str]) -> str:
    """'a', 'a and b', 'a, b and c'."""
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def claims(n: int) -> str:
    """'1 claim', '18 claims'."""
    return f"{n} claim{'' if n == 1 else 's'}"


def times(ratio: float) -> str:
    """How many times: 138x, 11.4x, 1.07x."""
    return f"{ratio:.0f}x" if ratio >= 100 else f"{ratio:.1f}x" if ratio >= 10 else f"{ratio:.2f}x"


def fewer_flops(ratio: float) -> str:
    """FLOPs of the baseline / FLOPs of the variant, in words: "99.3 % fewer FLOPs", "12.7x more FLOPs"."""
    if abs(ratio - 1) < 5e-4:
        return "the same FLOPs"
    if ratio >= 1:
        saved = 100 * (1 - 1 / ratio)
        return f"{saved:.1f} % fewer FLOPs" if saved < 99.95 else f"{times(ratio)} fewer FLOPs"
    return f"{times(1 / ratio)} more FLOPs"


def p_value(p: float) -> str:
    return "-" if p is None or np.isnan(p) else "p < 0.001" if p < 0.001 else f"p = {p:.3f}"


def margin_pts(study: Study) -> str:
    return f"{100 * study.margin:g} points"


def seeds_phrase(study: Study) -> str:
    k = len(study.seeds)
    return (f"{k} replicates, each its own data draw and training seed" if study.per_model
            else "1 replicate: about these trained networks only, not their architectures")


def level_text(level: float) -> str:
    """A confidence level: '95 %', '98.33 %'."""
    return f"{100 * level:.4g} %"


def interval_text(r) -> str:
    """'-6.4 pts [-9.9, -3.0] (98.33 % interval)': a claim's difference with the interval its verdict is read off."""
    return f"{pts(r.diff_pp, r.lo_pp, r.hi_pp)} ({level_text(r.level)} interval)"


def claim_margin(r, study: Study) -> float:
    """The margin of claim ``r``: its family's own (``margin_pp``; 0 for superiority), else ``compare.margin``."""
    return getattr(r, "margin_pp", 100 * study.margin) / 100


def undecided_words(r, study: Study) -> str:
    """Why an inconclusive claim of a family is undecided, and what would decide it."""
    margin = claim_margin(r, study)
    near = abs(r.diff_pp / 100 + margin)
    toward = (stats.BETTER if margin == 0 else stats.NOT_WORSE) if r.diff_pp / 100 > -margin else stats.WORSE
    need = getattr(r, "seeds_needed", "")
    if need == power.NO_NUMBER:  # its estimate on the margin: each replicate brings new images, so elsewhere enough do
        cost = f"no number of replicates would reach `{toward}`: its estimate lies on the margin"
    elif need:
        cost = (f"at the estimate, `{toward}` with 80 % power would take {need} replicates (a data draw and a training "
                f"seed each) of {study.images:,} test images")
    else:
        cost = ""
    if near < stats.NEAR:
        return (f"its estimate lies {100 * near:.1f} points from the margin, closer than {100 * stats.NEAR:g}: no affordable "
                "design decides it" + (f" ({cost})" if cost else ""))
    return cost


def verdict_words(r, study: Study) -> str:
    """A claim's verdict in words: 'not worse', 'worse (loses more than 3 points)', 'exploratory (no
    verdict)'; an inconclusive one says why, and what would decide it."""
    if r.verdict == stats.INCONCLUSIVE:
        why = undecided_words(r, study)
        return f"inconclusive ({why})" if why else r.verdict
    if r.verdict == stats.WORSE:
        if claim_margin(r, study) == 0:  # a superiority claim
            return "worse (its interval lies below 0)"
        return f"worse (loses more than {margin_pts(study)})"
    if r.verdict == stats.BETTER:
        return "better (its interval lies above 0)"
    if r.verdict == stats.IDENTICAL:
        return "identical predictions"
    if r.verdict == stats.EXPLORATORY:
        return f"exploratory (no verdict{NAMED if getattr(r, 'named_undecidable', False) else ''})"
    return r.verdict


NAMED = "; withheld by the plan made from the pilot, docs/statistics.md"


def comparison_phrase(r, study: Study) -> str:
    """'-6.4 pts [-9.9, -3.0] (98.33 % interval) (seeds -6.8, -5.4, -7.1, -6.0); test of a 3-point loss
    p = 0.001, Bonferroni over 3 claims p = 0.003; test of no difference p < 0.001: worse (...)'"""
    if r.verdict == stats.IDENTICAL:
        return "the same predicted class on every test image of every replicate"
    seeds = f" (seeds {', '.join(r.per_seed_pp.split(';'))})" if ";" in r.per_seed_pp else ""
    adjusted = (f", Bonferroni over the {claims(round((1 - stats.LEVEL) / (1 - r.level)))} of {r.claim_family} {p_value(r.p_adjusted).removeprefix('p ')}"
                if r.claim_family != stats.EXPLORATORY else "")
    margin = claim_margin(r, study)
    loss = f"a {100 * margin:g}-point loss" if margin else "no gain (superiority)"
    text = (f"{interval_text(r)}{seeds}; test of {loss} {p_value(r.p_margin)}{adjusted}; "
            f"test of no difference {p_value(r.p_zero)}: {verdict_words(r, study)}")
    if r.failed_seeds:
        sens = (f"{pts(r.sens_diff_pp, r.sens_lo_pp, r.sens_hi_pp)}"
                + (f", {r.sens_verdict}" if r.sens_verdict != stats.EXPLORATORY else ""))
        text += f"; without the failed runs (seed {r.failed_seeds.replace(';', ', ')}): {sens}"
    return text
