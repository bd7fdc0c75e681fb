"""What a model's layers are, for the study, in one place: its inception modules, its feature layers
(the paper's feature maps, first to last) and its ReLU convolutions (where a zero counted by APoZ is
a zero of the layer's output).

An inception module is a Concatenate layer; the layers inside it are named ``<module>_...``
(``ricecnn.networks.layers``). Keras models only, through their layers' types and names.
"""

from __future__ import annotations


def inception_modules(model) -> list:
    """The model's inception modules: its Concatenate layers."""
    return [layer for layer in model.layers if type(layer).__name__ == "Concatenate"]


def inside_module(layer, modules: list) -> bool:
    """Whether ``layer`` belongs to one of the inception ``modules`` (by its ``<module>_`` name)."""
    return any(layer.name.startswith(m.name + "_") for m in modules)


def feature_layers(model) -> list[str]:
    """Names of the layers whose outputs are the study's feature maps, first to last.

    With inception modules: the stem convolutions, then each module's output (its Concatenate).
    Otherwise every Conv2D layer (for VGG: its 13, or 7 for vgg16_light, block convolutions).
    """
    modules = inception_modules(model)
    return [layer.name for layer in model.layers
            if type(layer).__name__ == "Concatenate"
            or (type(layer).__name__ == "Conv2D" and not inside_module(layer, modules))]


def is_relu_conv(layer) -> bool:
    return type(layer).__name__ == "Conv2D" and getattr(layer.activation, "__name__", "") == "relu"


def relu_convs(model) -> list[str]:
    """Every convolution whose zeros are its outputs' zeros: the ReLU Conv2D layers."""
    return [layer.name for layer in model.layers if is_relu_conv(layer)]
