"""What the original study published (docs/paper.md): its accuracies at 224 px on the real data, with a
test set of 7,500 images per model, and its light variants against their full models, compared
unpaired (the per-image predictions were not published)."""

from __future__ import annotations

import pandas as pd

from ..networks.registry import REGISTRY
from . import stats

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


def paper_table(margin: float) -> pd.DataFrame:
    """The paper's light variants against their full models: its augmented accuracies (each of
    7,500 test images) compared unpaired, as the per-image predictions were not published. Not in
    the family of tests: its verdicts are read off the unadjusted 95 % interval."""
    acc = {r.model: stats.accuracy_interval(PAPER_TEST_IMAGES - r.misclassified_of_7500, PAPER_TEST_IMAGES)
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
                     "diff_hi_pp": 100 * d.hi, "p": d.p, "verdict": stats.verdict(d.lo, d.hi, margin)})
    return pd.DataFrame(rows)
