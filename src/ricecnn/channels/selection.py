"""Which convolution channels go: the rules that pick them from their APoZ (``ricecnn.channels.apoz``, Hu et
al. 2016, "Network Trimming", arXiv:1607.03250), for prune (a threshold) and trim (a share of each
layer, or Hu et al.'s mean + k std); the surgery itself is ``ricecnn.channels.surgery``.

  plan(model, apoz, threshold, min_channels) -> {conv layer: kept output channels}
      prune's rule, on the feature layers the paper drew: a channel goes when its APoZ >= threshold;
      each conv keeps at least ``min_channels`` (those with the lowest APoZ). A feature layer that
      is an inception module's output maps to its branch convs (``surgery.feature_convs``); convs
      that are not feature layers (GoogLeNet's 1x1 reduce convs) keep all their channels, and
      ``min_channels`` applies to each physical conv, so that no branch disappears.
  Rule(name, strength, min_channels).keep(apoz) -> kept channels of one conv
      trim's rule, for every ReLU conv: ``fraction`` or ``std``.

With threshold 1.0 a removed channel is zero after its ReLU on every image of the sample, so the
outputs on that sample stay the same (``ricecnn.channels.surgery``); on other images it is not promised.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Sequence

import numpy as np

from ..core.errors import RiceError
from ..networks.anatomy import is_relu_conv
from .surgery import feature_convs


def keep_channels(apoz: Sequence[float], threshold: float, min_channels: int, inclusive: bool = False) -> list[int]:
    """Indices of the channels to keep: APoZ < threshold (<= with ``inclusive``), or else the
    ``min_channels`` lowest APoZ."""
    apoz = np.asarray(apoz, dtype=np.float64)
    keep = set(np.flatnonzero(apoz <= threshold if inclusive else apoz < threshold).tolist())
    if len(keep) < min_channels:
        keep |= set(np.argsort(apoz, kind="stable")[:min_channels].tolist())  # lowest APoZ, first index on ties
    return sorted(int(i) for i in keep)


def kept_count(n: int, fraction: float, min_channels: int) -> int:
    """The channel-fraction rule: of ``n`` channels, all but ``fraction`` of them (rounded down) stay,
    and at least ``min_channels`` (or all ``n``, if fewer). Trimming's fraction rule and the matched
    cost of the channel criteria (``ricecnn.channels.criteria``) both count with it."""
    return max(min(min_channels, n), n - int(np.floor(fraction * n)))


def keep_all_but_highest(apoz: Sequence[float], fraction: float, min_channels: int) -> list[int]:
    """Trimming's fraction rule: the ``kept_count`` channels with the lowest APoZ (first index on ties)."""
    apoz = np.asarray(apoz, dtype=np.float64)
    return sorted(int(i) for i in np.argsort(apoz, kind="stable")[:kept_count(len(apoz), fraction, min_channels)])


def keep_below_mean_std(apoz: Sequence[float], k: float, min_channels: int) -> list[int]:
    """Hu et al.'s rule: the channels whose APoZ is at most the layer's mean + ``k`` standard
    deviations; at least ``min_channels``, those with the lowest APoZ."""
    apoz = np.asarray(apoz, dtype=np.float64)
    return keep_channels(apoz, apoz.mean() + k * apoz.std() + 1e-12, min_channels, inclusive=True)


@dataclass(frozen=True)
class Rule:
    """trim's rule: ``fraction`` (the share ``strength`` with the highest APoZ) or ``std`` (those
    above the layer's mean + ``strength`` standard deviations)."""

    name: str
    strength: float
    min_channels: int

    def keep(self, values: np.ndarray) -> list[int]:
        if self.name == "fraction":
            return keep_all_but_highest(values, self.strength, self.min_channels)
        return keep_below_mean_std(values, self.strength, self.min_channels)


def plan(model, apoz: Mapping[str, Sequence[float]], threshold: float, min_channels: int) -> dict[str, list[int]]:
    """Which output channels each prunable conv keeps: {conv name: sorted channel indices}.

    ``apoz``: the exact per-channel APoZ of feature layers of ``model`` (``ricecnn.channels.apoz``). Every
    conv behind those layers appears in the result, with all its channels if none goes. The
    convs are ReLU convs (else a zero after the ReLU the APoZ is measured on would not be a zero
    of the layer's output). ``threshold`` and ``min_channels`` come validated from the settings
    (``ricecnn.stages.prune.Prune``: 0 < threshold <= 1, min_channels >= 1).
    """
    keep: dict[str, list[int]] = {}
    for name, values in apoz.items():
        try:
            width = int(model.get_layer(name).output.shape[-1])
        except ValueError:
            raise RiceError(f"prune: model {model.name!r} has no layer {name!r}: the APoZ counts are from another "
                            "model; rerun the featuremaps stage") from None
        if len(values) != width:
            raise RiceError(f"prune: layer {name!r} has {width} channels but its APoZ counts have {len(values)}: "
                            "they are from another model; rerun the featuremaps stage")
        for conv, start, stop in feature_convs(model, name):
            if not is_relu_conv(model.get_layer(conv)):
                activation = getattr(model.get_layer(conv).activation, "__name__", "")
                raise RiceError(f"prune: conv {conv!r} has activation {activation!r}: APoZ pruning needs ReLU convs")
            keep[conv] = keep_channels(values[start:stop], threshold, min_channels)
    return keep
