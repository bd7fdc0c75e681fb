"""The study's tables, from ``ricecnn.study.Study``: each model's accuracy and cost, every paired
comparison with its interval, verdict and power (the statistics: ``ricecnn.stats``), each
comparison seed by seed, robustness by transform, the seed-to-seed spread.

Each comparison on each test set is one claim, "the variant loses less than ``compare.margin``";
the family is every such claim the findings make, except those whose two models predict the same
class on every image under every seed (``identical``); verdicts use Holm-adjusted p-values. A run
that failed to train (``stats.failed_runs``) is left out of its model's comparisons.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from . import stats
from .augment import TRANSFORMS
from .study import CONDITIONS, COST_KEYS, Study, accuracy

KINDS = {"light": "light vs full", "pruned": "pruned vs full", "trim": "trimmed vs full",
         "trim_scratch": "scratch control vs trimmed", "criterion": "another criterion vs APoZ, at the same FLOPs"}


def summary_table(study: Study) -> pd.DataFrame:
    """One row per model: its cost (mean over seeds: a pruned or trimmed architecture can differ from
    seed to seed), validation accuracy, clean and augmented accuracy with intervals, per seed too."""
    rows = []
    for m in study.models:
        clean, aug = accuracy(study, m.name, "clean"), accuracy(study, m.name, "augmented")
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
            "latency_ms": next((study.evaluate[s][m.name]["latency_ms"] for s in study.seeds
                                if "latency_ms" in study.evaluate[s][m.name]), None),  # measured for one seed's models
            "failed_runs": ";".join(map(str, study.failed(m.name))),
        })  # fmt: skip
    return pd.DataFrame(rows)


COMPARISON_COLUMNS = ["family", "variant", "against", "kind", "condition", "flops_ratio_224", "seeds_used", "failed_seeds",
                      "diff_pp", "lo_pp", "hi_pp", "p_margin", "p_zero", "per_seed_pp", "seed_sd_pp", "var_seed",
                      "var_image", "var_residual", "identical", "in_family", "p_holm", "verdict", "half_width_pp", "power",
                      "seeds_needed", "seeds_needed_range"]


def comparisons(study: Study) -> pd.DataFrame:
    """Every paired comparison (``Evaluated.against``), on the augmented and the clean test set: the
    mean paired difference over the seeds where both models trained, its 95 % interval, the p of the
    claim "the variant loses less than the margin" (the test of a difference of -margin, raw and
    Holm-adjusted over the family), the p of no difference, the verdict, each seed's difference, and
    the power: the seeds that would show ``not worse`` with 80 % power if the true difference were 0.

    Not in the family: comparisons whose two models predict the same class on every image under
    every seed (verdict ``identical``), and with two or more seeds, those with fewer than two seeds
    where both trained (``inconclusive``, untested)."""
    m_ = study.margin
    rows = []
    for m in study.models:
        for other in m.against:
            flops = study.mean(study.cost, other, "flops_224") / study.mean(study.cost, m.name, "flops_224")
            identical = study.identical(m.name, other)
            bad = sorted(set(study.failed(m.name)) | set(study.failed(other)))
            used = [i for i, s in enumerate(study.seeds) if s not in bad]
            for c in CONDITIONS:
                v, b = study.correct[m.name][c][used], study.correct[other][c][used]
                row = {"family": m.family, "variant": m.name, "against": other,
                       "kind": KINDS[m.variant] if other == m.baseline else "trimmed vs light", "condition": c,
                       "flops_ratio_224": flops, "seeds_used": len(used), "failed_seeds": ";".join(str(study.seeds[i])
                       for i in range(len(study.seeds)) if i not in used)}
                if len(used) >= 2:
                    e = stats.architecture_effect(v, b)
                    row.update(diff_pp=100 * e.diff, lo_pp=100 * e.lo, hi_pp=100 * e.hi, p_margin=e.p(-m_), p_zero=e.p(0.0),
                               per_seed_pp=";".join(f"{100 * x:+.1f}" for x in e.per_seed))
                    parts = stats.components(v.astype(float) - b)
                    row.update(seed_sd_pp=100 * np.std(np.mean(v, axis=1) - np.mean(b, axis=1), ddof=1),
                               **{f"var_{k}": x for k, x in zip(("seed", "image", "residual"), parts)})
                elif len(used) == 1 and not study.per_model:
                    d = stats.paired(v[0], b[0])
                    bb, cc = d.discordant
                    row.update(diff_pp=100 * d.diff, lo_pp=100 * d.lo, hi_pp=100 * d.hi, per_seed_pp=f"{100 * d.diff:+.1f}",
                               p_margin=stats.tango_p(bb, cc, len(v[0]), -m_), p_zero=d.p)
                else:  # fewer than two seeds where both trained: nothing to test
                    row.update(diff_pp=np.nan, lo_pp=np.nan, hi_pp=np.nan, p_margin=np.nan, p_zero=np.nan, per_seed_pp="")
                row["identical"] = identical
                rows.append(row)
    df = pd.DataFrame(rows)
    if not len(df):  # no model is compared with another (e.g. models: only cnn_light): the table's header
        return pd.DataFrame(columns=COMPARISON_COLUMNS)
    family = ~df.identical & df.p_margin.notna()
    df["in_family"] = family
    df["p_holm"] = np.nan
    df.loc[family, "p_holm"] = stats.holm(df.loc[family, "p_margin"].tolist())
    df["verdict"] = [stats.IDENTICAL if r.identical else stats.INCONCLUSIVE if not r.in_family
                     else stats.verdict(r.diff_pp / 100, m_, r.p_holm) for r in df.itertuples()]
    df["half_width_pp"] = (df.hi_pp - df.lo_pp) / 2
    alpha = stats.ALPHA / max(int(family.sum()), 1)  # Bonferroni: the level of Holm's first step
    df["power"], df["seeds_needed"], df["seeds_needed_range"] = np.nan, "", ""
    if study.per_model and "var_seed" in df:
        for i, r in df[family & df.var_seed.notna()].iterrows():
            parts = (r.var_seed, r.var_image, r.var_residual)
            df.loc[i, "power"] = stats.power(parts, m_, int(r.seeds_used), study.images, alpha)
            df.loc[i, "seeds_needed"] = seeds_text(parts, m_, study.images, alpha)
            ends = [seeds_text((v, r.var_image, r.var_residual), m_, study.images, alpha)
                    for v in stats.seed_variance_range(r.var_seed, int(r.seeds_used))]
            df.loc[i, "seeds_needed_range"] = ends[0] if ends[0] == ends[1] else f"{ends[0]} to {ends[1]}"
    return df


def seeds_text(parts: tuple[float, float, float], margin: float, images: int, alpha: float) -> str:
    """The seeds 80 % power takes: a number, '>200', or 'more test images' where no number of seeds
    would do at this test set's size (the images' own sampling is too wide)."""
    if stats.seeds_cannot_reach(parts, margin, images, alpha):
        return "more test images"
    k = stats.seeds_needed(parts, margin, images, alpha)
    return str(k) if k else ">200"


def per_seed_table(study: Study) -> pd.DataFrame:
    """Each comparison, seed by seed: two trained networks (``stats.paired``: Tango's interval)."""
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
    """Per claim of the family: the seed-to-seed SD of the difference, the interval's half-width, the
    power the design had, and the training seeds that 80 % power would take if the true difference
    were 0 (with the range the seed variance's own uncertainty allows)."""
    cols = ["comparison", "condition", "seeds", "seed SD of the difference (pts)", "95% half-width (pts)",
            "power now", "seeds for 80% power", "95% range"]
    if not len(comps) or "var_seed" not in comps:
        return pd.DataFrame(columns=cols)
    rows = [[f"{r.variant} vs {r.against}", r.condition, int(r.seeds_used), f"{r.seed_sd_pp:.1f}", f"{r.half_width_pp:.1f}",
             f"{r.power:.2f}", r.seeds_needed, r.seeds_needed_range]
            for r in comps[comps.in_family & comps.var_seed.notna()].itertuples()]
    return pd.DataFrame(rows, columns=cols)


def robustness_table(study: Study) -> pd.DataFrame:
    """Accuracy of each trained model of the seed evaluate scored under each transform alone
    (``Study.pictures_seed``), on the clean test set, under each augmentation alone, and under all five."""
    if study.pictures_seed is None:
        return pd.DataFrame(columns=["model", "clean", *TRANSFORMS, "all five"])
    row = study.seeds.index(study.pictures_seed)  # the transforms alone were scored for this seed only: their one row

    def acc(name: str, condition: str) -> float:
        scores = study.correct[name][condition]
        return float(scores[row if len(scores) == len(study.seeds) else 0].mean())

    conditions = {"clean": "clean", **{t: t for t in TRANSFORMS}, "all five": "augmented"}
    return pd.DataFrame([{"model": m.name, **{label: acc(m.name, c) for label, c in conditions.items()}}
                         for m in study.models if TRANSFORMS[0] in study.correct[m.name]])


def seed_spread_table(study: Study) -> pd.DataFrame:
    """Each model's accuracy under each training seed, and their standard deviation over the seeds
    (the seed-to-seed spread the power rests on), on the clean and the augmented test set."""
    rows = []
    for m in study.models:
        row = {"model": m.name}
        for c in ("clean", "augmented"):
            acc = study.correct[m.name][c].mean(axis=1)
            row[f"{c}: per seed"] = " / ".join(f"{a:.3f}" for a in acc)
            row[f"{c}: SD (pts)"] = f"{100 * np.std(acc, ddof=1):.1f}" if len(acc) > 1 else "-"
        rows.append(row)
    return pd.DataFrame(rows)


def criteria_table(study: Study, df: pd.DataFrame) -> pd.DataFrame:
    """Each criterion model (``ricecnn.criteria``): its parent, rule and target, the FLOPs share at
    224 px it reached (of its parent's), and its accuracies over the seeds with their intervals."""
    rows, by = [], df.set_index("model")
    for m in (m for m in study.models if m.variant == "criterion"):
        r = by.loc[m.name]
        rows.append({"model": m.name, "parent": m.parent, "rule": m.rule, "target": m.target,
                     "flops_share_224": r.flops_224 / by.loc[m.parent, "flops_224"],
                     **{k: r[k] for k in ("clean_accuracy", "clean_accuracy_lo", "clean_accuracy_hi", "augmented_accuracy",
                                          "augmented_accuracy_lo", "augmented_accuracy_hi")}})
    return pd.DataFrame(rows, columns=["model", "parent", "rule", "target", "flops_share_224", "clean_accuracy",
                                       "clean_accuracy_lo", "clean_accuracy_hi", "augmented_accuracy",
                                       "augmented_accuracy_lo", "augmented_accuracy_hi"])


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
