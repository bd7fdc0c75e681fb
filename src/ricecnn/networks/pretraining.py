"""The stand-in's pretraining of VGG16 (stage `pretrain`, for ``weights: standin``): the
paper's VGG16 came ImageNet-pretrained, and ImageNet cannot be downloaded offline, so VGG16's base
learns its features on another labelled set, the pretraining source (``ricecnn.data.pretraining``:
grain shapes that are not rice), before the rice models load it and freeze it as the paper does.

The base is the builders' own (``layers.vgg``: all five blocks, Keras' layer names, He-normal), with a
throwaway head (global average pooling, one ReLU layer, softmax), every layer trainable, trained by
``ricecnn.training.fit`` (Adam, cosine schedule). What it writes is a Keras VGG16 notop weights file,
the kind ``layers._keras_base`` loads for a local ``weights`` file. Importing this module starts
Keras: the stage imports it only for a model with ``weights: standin``.
"""

from __future__ import annotations

from pathlib import Path

import keras
import numpy as np

from . import layers

HEAD_UNITS = 256  # the throwaway head's ReLU layer (vgg16_light's head width)


def model(img_size: int, num_classes: int):
    """VGG16's whole base and the throwaway head, every layer trainable."""
    return layers.vgg(img_size, num_classes, len(layers.BLOCKS), HEAD_UNITS, 0.0, None, "none", 0, "vgg16_pretraining")


def base_layers(m) -> list:
    """The VGG16 base layers of ``m`` that hold weights (block1_conv1 ... block5_conv3, as many as it has)."""
    return [layer for layer in m.layers if layer.name.startswith("block") and layer.weights]


def save_base(m, path: str | Path) -> None:
    """Write ``m``'s VGG16 base as a Keras VGG16 notop weights file (``path`` ends in .weights.h5). Its
    input is named, so that the file's bytes do not depend on the models made before in the process."""
    image = keras.Input((None, None, 3), name="input_layer")  # Keras' first automatic name
    base = keras.applications.VGG16(include_top=False, weights=None, input_tensor=image)
    for layer in base_layers(m):
        base.get_layer(layer.name).set_weights(layer.get_weights())
    base.save_weights(str(path))


def movement(before: dict[str, list], m) -> dict[str, float]:
    """Per base layer: how far its kernel moved from ``before`` (name -> weights), relative to the
    kernel's norm there: ||W - W0|| / ||W0||."""
    out = {}
    for layer in base_layers(m):
        w0, w = before[layer.name][0], layer.get_weights()[0]
        out[layer.name] = _norm(w - w0) / _norm(w0)
    return out


def _norm(x: np.ndarray) -> float:
    """The Euclidean norm, the same to the last bit on every CPU: math.fsum sums the float64 squares
    exactly rounded. np.linalg.norm asks BLAS, whose float32 kernels differ between CPUs in the last
    bits; one such bit changed a rounded figure of pretrain.json, and so the hash of models/pretrain/,
    between two machines for the same weights."""
    import math

    return math.sqrt(math.fsum(np.square(np.asarray(x, np.float64)).ravel()))
