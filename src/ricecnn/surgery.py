"""Data-driven channel pruning: remove the convolution channels that APoZ calls dead, physically.

The study's light models were made by eye (SPEC "Feature maps"); this module makes the same kind
of model from data. Two pure functions:

  plan(model, apoz, threshold, min_channels) -> {conv layer: kept output channels}
      from the exact per-channel APoZ of the feature layers (``ricecnn.apoz``, Hu et al. 2016,
      "Network Trimming"): a channel goes when its APoZ >= threshold; each conv keeps at least
      ``min_channels`` (those with the lowest APoZ).
  prune(model, keep) -> keras.Model
      the surgery: the same Functional graph, the same layer names, types and settings, with fewer
      filters in the listed convs and the matching weight slices; every layer downstream drops the
      matching inputs (the next conv's kernel input rows, a Flatten->Dense's rows per spatial
      position, a Concatenate's offsets, ...). No masks: the result is a smaller dense model.

Why by hand: no maintained library does physical pruning for Keras 3. keras-surgeon
(BenWhetton/keras-surgeon) only supports standalone Keras 2 / TensorFlow 1.x Keras graphs, and
tensorflow-model-optimization's pruning API only masks weights to zero inside TensorFlow's Keras 2
models: the tensors keep their shapes, so neither parameters nor FLOPs go down.

Where APoZ is measured (``ricecnn.models.feature_layers``): plain Conv2D layers, and for GoogLeNet
the stem convs plus each inception module's output (its Concatenate). A module output channel is
one channel of one branch's last conv (1x1, 3x3, 5x5 or the pool projection), so it is pruned
there. Convs that are not feature layers (GoogLeNet's 1x1 reduce convs) keep all their channels,
and ``min_channels`` applies to each physical conv (each branch of a module keeps at least that
many, so that no branch disappears and the structure stays the same).

Why threshold 1.0 changes nothing: a channel with APoZ 1.0 on a sample is 0 after its ReLU at every
position of every image of that sample. Downstream it only ever meets operations that keep a zero
channel out of every other channel's result (a conv multiplies it by its kernel slice, max-pooling
and padding keep it 0, Flatten->Dense multiplies it by its rows, GAP averages zeros), so removing it
gives the same outputs on that sample, up to float summation order. On other inputs the channel
may wake up: the equality is only promised on the data APoZ was measured on.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np

from .errors import RiceError

# Layers whose output channel c depends on input channel c only (same channel axis, same order)
CHANNELWISE = ("Rescaling", "MaxPooling2D", "AveragePooling2D", "Dropout", "GlobalAveragePooling2D",
               "GlobalMaxPooling2D")
SUPPORTED = ("InputLayer", "Conv2D", "Concatenate", "Flatten", "Dense", *CHANNELWISE)


# --- plan -------------------------------------------------------------------------------------------


def _producer(model, tensor):
    """The layer of ``model`` whose output is ``tensor``."""
    for layer in model.layers:
        if layer.output is tensor:
            return layer
    raise RiceError(f"prune: cannot find the layer that makes tensor {tensor.name!r}")


def feature_convs(model, layer_name: str) -> list[tuple[str, int, int]]:
    """The convs whose output channels make up feature layer ``layer_name``, as (conv, start, stop):
    channels start..stop-1 of the feature layer are that conv's output channels 0..stop-start-1.

    A Conv2D is its own feature layer; a Concatenate (inception module output) maps to the convs
    that feed it, in concat order, at their channel offsets.
    """
    layer = model.get_layer(layer_name)
    kind = type(layer).__name__
    if kind == "Conv2D":
        return [(layer.name, 0, layer.filters)]
    if kind == "Concatenate":
        if layer.axis not in (-1, 3):
            raise RiceError(f"prune: {layer.name!r} concatenates on axis {layer.axis}, only the channel axis is supported")
        parts, start = [], 0
        for tensor in layer.input:
            src = _producer(model, tensor)
            if type(src).__name__ != "Conv2D":
                raise RiceError(f"prune: branch {src.name!r} of module {layer.name!r} is a {type(src).__name__}, "
                                "not a Conv2D: its channels cannot be pruned")
            parts.append((src.name, start, start + src.filters))
            start += src.filters
        return parts
    raise RiceError(f"prune: feature layer {layer_name!r} is a {kind}: only Conv2D and Concatenate outputs can be pruned")


def keep_channels(apoz: Sequence[float], threshold: float, min_channels: int, inclusive: bool = False) -> list[int]:
    """Indices of the channels to keep: APoZ < threshold (<= with ``inclusive``), or else the
    ``min_channels`` lowest APoZ."""
    apoz = np.asarray(apoz, dtype=np.float64)
    keep = set(np.flatnonzero(apoz <= threshold if inclusive else apoz < threshold).tolist())
    if len(keep) < min_channels:
        keep |= set(np.argsort(apoz, kind="stable")[:min_channels].tolist())  # lowest APoZ, first index on ties
    return sorted(int(i) for i in keep)


def keep_all_but_highest(apoz: Sequence[float], fraction: float, min_channels: int) -> list[int]:
    """Trimming's fraction rule: all channels but the ``fraction`` (rounded down) with the highest
    APoZ; at least ``min_channels``, those with the lowest APoZ (first index on ties)."""
    apoz = np.asarray(apoz, dtype=np.float64)
    n = len(apoz)
    keep = max(min(min_channels, n), n - int(np.floor(fraction * n)))
    return sorted(int(i) for i in np.argsort(apoz, kind="stable")[:keep])


def keep_below_mean_std(apoz: Sequence[float], k: float, min_channels: int) -> list[int]:
    """Hu et al.'s rule: the channels whose APoZ is at most the layer's mean + ``k`` standard
    deviations; at least ``min_channels``, those with the lowest APoZ."""
    apoz = np.asarray(apoz, dtype=np.float64)
    return keep_channels(apoz, apoz.mean() + k * apoz.std() + 1e-12, min_channels, inclusive=True)


def plan(model, apoz: Mapping[str, Sequence[float]], threshold: float, min_channels: int) -> dict[str, list[int]]:
    """Which output channels each prunable conv keeps: {conv name: sorted channel indices}.

    ``apoz``: the exact per-channel APoZ of feature layers of ``model`` (``ricecnn.apoz``). Every
    conv behind those layers appears in the result, with all its channels if none goes. The
    convs are ReLU convs (else a zero after the ReLU the APoZ is measured on would not be a zero
    of the layer's output).
    """
    if not 0 < threshold <= 1:
        raise RiceError(f"prune: apoz_threshold = {threshold!r} must be in (0, 1]")
    if isinstance(min_channels, bool) or not isinstance(min_channels, int) or min_channels < 1:
        raise RiceError(f"prune: min_channels = {min_channels!r} must be an integer >= 1")
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
            activation = getattr(model.get_layer(conv).activation, "__name__", "")
            if activation != "relu":
                raise RiceError(f"prune: conv {conv!r} has activation {activation!r}: APoZ pruning needs ReLU convs")
            keep[conv] = keep_channels(values[start:stop], threshold, min_channels)
    return keep


# --- prune (the surgery) ---------------------------------------------------------------------------


def _indices(keep: Sequence[int], width: int, layer: str) -> np.ndarray:
    idx = np.asarray(list(keep), dtype=np.int64)
    if idx.ndim != 1 or not len(idx):
        raise RiceError(f"prune: layer {layer!r} must keep at least one channel")
    if np.any(idx < 0) or np.any(idx >= width) or len(np.unique(idx)) != len(idx):
        raise RiceError(f"prune: kept channels of {layer!r} must be distinct indices in 0..{width - 1}")
    return np.sort(idx)


def calls(model) -> dict[str, list]:
    """Per layer: its calls (Keras nodes) that make up ``model``'s graph, found by walking back
    from the outputs. A layer may have been called in other models too (the training loop's
    frozen-prefix split reuses a model's layers): only the calls inside ``model`` count."""
    found: dict[str, list] = {}
    stack = list(model.outputs)
    while stack:
        layer, index, _ = stack.pop()._keras_history
        node = layer._inbound_nodes[index]
        if any(node is n for n in found.setdefault(layer.name, [])):
            continue
        found[layer.name].append(node)
        stack.extend(node.input_tensors)
    return found


def _inputs(node) -> list:
    return list(node.input_tensors)


def _rebuild(layer, config: dict | None = None):
    return type(layer).from_config(config or layer.get_config())


def prune(model, keep: Mapping[str, Sequence[int]], name: str | None = None):
    """A new Functional model: ``model`` with only the ``keep`` output channels of the named convs.

    Walks the layers in topological order and tracks, for each tensor, which channels of the
    original tensor survive (indices into its last axis, or into the flattened features after a
    Flatten). Each layer is rebuilt from its config (same name, settings, ``trainable`` flag and
    dtype policy; a pruned conv gets ``filters`` = its kept count) and given its original weights
    sliced to the surviving input and output channels. ``model`` is left untouched.
    """
    import keras

    keep = dict(keep)
    for conv in keep:
        try:
            layer = model.get_layer(conv)
        except ValueError:
            raise RiceError(f"prune: model {model.name!r} has no layer {conv!r}") from None
        if type(layer).__name__ != "Conv2D":
            raise RiceError(f"prune: layer {conv!r} is a {type(layer).__name__}; only Conv2D output channels can be pruned")
    for layer in model.layers:
        if type(layer).__name__ not in SUPPORTED:
            raise RiceError(f"prune: layer {layer.name!r} is a {type(layer).__name__}, which the surgery does not "
                            f"support (supported: {', '.join(SUPPORTED)})")
    nodes = calls(model)
    for name, used in nodes.items():
        if len(used) > 1:
            raise RiceError(f"prune: layer {name!r} is used more than once (shared layers are not supported)")
    node = {name: used[0] for name, used in nodes.items()}

    new: dict[int, Any] = {}  # id(original tensor) -> new tensor
    alive: dict[int, np.ndarray] = {}  # id(original tensor) -> surviving channel indices (original numbering)

    def get(tensors):
        return [new[id(t)] for t in tensors], [alive[id(t)] for t in tensors]

    pending = list(model.layers)
    while pending:
        ready = [layer for layer in pending
                 if type(layer).__name__ == "InputLayer" or all(id(t) in new for t in _inputs(node[layer.name]))]
        if not ready:
            raise RiceError(f"prune: cannot order the layers of {model.name!r} (is it a Functional model?)")
        for layer in ready:
            pending.remove(layer)
            out_tensor = node[layer.name].output_tensors[0]
            kind = type(layer).__name__
            if kind == "InputLayer":
                config = layer.get_config()
                tensor = keras.Input(batch_shape=config["batch_shape"], dtype=config["dtype"], name=layer.name)
                new[id(out_tensor)], alive[id(out_tensor)] = tensor, np.arange(int(out_tensor.shape[-1]))
                continue
            ins, alv = get(_inputs(node[layer.name]))
            if kind == "Conv2D":
                if layer.groups != 1 or layer.data_format != "channels_last":
                    raise RiceError(f"prune: conv {layer.name!r}: only channels_last convs without groups are supported")
                out = _indices(keep[layer.name], layer.filters, layer.name) if layer.name in keep else np.arange(layer.filters)
                config = layer.get_config()
                config["filters"] = len(out)
                clone = _rebuild(layer, config)
                tensor = clone(ins[0])
                weights = layer.get_weights()
                weights[0] = weights[0][:, :, alv[0], :][..., out]  # kernel (kh, kw, in, out)
                if layer.use_bias:
                    weights[1] = weights[1][out]
                clone.set_weights(weights)
                channels = out
            elif kind == "Dense":
                clone = _rebuild(layer)
                tensor = clone(ins[0])
                weights = layer.get_weights()
                weights[0] = weights[0][alv[0], :]  # kernel (in, units): drop the rows of removed inputs
                clone.set_weights(weights)
                channels = np.arange(layer.units)
            elif kind == "Concatenate":
                if layer.axis not in (-1, len(out_tensor.shape) - 1):
                    raise RiceError(f"prune: {layer.name!r} concatenates on axis {layer.axis}, not the channel axis")
                clone = _rebuild(layer)
                tensor = clone(ins)
                offsets = np.cumsum([0] + [int(t.shape[-1]) for t in _inputs(node[layer.name])])
                channels = np.concatenate([a + o for a, o in zip(alv, offsets)])
            elif kind == "Flatten":
                src = _inputs(node[layer.name])[0]
                if len(src.shape) > 2 and layer.data_format != "channels_last":
                    raise RiceError(f"prune: Flatten {layer.name!r}: only channels_last is supported")
                clone = _rebuild(layer)
                tensor = clone(ins[0])
                # (H, W, C) flattens row-major: feature (h*W + w)*C + c. The kept features, in the
                # pruned tensor's order, are those of every position with the kept channels.
                positions = int(np.prod([int(d) for d in src.shape[1:-1]], dtype=np.int64))
                width = int(src.shape[-1])
                channels = (np.arange(positions)[:, None] * width + alv[0][None, :]).reshape(-1)
            else:  # channel-wise layers
                per_channel = kind == "Rescaling" and (np.ndim(layer.scale) or np.ndim(layer.offset))
                if per_channel and len(alv[0]) != int(out_tensor.shape[-1]):
                    raise RiceError(f"prune: Rescaling {layer.name!r} has per-channel values; its input cannot be pruned")
                if getattr(layer, "data_format", "channels_last") != "channels_last":
                    raise RiceError(f"prune: {kind} {layer.name!r}: only channels_last is supported")
                clone = _rebuild(layer)
                tensor = clone(ins[0])
                clone.set_weights(layer.get_weights())
                channels = alv[0]
            new[id(out_tensor)], alive[id(out_tensor)] = tensor, channels
    inputs = [new[id(t)] for t in model.inputs]
    outputs = [new[id(t)] for t in model.outputs]
    return keras.Model(inputs if len(inputs) > 1 else inputs[0], outputs if len(outputs) > 1 else outputs[0],
                       name=name or model.name)


def summary(model, keep: Mapping[str, Sequence[int]]) -> dict[str, dict]:
    """Per pruned conv: channels before and after, and the removed channel indices."""
    out = {}
    for conv, kept in keep.items():
        before = model.get_layer(conv).filters
        out[conv] = {"channels_before": before, "channels_after": len(kept),
                     "removed": sorted(set(range(before)) - {int(i) for i in kept})}
    return out
