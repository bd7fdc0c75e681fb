"""Channel surgery: remove convolution output channels from a Keras Functional model, physically.

  prune(model, keep) -> keras.Model
      the same Functional graph, the same layer names, types and settings, with fewer filters in
      the listed convs and the matching weight slices; every layer downstream drops the matching
      inputs (the next conv's kernel input rows, a Flatten->Dense's rows per spatial position, a
      Concatenate's offsets, ...). No masks: the result is a smaller dense model.
  feature_convs(model, layer) -> the convs whose output channels make up a feature layer (a conv
      itself, or an inception module's Concatenate, whose channels belong to its branch convs).

Which channels go is decided elsewhere (``ricecnn.channels.selection``, from APoZ). The paper's light models
were made by eye (docs/paper.md); prune and trim make the same kind of model from data.

Why by hand: no maintained library does physical pruning for Keras 3. keras-surgeon
(BenWhetton/keras-surgeon) only supports standalone Keras 2 / TensorFlow 1.x Keras graphs, and
tensorflow-model-optimization's pruning API only masks weights to zero inside TensorFlow's Keras 2
models: the tensors keep their shapes, so neither parameters nor FLOPs go down.

Why removing a channel that is zero on some images changes nothing on those images: after its
ReLU it is 0 at every position, and downstream it only ever meets operations that keep a zero
channel out of every other channel's result (a conv multiplies it by its kernel slice, max-pooling
and padding keep it 0, Flatten->Dense multiplies it by its rows, GAP averages zeros), so the outputs
are the same up to float summation order. On other inputs the channel may wake up.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import numpy as np

from ..core.errors import RiceError

# Layers whose output channel c depends on input channel c only (same channel axis, same order)
CHANNELWISE = ("Rescaling", "MaxPooling2D", "AveragePooling2D", "Dropout", "GlobalAveragePooling2D",
               "GlobalMaxPooling2D")
SUPPORTED = ("InputLayer", "Conv2D", "Concatenate", "Flatten", "Dense", *CHANNELWISE)


# --- the graph: which convs make a feature layer -------------------------------------------


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
    for layer_name, used in nodes.items():  # not ``name``: the new model's name, used at the end
        if len(used) > 1:
            raise RiceError(f"prune: layer {layer_name!r} is used more than once (shared layers are not supported)")
    node = {layer_name: used[0] for layer_name, used in nodes.items()}

    new: dict[int, Any] = {}  # id(original tensor) -> new tensor
    alive: dict[int, np.ndarray] = {}  # id(original tensor) -> surviving channel indices (original numbering)
    pending = list(model.layers)
    while pending:
        ready = [layer for layer in pending
                 if type(layer).__name__ == "InputLayer" or all(id(t) in new for t in list(node[layer.name].input_tensors))]
        if not ready:
            raise RiceError(f"prune: cannot order the layers of {model.name!r} (is it a Functional model?)")
        for layer in ready:
            pending.remove(layer)
            out_tensor = node[layer.name].output_tensors[0]
            sources = list(node[layer.name].input_tensors)
            step = _Step(layer, sources, out_tensor, [new[id(t)] for t in sources], [alive[id(t)] for t in sources], keep)
            tensor, channels = HANDLERS.get(type(layer).__name__, _channelwise)(step)
            new[id(out_tensor)], alive[id(out_tensor)] = tensor, channels
    inputs = [new[id(t)] for t in model.inputs]
    outputs = [new[id(t)] for t in model.outputs]
    return keras.Model(inputs if len(inputs) > 1 else inputs[0], outputs if len(outputs) > 1 else outputs[0],
                       name=name or model.name)


@dataclass
class _Step:
    """One layer of ``prune``'s walk: the original layer, its input and output tensors, the new model's
    input tensors, the channels of the original inputs that survive (``alive``), and the convs' keep lists."""

    layer: Any
    sources: list  # the original input tensors
    out_tensor: Any
    ins: list  # the new input tensors
    alive: list  # per input: its surviving channel indices (original numbering)
    keep: Mapping[str, Sequence[int]]


def _input(step: _Step):
    import keras

    config = step.layer.get_config()
    tensor = keras.Input(batch_shape=config["batch_shape"], dtype=config["dtype"], name=step.layer.name)
    return tensor, np.arange(int(step.out_tensor.shape[-1]))


def _conv(step: _Step):
    """Its kept output channels (``keep``), and of its kernel the surviving input channels' rows."""
    layer = step.layer
    if layer.groups != 1 or layer.data_format != "channels_last":
        raise RiceError(f"prune: conv {layer.name!r}: only channels_last convs without groups are supported")
    out = _indices(step.keep[layer.name], layer.filters, layer.name) if layer.name in step.keep else np.arange(layer.filters)
    config = layer.get_config()
    config["filters"] = len(out)
    clone = _rebuild(layer, config)
    tensor = clone(step.ins[0])
    weights = layer.get_weights()
    weights[0] = weights[0][:, :, step.alive[0], :][..., out]  # kernel (kh, kw, in, out)
    if layer.use_bias:
        weights[1] = weights[1][out]
    clone.set_weights(weights)
    return tensor, out


def _dense(step: _Step):
    clone = _rebuild(step.layer)
    tensor = clone(step.ins[0])
    weights = step.layer.get_weights()
    weights[0] = weights[0][step.alive[0], :]  # kernel (in, units): drop the rows of removed inputs
    clone.set_weights(weights)
    return tensor, np.arange(step.layer.units)


def _concatenate(step: _Step):
    layer = step.layer
    if layer.axis not in (-1, len(step.out_tensor.shape) - 1):
        raise RiceError(f"prune: {layer.name!r} concatenates on axis {layer.axis}, not the channel axis")
    tensor = _rebuild(layer)(step.ins)
    offsets = np.cumsum([0] + [int(t.shape[-1]) for t in step.sources])
    return tensor, np.concatenate([a + o for a, o in zip(step.alive, offsets)])


def _flatten(step: _Step):
    layer, src = step.layer, step.sources[0]
    if len(src.shape) > 2 and layer.data_format != "channels_last":
        raise RiceError(f"prune: Flatten {layer.name!r}: only channels_last is supported")
    tensor = _rebuild(layer)(step.ins[0])
    # (H, W, C) flattens row-major: feature (h*W + w)*C + c. The kept features, in the pruned
    # tensor's order, are those of every position with the kept channels.
    positions = int(np.prod([int(d) for d in src.shape[1:-1]], dtype=np.int64))
    width = int(src.shape[-1])
    return tensor, (np.arange(positions)[:, None] * width + step.alive[0][None, :]).reshape(-1)


def _channelwise(step: _Step):
    """A layer that acts on each channel alone (activations, pooling, batch norm, ...): its channels
    are its input's."""
    layer, kind = step.layer, type(step.layer).__name__
    per_channel = kind == "Rescaling" and (np.ndim(layer.scale) or np.ndim(layer.offset))
    if per_channel and len(step.alive[0]) != int(step.out_tensor.shape[-1]):
        raise RiceError(f"prune: Rescaling {layer.name!r} has per-channel values; its input cannot be pruned")
    if getattr(layer, "data_format", "channels_last") != "channels_last":
        raise RiceError(f"prune: {kind} {layer.name!r}: only channels_last is supported")
    clone = _rebuild(layer)
    tensor = clone(step.ins[0])
    clone.set_weights(layer.get_weights())
    return tensor, step.alive[0]


# one handler per layer kind: (the new tensor, its surviving channels); any other supported kind is channel-wise
HANDLERS = {"InputLayer": _input, "Conv2D": _conv, "Dense": _dense, "Concatenate": _concatenate, "Flatten": _flatten}


def summary(model, keep: Mapping[str, Sequence[int]]) -> dict[str, dict]:
    """Per pruned conv: channels before and after, and the removed channel indices."""
    out = {}
    for conv, kept in keep.items():
        before = model.get_layer(conv).filters
        out[conv] = {"channels_before": before, "channels_after": len(kept),
                     "removed": sorted(set(range(before)) - {int(i) for i in kept})}
    return out
