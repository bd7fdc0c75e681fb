"""The study's tables, from ``ricecnn.study.records.Study``: each model's accuracy and cost, every paired
comparison with its interval, verdict and power (the statistics: ``ricecnn.study.stats``), each
comparison replicate by replicate, robustness by transform, the replicate-to-replicate spread.

Each comparison on each test set is one claim, "the variant loses less than ``compare.margin``".
The claims of a family fixed in params.yaml (``compare.families``: kinds of comparison and test
sets) get the family's simultaneous interval and the verdict read off it; every other claim is
exploratory (95 % interval, no verdict). Every run counts in the primary analysis; the failed-run
rule (``stats.failed_runs``) is a sensitivity analysis beside it (``sens_*``).
"""

from __future__ import annotations

import typing

import numpy as np
import pandas as pd

from ..evaluation.augment import TEST_SETS, TRANSFORMS
from . import power, stats
from .records import CONDITIONS, COST_KEYS, Study, mean_accuracy
from .settings import ClaimKind

KINDS = {"light": "light vs full", "pruned": "pruned vs full", "trim": "trimmed vs full", "trim_vs_light": "trimmed vs light",
         "trim_scratch": "scratch control vs trimmed"}
assert set(KINDS) == set(typing.get_args(ClaimKind))  # every kind params.yaml's families may name is worded


def summary_table(study: Study) -> pd.DataFrame:
    """One row per model: its cost (mean over seeds: a pruned or trimmed architecture can differ from
    seed to seed), validation accuracy, clean and augmented accuracy with intervals, per seed too."""
    rows = []
    for m in study.models:
        clean, aug = mean_accuracy(study, m.name, "clean"), mean_accuracy(study, m.name, "augmented")
        dead = [study.dead[s][m.name] for s in study.seeds]
        rows.append({
            "model": m.name, "family": m.family, "variant": m.variant, "baseline": m.baseline or "",
            **{k: study.mean(study.cost, m.name, k) for k in COST_KEYS},
            "dead_fraction": float(np.mean(dead)) if None not in dead else None,
            "val_accuracy": study.mean(study.train, m.name, "val_accuracy"),
            "clean_accuracy": clean[0], "clean_accuracy_lo": clean[1], "clean_accuracy_hi": clean[2],
            "augmented_accuracy": aug[0], "augmented_accuracy_lo": aug[1], "augmented_accuracy_hi": aug[2],
            "clean_by_seed": ";".join(f"{v:.4f}" for v in study.correct[m.name]["clean"].mean(axis=1)),
            "augmented_by_seed": ";".join(f"{v:.4f}" for v in study.correct[m.name]["augmented"].mean(axis=1)),
            "misclassified": float(np.mean([study.evaluate[s][m.name]["misclassified"] for s in study.seeds])),
            "test_images": study.correct[m.name]["clean"].shape[1],
            "failed_runs": ";".join(map(str, study.failed(m.name))),
        })  # fmt: skip
    return pd.DataFrame(rows)


COMPARISON_COLUMNS = ["family", "variant", "against", "kind", "claim_kind", "condition", "flops_ratio_224", "claim_family",
                      "level", "margin_pp", "seeds_used", "failed_seeds", "diff_pp", "lo_pp", "hi_pp", "p_margin", "p_adjusted", "p_zero",
                      "per_seed_pp", "seed_sd_pp", "var_replicate", "var_image", "identical", "named_undecidable", "verdict",
                      "half_width_pp", "power", "power_at_zero", "seeds_needed", "seeds_needed_range", "sens_seeds_used",
                      "sens_diff_pp", "sens_lo_pp", "sens_hi_pp", "sens_verdict"]


def claim_kind(m, other: str) -> str:
    """The kind of the comparison of model ``m`` (``Evaluated``) with ``other`` (a key of ``KINDS``)."""
    return m.variant if other == m.baseline else f"{m.variant}_vs_light"


def family_of(families: dict, kind: str, condition: str) -> str | None:
    """The family of ``compare.families`` whose kinds and test sets hold this claim, or None."""
    return next((name for name, spec in families.items() if kind in spec.kinds and condition in spec.conditions), None)


def claim_families(study: Study) -> dict[tuple[str, str, str], tuple[str, float]]:
    """(variant, against, condition) -> (its family, its interval's level), for every claim of a family
    of ``compare.families`` whose models the study has; the family's size is the claims it has here. A
    claim of a family's kinds and test sets whose variant the family names ``undecidable`` maps to
    (``stats.UNDECIDABLE``, 95 %): withheld by the plan, exploratory."""
    members: dict[str, list[tuple[str, str, str]]] = {name: [] for name in study.families}
    named = {}
    for m in study.models:
        for other in m.against:
            for c in CONDITIONS:
                name = family_of(study.families, claim_kind(m, other), c)
                if name is not None and m.name in study.families[name].undecidable:
                    named[(m.name, other, c)] = (stats.UNDECIDABLE, stats.LEVEL)
                elif name is not None:
                    members[name].append((m.name, other, c))
    return {**named, **{claim: (name, stats.family_level(len(claims))) for name, claims in members.items()
                        for claim in claims}}


def _effect(study: Study, v: np.ndarray, b: np.ndarray, level: float, m_: float) -> dict:
    """The difference of two models' (seeds, images) correctness over the seeds given: its interval at
    ``level``, the p of the test at -``m_`` (the claim's margin) and at 0, each seed's difference; with
    one seed, Tango's."""
    if len(v) >= 2:
        e = stats.architecture_effect(v, b, level)
        return dict(diff_pp=100 * e.diff, lo_pp=100 * e.lo, hi_pp=100 * e.hi, p_margin=e.p(-m_), p_zero=e.p(0.0),
                    per_seed_pp=";".join(f"{100 * x:+.1f}" for x in e.per_seed))
    if len(v) == 1 and not study.per_model:
        d = stats.paired(v[0], b[0], level)
        bb, cc = d.discordant
        return dict(diff_pp=100 * d.diff, lo_pp=100 * d.lo, hi_pp=100 * d.hi, per_seed_pp=f"{100 * d.diff:+.1f}",
                    p_margin=stats.tango_p(bb, cc, len(v[0]), -m_), p_zero=d.p)
    return dict(diff_pp=np.nan, lo_pp=np.nan, hi_pp=np.nan, p_margin=np.nan, p_zero=np.nan, per_seed_pp="")


def comparisons(study: Study) -> pd.DataFrame:
    """Every paired comparison (``Evaluated.against``), on the augmented and the clean test set, over
    every training seed: the mean paired difference, its interval (at the family's simultaneous level
    for a claim of a family, else 95 %), the p of the test of a difference of -margin (raw, and for a
    family's claim Bonferroni-adjusted: below 0.05 exactly when the interval shown excludes -margin),
    the p of no difference, each seed's difference, the verdict read off the interval (a family's
    claims only: the others are exploratory), and for a family's claim the power (``claim_power``).
    Beside it the sensitivity analysis: the same without the seeds whose run failed to train."""
    families = claim_families(study)
    rows = []
    for m in study.models:
        for other in m.against:
            flops = study.mean(study.cost, other, "flops_224") / study.mean(study.cost, m.name, "flops_224")
            identical = study.identical(m.name, other)
            bad = sorted(set(study.failed(m.name)) | set(study.failed(other)))
            kept = [i for i, s in enumerate(study.seeds) if s not in bad]
            for c in CONDITIONS:
                family, level = families.get((m.name, other, c), (stats.EXPLORATORY, stats.LEVEL))
                named = family == stats.UNDECIDABLE  # exploratory: withheld by the plan
                family = stats.EXPLORATORY if named else family
                m_ = family_margin(study, family)
                v, b = study.correct[m.name][c], study.correct[other][c]
                row = {"family": m.family, "variant": m.name, "against": other, "kind": KINDS[claim_kind(m, other)],
                       "claim_kind": claim_kind(m, other), "condition": c, "flops_ratio_224": flops, "claim_family": family,
                       "level": level, "margin_pp": 100 * m_, "seeds_used": len(study.seeds),
                       "failed_seeds": ";".join(map(str, bad)), **_effect(study, v, b, level, m_), "identical": identical,
                       "named_undecidable": named}
                if len(study.seeds) >= 2:
                    parts = stats.components(v.astype(float) - b)
                    row.update(seed_sd_pp=100 * np.std(np.mean(v, axis=1) - np.mean(b, axis=1), ddof=1),
                               **{f"var_{k}": x for k, x in zip(("replicate", "image"), parts)})
                in_family = family != stats.EXPLORATORY
                row["verdict"] = (stats.verdict(row["lo_pp"] / 100, row["hi_pp"] / 100, m_) if in_family and not np.isnan(row["lo_pp"])
                                  else stats.IDENTICAL if identical else stats.INCONCLUSIVE if in_family else stats.EXPLORATORY)
                if bad:  # the sensitivity analysis: the failed runs' seeds left out
                    sens = _effect(study, v[kept], b[kept], level, m_)
                    row.update(sens_seeds_used=len(kept), sens_diff_pp=sens["diff_pp"], sens_lo_pp=sens["lo_pp"],
                               sens_hi_pp=sens["hi_pp"], sens_verdict=stats.verdict(sens["lo_pp"] / 100, sens["hi_pp"] / 100, m_)
                               if in_family and not np.isnan(sens["lo_pp"]) else stats.EXPLORATORY)
                rows.append(row)
    if not rows:  # no model is compared with another (e.g. models: only cnn_light): the table's header
        return pd.DataFrame(columns=COMPARISON_COLUMNS)
    df = pd.DataFrame(rows).reindex(columns=COMPARISON_COLUMNS)
    in_family = df.claim_family != stats.EXPLORATORY
    df["p_adjusted"] = np.where(in_family, np.minimum(1.0, df.p_margin * (1 - stats.LEVEL) / (1 - df.level)), np.nan)
    df["half_width_pp"] = (df.hi_pp - df.lo_pp) / 2
    for col in ("seeds_needed", "seeds_needed_range", "failed_seeds", "sens_verdict", "verdict", "per_seed_pp"):
        df[col] = df[col].astype(object).where(df[col].notna(), "").astype(str)
    if study.per_model:
        for i, r in df[in_family & df.var_replicate.notna()].iterrows():
            df.loc[i, ["power", "power_at_zero", "seeds_needed", "seeds_needed_range"]] = claim_power(r, study)
    return df


def family_margin(study: Study, family: str) -> float:
    """The margin of a family's claims: its own (``Family.margin``; 0 for superiority) or ``compare.margin``."""
    own = getattr(study.families.get(family), "margin", None)
    return study.margin if own is None else own


def claim_power(r, study: Study) -> tuple[float, float, str, str]:
    """A family's claim, from its own variance components (replicate, image): the power the design had to
    reach the verdict its estimate implies if the estimate were the truth, the power to show ``not worse``
    if the true difference were 0, and, for an undecided claim, the replicates (a data draw and a training
    seed each) of this test set's size that 80 % power at the estimate would take, with the range the
    replicate variance's own uncertainty allows."""
    parts, k, n, m_ = (r.var_replicate, r.var_image), int(r.seeds_used), study.images, r.margin_pp / 100
    theta = r.diff_pp / 100
    now = power.power(parts, theta, m_, k, n, r.level)
    at_zero = power.decision_rates(parts, 0.0, m_, k, n, r.level)[0]
    if r.verdict != stats.INCONCLUSIVE:
        return now, at_zero, "", ""
    ends = [seeds_text((v, r.var_image), theta, m_, n, r.level)
            for v in power.seed_variance_range(r.var_replicate, k, r.var_image, n)]
    return now, at_zero, seeds_text(parts, theta, m_, n, r.level), ends[0] if ends[0] == ends[1] else f"{ends[0]} to {ends[1]}"


def seeds_text(parts: tuple[float, float], theta: float, margin: float, images: int, level: float) -> str:
    """The replicates of ``images`` test images each that 80 % power at the true difference ``theta``
    takes: a number, '>200', or 'none' where no number would do (``theta`` on the margin: each replicate
    brings new images, so anywhere else enough replicates decide)."""
    if power.seeds_cannot_reach(parts, theta, margin, images, level):
        return power.NO_NUMBER
    k = power.seeds_needed(parts, theta, margin, images, level)
    return str(k) if k else f">{power.MOST_SEEDS}"


def per_seed_table(study: Study) -> pd.DataFrame:
    """Each comparison, replicate by replicate: two trained networks on the replicate's own test images
    (``stats.paired``: Tango's interval)."""
    rows = []
    for m in study.models:
        for other in m.against:
            for c in CONDITIONS:
                for i, s in enumerate(study.seeds):
                    d = stats.paired(study.correct[m.name][c][i], study.correct[other][c][i])
                    rows.append({"variant": m.name, "against": other, "condition": c, "seed": s,
                                 "diff_pp": 100 * d.diff, "lo_pp": 100 * d.lo, "hi_pp": 100 * d.hi, "p": d.p,
                                 "variant_only_right": d.discordant[0], "baseline_only_right": d.discordant[1]})
    return pd.DataFrame(rows)


def power_table(comps: pd.DataFrame) -> pd.DataFrame:
    """Per claim of a family: the replicate-to-replicate SD of the difference, the half-width of its
    interval at the family's level, the verdict, the power the design had at the estimate and at no
    difference, and for an undecided claim the replicates (a data draw and a training seed each) that
    80 % power at the estimate would take (with the range the replicate variance's own uncertainty allows)."""
    cols = ["comparison", "condition", "family", "level", "seeds", "replicate SD of the difference (pts)", "half-width (pts)",
            "verdict", "power at the estimate", "power if no difference", "replicates for 80% power at the estimate", "95% range"]
    family = comps[(comps.claim_family != stats.EXPLORATORY) & comps.var_replicate.notna()] if len(comps) else comps
    rows = [[f"{r.variant} vs {r.against}", r.condition, r.claim_family, f"{100 * r.level:.2f} %", int(r.seeds_used),
             f"{r.seed_sd_pp:.1f}", f"{r.half_width_pp:.1f}", r.verdict, f"{r.power:.2f}", f"{r.power_at_zero:.2f}",
             r.seeds_needed or "-", r.seeds_needed_range or "-"] for r in family.itertuples()]
    return pd.DataFrame(rows, columns=cols)


def robustness_table(study: Study) -> pd.DataFrame:
    """Accuracy of each trained model of the seed evaluate scored under each transform alone
    (``Study.pictures_seed``), on the clean test set, under each augmentation alone, and under all five,
    on the test images each transform alone was scored on (``evaluate.robustness_images``, spread evenly)."""
    if study.pictures_seed is None:
        return pd.DataFrame(columns=["model", "clean", *TRANSFORMS, "all five"])
    row = study.seeds.index(study.pictures_seed)  # the transforms alone were scored for this seed only: their one row

    def acc(name: str, condition: str) -> float:  # on the images each transform alone was scored on
        scores = study.correct[name][condition]
        scores = scores[row if len(scores) == len(study.seeds) else 0]
        whole = study.robustness_rows is not None and len(scores) == study.images
        return float((scores[study.robustness_rows] if whole else scores).mean())

    conditions = {"clean": "clean", **{t: t for t in TRANSFORMS}, "all five": "augmented"}
    return pd.DataFrame([{"model": m.name, **{label: acc(m.name, c) for label, c in conditions.items()}}
                         for m in study.models if TRANSFORMS[0] in study.correct[m.name]])


def seed_spread_table(study: Study) -> pd.DataFrame:
    """Each model's accuracy under each training seed, and their standard deviation over the seeds
    (the replicate-to-replicate spread the power rests on: a data draw and a training seed each), on the
    clean and the augmented test set."""
    rows = []
    for m in study.models:
        row = {"model": m.name}
        for c in TEST_SETS:
            acc = study.correct[m.name][c].mean(axis=1)
            row[f"{c}: per seed"] = " / ".join(f"{a:.3f}" for a in acc)
            row[f"{c}: SD (pts)"] = f"{100 * np.std(acc, ddof=1):.1f}" if len(acc) > 1 else "-"
        rows.append(row)
    return pd.DataFrame(rows)


def _number(value, digits: int = 4):
    """A metric value: ``digits`` significant digits, None for a missing one (NaN is not JSON)."""
    return None if value is None or pd.isna(value) else float(f"{value:.{digits}g}")


def study_metrics(df: pd.DataFrame, comps: pd.DataFrame) -> dict:
    """The study's numbers, as `dvc metrics diff` and `dvc exp show` compare them (dvc.yaml's
    ``metrics:``): each model's mean clean and augmented accuracy over the seeds and its GFLOPs at
    224 px; each comparison's difference in points and its verdict, on the clean and the augmented
    test set. Nothing that is a timing or a setting: those are in the per-stage files and params."""
    models = {r.model: {"accuracy": _number(r.clean_accuracy), "augmented_accuracy": _number(r.augmented_accuracy),
                        "gflops_224": _number(r.flops_224 / 1e9)} for r in df.itertuples()}
    claims: dict[str, dict] = {}
    for r in comps.itertuples():
        claim = claims.setdefault(f"{r.variant} vs {r.against}", {})
        claim[f"{r.condition}_pp"] = _number(r.diff_pp, 3)
        claim[r.condition] = r.verdict
    return {**models, **claims}  # one level: DVC's column names stay short (cnn_light.accuracy, cnn_light vs cnn.clean)
