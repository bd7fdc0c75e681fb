"""The records prune and trim write (their metrics JSON), and how they are read back: the one place
that knows their layout, so that summarize reads them without running the channel code.

  record(...)     prune's record; ``cost``, ``validation_accuracy``: the pruned model's, read back
  metrics(...)    trim's record; ``kept``: the kept round's counts and validation accuracy
"""

from __future__ import annotations


def record(before: dict, after: dict, sample: dict, val: dict, channels: dict, dead_fraction_after: float,
           **settings) -> dict:
    """The stage's metrics: its ``settings``, every count of ``flops.describe`` before and after
    (``<key>_before``, ``<key>_after``), the output change on the APoZ sample and on the validation
    split, the validation accuracy before and after, and the channels (``channels_by_feature_layer``)."""
    return {
        **settings,
        **{f"{k}_before": v for k, v in before.items() if k != "img_size"},
        **{f"{k}_after": v for k, v in after.items() if k != "img_size"},
        "params_ratio": before["params"] / after["params"], "flops_ratio": before["flops"] / after["flops"],
        "dead_fraction_after": dead_fraction_after,
        "max_abs_output_diff": sample["max_abs_output_diff"],  # on the APoZ sample: within prune.tolerance
        **{f"{k}_val": v for k, v in val.items() if not k.startswith("accuracy")},
        "val_accuracy_before": val["accuracy_before"], "val_accuracy_after": val["accuracy_after"],
        **channels,
    }  # fmt: skip


def cost(metrics: dict) -> dict:
    """The pruned model's counts (``flops.describe``'s keys, and its dead fraction) from ``record``."""
    return {k.removesuffix("_after"): v for k, v in metrics.items() if k.endswith("_after")}


def validation_accuracy(metrics: dict) -> float:
    """The pruned model's validation accuracy: after fine-tuning, if it was fine-tuned."""
    return metrics.get("val_accuracy_finetuned", metrics["val_accuracy_after"])


def metrics(record: dict, **settings) -> dict:
    """The stage's metrics (trim's ``record`` and the ``settings`` it ran with): the kept round's
    counts (``flops.describe``'s keys) and validation accuracy at the top, then every round. Read
    back by ``kept``."""
    best = record["rounds"][record["kept_round"]]
    return {**settings, **{k: v for k, v in best.items() if k not in ("round", "channels", "within_budget")},
            "flops_ratio_224": record["rounds"][0]["flops_224"] / best["flops_224"], **record}


def kept(metrics: dict) -> dict:
    """The trimmed model's counts and validation accuracy, from ``metrics``' record."""
    return metrics["rounds"][metrics["kept_round"]]
