"""The channel criteria of one model over its replicates (stage criteria_report@<model>): curves of
accuracy against FLOPs kept, each rule's mean and interval over replicates (ShrinkBench's picture,
Blalock et al. 2020), APoZ's cuts against each other rule's, paired image by image, and the thesis
family's verdicts.

The thesis family, fixed before the runs (params.yaml ``criteria``): for each model of
``criteria.models`` and each rule other than APoZ, "APoZ's cut keeps more accuracy", read on the
layer ranking (one architecture per target, so that the criterion is the only difference) right
after the cut (the rule's choice alone, before any recovery), on the clean test images, as the mean
over the targets (each image's correctness averaged over them: the area under the curve, one claim
per pair of rules instead of one per target). A superiority claim (margin ``criteria.margin``, 0),
in a family of models x (rules - 1) claims, each interval at the Bonferroni level. Random's draws
are averaged per image first, so its score is chance's expectation, not one draw's. Everything else
(each target alone, the global ranking, the fine-tuned models, the scratch controls) is exploratory:
an estimate and its 95 % interval.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from ..channels.cuts import CUT, SCRATCH, TUNED, scratch_key
from . import power, stats

THESIS_RANKING, THESIS_STAGE = "layer", CUT


def load(record: dict, bits: np.ndarray) -> dict[str, np.ndarray]:
    """A replicate's per-image correctness by key (``cuts.Cut.key``), from its record and packed rows."""
    n = record["test_images"]
    rows = np.unpackbits(bits, axis=1, count=n).astype(bool)
    return dict(zip(record["keys"], rows))


def scores(correct: list[dict[str, np.ndarray]], ranking: str, target: float, rule: str, stage: str) -> np.ndarray | None:
    """(replicates, images): per image the share of ``rule``'s draws right (one draw: 0 or 1); None if
    some replicate has no such cut."""
    out = []
    for c in correct:
        rows = [v for k, v in c.items() if k.startswith(f"{ranking}/{target:g}/{rule}/") and k.endswith(f"/{stage}")]
        if not rows:
            return None
        out.append(np.mean(rows, axis=0))
    return np.asarray(out)


def over_targets(correct: list[dict[str, np.ndarray]], targets: list[float], rule: str, ranking: str, stage: str):
    """Per replicate and image, the correctness averaged over ``targets``: the area under the curve."""
    parts = [scores(correct, ranking, t, rule, stage) for t in targets]
    return None if any(p is None for p in parts) else np.mean(parts, axis=0)


def curves(model: str, records: list[dict], correct: list[dict[str, np.ndarray]], rules: list[str],
           targets: list[float], rankings: list[str]) -> pd.DataFrame:
    """Per ranking, target, rule and stage (cut, tuned; the scratch control), the mean test accuracy over
    the replicates with its 95 % interval, and the mean FLOPs share reached and parameters."""
    rows = []
    for ranking in rankings:
        for target in targets:
            made = [(rule, stage, scores(correct, ranking, target, rule, stage)) for rule in rules for stage in (CUT, TUNED)]
            if ranking == "layer" and all(scratch_key(target) in c for c in correct):
                made.append((SCRATCH, SCRATCH, np.asarray([c[scratch_key(target)] for c in correct])))
            for rule, stage, y in made:
                if y is None:
                    continue
                cut = [r for rec in records for r in rec["cuts"] if r["ranking"] == ranking and r["target"] == target
                       and r["rule"] == (rules[0] if rule == SCRATCH else rule)]  # the control: the same architecture
                mean, lo, hi = stats.over_seeds(y) if len(y) > 1 else (y.mean(), *stats.wilson(y.mean(), y.size))
                rows.append({"model": model, "ranking": ranking, "target": target, "rule": rule, "stage": stage,
                             "flops_share_224": np.mean([r["flops_share_224"] for r in cut]),
                             "params": np.mean([r["params"] for r in cut]), "accuracy": mean, "lo": lo, "hi": hi,
                             "per_seed": " ".join(f"{v:.4f}" for v in y.mean(axis=1))})
    return pd.DataFrame(rows)


def _row(model: str, what: dict, e: stats.Effect, level: float) -> dict:
    return {"model": model, **what, "diff": e.diff, "lo": e.lo, "hi": e.hi, "level": level,
            "per_seed": " ".join(f"{100 * v:+.1f}" for v in e.per_seed)}


def comparisons(model: str, correct: list[dict[str, np.ndarray]], rules: list[str], targets: list[float],
                rankings: list[str]) -> pd.DataFrame:
    """APoZ minus each other rule, per ranking, target and stage, paired image by image within each
    replicate (``stats.architecture_effect``): exploratory, each at 95 %. None with one replicate."""
    rows = []
    if len(correct) < 2:
        return pd.DataFrame(rows)
    for ranking in rankings:
        for stage in (CUT, TUNED):
            for target in targets:
                a = scores(correct, ranking, target, "apoz", stage)
                for other in (r for r in rules if r != "apoz"):
                    b = scores(correct, ranking, target, other, stage)
                    if a is not None and b is not None:
                        rows.append(_row(model, {"ranking": ranking, "stage": stage, "target": target, "other": other},
                                         stats.architecture_effect(a, b), stats.LEVEL))
    return pd.DataFrame(rows)


def thesis(model: str, correct: list[dict[str, np.ndarray]], rules: list[str], targets: list[float], claims: int,
           margin: float) -> pd.DataFrame:
    """The thesis family's claims of ``model`` (see the module's docstring): APoZ minus each other rule,
    the layer ranking right after the cut, averaged over the targets; each interval at the family's
    level (``claims`` in all, over every model), its verdict, and, as a pilot's plan for a confirmation,
    the replicates that 80 % power would take (``power.seeds_needed``) for a true difference at the
    interval's end nearest the margin, the conservative one (as ``tools/power_plan.py`` sizes the study's
    families; none where the interval holds the margin), and at the estimate itself (what a pilot too
    small to bound its interval can still say)."""
    level = stats.family_level(claims)
    a = over_targets(correct, targets, "apoz", THESIS_RANKING, THESIS_STAGE)
    rows = []
    if len(correct) < 2 or a is None:  # an interval over replicates needs two of them; the family, its ranking
        return pd.DataFrame(rows)
    for other in (r for r in rules if r != "apoz"):
        b = over_targets(correct, targets, other, THESIS_RANKING, THESIS_STAGE)
        e = stats.architecture_effect(a, b, level)
        planned = e.lo if e.lo > margin else None  # superiority: the lower end
        parts = stats.components(a - b)

        def needed(theta):  # None: no true advantage to size for
            if theta is None or theta <= margin:
                return None
            k = power.seeds_needed(parts, theta, margin, a.shape[1], level)
            return k if k is not None else f"more than {power.MOST_SEEDS}"

        rows.append({**_row(model, {"other": other}, e, level), "verdict": stats.verdict(e.lo, e.hi, margin),
                     "replicates": a.shape[0], "images": a.shape[1], "planned_effect": planned,
                     "replicates_needed": needed(planned), "replicates_needed_at_estimate": needed(e.diff)})
    # object columns: a claim with no advantage to size for keeps None (JSON null), which a float column
    # would turn into NaN, a number JSON does not have
    return pd.DataFrame(rows, dtype=object)


RULE_COLORS = {"apoz": "#1f5fbf", "l1": "#c8102e", "random": "#7f7f7f", SCRATCH: "#2e8b57"}


def figure(model: str, table: pd.DataFrame) -> Figure:
    """Accuracy against FLOPs kept, right after the cut (left) and, where the run fine-tuned, fine-tuned
    (right): each rule's mean over the replicates with its 95 % interval, the layer ranking solid, the
    global one dashed; the scratch control on the right."""
    panels = [(CUT, "right after the cut")] + ([(TUNED, "fine-tuned (layer ranking)")] if (table.stage == TUNED).any() else [])
    fig = Figure(figsize=(5.5 * len(panels) + 0.5, 4.2), layout="constrained")
    axes = fig.subplots(1, len(panels), sharey=True, squeeze=False)[0]
    for ax, (stage, title) in zip(axes, panels):
        for (ranking, rule), g in table[table.stage.isin((stage, SCRATCH) if stage == TUNED else (stage,))].groupby(
                ["ranking", "rule"], sort=False):
            g = g.sort_values("flops_share_224")
            style = "-" if ranking == "layer" else "--"
            ax.plot(100 * g.flops_share_224, 100 * g.accuracy, style, marker="o", ms=3, color=RULE_COLORS.get(rule, "k"),
                    label=f"{rule} ({ranking})" if rule != SCRATCH else "scratch control")
            ax.fill_between(100 * g.flops_share_224, 100 * g.lo, 100 * g.hi, color=RULE_COLORS.get(rule, "k"), alpha=0.12)
        ax.set_title(f"{model}_pruned, {title}")
        ax.set_xlabel("FLOPs kept at 224 px, % of the dead-pruned model's")
        ax.invert_xaxis()
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    axes[0].set_ylabel("test accuracy, %, mean over replicates (95 % interval)")
    return fig
