"""The model registry: the six models of the study (docs/paper.md), what each is (family, full or
light, smallest input, VGG's base layers) and the options its ``models.<name>`` entry may hold.

A model is one builder, the module of its name in this folder (``cnn.py``, ``cnn_light.py``, ...:
``build(img_size, num_classes, **options) -> keras.Model``, the layers they share in ``layers.py``),
one entry of ``REGISTRY`` and one entry of ``models:`` in params.yaml. The registry imports no
builder: ``build.build_model`` imports the one a stage builds, so that a builder's edit reruns only
its model's stages (dvc.yaml lists ``networks/<model>.py`` per model). Which models are compared
with which, and the names of the variants the stages derive: ``ricecnn.evaluation.plan``.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass

from ..core.errors import RiceError


@dataclass(frozen=True)
class Spec:
    family: str
    variant: str  # "full" or "light" (the paper's hand-made variant)
    # Smallest square input the model accepts, and why. The rule, the same for all six: every
    # stride-2 step must see an input at least 2 px wide, so that each downsampling really
    # downsamples and the last feature map is 1x1. With 'valid' pooling (cnn, cnn_light, VGG) a
    # smaller input leaves an empty map; GoogLeNet pads ('same'), so it builds at any size, but
    # below 17 px its last stride-2 steps run on padding alone. (vgg16: Keras' own 32 px minimum.)
    min_size: int
    min_size_why: str
    # VGG only: the base layers (conv and pooling) an integer `freeze` counts; None: no weights or
    # freeze options
    base_layers: int | None = None

    @property
    def options(self) -> tuple[str, ...]:
        """The keys its ``models.<name>`` entry may hold."""
        return ("epochs", "learning_rate") + (("weights", "freeze") if self.base_layers else ())


REGISTRY: dict[str, Spec] = {
    "cnn": Spec("cnn", "full", 8, "its 3 max-poolings (2x2, valid)"),
    "cnn_light": Spec("cnn", "light", 11, "its 2 stride-2 convolutions and 2 max-poolings"),
    "googlenet": Spec("googlenet", "full", 17, "its 5 stride-2 convolutions and poolings"),
    "googlenet_light": Spec("googlenet", "light", 17, "its 5 stride-2 convolutions and poolings"),
    "vgg16": Spec("vgg16", "full", 32, "its 5 max-poolings (2x2, valid)", base_layers=18),
    "vgg16_light": Spec("vgg16", "light", 8, "its 3 max-poolings (2x2, valid)", base_layers=10),
}


def spec(name: str, where: str = "") -> Spec:
    if name not in REGISTRY:
        near = difflib.get_close_matches(str(name), list(REGISTRY), n=1, cutoff=0.5)
        hint = f" (did you mean {near[0]!r}?)" if near else f" (one of: {', '.join(REGISTRY)})"
        raise RiceError(f"{where}unknown model {name!r}{hint}")
    return REGISTRY[name]


def check_options(name: str, options: dict) -> None:
    """Check one ``models.<name>`` entry (already typed and checked by ``networks.settings.ModelEntry``) against
    what depends on the model: which options it takes, and how many base layers it can freeze."""
    s, where = spec(name, "params.yaml: models: "), f"params.yaml: models.{name}"
    for key in options:
        if key not in s.options:
            near = difflib.get_close_matches(key, s.options, n=1, cutoff=0.5)
            hint = f" (did you mean {near[0]!r}?)" if near else f" (options of {name}: {', '.join(s.options)})"
            raise RiceError(f"{where}: unknown option {key!r}{hint}")
    freeze = options.get("freeze")
    if isinstance(freeze, int) and freeze > s.base_layers:
        raise RiceError(f"{where}.freeze = {freeze!r} must be paper, none or N in 0..{s.base_layers} "
                        f"(the VGG base layers of {name} frozen)")


def check_input_size(name: str, img_size: int) -> None:
    s = spec(name)
    if img_size < s.min_size:
        raise RiceError(f"img_size={img_size} is too small for {name}: {s.min_size_why} need at least "
                        f"{s.min_size} px (set data.img_size >= {s.min_size})")
