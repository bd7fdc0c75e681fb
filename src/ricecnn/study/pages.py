"""The two pages summarize writes, reports/study/findings.md and reports/study/summary.md: the findings
(``ricecnn.study.findings``) and every table, formatted as markdown."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..evaluation.augment import TEST_SETS
from . import figures, stats
from .answer import answer
from .findings import headline, robustness_images, setup_lines
from .paper import PAPER_RESULTS
from .records import CONDITIONS, Study
from .tables import seed_spread_table
from .words import ci, fewer_flops, level_text, p_value, pts, times


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
        return figures.human(v)
    if col.startswith(("params", "filters", "test_images", "seed")):
        return f"{int(round(v)):,}"
    if col.startswith("latency") and col.endswith("_ms"):
        return f"{v:.3f}"
    if col == "bytes":
        return f"{int(v):,}"
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
                     **{f"{c}: difference [interval]": f"{pts(r[c].diff_pp, r[c].lo_pp, r[c].hi_pp)} ({level_text(r[c].level)})"
                        for c in TEST_SETS},
                     **{f"{c}: verdict": (f"{r[c].verdict} ({r[c].claim_family})" if r[c].claim_family != stats.EXPLORATORY
                                          else r[c].verdict) for c in TEST_SETS}})
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
    """reports/study/findings.md: the answer in at most five sentences, the headline, the setup and the
    family, the verdicts (the README shows everything above the first '## ' heading), then every model
    and one sentence per finding."""
    return ("# Findings\n\n" + " ".join(answer(study, df, comps)) + "\n\n" + headline(study, df, comps) + "\n" + "\n\n".join(setup_lines(study, comps)) + "\n\n"
            + markdown(verdict_table(comps, study)) + "\nPer-seed differences, the per-seed paired tests, the power of "
            "every claim and every table: [reports/study/summary.md](summary.md); the picture: [reports/study/effects.png](effects.png).\n\n"
            "## Models\n\n" + markdown(results_table(df)) + "\n## Every finding\n\n" + "".join(f"- {x}\n" for x in lines))


def power_text(study: Study, power: pd.DataFrame) -> str:
    if not study.per_model:
        return "The power of a claim needs the replicate-to-replicate spread: two or more replicates.\n"
    return (f"Per claim of a family, from its own variance components (replicate, image; "
            f"`reports/study/comparisons.csv`), simulated from the nested model's two mean squares (between and within "
            f"replicates, each with its own degrees of freedom) at the family's level (`power.decision_rates`): the power "
            f"the design had to reach the verdict its estimate points to if the estimate were the truth, the power to show "
            f"`not worse` if there were no difference, and for an undecided claim the replicates (a data draw and a "
            f"training seed each) of {study.images:,} test images that 80 % power at the estimate would take (the range: at "
            f"the ends of the replicate variance's 95 % interval, chi-square with replicates - 1 degrees of freedom).\n\n" + markdown(power))


def summary_page(study: Study, df, comps, per_seed, robust, paper, power, deployed: pd.DataFrame | None = None, bench: dict | None = None) -> str:
    """reports/study/summary.md: every table."""
    return (
        "# Summary\n\n" + " ".join(setup_lines(study, comps)) + " FLOPs per image at the training input size "
        "(`flops`) and at 224x224 (`flops_224`, the paper's size), means over the seeds; `augmented`: the seeded "
        "augmented copy of the test split.\n\n" + markdown(df)
        + "\n## Comparisons (every claim: its family, or exploratory)\n\nDifferences in percentage points with their interval; "
        "`claim_family` the family fixed before the runs (or `exploratory`), `level` its intervals' level; `p_margin` "
        "the p of the test of a difference of -margin, `p_adjusted` it Bonferroni-adjusted over the family, `p_zero` "
        "the p of no difference; `per_seed_pp`: each replicate's difference; `sens_*`: without the replicates of failed runs.\n\n" + markdown(comps)
        + "\n## Each comparison replicate by replicate (two trained networks: Tango's score interval, its score test)\n\n"
        + markdown(per_seed) + f"\n## Replicate-to-replicate spread (each model's accuracy in the replicates "
        f"{', '.join(map(str, study.seeds))})\n\n" + markdown(seed_spread_table(study))
        + "\n## Power\n\n" + power_text(study, power)
        + f"\n## Robustness by transform (accuracy on {robustness_images(study):,} test images spread evenly over the test set, "
        f"the ones scored under each augmentation alone (`evaluate.robustness_images`); the models of the first replicate, "
        f"{study.pictures_seed}, the only ones evaluated so)\n\n"
        + markdown(robust) + "\n## The paper's published numbers (224 px, real data, 7,500 test images per model)\n\n"
        + markdown(PAPER_RESULTS) + "\nIts light variants against their full models, unpaired (Fisher's exact test, "
        "Newcombe's interval): the paper published counts, not per-image predictions.\n\n" + markdown(paper)
        + (deployment_text(deployed, bench) if deployed is not None and len(deployed) else "")
    )


DEPLOYMENT_SHOWN = ["model", "runtime", "precision", "bytes", "latency_ms", "latency_low_ms", "latency_high_ms", "clean_accuracy",
                    "augmented_accuracy", "clean_agreement", "augmented_agreement", "clean_diff_pp", "augmented_diff_pp", "error"]


def deployment_text(deployed: pd.DataFrame, bench: dict | None) -> str:
    """The exported models' table (reports/study/deployment.csv has the intervals too)."""
    from .deployment import conditions

    first = deployed.iloc[0]
    return (f"\n## The models as shipped (docs/deployment.md): replicate {int(first.seed)}'s networks; latency: "
            f"{conditions(bench)}, with the fastest and slowest round; accuracy on "
            "every test image, agreement with the Keras model's class, and the difference from Keras in points "
            "(intervals: deployment.csv)\n\n" + markdown(deployed[DEPLOYMENT_SHOWN]))
