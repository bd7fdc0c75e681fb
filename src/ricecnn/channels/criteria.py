"""Channel criteria compared at matched cost (stage `criteria@<model>-<rule>-<target>-<seed>`): which
channels of every ReLU convolution a rule removes, when each rule must bring the same model to the
same FLOPs.

The rules (a score per channel; the highest scores go first):
  ``apoz``   the Average Percentage of Zeros of its output (Hu et al. 2016, "Network Trimming"),
             counted exactly on a seeded sample of training images (``ricecnn.channels.apoz``);
  ``l1``     minus the L1 norm of its filter's weights: the smallest filters go first (Li et al.
             2017, "Pruning Filters for Efficient ConvNets");
  ``random`` a seeded random order (the chance baseline: Blalock et al. 2020).

Matched cost: every rule keeps the same number of channels in every convolution, the same share
``fraction`` removed from each (at least ``min_channels`` kept), with ``fraction`` the smallest that
brings the model's FLOPs at 224 px to the target share of its own (``match``). The architectures,
and so the FLOPs, of the rules' models are then identical: the criterion decides only *which*
channels go, and everything after (the surgery, the fine-tuning budget) is the same.
"""

from __future__ import annotations

import typing
import zlib

import numpy as np

from ..networks.flops import count_flops, resized
from . import apoz, surgery
from .selection import kept_count
from .settings import CriterionRule

RULES = typing.get_args(CriterionRule)  # apoz, l1, random: named once, by the settings that accept them


def scores(rule: str, model, convs: list[str], *, images: np.ndarray | None = None, seed: int = 0) -> dict[str, np.ndarray]:
    """Per convolution, a score per output channel: the higher, the sooner the rule removes it.
    ``images``: the APoZ sample (``apoz``); ``seed``: the random order's (``random``; with the
    convolution's name, so that each layer gets its own order)."""
    if rule == "apoz":
        counts = apoz.zero_counts(model, convs, images)
        return {c: v["zeros"] / v["positions"] for c, v in counts.items()}
    if rule == "l1":
        return {c: -np.abs(model.get_layer(c).get_weights()[0]).sum(axis=(0, 1, 2)) for c in convs}
    if rule == "random":
        return {c: np.random.default_rng([seed, zlib.crc32(c.encode())]).permutation(model.get_layer(c).filters).astype(float)
                for c in convs}
    raise ValueError(f"unknown channel criterion {rule!r}; one of {', '.join(RULES)}")


def counts(model, convs: list[str], fraction: float, min_channels: int) -> dict[str, int]:
    """The channels each convolution keeps when ``fraction`` of them (rounded down) are removed."""
    return {c: kept_count(int(model.get_layer(c).filters), fraction, min_channels) for c in convs}


def keep(scores_: dict[str, np.ndarray], kept: dict[str, int]) -> dict[str, list[int]]:
    """Per convolution, the ``kept`` channels with the lowest scores (first index on ties), sorted."""
    return {c: sorted(int(i) for i in np.argsort(s, kind="stable")[:kept[c]]) for c, s in scores_.items()}


def match(model, convs: list[str], target: float, min_channels: int, paper_size: int) -> tuple[float, dict[str, int], float]:
    """The smallest ``fraction`` whose channel counts bring the FLOPs at ``paper_size`` to at most
    ``target`` of the model's own; with the counts and the FLOPs share reached. Where the floor
    ``min_channels`` stops it short, the share reached says how far it got.

    The counts change only where ``fraction`` crosses some j / n (n a convolution's channels), so
    the search bisects those breakpoints: about log2(sum of n) FLOPs counts, each on the pruned
    architecture at ``paper_size`` (the dense layers' share differs between sizes)."""
    big = resized(model, paper_size)
    full = count_flops(big)["flops"]
    widths = [int(big.get_layer(c).filters) for c in convs]
    fractions = sorted({j / n for n in widths for j in range(n + 1)})

    def share(fraction: float) -> tuple[dict[str, int], float]:
        kept = counts(big, convs, fraction, min_channels)
        pruned = surgery.prune(big, {c: list(range(k)) for c, k in kept.items()})  # which channels: no matter here
        return kept, count_flops(pruned)["flops"] / full

    lo, hi = 0, len(fractions) - 1  # share(fractions[hi]) is the least any fraction reaches
    while lo < hi:
        mid = (lo + hi) // 2
        lo, hi = (lo, mid) if share(fractions[mid])[1] <= target else (mid + 1, hi)
    kept, reached = share(fractions[hi])
    return fractions[hi], kept, reached


def prune(model, rule: str, kept: dict[str, int], *, images: np.ndarray | None = None, seed: int = 0,
          name: str | None = None):
    """``model`` with the ``kept`` channels of each convolution that ``rule`` keeps (``match`` gives the
    counts), and which channels those are."""
    chosen = keep(scores(rule, model, list(kept), images=images, seed=seed), kept)
    return surgery.prune(model, chosen, name=name or model.name), chosen
