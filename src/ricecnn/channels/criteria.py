"""Channel criteria compared at matched cost (stage `criteria@<model>-<replicate>`, ``channels.sweep``):
which channels of every ReLU convolution a rule removes, when each rule must bring the same model to
the same FLOPs.

The rules (a score per channel; the highest scores go first):
  ``apoz``   the Average Percentage of Zeros of its output (Hu et al. 2016, "Network Trimming"),
             counted exactly on a seeded sample of training images (``ricecnn.channels.apoz``);
  ``l1``     minus the L1 norm of its filter's weights: the smallest filters go first (Li et al.
             2017, "Pruning Filters for Efficient ConvNets");
  ``random`` a seeded random order (the chance baseline: Blalock et al. 2020).

The ranking (``criteria.rankings``; ShrinkBench offers both, and Blalock et al. 2020 show the choice
matters):
  ``layer``  every rule keeps the same number of channels in every convolution, the same share
             ``fraction`` removed from each (at least ``min_channels`` kept), with ``fraction`` the
             smallest that brings the model's FLOPs at 224 px to the target share of its own
             (``match``). The architectures, and so the FLOPs, of the rules' models are then
             identical: the criterion decides only *which* channels go.
  ``global`` the channels of all convolutions in one ranking (``global_scores``: APoZ as it is, the
             L1 norm divided by its layer's largest, the random order divided by the layer's width,
             so that layers compare), the fewest removed from the top that bring the FLOPs at 224 px
             to the target (``match_global``); every convolution keeps at least ``min_channels``.
             The FLOPs are matched, the architectures differ: the rule also decides how much of
             each layer goes.
Everything after the cut (the surgery, the fine-tuning budget) is the same for every rule.
"""

from __future__ import annotations

import typing
import zlib

import numpy as np

from ..networks.flops import count_flops, is_preprocessing, layer_flops, resized
from . import apoz, surgery
from .selection import kept_count
from .settings import CriterionRule

RULES = typing.get_args(CriterionRule)  # apoz, l1, random: named once, by the settings that accept them


def scores(rule: str, model, convs: list[str], *, images: np.ndarray | None = None, seed: int = 0,
           draw: int = 0) -> dict[str, np.ndarray]:
    """Per convolution, a score per output channel: the higher, the sooner the rule removes it.
    ``images``: the APoZ sample (``apoz``); ``seed`` and ``draw``: the random order's (``random``; with
    the convolution's name, so that each layer gets its own order, and each draw its own)."""
    if rule == "apoz":
        counts = apoz.zero_counts(model, convs, images)
        return {c: v["zeros"] / v["positions"] for c, v in counts.items()}
    if rule == "l1":
        return {c: -np.abs(model.get_layer(c).get_weights()[0]).sum(axis=(0, 1, 2)) for c in convs}
    if rule == "random":
        return {c: np.random.default_rng([seed, draw, zlib.crc32(c.encode())]).permutation(model.get_layer(c).filters).astype(float)
                for c in convs}
    raise ValueError(f"unknown channel criterion {rule!r}; one of {', '.join(RULES)}")


def counts(model, convs: list[str], fraction: float, min_channels: int) -> dict[str, int]:
    """The channels each convolution keeps when ``fraction`` of them (rounded down) are removed."""
    return {c: kept_count(int(model.get_layer(c).filters), fraction, min_channels) for c in convs}


def keep(scores_: dict[str, np.ndarray], kept: dict[str, int]) -> dict[str, list[int]]:
    """Per convolution, the ``kept`` channels with the lowest scores (first index on ties), sorted."""
    return {c: sorted(int(i) for i in np.argsort(s, kind="stable")[:kept[c]]) for c, s in scores_.items()}


def global_scores(rule: str, scores_: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """``scores`` on one scale across layers (the higher, the sooner removed): APoZ is a share already;
    the L1 norm is divided by its layer's largest, a channel's random rank by its layer's width."""
    if rule == "apoz":
        return scores_
    if rule == "l1":  # -|W| / the layer's largest |W|: in [-1, 0], the smallest filters of each layer near 0
        return {c: s / np.max(np.abs(s)) if np.max(np.abs(s)) > 0 else s for c, s in scores_.items()}
    if rule == "random":
        return {c: s / len(s) for c, s in scores_.items()}
    raise ValueError(f"unknown channel criterion {rule!r}; one of {', '.join(RULES)}")


def global_keep(scores_: dict[str, np.ndarray], removed: int, min_channels: int) -> dict[str, list[int]]:
    """Per convolution, the channels kept when the ``removed`` highest-scoring channels of all of them
    go, in one ranking (ties: the earlier convolution, then the lower index, first), each convolution
    keeping at least ``min_channels`` (or all its channels, if fewer): a channel whose layer is at its
    floor is passed over."""
    ranked = sorted(((-float(v), j, int(i)) for j, s in enumerate(scores_.values()) for i, v in enumerate(s)))
    names = list(scores_)
    left = {c: len(s) for c, s in scores_.items()}
    gone: dict[str, set[int]] = {c: set() for c in names}
    for _, j, i in ranked:
        if removed == 0:
            break
        c = names[j]
        if left[c] > min(min_channels, len(scores_[c])):
            gone[c].add(i)
            left[c] -= 1
            removed -= 1
    return {c: [i for i in range(len(s)) if i not in gone[c]] for c, s in scores_.items()}


class Cost:
    """FLOPs at the paper's size of ``model`` with fewer channels in some convolutions, counted from the
    channel counts alone: the full model is rebuilt at ``paper_size`` once, and each count then walks
    its layers (``surgery.calls``) with ``flops.layer_flops``'s rules, each layer's FLOPs scaled by the
    share of its input and output channels that are left. ``tests/test_criteria.py`` checks it against
    ``count_flops`` of the pruned model itself. Why by hand: the pruned model at 224 px costs a rebuild
    of about a second (vgg16's dense layers alone hold 100 M weights), and a FLOPs match needs a dozen."""

    def __init__(self, model, paper_size: int):
        big = resized(model, paper_size)
        self.full = count_flops(big)["flops"]
        self._layers = []  # (layer, its FLOPs, input tensor ids, output tensor id), in topological order
        order = {layer.name: i for i, layer in enumerate(big.layers)}
        nodes = surgery.calls(big)
        for layer in sorted(big.layers, key=lambda layer: order[layer.name]):
            if layer.name not in nodes:
                continue
            node = nodes[layer.name][0]
            self._layers.append((layer, layer_flops(layer)[0] if not is_preprocessing(big, layer) else 0,
                                 [id(t) for t in node.input_tensors], id(node.output_tensors[0]),
                                 [int(t.shape[-1]) for t in node.input_tensors], int(node.output_tensors[0].shape[-1])))

    def flops(self, counts: dict[str, int]) -> int:
        """FLOPs at the paper's size with ``counts[conv]`` output channels in each named convolution."""
        width: dict[int, int] = {}  # the pruned model's last-axis size of each original tensor
        total = 0.0
        for layer, full, ins, out, in_widths, out_width in self._layers:
            kind = type(layer).__name__
            got = [width[i] for i in ins]
            share_in = got[0] / in_widths[0] if got else 1.0
            if kind == "InputLayer":
                width[out] = out_width
            elif kind == "Conv2D":
                width[out] = counts.get(layer.name, out_width)
                kh, kw = layer.kernel_size
                per_out = 2 * kh * kw * got[0] + (1 if layer.use_bias else 0)  # per output element; ReLU: 0
                total += full / out_width / (2 * kh * kw * in_widths[0] + (1 if layer.use_bias else 0)) * per_out * width[out]
            elif kind == "Concatenate":
                width[out] = sum(got)
            elif kind == "Dense":  # its units are never pruned: only its inputs go
                width[out] = out_width
                bias = out_width * ((1 if layer.use_bias else 0) + (5 if getattr(layer.activation, "__name__", "") == "softmax" else 0))
                total += (full - bias) * share_in + bias
            elif kind == "Flatten":
                width[out] = round(out_width * share_in)
            else:  # channel-wise layers: pooling, dropout, activations; their FLOPs scale with the channels
                width[out] = round(out_width * share_in)
                total += full * share_in
        return round(total)

    def share(self, counts: dict[str, int]) -> float:
        return self.flops(counts) / self.full


def match_global(cost: Cost, scores_: dict[str, np.ndarray], target: float,
                 min_channels: int) -> tuple[int, dict[str, list[int]], float]:
    """The fewest channels removed from the top of the one ranking of ``scores_`` (``global_keep``)
    that bring the FLOPs at the paper's size (``cost``) to at most ``target`` of the model's own; with
    the channels kept and the FLOPs share reached (where every layer is at its floor first, the share
    says how far it got). FLOPs fall as more channels go, so the search bisects the number removed."""

    def share(removed: int) -> tuple[dict[str, list[int]], float]:
        kept = global_keep(scores_, removed, min_channels)
        return kept, cost.share({c: len(v) for c, v in kept.items()})

    lo, hi = 0, sum(len(s) for s in scores_.values())
    while lo < hi:
        mid = (lo + hi) // 2
        lo, hi = (lo, mid) if share(mid)[1] <= target else (mid + 1, hi)
    kept, reached = share(hi)
    return hi, kept, reached


def match(model, cost: Cost, convs: list[str], target: float, min_channels: int) -> tuple[float, dict[str, int], float]:
    """The smallest ``fraction`` whose channel counts bring the FLOPs at the paper's size (``cost``) to
    at most ``target`` of the model's own; with the counts and the FLOPs share reached. Where the floor
    ``min_channels`` stops it short, the share reached says how far it got.

    The counts change only where ``fraction`` crosses some j / n (n a convolution's channels), so
    the search bisects those breakpoints."""
    widths = [int(model.get_layer(c).filters) for c in convs]
    fractions = sorted({j / n for n in widths for j in range(n + 1)})

    def share(fraction: float) -> tuple[dict[str, int], float]:
        kept = counts(model, convs, fraction, min_channels)
        return kept, cost.share(kept)

    lo, hi = 0, len(fractions) - 1  # share(fractions[hi]) is the least any fraction reaches
    while lo < hi:
        mid = (lo + hi) // 2
        lo, hi = (lo, mid) if share(fractions[mid])[1] <= target else (mid + 1, hi)
    kept, reached = share(fractions[hi])
    return fractions[hi], kept, reached
