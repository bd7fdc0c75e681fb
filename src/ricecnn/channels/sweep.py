"""One model's channel criteria under one replicate (stage criteria@<model>-<replicate>): the live
channels of ``<m>_pruned`` (its dead ones already gone, ``prune@``) cut by every rule to every FLOPs
target, under both rankings, and scored right after the cut; the layer ranking's cuts also fine-tuned,
and their shared architecture trained from scratch as the control (Liu et al. 2019).

A cut is named by its ranking, target, rule and draw (``ricecnn.channels.cuts.Cut``); ``random`` is
drawn ``draws`` times (each its own seeded order), so that chance's spread is chance's and not one
draw's; the other rules are deterministic and drawn once. Every score is the per-image correctness on the same evenly spaced
test images (``test_subset``), so that the report pairs the rules image by image.
"""

from __future__ import annotations

from typing import Iterator

import numpy as np

from . import criteria
from .cuts import Cut


def test_subset(n: int, count: int) -> np.ndarray:
    """``count`` test images spread evenly over the ``n`` (all of them if fewer): the same indices for
    every rule, so that their scores pair image by image."""
    return np.unique(np.linspace(0, n - 1, min(count, n)).round().astype(int))


def scores(model, convs: list[str], rules: list[str], draws: int, seed: int,
           images: np.ndarray | None) -> dict[tuple[str, int], dict[str, np.ndarray]]:
    """Per (rule, draw), a score per channel of every convolution (``criteria.scores``; the highest go first)."""
    out = {}
    for rule in rules:
        for draw in range(draws if rule == "random" else 1):
            out[rule, draw] = criteria.scores(rule, model, convs, images=images, seed=seed, draw=draw)
    return out


def cuts(model, convs: list[str], ranked: dict[tuple[str, int], dict[str, np.ndarray]], rankings: list[str],
         targets: list[float], min_channels: int, cost: criteria.Cost) -> Iterator[tuple[Cut, dict, dict[str, list[int]]]]:
    """Every cut: (its name, its record, the channels each convolution keeps). Under ``layer`` every rule
    keeps the same number of channels per convolution at a target (matched once per target); under
    ``global`` each rule's own ranking of all channels is matched to the target."""
    for ranking in rankings:
        for target in targets:
            if ranking == "layer":
                fraction, kept, reached = criteria.match(model, cost, convs, target, min_channels)
            for (rule, draw), s in ranked.items():
                if ranking == "layer":
                    chosen = criteria.keep(s, kept)
                    record = {"fraction": fraction}
                else:
                    removed, chosen, reached = criteria.match_global(cost, criteria.global_scores(rule, s), target,
                                                                     min_channels)
                    record = {"fraction": removed / sum(len(v) for v in s.values())}
                record.update(flops_share_224=reached, channels={c: len(v) for c, v in chosen.items()})
                yield Cut(ranking, target, rule, draw), record, chosen


def correct(model, images: np.ndarray, labels: np.ndarray, batch_size: int) -> np.ndarray:
    """Per image, whether ``model`` classifies it right."""
    from ..inference.batches import predict

    return predict(model, images, batch_size).argmax(-1) == labels

