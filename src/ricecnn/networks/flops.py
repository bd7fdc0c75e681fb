"""FLOPs, MACs and filter counts of a Keras model, computed from its layers (no backend needed).

Why by hand: the usual tool, keras-flops, no longer imports on TensorFlow >= 2.13 (it registers
profiler statistics such as 'AddV2,flops' that TensorFlow now registers itself: "KeyError:
Registering two statistical functions", tokusumi/keras-flops#17, #19; unmaintained), it expects a
Keras 2 (TensorFlow-bundled) model, and the profiler only exists on the TensorFlow backend. The rules below are those
of TensorFlow's v1 profiler (`tf.compat.v1.profiler.ProfileOptionBuilder.float_operation()`, see
tensorflow/python/profiler/internal/flops_registry.py and the Conv2D/BiasAdd statistics in
tensorflow/python/ops/nn_ops.py) applied to the frozen inference graph at batch 1, i.e. to the
ops that Keras 3 emits for each layer on TensorFlow:

  Conv2D       Conv2D op: 2*Kh*Kw*Cin per output element; bias add: 1 per output element
  Dense        MatMul: 2*in*out; bias add: out
  MaxPool2D    Kh*Kw per output element (AvgPool2D too)
  GlobalAvgPool  Mean: 1 per input element
  softmax      5 per output element (ReLU and linear: 0, the profiler does not count them)
  Rescaling    x*scale + offset: a Mul and an AddV2, 2 per element (measured in tests/test_flops.py)
  Concatenate, Flatten, Reshape, Dropout (inference), InputLayer: 0

A Rescaling applied to the model's input is preprocessing, not model FLOPs (docs/paper.md "FLOPs,
parameters, filters"): the paper scaled pixels by 1/255 in its tf.data map, outside the model, so
its counted graph starts at the first convolution. Its cost is reported apart, as
``preprocessing_flops`` (2 x 224 x 224 x 3 = 301,056 at 224 px).

tests/test_flops.py checks these counts against the profiler for all six models.
MACs are the multiply-accumulates of the convolutions and dense layers only.
"""

from __future__ import annotations

import math

from ..core.errors import RiceError
from .anatomy import feature_layers
from .parameters import count_parameters

ACTIVATION_FLOPS_PER_ELEMENT = {"linear": 0, "relu": 0, "softmax": 5}
ZERO_FLOP_LAYERS = ("InputLayer", "Concatenate", "Flatten", "Reshape", "Dropout")

PAPER_SIZE = 224  # the paper's input size: FLOPs and parameters are also reported there


def _elements(shape) -> int:
    return math.prod(int(d) for d in shape[1:])  # without the batch axis


def _activation(layer, out: int) -> int:
    name = getattr(layer.activation, "__name__", str(layer.activation))
    if name not in ACTIVATION_FLOPS_PER_ELEMENT:
        raise RiceError(f"count_flops: no FLOPs rule for activation {name!r} of layer {layer.name!r}")
    return ACTIVATION_FLOPS_PER_ELEMENT[name] * out


def layer_flops(layer) -> tuple[int, int]:
    """(FLOPs, MACs) of one layer at batch 1, by TensorFlow's profiler rules."""
    kind = type(layer).__name__
    if kind in ZERO_FLOP_LAYERS:
        return 0, 0
    out = _elements(layer.output.shape)
    if kind == "Rescaling":
        return 2 * out, 0
    if kind == "Conv2D":
        if layer.data_format != "channels_last":
            raise RiceError(f"count_flops: layer {layer.name!r}: only channels_last Conv2D is supported")
        kh, kw, cin_per_group, _ = layer.kernel.shape
        macs = kh * kw * cin_per_group * out
        return 2 * macs + (out if layer.use_bias else 0) + _activation(layer, out), macs
    if kind == "Dense":
        macs = _elements(layer.input.shape) * layer.units
        return 2 * macs + (out if layer.use_bias else 0) + _activation(layer, out), macs
    if kind in ("MaxPooling2D", "AveragePooling2D"):
        kh, kw = layer.pool_size
        return kh * kw * out, 0
    if kind == "GlobalAveragePooling2D":
        return _elements(layer.input.shape), 0
    if kind == "Activation":
        return _activation(layer, out), 0
    raise RiceError(f"count_flops: no FLOPs rule for layer type {kind} (layer {layer.name!r}): add one in flops.py")


def is_preprocessing(model, layer) -> bool:
    """A Rescaling of the model's input: what the paper did outside the model."""
    return type(layer).__name__ == "Rescaling" and any(layer.input is t for t in model.inputs)


def count_flops(model) -> dict:
    """FLOPs and MACs per image (the input's preprocessing apart), with a per-layer breakdown."""
    per_layer = []
    for layer in model.layers:
        flops, macs = layer_flops(layer)
        per_layer.append({"name": layer.name, "type": type(layer).__name__, "flops": flops, "macs": macs,
                          "preprocessing": is_preprocessing(model, layer)})
    return {
        "flops": sum(p["flops"] for p in per_layer if not p["preprocessing"]),
        "macs": sum(p["macs"] for p in per_layer),
        "preprocessing_flops": sum(p["flops"] for p in per_layer if p["preprocessing"]),
        "per_layer": per_layer,
    }


def count_filters(model) -> int:
    """The paper's filter count: the width of every feature layer (``anatomy.feature_layers``), that is
    the output channels of every plain Conv2D, plus for each inception module its concatenated width
    f1+f3+f5+pp (its own 1x1 reduce convolutions are not counted)."""
    return sum(int(model.get_layer(name).output.shape[-1]) for name in feature_layers(model))


def model_stats(model) -> dict:
    """Parameters (all and trainable), FLOPs, MACs and the paper's filter count of ``model``."""
    counted = count_flops(model)
    return {
        **count_parameters(model),
        "flops": counted["flops"],
        "macs": counted["macs"],
        "preprocessing_flops": counted["preprocessing_flops"],
        "filters": count_filters(model),
    }


def resized(model, img_size: int):
    """The same architecture for ``img_size`` x ``img_size`` inputs, freshly initialised (counts
    only). It works for any Functional model, pruned and trimmed ones included: the layers are
    rebuilt from their configs (trainable flags kept) and take their shapes from the new input."""
    import keras

    config = model.get_config()
    for layer in config["layers"]:
        layer.pop("build_config", None)  # the input shapes the layer was built for: new ones follow
        if layer["class_name"] == "InputLayer":
            shape = layer["config"]["batch_shape"]
            layer["config"]["batch_shape"] = [shape[0], img_size, img_size, *shape[3:]]
    return keras.Model.from_config(config)


def describe(model, paper_size: int) -> dict:
    """``model_stats`` at the model's own input size, and again at ``paper_size`` (keys ``*_224``
    for the paper's 224 px)."""
    here = model_stats(model)
    there = here if model.input_shape[1] == paper_size else model_stats(resized(model, paper_size))
    return {"img_size": int(model.input_shape[1]), **here, **{f"{k}_{paper_size}": v for k, v in there.items()}}
