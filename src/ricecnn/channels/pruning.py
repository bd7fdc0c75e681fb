"""What pruning changed (stage `prune@<model>-<seed>`), and the rule it is held to: the model's
outputs before and after on any set of images, the channels per feature layer with where the dead
ones were (layers that trained, or frozen ones), and the tolerance rule. The stage's metrics record is
built and read back in ``ricecnn.channels.records`` (``record``, ``cost``), so its schema lives in one place.

The outputs are compared batch by batch (one batch of each model's outputs in memory at a time):
the largest absolute change of any softmax output, and how many predicted classes changed.
"""

from __future__ import annotations

from typing import Iterable

import numpy as np

from ..core.errors import RiceError
from ..inference.batches import predict
from . import surgery


def in_batches(images: np.ndarray, batch_size: int) -> Iterable[np.ndarray]:
    return (images[i:i + batch_size] for i in range(0, len(images), batch_size))


def output_change(before_model, after_model, batches: Iterable[np.ndarray], batch_size: int,
                  labels: np.ndarray | None = None) -> dict:
    """Over ``batches`` of uint8 images: the largest absolute output change, the number of changed
    predictions, and with ``labels`` both models' accuracy."""
    worst, changed, right = 0.0, 0, np.zeros(2, dtype=np.int64)
    seen, pad = 0, None
    for x in batches:
        # every batch of one shape (the last padded, the padding dropped): each model compiled once;
        # a split smaller than a batch is not padded up to one
        pad = pad or min(batch_size, len(x))
        before = predict(before_model, x, batch_size, multiple=pad)
        after = predict(after_model, x, batch_size, multiple=pad)
        worst = max(worst, float(np.max(np.abs(after - before))))
        changed += int(np.sum(after.argmax(-1) != before.argmax(-1)))
        if labels is not None:
            y = labels[seen:seen + len(x)]
            right += [int(np.sum(before.argmax(-1) == y)), int(np.sum(after.argmax(-1) == y))]
        seen += len(x)
    out = {"max_abs_output_diff": worst, "predictions_changed": changed}
    if labels is not None:
        out.update(accuracy_before=float(right[0] / max(seen, 1)), accuracy_after=float(right[1] / max(seen, 1)))
    return out


def channels_by_feature_layer(model, keep: dict[str, list[int]], names: list[str], recorded: dict) -> dict:
    """Per feature layer: channels before and after, its dead channels (as featuremaps recorded
    them) and whether it trains; and per conv (``surgery.summary``)."""
    per_conv = surgery.summary(model, keep)
    per_feature = {}
    for layer in names:
        parts = surgery.feature_convs(model, layer)
        per_feature[layer] = {"channels_before": sum(per_conv[c]["channels_before"] for c, _, _ in parts),
                              "channels_after": sum(per_conv[c]["channels_after"] for c, _, _ in parts),
                              "dead_channels": recorded["layers"][layer]["dead_channels"],
                              "trainable": all(model.get_layer(c).trainable for c, _, _ in parts)}
    dead = {trains: sum(v["dead_channels"] for v in per_feature.values() if v["trainable"] == trains)
            for trains in (True, False)}
    return {
        "channels_before": sum(v["channels_before"] for v in per_conv.values()),
        "channels_after": sum(v["channels_after"] for v in per_conv.values()),
        "channels_removed": sum(len(v["removed"]) for v in per_conv.values()),
        "dead_channels_trained_layers": dead[True],
        "dead_channels_frozen_layers": dead[False],
        "layers": per_conv,
        "feature_layers": per_feature,
    }


def check_tolerance(model: str, change: float, threshold: float, tolerance: float, counts: str, producer: str) -> None:
    """With threshold 1.0 a removed channel was zero on every image of the APoZ sample, so the outputs
    there may change by float round-off only: beyond ``tolerance`` the zero counts (``counts``,
    written by ``producer``) do not describe the model, and pruning stops with one line."""
    if threshold == 1 and change > tolerance:
        raise RiceError(f"pruning {model} changed its outputs by {change:.1e} on the APoZ sample, where removing channels that are "
                        f"zero on every sample image may change them by round-off only (prune.tolerance = {tolerance:g}): "
                        f"the zero counts in {counts} do not describe this model; rerun `dvc repro -f {producer}`")
