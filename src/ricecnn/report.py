"""The study's tables and findings, from the stages' metrics and every test image's predictions,
over all training seeds (stage summarize writes them; the statistics: ``ricecnn.stats``).

A model's accuracy is its mean over the training seeds; a comparison of two models is the mean
over seeds of their paired difference on the same test images. With two or more seeds a comparison
is about the two architectures (``stats.architecture_effect``); with one it is about those two
trained networks only (``stats.paired``), and the text says so. Each comparison on each test set is
one claim, "the variant loses less than ``compare.margin``"; the family is every such claim the
findings make, except those whose two models predict the same class on every image under every
seed (reported as identical); verdicts use Holm-adjusted p-values. A run that failed to train
(``stats.failed_runs``) is flagged and left out of its model's comparisons. Every sentence is
generated from the numbers: nothing here is written by hand about the results.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from . import plots, stats
from .augment import TRANSFORMS
from .models import REGISTRY, Evaluated

# What the original study reported (docs/paper.md), at 224 px on the real data, with a test set of
# 7,500 images (augmented accuracy and misclassified count per model).
PAPER_TEST_IMAGES = 7500
PAPER_RESULTS = pd.DataFrame(
    [
        ("cnn", 0.9963, 0.9988, 9),
        ("cnn_light", 0.9970, 0.9989, 8),
        ("googlenet", 0.9975, 0.9992, 6),
        ("googlenet_light", 0.9981, 0.9987, 10),
        ("vgg16", 0.9979, 0.9976, 18),
        ("vgg16_light", 0.9979, 0.9980, 15),
    ],
    columns=["model", "val_accuracy", "augmented_accuracy", "misclassified_of_7500"],
)
CONDITIONS = ("augmented", "clean")  # the test sets every comparison is made on (the paper's first)
COST_KEYS = ("params", "params_trainable", "flops", "macs", "filters", "flops_224", "params_224")
VERDICT_COLORS = {stats.NOT_WORSE: "blue", stats.WORSE: "red", stats.INCONCLUSIVE: "grey", stats.IDENTICAL: "black"}
KINDS = {"light": "light vs full", "pruned": "pruned vs full", "trim": "trimmed vs full",
         "trim_scratch": "scratch control vs trimmed"}


DATA_NAMES = {"synthetic": "the synthetic stand-in", "kaggle": "the Rice Image Dataset (Kaggle)",
              "path": "the images of data.path"}


@dataclass
class Study:
    """Everything summarize reads. Per training seed (``by seed -> model name -> dict``): ``train``
    (validation accuracy, epochs), ``cost`` (params, FLOPs, filters), ``dead`` (dead channel
    fraction or None), ``evaluate`` (evaluate's metrics), ``prune`` and ``trim`` (by trained model).
    ``correct``: model -> test condition -> (seeds, images) correctness; ``predicted``: the same
    shape, the predicted class."""

    seeds: list[int]
    models: list[Evaluated]
    train: dict[int, dict[str, dict]]
    cost: dict[int, dict[str, dict]]
    dead: dict[int, dict[str, float | None]]
    evaluate: dict[int, dict[str, dict]]
    correct: dict[str, dict[str, np.ndarray]]
    prune: dict[int, dict[str, dict]]
    trim: dict[int, dict[str, dict]]
    margin: float
    img_size: int
    classes: list[str]
    source: str = "synthetic"  # data.source: synthetic | kaggle | path
    predicted: dict[str, dict[str, np.ndarray]] | None = None
    failed_run: float = 1.0  # compare.failed_run: a run this far below its model's best run failed
    dead_samples: int | None = None  # the validation images dead channels were measured on

    @property
    def per_model(self) -> bool:
        """Whether a comparison is about architectures (two or more seeds)."""
        return len(self.seeds) >= 2

    @property
    def images(self) -> int:
        return self.correct[self.models[0].name]["clean"].shape[1]

    def mean(self, table: dict[int, dict[str, dict]], name: str, key: str) -> float:
        return float(np.mean([table[s][name][key] for s in self.seeds]))

    def failed(self, name: str) -> list[int]:
        """The training seeds under which ``name``'s run failed to train (``stats.failed_runs``)."""
        return stats.failed_runs({s: self.train[s][name]["val_accuracy"] for s in self.seeds}, self.failed_run)

    def identical(self, variant: str, against: str) -> bool:
        """Whether the two models predict the same class on every test image, under every condition
        and every seed: a comparison with nothing to test."""
        if self.predicted is None:
            return False
        v, b = self.predicted[variant], self.predicted[against]
        return all(np.array_equal(v[c], b[c]) for c in CONDITIONS)


def sources(models: list[Evaluated], metrics: dict[str, dict[str, dict]]) -> tuple[dict, dict, dict]:
    """For one training seed: each evaluated model's training, cost and dead-channel numbers, from the
    stage that made the model. ``metrics``: the stages' metrics by kind (train, flops, featuremaps,
    prune, trim, trim_scratch), keyed by trained model. A trained model's come from train, flops and
    featuremaps; a pruned model's from its prune stage; a trimmed model's from its trim stage; the
    scratch control's cost from trim and its training from trim_scratch."""
    train, cost, dead = {}, {}, {}
    for m in models:
        if m.variant in ("full", "light"):
            train[m.name], cost[m.name] = metrics["train"][m.name], metrics["flops"][m.name]
            dead[m.name] = metrics["featuremaps"][m.name]["dead_fraction"]
        elif m.variant == "pruned":
            p = metrics["prune"][m.parent]
            cost[m.name] = {k.removesuffix("_after"): v for k, v in p.items() if k.endswith("_after")}
            train[m.name] = {"val_accuracy": p.get("val_accuracy_finetuned", p["val_accuracy_after"])}
            dead[m.name] = cost[m.name]["dead_fraction"]
        else:  # trim, trim_scratch
            t = metrics["trim"][m.parent]
            cost[m.name] = {k: t[k] for k in COST_KEYS}
            train[m.name] = {"val_accuracy": t["val_accuracy"]} if m.variant == "trim" else metrics["trim_scratch"][m.parent]
            dead[m.name] = None
    return train, cost, dead


def correctness(predictions: dict[int, dict[str, pd.DataFrame]], names: list[str],
                column: str | None = None) -> dict[str, dict[str, np.ndarray]]:
    """model -> condition -> (seeds, images) booleans, from evaluate's per-image predictions, over
    the seeds that have the condition (each transform alone: the first seed only), in seed order.
    With ``column`` "predicted": the predicted class names instead."""
    seeds = list(predictions)
    out = {}
    for name in names:
        frames = [predictions[s][name] for s in seeds]
        conditions = dict.fromkeys(c for f in frames for c in f.columns if c not in ("image", "actual"))
        out[name] = {c: np.stack([(f[c] == f["actual"]).to_numpy() if column is None else f[c].to_numpy(dtype=str)
                                  for f in frames if c in f]) for c in conditions}
    return out


def accuracy(study: Study, name: str, condition: str) -> tuple[float, float, float]:
    """A model's accuracy on a test condition, (value, lo, hi): the mean over seeds with its interval
    (seed variation and image sampling, at least Wilson's over the images), or with one seed Wilson's."""
    correct = study.correct[name][condition]
    if study.per_model:
        return stats.over_seeds(correct)
    a = stats.accuracy(correct[0])
    return a.value, a.lo, a.hi


def trim_neighbours(study: Study, parent: str) -> list[str]:
    """The models beside a trimming curve: the full model, its family's light and pruned models, and
    the scratch control."""
    family = next(m.family for m in study.models if m.name == parent)
    return [parent, *(m.name for m in study.models if m.family == family and m.variant in ("light", "pruned")),
            *(m.name for m in study.models if m.variant == "trim_scratch" and m.parent == parent)]


# --- tables ------------------------------------------------------------------------------------------


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
            "latency_ms": study.evaluate[study.seeds[0]][m.name].get("latency_ms"),  # the first seed's trained models
            "failed_runs": ";".join(map(str, study.failed(m.name))),
        })  # fmt: skip
    return pd.DataFrame(rows)


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
    if not len(df):
        return df
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


def paper_table(margin: float) -> pd.DataFrame:
    """The paper's light variants against their full models: its augmented accuracies (each of
    7,500 test images) compared unpaired, as the per-image predictions were not published. Not in
    the family of tests: its verdicts are read off the unadjusted 95 % interval."""
    acc = {r.model: stats.accuracy(PAPER_TEST_IMAGES - r.misclassified_of_7500, PAPER_TEST_IMAGES)
           for r in PAPER_RESULTS.itertuples()}
    full = {REGISTRY[m].family: m for m in acc if REGISTRY[m].variant == "full"}
    rows = []
    for light in (m for m in acc if REGISTRY[m].variant == "light"):
        baseline = full[REGISTRY[light].family]
        d = stats.unpaired(acc[light], acc[baseline])
        rows.append({"variant": light, "baseline": baseline,
                     "variant_accuracy": acc[light].value, "variant_lo": acc[light].lo, "variant_hi": acc[light].hi,
                     "baseline_accuracy": acc[baseline].value, "baseline_lo": acc[baseline].lo,
                     "baseline_hi": acc[baseline].hi, "diff_pp": 100 * d.diff, "diff_lo_pp": 100 * d.lo,
                     "diff_hi_pp": 100 * d.hi, "p": d.p, "verdict": stats.interval_verdict(d.lo, d.hi, margin)})
    return pd.DataFrame(rows)


def robustness_table(study: Study) -> pd.DataFrame:
    """Accuracy per trained model of the first training seed (the models evaluated under each
    augmentation alone) on the clean test set, under each augmentation alone, and under all five."""
    conditions = {"clean": "clean", **{t: t for t in TRANSFORMS}, "all five": "augmented"}
    return pd.DataFrame([{"model": m.name, **{label: float(study.correct[m.name][c][0].mean()) for label, c in conditions.items()}}
                         for m in study.models if TRANSFORMS[0] in study.correct[m.name]])


# --- text --------------------------------------------------------------------------------------------


def ci(value: float, lo: float, hi: float) -> str:
    return f"{value:.3f} [{lo:.3f}, {hi:.3f}]"


def pct(value: float) -> str:
    return f"{100 * value:.1f} %"


def pts(diff: float, lo: float, hi: float) -> str:
    if np.isnan(diff):
        return "-"
    return f"{diff:+.1f} pts [{lo:+.1f}, {hi:+.1f}]"


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
    return f"{k} training seeds" if study.per_model else "1 training seed: about these trained networks only, not their architectures"


def verdict_words(r, study: Study) -> str:
    """A claim's verdict in words: 'not worse', 'worse (loses more than 3 points)', ...; an
    inconclusive one says how many seeds would decide it."""
    if r.verdict == stats.INCONCLUSIVE and getattr(r, "seeds_needed", "") == "more test images":
        return f"inconclusive (no number of seeds would show `not worse` at {study.images:,} test images: more are needed)"
    if r.verdict == stats.INCONCLUSIVE and getattr(r, "seeds_needed", ""):
        return f"inconclusive ({r.seeds_needed} seeds would show `not worse` with 80 % power if it lost nothing)"
    if r.verdict == stats.WORSE:
        return f"worse (loses more than {margin_pts(study)})"
    if r.verdict == stats.IDENTICAL:
        return "identical predictions"
    return r.verdict


def comparison_phrase(r, study: Study) -> str:
    """'-1.2 pts [-3.1, +0.7] (seeds -0.5, -2.1, -1.0); test of a 3-point loss p = 0.010, Holm = 0.040; test of
    no difference p = 0.210: not worse'"""
    if r.verdict == stats.IDENTICAL:
        return "the same predicted class on every test image under every seed"
    seeds = f" (seeds {', '.join(r.per_seed_pp.split(';'))})" if ";" in r.per_seed_pp else ""
    left = f"; left out: seed {r.failed_seeds.replace(';', ', ')} (failed to train)" if r.failed_seeds else ""
    return (f"{pts(r.diff_pp, r.lo_pp, r.hi_pp)}{seeds}{left}; test of a {100 * study.margin:g}-point loss {p_value(r.p_margin)}, "
            f"Holm {p_value(r.p_holm).removeprefix('p ')}; test of no difference {p_value(r.p_zero)}: {verdict_words(r, study)}")


def setup_lines(study: Study, comps: pd.DataFrame) -> list[str]:
    n = study.images
    per_class = n // len(study.classes)
    level = ("the mean over seeds of the paired difference, with a 95 % interval that carries the "
             "seed-to-seed variation and the test-image sampling (two-way random effects, Student's t with seeds - 1 "
             "degrees of freedom; at least Tango's interval over the images)"
             if study.per_model else
             "the paired difference of the two trained networks, with Tango's 95 % score interval: with one "
             "training seed no verdict is about an architecture")
    family = int(comps.in_family.sum()) if len(comps) else 0
    identical = sorted({f"{r.variant} vs {r.against}" for r in comps.itertuples() if r.identical}) if len(comps) else []
    m = margin_pts(study)
    lines = [
        f"Test set: {n:,} images ({per_class:,} per class), {study.img_size} px, clean and under the seeded augmentation; "
        f"{seeds_phrase(study)} ({', '.join(map(str, study.seeds))}). A model's accuracy is its mean over the "
        f"seeds with its 95 % interval; a comparison is {level}.",
        f"The question, fixed before the runs: does the cheaper model lose less than {m} of accuracy (`compare.margin`, "
        f"docs/statistics.md)? Each comparison on each test set is one claim, tested at a difference of -{m}: "
        f"`{stats.NOT_WORSE}`: {stats.VERDICTS[stats.NOT_WORSE].replace('-m', f'-{100 * study.margin:g}')}; "
        f"`{stats.WORSE}`: {stats.VERDICTS[stats.WORSE].replace('-m', f'-{100 * study.margin:g}')}; "
        f"`{stats.INCONCLUSIVE}`: {stats.VERDICTS[stats.INCONCLUSIVE]}. The family: the {family} claims below, Holm-adjusted "
        f"together" + (f"; not in it, `{stats.IDENTICAL}`: " + ", ".join(identical) + f" ({stats.VERDICTS[stats.IDENTICAL]})"
                        if identical else "") + ".",
    ]
    if study.per_model:
        failed = {m_.name: study.failed(m_.name) for m_ in study.models}
        said = "; ".join(f"{name}: seed {', '.join(map(str, s))}" for name, s in failed.items() if s) or "none"
        lines.append(f"Runs that failed to train (validation accuracy more than {100 * study.failed_run:g} points below the "
                     f"best run of the same model, `compare.failed_run`): {said}. A failed run's seed is left out of its "
                     "model's comparisons and counted here.")
    return lines


def _and(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def _row(comps: pd.DataFrame, variant: str, against: str, condition: str):
    return comps[(comps.variant == variant) & (comps.against == against) & (comps.condition == condition)].iloc[0]


def _pair_sentence(study: Study, rows, comps: pd.DataFrame, variant: str, against: str, subject: bool = True) -> str:
    """'cnn_light (99.3 % fewer FLOPs than cnn) scores 88.1 % clean and 60.9 % augmented against
    cnn's 91.2 % and 69.6 %: worse on clean and inconclusive on augmented images'; without
    ``subject``: 'against cnn_light (12.7x more FLOPs) it scores ...'."""
    r = {c: _row(comps, variant, against, c) for c in CONDITIONS}
    flops = fewer_flops(r["clean"].flops_ratio_224)
    than = "as" if flops.startswith("the same") else "than"
    who = f"{variant} ({flops} {than} {against})" if subject else f"against {against} ({flops}) it"
    if r["clean"].verdict == stats.IDENTICAL:
        return f"{who} predicts the same class as {against} on every test image under every seed"
    acc = {name: {c: pct(rows.loc[name, f"{c}_accuracy"]) for c in CONDITIONS} for name in (variant, against)}
    words = {c: stats.WORSE + f" (loses more than {margin_pts(study)})" if r[c].verdict == stats.WORSE else r[c].verdict
             for c in CONDITIONS}
    said = f"{words['clean']} on both" if words["clean"] == words["augmented"] else \
        f"{words['clean']} on clean and {words['augmented']} on augmented images"
    scores = f"{acc[variant]['clean']} clean and {acc[variant]['augmented']} augmented"
    return f"{who} scores {scores} against {against}'s {acc[against]['clean']} and {acc[against]['augmented']}: {said}"


def headline(study: Study, df: pd.DataFrame, comps: pd.DataFrame) -> str:
    """The study's answer, one sentence per question it asks (dead channels; light vs full; trimmed
    vs full and vs light; the scratch control), with absolute accuracies and the verdicts."""
    rows = df.set_index("model")
    by_family = {m.family: {} for m in study.models}
    for m in study.models:
        by_family[m.family][m.variant] = m.name
    out = []
    full = [f["full"] for f in by_family.values() if "full" in f]
    dead = [(f, rows.loc[f, "dead_fraction"]) for f in full if rows.loc[f, "dead_fraction"] is not None]
    if dead:
        samples = f" {study.dead_samples:,}" if study.dead_samples else ""
        text = ("**Dead channels.** Of the full models' feature-map channels, " + ", ".join(f"{f} {100 * v:.1f} %" for f, v in dead)
                + f" are zero on every one of the{samples} validation images measured")
        pruned = [(f["full"], f["pruned"]) for f in by_family.values() if "pruned" in f and "full" in f]
        same = [(f, p) for f, p in pruned if _row(comps, p, f, "clean").verdict == stats.IDENTICAL]
        if same:
            text += (f"; removing them leaves every prediction of {_and([f for f, _ in same])} the same on every test image "
                     f"under every seed, and cuts their FLOPs by " + _and([fewer_flops(
                         _row(comps, p, f, 'clean').flops_ratio_224).removesuffix(' fewer FLOPs') for f, p in same]))
        if rest := [fp for fp in pruned if fp not in same]:
            text += "; removing them: " + "; ".join(_pair_sentence(study, rows, comps, p, f) for f, p in rest)
        out.append(text + ".")
    light = [(f["light"], f["full"]) for f in by_family.values() if "light" in f and "full" in f]
    if light:
        out.append("**The hand-made light models.** " + "; ".join(_pair_sentence(study, rows, comps, v, b) for v, b in light) + ".")
    for f in (f for f in by_family.values() if "trim" in f and "full" in f):
        text = "**A light model found from data (trimming).** " + _pair_sentence(study, rows, comps, f["trim"], f["full"])
        if "light" in f:
            text += "; " + _pair_sentence(study, rows, comps, f["trim"], f["light"], subject=False)
        out.append(text + ".")
        if "trim_scratch" in f:
            out.append("**The scratch control** (the trimmed architecture trained from scratch): "
                       + _pair_sentence(study, rows, comps, f["trim_scratch"], f["trim"]) + ".")
    open_ = comps[(comps.verdict == stats.INCONCLUSIVE) & comps.seeds_needed.astype(bool)] if len(comps) else comps
    if len(open_):
        out.append("**Where the data cannot decide**, the training seeds that would show `not worse` with 80 % power if "
                   f"there were no loss, at {study.images:,} test images (reports/summary.md, \"Power\"): " + "; ".join(
                       f"{r.variant} vs {r.against} ({r.condition}) {r.seeds_needed}" for r in open_.itertuples()) + ".")
    family = int(comps.in_family.sum()) if len(comps) else 0
    title = (f"**Is a CNN with all-black feature maps wasting its filters?** On {DATA_NAMES[study.source]} "
             f"({study.img_size} px, {study.images:,} test images clean and augmented, {seeds_phrase(study)}; `not worse` means "
             f"it loses less than {margin_pts(study)} of accuracy, a margin fixed before the runs; {family} claims, "
             f"Holm-adjusted together):")
    return title + "\n\n" + "".join(f"- {x}\n" for x in out)


def training_status(study: Study, name: str) -> str:
    """How the model's runs ended: the epoch whose weights were kept, of how many, the training
    accuracy then (how well it fits its data), the epoch of the lowest validation loss, and which
    runs failed."""
    runs = [study.train[s][name] for s in study.seeds]
    if any("best_epoch" not in r for r in runs):
        return ""
    kept = ", ".join(f"{r['best_epoch']}/{r['epochs_run']}" for r in runs)
    fit = ", ".join(f"{r['train_accuracy']:.3f}" for r in runs)
    lowest = ", ".join(str(r.get("lowest_val_loss_epoch", r["best_epoch"])) for r in runs)
    failed = study.failed(name)
    return (f"{name} kept epoch {kept}, train accuracy {fit}, lowest validation loss at epoch {lowest}"
            + (f"; failed to train under seed {', '.join(map(str, failed))}" if failed else ""))


def findings(study: Study, df: pd.DataFrame, comps: pd.DataFrame, paper: pd.DataFrame, robust: pd.DataFrame) -> list[str]:
    """One sentence per comparison, and per fact the study rests on, all from the numbers."""
    rows, out = df.set_index("model"), []
    for (variant, against), g in comps.groupby(["variant", "against"], sort=False):
        r = {c: g[g.condition == c].iloc[0] for c in CONDITIONS}
        out.append(f"{variant} against {against} ({r['augmented'].kind}; {fewer_flops(r['augmented'].flops_ratio_224)} "
                   f"at 224 px): augmented {comparison_phrase(r['augmented'], study)}; clean "
                   f"{comparison_phrase(r['clean'], study)}.")
    for m in (m for m in study.models if m.variant in ("full", "light")):
        v = rows.loc[m.name]
        out.append(f"{m.name}: accuracy clean {ci(v.clean_accuracy, v.clean_accuracy_lo, v.clean_accuracy_hi)} "
                   f"(seeds {v.clean_by_seed.replace(';', ', ')}), augmented "
                   f"{ci(v.augmented_accuracy, v.augmented_accuracy_lo, v.augmented_accuracy_hi)} "
                   f"(seeds {v.augmented_by_seed.replace(';', ', ')}).")
    for name in sorted({m.parent for m in study.models if m.variant == "trim"}, key=[m.name for m in study.models].index):
        runs = [study.trim[s][name] for s in study.seeds]
        kept = [r["rounds"][r["kept_round"]] for r in runs]
        rounds = ", ".join(str(r["kept_round"]) for r in runs)
        flops = ", ".join(f"{int(k['flops_224']):,}" for k in kept)
        accuracy_ = ", ".join(f"{r['full_val_accuracy']:.3f} -> {k['val_accuracy']:.3f}" for r, k in zip(runs, kept))
        out.append(f"Trimming {name} (seed by seed): kept round {rounds}; FLOPs at 224 px "
                   f"{int(runs[0]['rounds'][0]['flops_224']):,} -> {flops}; validation accuracy {accuracy_} "
                   f"(budget: {runs[0]['budget']:.3f} below the full model's).")
    statuses = [training_status(study, m.name) for m in study.models]
    if any(statuses):
        out.append("Training, seed by seed (the epoch whose weights were kept, of the epochs run): "
                   + "; ".join(s for s in statuses if s) + ".")
    drops = robust.set_index("model")
    worst = {m: min(TRANSFORMS, key=lambda t: drops.loc[m, t]) for m in drops.index}
    for t in TRANSFORMS:
        hit = [m for m, w in worst.items() if w == t]
        if hit:
            out.append(f"Robustness (the first seed's models): alone, {t} costs the most accuracy for {len(hit)} of {len(worst)} "
                       "models (" + ", ".join(f"{m} {drops.loc[m, 'clean']:.3f} -> {drops.loc[m, t]:.3f}" for m in hit) + ").")
    for name in sorted({m.parent for m in study.models if m.variant == "pruned"}, key=[m.name for m in study.models].index):
        runs, first = [study.prune[s][name] for s in study.seeds], study.prune[study.seeds[0]][name]
        out.append(
            f"Pruning {name} (seed by seed): {', '.join(str(p['channels_removed']) for p in runs)} of "
            f"{runs[0]['channels_before']} channels removed ({', '.join(str(p['dead_channels_trained_layers']) for p in runs)} "
            f"dead in trained layers, {', '.join(str(p['dead_channels_frozen_layers']) for p in runs)} in frozen ones); "
            f"largest output change {max(p['max_abs_output_diff'] for p in runs):.1e} on the {runs[0]['samples']} "
            f"validation images APoZ was measured on (the only images where no change is guaranteed), "
            f"{max(p['max_abs_output_diff_val'] for p in runs):.1e} on the whole validation split "
            f"({sum(p['predictions_changed_val'] for p in runs)} predictions changed over all seeds); for the first "
            f"seed's model {first['max_abs_output_diff_test_clean']:.1e} on the clean and "
            f"{first['max_abs_output_diff_test_augmented']:.1e} on the augmented test set "
            f"({first['predictions_changed_test_clean']} and {first['predictions_changed_test_augmented']} predictions "
            "changed).")
    for p in paper.itertuples():
        out.append(
            f"The paper's {p.variant} vs {p.baseline} (its published counts, {PAPER_TEST_IMAGES:,} test images each, "
            f"unpaired, not in the family): {ci(p.variant_accuracy, p.variant_lo, p.variant_hi)} vs "
            f"{ci(p.baseline_accuracy, p.baseline_lo, p.baseline_hi)}; difference "
            f"{pts(p.diff_pp, p.diff_lo_pp, p.diff_hi_pp)}, {p_value(p.p)} (Fisher): {p.verdict} at this study's margin."
        )
    return out


def fmt(col: str, v) -> str:
    """A table cell: FLOPs as k/M/G, counts with thousands separators, accuracies to 4 digits."""
    if isinstance(v, (str, bool, np.bool_)):
        return str(v)
    if v is None or (isinstance(v, float) and np.isnan(v)):
        return ""
    if col.endswith("_pp"):
        return f"{v:+.2f}"
    if col.startswith("p_") or col.endswith("_p") or col == "p":
        return p_value(v).removeprefix("p = ").removeprefix("p ")
    if col.startswith("var_"):
        return f"{v:.2e}"
    if col.endswith("_pct"):
        return f"{v:.1f}"
    if "ratio" in col:
        return times(v)
    if col.startswith(("flops", "macs", "FLOPs")):
        return plots.human(v)
    if col.startswith(("params", "filters", "test_images", "seed")):
        return f"{int(round(v)):,}"
    if col == "latency_ms" or col == "misclassified":
        return f"{v:.1f}" if col == "misclassified" else f"{v:.2f}"
    return f"{v:.4f}" if isinstance(v, (float, np.floating)) else str(v)


def markdown(df: pd.DataFrame) -> str:
    head = "| " + " | ".join(df.columns) + " |\n|" + "---|" * len(df.columns) + "\n"
    return head + "".join("| " + " | ".join(fmt(c, v) for c, v in row.items()) + " |\n" for _, row in df.iterrows())


def verdict_table(comps: pd.DataFrame, study: Study) -> pd.DataFrame:
    """The README's table: each comparison, clean and augmented, with its verdict."""
    rows = []
    for (variant, against), g in comps.groupby(["variant", "against"], sort=False):
        r = {c: g[g.condition == c].iloc[0] for c in CONDITIONS}
        rows.append({"comparison": f"{variant} vs {against}", "FLOPs": fewer_flops(r["clean"].flops_ratio_224),
                     **{f"{c}: difference [95% CI]": pts(r[c].diff_pp, r[c].lo_pp, r[c].hi_pp) for c in ("clean", "augmented")},
                     **{f"{c}: verdict (Holm p)": (f"{r[c].verdict} ({fmt('p', r[c].p_holm)})" if r[c].in_family
                                                   else r[c].verdict) for c in ("clean", "augmented")}})
    return pd.DataFrame(rows)


def results_table(df: pd.DataFrame) -> pd.DataFrame:
    """Each model's cost and accuracies (mean over seeds, with intervals)."""
    return pd.DataFrame({
        "model": df.model,
        "FLOPs/image (224 px)": df.flops_224,
        "params (224 px)": df.params_224 if "params_224" in df else df.params,
        "clean accuracy [95% CI]": [ci(*v) for v in zip(df.clean_accuracy, df.clean_accuracy_lo, df.clean_accuracy_hi)],
        "augmented accuracy [95% CI]": [ci(*v) for v in zip(df.augmented_accuracy, df.augmented_accuracy_lo,
                                                            df.augmented_accuracy_hi)],
    })  # fmt: skip


def findings_page(study: Study, df, comps, lines: list[str]) -> str:
    """reports/findings.md: the headline, the setup and the family, the verdicts (the README shows
    everything above the first '## ' heading), then every model and one sentence per finding."""
    return ("# Findings\n\n" + headline(study, df, comps) + "\n" + "\n\n".join(setup_lines(study, comps)) + "\n\n"
            + markdown(verdict_table(comps, study)) + "\nPer-seed differences, the per-seed paired tests, the power of "
            "every claim and every table: [reports/summary.md](summary.md); the picture: [reports/effects.png](effects.png).\n\n"
            "## Models\n\n" + markdown(results_table(df)) + "\n## Every finding\n\n" + "".join(f"- {x}\n" for x in lines))


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


def power_text(study: Study, power: pd.DataFrame) -> str:
    if not study.per_model:
        return "The power of a claim needs the seed-to-seed spread: two or more training seeds.\n"
    return (f"Per claim of the family, from its own variance components (seeds, images, residual; "
            f"`reports/comparisons.csv`): the power the design had to end `not worse` if the true difference were 0, "
            f"and the training seeds that 80 % power would take at {study.images:,} test images (noncentral t, "
            f"at the family's Bonferroni level, the level Holm's first step uses; the range: the seeds needed at the ends "
            f"of the seed variance's 95 % interval, chi-square with seeds - 1 degrees of freedom).\n\n" + markdown(power))


def summary_page(study: Study, df, comps, per_seed, robust, paper, power) -> str:
    """reports/summary.md: every table."""
    return (
        "# Summary\n\n" + " ".join(setup_lines(study, comps)) + " FLOPs per image at the training input size "
        "(`flops`) and at 224x224 (`flops_224`, the paper's size), means over the seeds; `augmented`: the seeded "
        "augmented copy of the test split.\n\n" + markdown(df)
        + "\n## Comparisons (the family of claims)\n\nDifferences in percentage points with their 95 % interval; "
        "`p_margin` the p of the test of a difference of -margin, `p_holm` it Holm-adjusted over the family, `p_zero` "
        "the p of no difference; `per_seed_pp`: each seed's difference.\n\n" + markdown(comps)
        + "\n## Each comparison seed by seed (two trained networks: Tango's score interval, its score test)\n\n"
        + markdown(per_seed) + f"\n## Seed-to-seed spread (each model's accuracy under the training seeds "
        f"{', '.join(map(str, study.seeds))})\n\n" + markdown(seed_spread_table(study))
        + "\n## Power: training seeds for the margin\n\n" + power_text(study, power)
        + f"\n## Robustness by transform (accuracy on the test set; the models of the first training "
        f"seed, {study.seeds[0]}, the only ones evaluated under each augmentation alone)\n\n"
        + markdown(robust) + "\n## The paper's published numbers (224 px, real data, 7,500 test images per model)\n\n"
        + markdown(PAPER_RESULTS) + "\nIts light variants against their full models, unpaired (Fisher's exact test, "
        "Newcombe's interval): the paper published counts, not per-image predictions.\n\n" + markdown(paper)
    )
