"""The study's answer to its title question, first, in at most five plain sentences with numbers: how
many channels are dead and where, what removing them saves and costs, which light models hold up
against the margin, what the channel criteria show, and on what data. Generated from the same tables as
every finding (the summary table ``df`` and the comparisons ``comps``), so that it cannot drift from
them; the README's results open with it (tools/sync_docs.py)."""

from __future__ import annotations

import pandas as pd

from . import stats
from .records import Study
from .words import and_list, fewer_flops, pts

STUDY_SIZE = {  # the data, in words
    "synthetic": "the synthetic stand-in of the rice images",
    "kaggle": "the real Rice Image Dataset",
    "path": "the dataset given by data.path",
}


def _saved(ratio: float) -> str:
    """'99.3 %' of the FLOPs saved, from FLOPs full / variant."""
    return fewer_flops(ratio).removesuffix(" fewer FLOPs")


def _claim(r) -> str:
    """A claim's outcome in plain words, with the interval it is read off."""
    interval = pts(r.diff_pp, r.lo_pp, r.hi_pp)
    if getattr(r, "named_undecidable", False):
        return f"{r.variant}'s claim was withheld by the plan ({interval} at 95 %: no verdict)"
    words = {stats.NOT_WORSE: "is not worse", stats.WORSE: "is worse", stats.INCONCLUSIVE: "is undecided",
             stats.BETTER: "is better"}.get(r.verdict, "has no verdict (exploratory)")
    return f"{r.variant} {words} ({interval})"


def answer(study: Study, df: pd.DataFrame, comps: pd.DataFrame) -> list[str]:
    """At most five sentences: dead channels, the light models, trimming, the criteria, the data."""
    rows = df.set_index("model")
    clean = comps[comps.condition == "clean"] if len(comps) else comps
    full = [m for m in study.models if m.variant == "full"]
    out = []
    dead = [(m.name, rows.loc[m.name, "dead_fraction"]) for m in full if pd.notna(rows.loc[m.name, "dead_fraction"])]
    pruned = clean[clean.variant.str.endswith("_pruned")] if len(clean) else clean
    if dead:
        most = max(v for _, v in dead) >= 0.5
        text = (("Most of its filters are dead: " if most else "Some of its filters are dead, not most: ") + and_list([f"{100 * v:.1f} % of {name}'s channels" for name, v in dead])
                + " are black (zero after ReLU) on every validation image")
        if len(pruned):
            same = pruned[pruned.verdict == stats.IDENTICAL]
            if len(same) == len(pruned):
                text += ("; removing them changes no prediction on any test image of any replicate and saves "
                         + and_list([f"{_saved(r.flops_ratio_224)} of {r.against}'s FLOPs" for r in pruned.itertuples()]))
            else:
                text += "; removing them: " + "; ".join(_claim(r) for r in pruned.itertuples())
        out.append(text + ".")
    light = clean[clean.claim_kind == "light"] if len(clean) else clean
    if len(light):
        saved = [f"{r.variant} {_saved(r.flops_ratio_224)}" for r in light.itertuples()]
        out.append(f"The hand-made light models cut live filters too and save more of their full models' FLOPs ({and_list(saved)}); "
                   f"against a loss of {100 * study.margin:g} points fixed before the runs (clean test images), "
                   + and_list([_claim(r) for r in light.itertuples()]) + ".")
    trim = clean[clean.claim_kind == "trim"] if len(clean) else clean
    if len(trim):
        out.append("Found from data by iterative APoZ pruning with fine-tuning, "
                   + and_list([f"{r.variant} ({_saved(r.flops_ratio_224)} fewer FLOPs than {r.against}) "
                           + _claim(r).removeprefix(f"{r.variant} ") for r in trim.itertuples()]) + ".")
    out.append("Whether APoZ also ranks live channels better than the weights' L1 norm or chance is not part of this "
               "run: `make criteria` answers it (docs/criteria.md).")
    k = len(study.seeds)
    where = STUDY_SIZE.get(study.source, study.source)
    text = (f"All of this is measured on {where} ({study.img_size} px, {k} replicate{'s' if k != 1 else ''}, each its own "
            f"data draw and training seed, {study.images:,} test images each)")
    if study.source == "synthetic":
        text += ("; the study on the real rice images has not been run by this repository "
                 "(docs/full-size-study.md projects its cost)")
    out.append(text + ".")
    return out[:5]
