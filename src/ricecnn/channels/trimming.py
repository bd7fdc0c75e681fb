"""Network trimming (Hu et al. 2016, "Network Trimming", arXiv:1607.03250): iterative pruning of the
channels with the highest APoZ, each round followed by fine-tuning from the surviving weights.

Each round:
  1. APoZ of every ReLU convolution, counted exactly on a fixed sample of the *train* split
     (validation only decides when to stop; the test set is never looked at);
  2. the rule picks the channels to remove in every convolution (``selection.Rule``: the share
     ``strength`` with the highest APoZ, or those above the layer's mean + ``strength`` standard
     deviations, Hu et al.'s rule); each convolution keeps at least ``min_channels``;
  3. the channel surgery of prune (``surgery.prune``) removes them physically;
  4. the smaller model is fine-tuned with the training loop (``training.fit``, the train settings:
     the learning-rate schedule over ``finetune_epochs``);
  5. its validation accuracy decides: more than ``budget`` below the full model's, and the loop
     stops and keeps the previous round's model, the last one within budget.

Unlike prune, which only touches the feature layers the paper drew, trimming measures and trims
every ReLU convolution, GoogLeNet's 1x1 reduce convolutions included: they carry a large share of
its FLOPs. Frozen layers (VGG's base) are trimmed too; they stay frozen, and the training loop's
frozen-prefix cache follows the new shapes (it is worked out from the model each round).
"""

from __future__ import annotations

import time
from typing import Callable

import numpy as np

from ..networks.anatomy import relu_convs
from ..networks.flops import describe
from ..inference.batches import model_accuracy
from . import apoz, surgery
from .selection import Rule


def channels(model) -> dict[str, int]:
    return {name: int(model.get_layer(name).filters) for name in relu_convs(model)}


def trim(model, train_xy, val_xy, sample: np.ndarray, rule: Rule, *, budget: float, max_rounds: int,
         paper_size: int, batch_size: int, finetune: Callable[[object], dict], log=print) -> tuple[object, dict]:
    """Trim ``model`` round by round; return the last model within ``budget`` and the record.

    ``sample``: indices of the train images APoZ is measured on. ``finetune(model)`` fine-tunes in
    place and returns ``training.fit``'s metrics.
    """
    x_val, y_val = val_xy
    full_accuracy = model_accuracy(model, x_val, y_val, batch_size)
    rounds = [{"round": 0, "channels": channels(model), **describe(model, paper_size), "val_accuracy": full_accuracy,
               "removed": 0, "finetune_epochs": 0, "within_budget": True}]
    kept, stopped = model, f"max_rounds ({max_rounds}) reached"
    for r in range(1, max_rounds + 1):
        convs = relu_convs(kept)
        counts = apoz.zero_counts(kept, convs, train_xy[0][sample])
        keep = {conv: rule.keep(c["zeros"] / c["positions"]) for conv, c in counts.items()}
        removed = sum(kept.get_layer(c).filters - len(k) for c, k in keep.items())
        if not removed:
            stopped = "the rule removes no more channels"
            break
        candidate = surgery.prune(kept, keep, name=kept.name)
        start = time.perf_counter()
        tuned = finetune(candidate)
        seconds = time.perf_counter() - start
        val = model_accuracy(candidate, x_val, y_val, batch_size)
        within = val >= full_accuracy - budget
        rounds.append({"round": r, "channels": channels(candidate), **describe(candidate, paper_size), "val_accuracy": val,
                       "removed": removed, "finetune_epochs": tuned["epochs_run"], "finetune_best_epoch": tuned["best_epoch"],
                       "within_budget": bool(within)})
        log(f"trim round {r}: {removed} channels removed, FLOPs {rounds[-1]['flops']:,}, val accuracy {val:.4f} "
            f"({'within' if within else 'beyond'} the budget of {full_accuracy:.4f} - {budget}), fine-tuned in {seconds:.0f} s")
        if not within:
            stopped = f"validation accuracy fell more than {budget} below the full model's"
            break
        kept = candidate
    last = max(r["round"] for r in rounds if r["within_budget"])
    return kept, {"full_val_accuracy": full_accuracy, "kept_round": last, "stopped": stopped, "rounds": rounds}
