"""The study's findings: the headline that answers its questions, the setup and the families of claims,
and one sentence per finding (reports/study/findings.md), all generated from the tables
(``ricecnn.study.tables``) and worded by ``ricecnn.study.words``: nothing here is written by hand about
the results. With two or more seeds a comparison is about the two architectures; with one, about
those two trained networks only, and the text says so.
"""

from __future__ import annotations

import pandas as pd

from ..evaluation.augment import TRANSFORMS
from . import stats, words
from .paper import PAPER_TEST_IMAGES
from .records import CONDITIONS, DATA_NAMES, Study
from .tables import KINDS
from .words import (
    and_list,
    ci,
    claims,
    comparison_phrase,
    fewer_flops,
    level_text,
    margin_pts,
    p_value,
    pct,
    pts,
    seeds_phrase,
    undecided_words,
)


def families_text(study: Study, comps: pd.DataFrame) -> str:
    """'confirmatory: the 3 claims light vs full on clean images, each interval at 98.33 %; ...'"""
    out = []
    for name, spec in study.families.items():
        rows = comps[comps.claim_family == name] if len(comps) else comps
        if not len(rows):
            continue
        kinds = " and ".join(KINDS[k] for k in spec.kinds)
        sets = " and ".join(spec.conditions)
        named = comps[comps.named_undecidable & comps.claim_kind.isin(spec.kinds) & comps.condition.isin(spec.conditions)]
        test = " (superiority: margin 0)" if spec.margin == 0 else ""
        out.append(f"`{name}`: the {claims(len(rows))} {kinds} on {sets} images{test}, each interval at {level_text(rows.level.iloc[0])}"
                   + (" (withheld by the plan, their pilot interval holding the margin: "
                      + ", ".join(f"{r.variant} vs {r.against}" for r in named.itertuples()) + ")" if len(named) else ""))
    return "; ".join(out)


def setup_lines(study: Study, comps: pd.DataFrame) -> list[str]:
    n = study.images
    per_class = n // len(study.classes)
    level = ("the mean over replicates of the paired difference, with an interval that carries the replicate-to-replicate "
             "variation (data draw and training seed) and the test-image sampling (images nested in replicates: one-way "
             "random effects, Student's t with replicates - 1 degrees of freedom; at least Tango's interval over every "
             "replicate's images)"
             if study.per_model else
             "the paired difference of the two trained networks, with Tango's score interval: with one "
             "training seed no verdict is about an architecture")
    identical = sorted({f"{r.variant} vs {r.against}" for r in comps.itertuples() if r.identical}) if len(comps) else []
    m = margin_pts(study)
    said = families_text(study, comps)
    lines = [
        f"Test set: {n:,} images ({per_class:,} per class), {study.img_size} px, clean and under the seeded augmentation; "
        f"{seeds_phrase(study)} ({', '.join(map(str, study.seeds))}). A model's accuracy is its mean over the "
        f"seeds with its 95 % interval; a comparison is {level}.",
        f"The question, fixed before the runs: does the cheaper model lose less than {m} of accuracy (`compare.margin`, "
        f"docs/statistics.md)? The claims that get a verdict, and their families, were fixed in params.yaml before the runs "
        f"(`compare.families`): {said or 'none'}. A family of c claims shows each interval at 1 - 0.05/c (Bonferroni), so "
        f"that all of them hold together at least 95 % of the time, and each verdict is read off the interval printed "
        f"beside it: `{stats.NOT_WORSE}`: {words.VERDICTS[stats.NOT_WORSE].replace('-m', f'-{100 * study.margin:g}')}; "
        f"`{stats.WORSE}`: {words.VERDICTS[stats.WORSE].replace('-m', f'-{100 * study.margin:g}')}; "
        f"`{stats.INCONCLUSIVE}`: {words.VERDICTS[stats.INCONCLUSIVE].replace('-m', f'-{100 * study.margin:g}')}"
        + (f"; in a superiority family, `{stats.BETTER}`: {words.VERDICTS[stats.BETTER]}, `{stats.WORSE}` below 0"
           if len(comps) and (comps[comps.claim_family != stats.EXPLORATORY].margin_pp == 0).any() else "") + ". "
        f"Every other comparison is `{stats.EXPLORATORY}`: {words.VERDICTS[stats.EXPLORATORY]}"
        + (f"; `{stats.IDENTICAL}`: " + ", ".join(identical) + f" ({words.VERDICTS[stats.IDENTICAL]})" if identical else "") + ".",
    ]
    if study.per_model:
        failed = {m_.name: study.failed(m_.name) for m_ in study.models}
        said = "; ".join(f"{name}: seed {', '.join(map(str, s))}" for name, s in failed.items() if s)
        lines.append(f"Runs that failed to train (validation accuracy more than {100 * study.failed_run:g} points below the "
                     f"best run of the same model, `compare.failed_run`): {said or 'none'}, of {len(study.seeds)} runs per "
                     "model. Every run counts in the verdicts; the comparisons without the failed runs' seeds are a "
                     "sensitivity analysis beside them (`sens_*` in reports/study/comparisons.csv).")
    return lines


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
        return f"{who} predicts the same class as {against} on every test image of every replicate"
    acc = {name: {c: pct(rows.loc[name, f"{c}_accuracy"]) for c in CONDITIONS} for name in (variant, against)}
    words = {c: claim_words(r[c], study) for c in CONDITIONS}
    said = f"{words['clean']} on both" if words["clean"] == words["augmented"] else \
        f"{words['clean']} on clean and {words['augmented']} on augmented images"
    scores = f"{acc[variant]['clean']} clean and {acc[variant]['augmented']} augmented"
    return f"{who} scores {scores} against {against}'s {acc[against]['clean']} and {acc[against]['augmented']}: {said}"


def claim_words(r, study: Study) -> str:
    """A claim in a few words, with the interval its verdict is read off: 'worse (loses more than 3
    points; -6.4 pts [-9.9, -3.0], 98.33 %)', 'exploratory: -4.3 pts [-9.3, +0.7], 95 %'."""
    interval = f"{pts(r.diff_pp, r.lo_pp, r.hi_pp)}, {level_text(r.level)}"
    if r.verdict == stats.EXPLORATORY:
        return f"exploratory{' (withheld by the plan)' if getattr(r, 'named_undecidable', False) else ''}: {interval}"
    if r.verdict == stats.WORSE:
        return f"{stats.WORSE} (loses more than {margin_pts(study)}; {interval})"
    return f"{r.verdict} ({interval})"


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
            text += (f"; removing them leaves every prediction of {and_list([f for f, _ in same])} the same on every test image "
                     f"of every replicate, and cuts their FLOPs by " + and_list([fewer_flops(
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
    open_ = comps[comps.verdict == stats.INCONCLUSIVE] if len(comps) else comps
    if len(open_):
        out.append("**Where the data cannot decide** (reports/study/summary.md, \"Power\"): " + "; ".join(
            f"{r.variant} vs {r.against} ({r.condition}), {pts(r.diff_pp, r.lo_pp, r.hi_pp)}: {undecided_words(r, study)}"
            for r in open_.itertuples()) + ".")
    withheld = comps[comps.named_undecidable] if len(comps) else comps
    if len(withheld):
        out.append("**Withheld by the plan** (no verdict: the pilot's interval held the margin, so the plan made before "
                   "these runs gave the claim none; docs/statistics.md, \"The pilot and the plan\"): " + "; ".join(
                       f"{r.variant} vs {r.against} ({r.condition}), {pts(r.diff_pp, r.lo_pp, r.hi_pp)} ({level_text(r.level)})"
                       for r in withheld.itertuples()) + ".")
    families = families_text(study, comps)
    title = (f"**Is a CNN with all-black feature maps wasting its filters?** On {DATA_NAMES[study.source]} "
             f"({study.img_size} px, {study.images:,} test images clean and augmented, {seeds_phrase(study)}; `not worse` means "
             f"it loses less than {margin_pts(study)} of accuracy, a margin fixed before the runs; a verdict is read off the "
             f"interval beside it, its family's simultaneous one (families fixed before the runs: {families or 'none'}); "
             f"every other comparison is exploratory, its 95 % interval and no verdict):")
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
    for m in (m for m in study.models if m.trained):
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
        out.append(f"Trimming {name} (replicate by replicate): kept round {rounds}; FLOPs at 224 px "
                   f"{int(runs[0]['rounds'][0]['flops_224']):,} -> {flops}; validation accuracy {accuracy_} "
                   f"(budget: {runs[0]['budget']:.3f} below the full model's).")
    statuses = [training_status(study, m.name) for m in study.models]
    if any(statuses):
        out.append("Training, replicate by replicate (the epoch whose weights were kept, of the epochs run): "
                   + "; ".join(s for s in statuses if s) + ".")
    drops = robust.set_index("model")
    worst = {m: min(TRANSFORMS, key=lambda t: drops.loc[m, t]) for m in drops.index}
    for t in TRANSFORMS:
        hit = [m for m, w in worst.items() if w == t]
        if hit:
            out.append(f"Robustness (seed {study.pictures_seed}'s models, {robustness_images(study):,} test images spread evenly): alone, {t} costs the most accuracy for {len(hit)} of {len(worst)} "
                       "models (" + ", ".join(f"{m} {drops.loc[m, 'clean']:.3f} -> {drops.loc[m, t]:.3f}" for m in hit) + ").")
    for name in sorted({m.parent for m in study.models if m.variant == "pruned"}, key=[m.name for m in study.models].index):
        runs = [study.prune[s][name] for s in study.seeds]
        pruned = next(m.name for m in study.models if m.variant == "pruned" and m.parent == name)
        test = ("the same predicted class on every test image, clean and augmented, of every replicate"
                if study.identical(pruned, name) else "some test predictions changed (the comparisons above)")
        out.append(
            f"Pruning {name} (replicate by replicate): {', '.join(str(p['channels_removed']) for p in runs)} of "
            f"{runs[0]['channels_before']} channels removed ({', '.join(str(p['dead_channels_trained_layers']) for p in runs)} "
            f"dead in trained layers, {', '.join(str(p['dead_channels_frozen_layers']) for p in runs)} in frozen ones); "
            f"largest output change {max(p['max_abs_output_diff'] for p in runs):.1e} on the {runs[0]['samples']} "
            f"validation images APoZ was measured on (the only images where no change is guaranteed), "
            f"{max(p['max_abs_output_diff_val'] for p in runs):.1e} on the whole validation split "
            f"({sum(p['predictions_changed_val'] for p in runs)} predictions changed over all seeds); {test}.")
    for p in paper.itertuples():
        out.append(
            f"The paper's {p.variant} vs {p.baseline} (its published counts, {PAPER_TEST_IMAGES:,} test images each, "
            f"unpaired, in no family): {ci(p.variant_accuracy, p.variant_lo, p.variant_hi)} vs "
            f"{ci(p.baseline_accuracy, p.baseline_lo, p.baseline_hi)}; difference "
            f"{pts(p.diff_pp, p.diff_lo_pp, p.diff_hi_pp)}, {p_value(p.p)} (Fisher): {p.verdict} at this study's margin."
        )
    return out


def robustness_images(study: Study) -> int:
    """How many test images each transform alone was scored on."""
    return next((study.correct[m.name][TRANSFORMS[0]].shape[1] for m in study.models if TRANSFORMS[0] in study.correct[m.name]), 0)
