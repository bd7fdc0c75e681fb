"""The study's tables and findings, from the stages' metrics and every test image's predictions,
over all training seeds (stage summarize writes them; the statistics: ``ricecnn.stats``).

A model's accuracy is its mean over the training seeds; a comparison of two models is the mean
over seeds of their paired difference on the same test images. With two or more seeds a comparison
is about the two architectures (``stats.architecture_effect``); with one it is about those two
trained networks only (``stats.paired``), and the text says so. The family of tests is every
comparison the findings report, on the clean and on the augmented test set; verdicts use
Holm-adjusted p-values and the margin ``compare.margin``. Every sentence is generated from the
numbers: nothing here is written by hand about the results.
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
COST_KEYS = ("params", "params_trainable", "flops", "macs", "filters", "flops_224")
KINDS = {"light": "light vs full", "pruned": "pruned vs full", "trim": "trimmed vs full",
         "trim_scratch": "scratch control vs trimmed"}


DATA_NAMES = {"synthetic": "the synthetic stand-in", "kaggle": "the Rice Image Dataset (Kaggle)",
              "path": "the images of data.path"}


@dataclass
class Study:
    """Everything summarize reads. Per training seed (``by seed -> model name -> dict``): ``train``
    (validation accuracy, epochs), ``cost`` (params, FLOPs, filters), ``dead`` (dead channel
    fraction or None), ``evaluate`` (evaluate's metrics), ``prune`` and ``trim`` (by trained model).
    ``correct``: model -> test condition -> (seeds, images) correctness."""

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


    @property
    def per_model(self) -> bool:
        """Whether a comparison is about architectures (two or more seeds)."""
        return len(self.seeds) >= 2

    def mean(self, table: dict[int, dict[str, dict]], name: str, key: str) -> float:
        return float(np.mean([table[s][name][key] for s in self.seeds]))


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


def correctness(predictions: dict[int, dict[str, pd.DataFrame]], names: list[str]) -> dict[str, dict[str, np.ndarray]]:
    """model -> condition -> (seeds, images) booleans, from evaluate's per-image predictions, over
    the seeds that have the condition (each transform alone: the first seed only), in seed order."""
    seeds = list(predictions)
    out = {}
    for name in names:
        frames = [predictions[s][name] for s in seeds]
        conditions = dict.fromkeys(c for f in frames for c in f.columns if c not in ("image", "actual"))
        out[name] = {c: np.stack([(f[c] == f["actual"]).to_numpy() for f in frames if c in f]) for c in conditions}
    return out


def accuracy(study: Study, name: str, condition: str) -> stats.Effect | stats.Accuracy:
    """A model's accuracy on a test condition: the mean over seeds with its interval (seed variation
    and image sampling), or with one seed its Wilson interval."""
    correct = study.correct[name][condition]
    return stats.over_seeds(correct) if study.per_model else stats.accuracy(correct[0])


def _value(a) -> float:
    return a.diff if isinstance(a, stats.Effect) else a.value


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
            "clean_accuracy": _value(clean), "clean_accuracy_lo": clean.lo, "clean_accuracy_hi": clean.hi,
            "augmented_accuracy": _value(aug), "augmented_accuracy_lo": aug.lo, "augmented_accuracy_hi": aug.hi,
            "clean_by_seed": ";".join(f"{v:.4f}" for v in study.correct[m.name]["clean"].mean(axis=1)),
            "augmented_by_seed": ";".join(f"{v:.4f}" for v in study.correct[m.name]["augmented"].mean(axis=1)),
            "misclassified": float(np.mean([study.evaluate[s][m.name]["misclassified"] for s in study.seeds])),
            "test_images": study.correct[m.name]["clean"].shape[1],
            "latency_ms": study.evaluate[study.seeds[0]][m.name].get("latency_ms"),  # the first seed's trained models
        })  # fmt: skip
    return pd.DataFrame(rows)


def comparisons(study: Study) -> pd.DataFrame:
    """Every paired comparison (``Evaluated.against``), on the augmented and the clean test set: the
    mean paired difference over seeds, its interval, the raw and the Holm-adjusted p over the whole
    family, the verdict, and each seed's difference."""
    rows = []
    for m in study.models:
        for other in m.against:
            flops = study.mean(study.cost, other, "flops_224") / study.mean(study.cost, m.name, "flops_224")
            for c in CONDITIONS:
                v, b = study.correct[m.name][c], study.correct[other][c]
                if study.per_model:
                    e = stats.architecture_effect(v, b)
                    diff, lo, hi, p, per_seed = e.diff, e.lo, e.hi, e.p, e.per_seed
                else:
                    d = stats.paired(v[0], b[0])
                    diff, lo, hi, p, per_seed = d.diff, d.lo, d.hi, d.p, (d.diff,)
                rows.append({"family": m.family, "variant": m.name, "against": other,
                             "kind": KINDS[m.variant] if other == m.baseline else "trimmed vs light",
                             "condition": c, "flops_ratio_224": flops, "diff_pp": 100 * diff, "lo_pp": 100 * lo,
                             "hi_pp": 100 * hi, "p": p, "per_seed_pp": ";".join(f"{100 * x:+.1f}" for x in per_seed)})
    df = pd.DataFrame(rows)
    if len(df):
        df["p_holm"] = stats.holm(df.p.tolist())
        df["verdict"] = [stats.verdict(r.diff_pp / 100, r.lo_pp / 100, r.hi_pp / 100, r.p_holm, study.margin)
                         for r in df.itertuples()]
    return df


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


POWER_MARGINS = (0.01, 0.02, 0.03)
POWER_IMAGES = (1000, 2500, 7500)  # the quick default's test set, more, the paper's 10 %


def spread(study: Study) -> tuple[tuple[float, float, float], list[str]]:
    """The variance components (seed, image, residual) of the paired difference behind the study's
    question, "is the cheaper model as good as the full one?": the median, component by component,
    over the light-vs-full and trimmed-vs-full comparisons on the augmented test set; and which."""
    used, parts = [], []
    for m in study.models:
        if m.variant in ("light", "trim") and m.baseline:
            used.append(f"{m.name} vs {m.baseline}")
            parts.append(stats.components(study.correct[m.name]["augmented"].astype(float)
                                          - study.correct[m.baseline]["augmented"]))
    return tuple(float(np.median([p[i] for p in parts])) for i in range(3)), used


def power_table(study: Study) -> pd.DataFrame:
    """Training seeds needed (80 % power to end `not worse` when the true difference is 0) for margins
    of 1, 2 and 3 points, at several test-set sizes, from the measured spread (``spread``)."""
    if not study.per_model:
        return pd.DataFrame(columns=["margin", *(f"seeds at {n:,} test images" for n in POWER_IMAGES)])
    parts, _ = spread(study)
    rows = []
    for m in POWER_MARGINS:
        cells = {f"seeds at {n:,} test images": stats.seeds_needed(parts, m, n) for n in POWER_IMAGES}
        rows.append({"margin": f"{100 * m:g} pts", **{k: (str(v) if v else "> 100") for k, v in cells.items()}})
    return pd.DataFrame(rows)


def paper_table(margin: float) -> pd.DataFrame:
    """The paper's light variants against their full models: its augmented accuracies (each of
    7,500 test images) compared unpaired, as the per-image predictions were not published. Not in
    the family of tests: its verdicts use the raw p."""
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
                     "diff_hi_pp": 100 * d.hi, "p": d.p, "verdict": stats.verdict(d.diff, d.lo, d.hi, d.p, margin)})
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


def pts(diff: float, lo: float, hi: float) -> str:
    return f"{diff:+.1f} pts [{lo:+.1f}, {hi:+.1f}]"


def times(ratio: float) -> str:
    """How many times cheaper: 138x, 11.4x, 1.07x."""
    return f"{ratio:.0f}x" if ratio >= 100 else f"{ratio:.1f}x" if ratio >= 10 else f"{ratio:.2f}x"


def fewer_flops(ratio: float) -> str:
    """FLOPs of the baseline / FLOPs of the variant, in words: "138x fewer", or "12.7x more" below 1."""
    return f"{times(ratio)} fewer" if ratio >= 1 else f"{times(1 / ratio)} more"


def p_value(p: float) -> str:
    return "p < 0.001" if p < 0.001 else f"p = {p:.3f}"


def seeds_phrase(study: Study) -> str:
    k = len(study.seeds)
    return f"{k} training seeds" if study.per_model else "1 training seed: about these trained networks only, not their architectures"


def comparison_phrase(r) -> str:
    """'+4.4 pts [-3.1, +11.9] (seeds +2.1, +5.0, +6.1), p = 0.090, Holm p = 1.000: inconclusive'"""
    seeds = f" (seeds {', '.join(r.per_seed_pp.split(';'))})" if ";" in r.per_seed_pp else ""
    return (f"{pts(r.diff_pp, r.lo_pp, r.hi_pp)}{seeds}, {p_value(r.p)}, Holm {p_value(r.p_holm)}: "
            f"{r.verdict}")


def setup_lines(study: Study, comps: pd.DataFrame) -> list[str]:
    n = study.correct[study.models[0].name]["clean"].shape[1]
    per_class = n // len(study.classes)
    level = ("the mean over seeds of the paired difference, with a 95 % interval that carries the "
             "seed-to-seed variation and the test-image sampling (two-way random effects, Student's t with seeds - 1 degrees of freedom)"
             if study.per_model else
             "the paired difference of the two trained networks, with Tango's 95 % score interval: with one "
             "training seed no verdict is about an architecture")
    return [
        f"Test set: {n:,} images ({per_class:,} per class), {study.img_size} px; "
        f"{seeds_phrase(study)} ({', '.join(map(str, study.seeds))}). A model's accuracy is its mean over the "
        f"seeds with its 95 % interval; a comparison is {level}.",
        f"The family of tests: the {len(comps)} paired comparisons below ({len(comps) // len(CONDITIONS)} "
        f"comparison{'s' * (len(comps) // len(CONDITIONS) != 1)} on the augmented and on the clean test set); verdicts use Holm-adjusted p-values (the raw p "
        f"beside them). Verdicts: `better` or `worse` where the Holm-adjusted p < 0.05; otherwise "
        f"`equivalent (within ±{100 * study.margin:g} pts)` where the interval lies inside ±{100 * study.margin:g} "
        f"points, `not worse (margin {100 * study.margin:g} pts)` where it lies above -{100 * study.margin:g}, and "
        f"`inconclusive` else (margin: `compare.margin`, docs/statistics.md).",
    ]


def _verdict(comps: pd.DataFrame, variant: str, against: str, condition: str = "augmented"):
    return comps[(comps.variant == variant) & (comps.against == against) & (comps.condition == condition)].iloc[0]


def headline(study: Study, df: pd.DataFrame, comps: pd.DataFrame) -> str:
    """A short paragraph that answers the title question from the verdicts (augmented test set)."""
    rows = df.set_index("model")
    by_family = {m.family: {} for m in study.models}
    for m in study.models:
        by_family[m.family][m.variant] = m.name
    clause = []
    full = [f["full"] for f in by_family.values() if "full" in f]
    dead = ", ".join(f"{f} {100 * rows.loc[f, 'dead_fraction']:.0f} %" for f in full if rows.loc[f, "dead_fraction"] is not None)
    pruned = [(f, f["pruned"]) for f in by_family.values() if "pruned" in f and "full" in f]
    if dead:
        text = f"Dead channels: of the full models' feature-map channels, {dead} are zero on every validation image of the APoZ sample"
        if pruned:
            text += "; removing them saves " + ", ".join(
                f"{times(rows.loc[f['full'], 'flops_224'] / rows.loc[p, 'flops_224'])} of {f['full']}'s FLOPs "
                f"({_verdict(comps, p, f['full']).verdict})" for f, p in pruned)
        clause.append(text + ".")
    light = [f for f in by_family.values() if "light" in f and "full" in f]
    if light:
        clause.append("The hand-made light models against their full models: " + "; ".join(
            f"{f['light']} ({fewer_flops(rows.loc[f['full'], 'flops_224'] / rows.loc[f['light'], 'flops_224'])} FLOPs) "
            f"{_verdict(comps, f['light'], f['full']).verdict}, "
            f"{pts(*(_verdict(comps, f['light'], f['full'])[k] for k in ('diff_pp', 'lo_pp', 'hi_pp')))}" for f in light) + ".")
    trimmed = [f for f in by_family.values() if "trim" in f and "full" in f]
    if trimmed:
        parts = []
        for f in trimmed:
            t = f["trim"]
            part = f"{t} ({fewer_flops(rows.loc[f['full'], 'flops_224'] / rows.loc[t, 'flops_224'])} FLOPs) against {f['full']}: " \
                   f"{_verdict(comps, t, f['full']).verdict}"
            if "light" in f:
                part += f", against {f['light']}: {_verdict(comps, t, f['light']).verdict}"
            if "trim_scratch" in f:
                part += f"; trained from scratch: {_verdict(comps, f['trim_scratch'], t).verdict} against it"
            parts.append(part)
        clause.append("Trimming (light models found from data): " + "; ".join(parts) + ".")
    n = study.correct[study.models[0].name]["augmented"].shape[1]
    return (f"**Is a CNN with all-black feature maps wasting its filters?** On {DATA_NAMES[study.source]} "
            f"({study.img_size} px, {n:,} augmented test images, {seeds_phrase(study)}; verdicts on the augmented "
            f"test set, Holm-adjusted, margin {100 * study.margin:g} points): " + " ".join(clause))


def training_status(study: Study, name: str) -> str:
    """How the model's runs ended: by early stopping, or at the epoch limit (best epoch of each run)."""
    runs = [study.train[s][name] for s in study.seeds]
    if any("best_epoch" not in r for r in runs):
        return ""
    early = sum(r["epochs_run"] < r.get("epochs_max", np.inf) for r in runs)
    epochs = ", ".join(f"{r['best_epoch']} of {r['epochs_run']}" for r in runs)
    return f"{name} stopped early in {early} of {len(runs)} runs (best epoch {epochs})"


def findings(study: Study, df: pd.DataFrame, comps: pd.DataFrame, paper: pd.DataFrame, robust: pd.DataFrame) -> list[str]:
    """One sentence per comparison, and per fact the study rests on, all from the numbers."""
    rows, out = df.set_index("model"), []
    for (variant, against), g in comps.groupby(["variant", "against"], sort=False):
        r = {c: g[g.condition == c].iloc[0] for c in CONDITIONS}
        out.append(f"{variant} against {against} ({r['augmented'].kind}; {fewer_flops(r['augmented'].flops_ratio_224)} "
                   f"FLOPs at 224 px): augmented {comparison_phrase(r['augmented'])}; clean {comparison_phrase(r['clean'])}.")
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
        out.append("Training: " + "; ".join(s for s in statuses if s) + ".")
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
            f"{pts(p.diff_pp, p.diff_lo_pp, p.diff_hi_pp)}, {p_value(p.p)} (Fisher): {p.verdict}."
        )
    return out


def fmt(col: str, v) -> str:
    """A table cell: FLOPs as k/M/G, counts with thousands separators, accuracies to 4 digits."""
    if isinstance(v, str):
        return v
    if v is None or (isinstance(v, float) and np.isnan(v)):
        return ""
    if col.endswith("_pp"):
        return f"{v:+.2f}"
    if col.startswith("p_") or col.endswith("_p") or col == "p":
        return p_value(v).removeprefix("p = ").removeprefix("p ")
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


def verdict_table(comps: pd.DataFrame) -> pd.DataFrame:
    """The README's table: each comparison, augmented and clean, with its verdict."""
    rows = []
    for (variant, against), g in comps.groupby(["variant", "against"], sort=False):
        r = {c: g[g.condition == c].iloc[0] for c in CONDITIONS}
        rows.append({"comparison": f"{variant} vs {against}", "FLOPs": fewer_flops(r['augmented'].flops_ratio_224),
                     **{f"{c}: difference [95% CI]": pts(r[c].diff_pp, r[c].lo_pp, r[c].hi_pp) for c in CONDITIONS},
                     **{f"{c}: p (Holm)": f"{fmt('p', r[c].p)} ({fmt('p', r[c].p_holm)})" for c in CONDITIONS},
                     **{f"{c}: verdict": r[c].verdict for c in CONDITIONS}})
    return pd.DataFrame(rows)


def results_table(df: pd.DataFrame) -> pd.DataFrame:
    """Each model's cost and accuracies (mean over seeds, with intervals)."""
    return pd.DataFrame({
        "model": df.model,
        "FLOPs/image (224 px)": df.flops_224,
        "params": df.params,
        "clean accuracy [95% CI]": [ci(*v) for v in zip(df.clean_accuracy, df.clean_accuracy_lo, df.clean_accuracy_hi)],
        "augmented accuracy [95% CI]": [ci(*v) for v in zip(df.augmented_accuracy, df.augmented_accuracy_lo,
                                                            df.augmented_accuracy_hi)],
    })  # fmt: skip


def findings_page(study: Study, df, comps, lines: list[str]) -> str:
    """reports/findings.md: the headline, the setup and the family, the verdicts (the README shows
    everything above the first '## ' heading), then every model and one sentence per finding."""
    return ("# Findings\n\n" + headline(study, df, comps) + "\n\n" + "\n\n".join(setup_lines(study, comps)) + "\n\n"
            + markdown(verdict_table(comps)) + "\nPer-seed differences, the per-seed paired tests and every table: "
            "[reports/summary.md](summary.md); the picture: [reports/effects.png](effects.png).\n\n"
            "## Models\n\n" + markdown(results_table(df)) + "\n## Every finding\n\n" + "".join(f"- {x}\n" for x in lines))


def seed_spread_table(study: Study) -> pd.DataFrame:
    """Each model's accuracy under each training seed, and their standard deviation over the seeds
    (the seed-to-seed spread the power rests on), on the augmented and the clean test set."""
    rows = []
    for m in study.models:
        row = {"model": m.name}
        for c in CONDITIONS:
            acc = study.correct[m.name][c].mean(axis=1)
            row[f"{c}: per seed"] = " / ".join(f"{a:.3f}" for a in acc)
            row[f"{c}: SD (pts)"] = f"{100 * np.std(acc, ddof=1):.1f}" if len(acc) > 1 else "-"
        rows.append(row)
    return pd.DataFrame(rows)


def power_text(study: Study, power: pd.DataFrame) -> str:
    if not study.per_model:
        return "The seeds needed for a margin need the seed-to-seed spread: two or more training seeds.\n"
    parts, used = spread(study)
    k, n = len(study.seeds), study.correct[study.models[0].name]["augmented"].shape[1]
    return (f"From the spread of {', '.join(used)} (augmented test set; the median variance components: seeds "
            f"{parts[0]:.2e}, images {parts[1]:.2e}, residual {parts[2]:.2e}): {k} seeds and {n:,} test images resolve "
            f"a margin of {100 * stats.resolvable_margin(parts, k, n):.1f} points with 80 % power; the training seeds "
            f"needed for 80 % power to find `not worse` when the true difference is 0:\n\n" + markdown(power))


def summary_page(study: Study, df, comps, per_seed, robust, paper, power) -> str:
    """reports/summary.md: every table."""
    return (
        "# Summary\n\n" + " ".join(setup_lines(study, comps)) + " FLOPs per image at the training input size "
        "(`flops`) and at 224x224 (`flops_224`, the paper's size), means over the seeds; `augmented`: the seeded "
        "augmented copy of the test split.\n\n" + markdown(df)
        + "\n## Comparisons (the family of tests)\n\nDifferences in percentage points with their 95 % interval; `p` "
        "raw, `p_holm` Holm-adjusted over the family; `per_seed_pp`: each seed's difference.\n\n" + markdown(comps)
        + "\n## Each comparison seed by seed (two trained networks: Tango's score interval, its score test)\n\n"
        + markdown(per_seed) + f"\n## Seed-to-seed spread (each model's accuracy under the training seeds "
        f"{', '.join(map(str, study.seeds))})\n\n" + markdown(seed_spread_table(study))
        + "\n## Power: training seeds and test images for a margin\n\n" + power_text(study, power)
        + f"\n## Robustness by transform (accuracy on the test set; the models of the first training "
        f"seed, {study.seeds[0]}, the only ones evaluated under each augmentation alone)\n\n"
        + markdown(robust) + "\n## The paper's published numbers (224 px, real data, 7,500 test images per model)\n\n"
        + markdown(PAPER_RESULTS) + "\nIts light variants against their full models, unpaired (Fisher's exact test, "
        "Newcombe's interval): the paper published counts, not per-image predictions.\n\n" + markdown(paper)
    )
