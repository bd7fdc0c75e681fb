"""The model registry: the six models of the study, by name (see SPEC "The six models").

Importing this package does not import Keras (params.yaml validation uses it, and `ricecnn fetch`
must stay light): each builder module is imported when its model is first built.
"""

from __future__ import annotations

import difflib
import importlib
from pathlib import Path
from typing import Any, Callable

from ..errors import RiceError


def _lazy(module: str, func: str) -> Callable[..., Any]:
    """``ricecnn.models.<module>.<func>``, imported on first call."""

    def build(img_size: int, num_classes: int, **options: Any):
        return getattr(importlib.import_module(f"{__name__}.{module}"), func)(img_size, num_classes, **options)

    build.__name__ = build.__qualname__ = func
    return build


MODELS: dict[str, Callable[..., Any]] = {
    name: _lazy(module, name)
    for name, module in [
        ("cnn", "cnn"),
        ("cnn_light", "cnn"),
        ("googlenet", "googlenet"),
        ("googlenet_light", "googlenet"),
        ("vgg16", "vgg16"),
        ("vgg16_light", "vgg16"),
    ]
}

VGG_MODELS = ("vgg16", "vgg16_light")
# Layers of the VGG16 base that an integer `freeze` counts: its conv and pooling layers, i.e. Keras'
# VGG16(include_top=False).layers without the InputLayer. `freeze: seed` is SPEC's pattern (vgg16.py).
VGG_BASE_LAYERS = {"vgg16": 18, "vgg16_light": 10}

# Smallest square input each model accepts, and why. The rule, the same for all six: the model
# must build, and every stride-2 step (pooling or strided convolution) must see an input at least
# 2 px wide, so that each downsampling really downsamples and the last feature map is 1x1.
# With 'valid' pooling (cnn, cnn_light, VGG) a smaller input leaves an empty map. GoogLeNet only
# uses 'same' padding (ceil(n/2)), so it builds at any size, but below 17 px its last stride-2
# steps run on a 1x1 map, i.e. on padding alone. (vgg16 = Keras' own 32 px minimum for VGG16.)
MIN_INPUT_SIZE: dict[str, tuple[int, str]] = {
    "cnn": (8, "its 3 max-poolings (2x2, valid)"),
    "cnn_light": (11, "its 2 stride-2 convolutions and 2 max-poolings"),
    "googlenet": (17, "its 5 stride-2 convolutions and poolings"),
    "googlenet_light": (17, "its 5 stride-2 convolutions and poolings"),
    "vgg16": (32, "its 5 max-poolings (2x2, valid)"),
    "vgg16_light": (8, "its 3 max-poolings (2x2, valid)"),
}

# Per-model settings: `epochs` (required), `learning_rate` (overrides train.learning_rate),
# and for VGG the weights source and freezing.
OPTION_KEYS = {
    name: ("epochs", "learning_rate", "weights", "freeze") if name in VGG_MODELS else ("epochs", "learning_rate")
    for name in MODELS
}


def _suggest(word: str, choices) -> str:
    near = difflib.get_close_matches(str(word), list(choices), n=1, cutoff=0.5)
    return f" (did you mean {near[0]!r}?)" if near else f" (one of: {', '.join(choices)})"


def check_name(name: str, where: str = "") -> None:
    if name not in MODELS:
        raise RiceError(f"{where}unknown model {name!r}{_suggest(name, MODELS)}")


def min_input_size(name: str) -> int:
    check_name(name)
    return MIN_INPUT_SIZE[name][0]


def check_input_size(name: str, img_size: int) -> None:
    low, why = MIN_INPUT_SIZE[name]
    if img_size < low:
        raise RiceError(
            f"img_size={img_size} is too small for {name}: {why} need at least {low} px (set data.img_size >= {low})"
        )


def _weights_value(value: Any) -> str | None:
    """Normalize a `weights` setting: 'imagenet', None (random init) or a path string."""
    if value is None or value == "none":
        return None
    return value


def check_options(name: str, options: dict, *, require_epochs: bool) -> None:
    """Check one `models.<name>` entry of params.yaml; raise RiceError naming the first problem."""
    where = f"params.yaml: models.{name}"
    if not isinstance(options, dict):
        raise RiceError(f"{where} must be a mapping such as {{epochs: 30}}, not {options!r}")
    valid = OPTION_KEYS[name]
    for key in options:
        if key not in valid:
            raise RiceError(f"{where}: unknown option {key!r}{_suggest(key, valid)}")
    if "epochs" in options or require_epochs:
        if "epochs" not in options:
            raise RiceError(f"{where}.epochs is missing: set it to the most epochs to train (an integer >= 1)")
        epochs = options["epochs"]
        if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 1:
            raise RiceError(f"{where}.epochs = {epochs!r} must be an integer >= 1")
    lr = options.get("learning_rate", 0.001)
    if isinstance(lr, bool) or not isinstance(lr, (int, float)) or not 0 < lr <= 10:
        raise RiceError(f"{where}.learning_rate = {lr!r} must be a number in (0, 10]")
    weights = _weights_value(options.get("weights"))
    if weights not in (None, "imagenet"):
        if not isinstance(weights, str) or not weights.endswith(".h5"):
            raise RiceError(f"{where}.weights = {weights!r} must be imagenet, none or a path to a .h5 file")
        if not Path(weights).is_file():
            raise RiceError(f"{where}.weights: weights file {weights} not found: fix the path, or use imagenet or none")
    if "freeze" in options:
        freeze, n = options["freeze"], VGG_BASE_LAYERS[name]
        is_int = isinstance(freeze, int) and not isinstance(freeze, bool)
        if not (freeze in ("seed", "none") or (is_int and 0 <= freeze <= n)):
            raise RiceError(f"{where}.freeze = {freeze!r} must be seed, none or N in 0..{n} (VGG base layers frozen)")


def validate_models(models: Any) -> None:
    """Validate the `models:` section of params.yaml (names, epochs, VGG weights/freeze)."""
    if not isinstance(models, dict) or not models:
        raise RiceError("params.yaml: models must map model names to settings, e.g. cnn: {epochs: 30}")
    for name, options in models.items():
        if name not in MODELS:
            raise RiceError(f"params.yaml: unknown model {name!r} in models{_suggest(name, MODELS)}")
        check_options(name, options, require_epochs=True)


def build_model(name: str, img_size: int, num_classes: int, options: dict | None = None):
    """Build registry model ``name`` (uncompiled) for ``img_size`` px RGB input and ``num_classes``."""
    check_name(name)
    check_input_size(name, img_size)
    if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 2:
        raise RiceError(f"{name} needs at least 2 classes, got {num_classes!r}: check the split's classes.json")
    options = dict(options or {})
    check_options(name, options, require_epochs=False)
    kwargs = {}
    if name in VGG_MODELS:
        kwargs = {"weights": _weights_value(options.get("weights")), "freeze": options.get("freeze", "seed")}
    return MODELS[name](img_size, num_classes, **kwargs)


def feature_layers(model) -> list[str]:
    """Names of the layers whose outputs are the study's feature maps, first to last.

    With inception modules: the stem convolutions, then each module's output (its Concatenate,
    named after the module; the module's own layers are named ``<module>_...``). Otherwise every
    Conv2D layer (for VGG: its 13, or 7 for vgg16_light, block convolutions).
    """
    modules = [layer.name for layer in model.layers if type(layer).__name__ == "Concatenate"]
    names = []
    for layer in model.layers:
        kind = type(layer).__name__
        if kind == "Conv2D" and not any(layer.name.startswith(m + "_") for m in modules):
            names.append(layer.name)
        elif kind == "Concatenate":
            names.append(layer.name)
    return names
