"""The model registry: the six models of the study (docs/paper.md), the variants the pipeline
derives from them, and their names: a derived model's (``<m>_pruned``, ``<m>_trim``,
``<m>_trim_scratch``) and the DVC stage that writes each model, made here and nowhere else in
Python (dvc.yaml writes the same names; ``tests/test_dag.py`` checks that they agree).

A model is one builder (``cnn.py``, ``googlenet.py``, ``vgg16.py``: pure functions
``(img_size, num_classes, **options) -> keras.Model``), one entry of ``REGISTRY`` and one entry of
``models:`` in params.yaml. Each entry says which family the model belongs to and whether it is the
family's full model or the paper's hand-made light variant; ``evaluated`` adds the variants that
stages make from trained models (``<m>_pruned``), so the comparison stages never parse names.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import Any, Callable

from ..core.errors import RiceError
from .cnn import cnn, cnn_light
from .googlenet import googlenet, googlenet_light
from .vgg16 import vgg16, vgg16_light


@dataclass(frozen=True)
class Spec:
    build: Callable[..., Any]  # (img_size, num_classes, **options) -> keras.Model
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
    "cnn": Spec(cnn, "cnn", "full", 8, "its 3 max-poolings (2x2, valid)"),
    "cnn_light": Spec(cnn_light, "cnn", "light", 11, "its 2 stride-2 convolutions and 2 max-poolings"),
    "googlenet": Spec(googlenet, "googlenet", "full", 17, "its 5 stride-2 convolutions and poolings"),
    "googlenet_light": Spec(googlenet_light, "googlenet", "light", 17, "its 5 stride-2 convolutions and poolings"),
    "vgg16": Spec(vgg16, "vgg16", "full", 32, "its 5 max-poolings (2x2, valid)", base_layers=18),
    "vgg16_light": Spec(vgg16_light, "vgg16", "light", 8, "its 3 max-poolings (2x2, valid)", base_layers=10),
}
PAPER_SIZE = 224  # the paper's input size: FLOPs and parameters are also reported there


def spec(name: str, where: str = "") -> Spec:
    if name not in REGISTRY:
        near = difflib.get_close_matches(str(name), list(REGISTRY), n=1, cutoff=0.5)
        hint = f" (did you mean {near[0]!r}?)" if near else f" (one of: {', '.join(REGISTRY)})"
        raise RiceError(f"{where}unknown model {name!r}{hint}")
    return REGISTRY[name]


def check_options(name: str, options: dict) -> None:
    """Check one ``models.<name>`` entry (already typed and checked by ``ricecnn.core.settings``) against
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


def build_model(name: str, img_size: int, num_classes: int, options: dict | None = None):
    """Build registry model ``name`` (uncompiled) for ``img_size`` px RGB input and ``num_classes``.

    ``options``: the model's params.yaml entry (``epochs`` and ``learning_rate`` are training
    settings and ignored here; VGG takes ``weights`` and ``freeze``).
    """
    s = spec(name)
    check_input_size(name, img_size)
    if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 2:
        raise RiceError(f"{name} needs at least 2 classes, got {num_classes!r}: check the split's classes.json")
    options = dict(options or {})
    check_options(name, options)
    kwargs = {}
    if s.base_layers:
        weights, freeze = options.get("weights"), options.get("freeze")
        kwargs = {"weights": None if weights == "none" else weights, "freeze": "paper" if freeze is None else freeze}
    return s.build(img_size, num_classes, **kwargs)


@dataclass(frozen=True)
class Evaluated:
    """A model the comparison stages cover."""

    name: str  # models/<seed>/<name>.keras
    family: str
    variant: str  # full | light | pruned | trim | trim_scratch
    baseline: str | None  # the model it is compared with first: the family's full model, or for the
    #                       scratch control the trimmed model whose architecture it trains
    stage: str  # the stage group that writes it (``stage_for`` names the stage of one seed)
    others: tuple[str, ...] = ()  # further paired comparisons (a trimmed model against the light one)
    parent: str | None = None  # the trained model it is made from (pruned, trim, trim_scratch, criterion)
    rule: str | None = None  # a criterion model's channel criterion (apoz, l1, random)
    target: float | None = None  # and its FLOPs target, a share of its parent's at 224 px

    def stage_for(self, seed: int) -> str:
        """The DVC stage that writes this model for training seed ``seed`` (dvc.yaml's matrix names)."""
        kind, model = self.stage.split("@")
        return stage_name(kind, model, seed)

    @property
    def against(self) -> tuple[str, ...]:
        """Every model it is compared with, paired on the same images."""
        return ((self.baseline,) if self.baseline else ()) + self.others


def stage_name(kind: str, model: str | int, seed: int | None = None) -> str:
    """The DVC stage of ``kind`` (train, featuremaps, prune, trim, trim_scratch) for registry model
    ``model``, under training seed ``seed``: dvc.yaml's matrix names (``kind@model-seed``); without a
    seed the group's name (``kind@model``); for a stage per seed (evaluate), ``kind@seed``."""
    return f"{kind}@{model}" if seed is None else f"{kind}@{model}-{seed}"


def trained_stage(name: str, seed: int) -> str:
    """The DVC stage that trains registry model ``name`` under training seed ``seed``."""
    return stage_name("train", name, seed)


def trimmed_stage(name: str, seed: int) -> str:
    """The DVC stage that trims registry model ``name`` under training seed ``seed``."""
    return stage_name("trim", name, seed)


def criterion_model(model: str, rule: str, target: float) -> str:
    """The name of ``model`` pruned by channel criterion ``rule`` to ``target`` of its FLOPs (dvc.yaml
    writes ``<model>_<rule>_<target>`` with DVC's own rendering of the number, which is Python's)."""
    return f"{model}_{rule}_{target}"


def evaluated(models: list[str], pruned: list[str], trimmed: list[str] = (),
              criteria: tuple[list[str], list[str], list[float]] = ((), (), ())) -> list[Evaluated]:
    """The trained models (``models:``), ``<m>_pruned`` for each of ``prune.models``, for each of
    ``trim.models`` its trimmed model ``<m>_trim`` and the control ``<m>_trim_scratch`` (the trimmed
    architecture trained from scratch), and for each model, rule and target of ``criteria`` the model
    that rule pruned to that target (``criterion_model``). The comparisons (``Evaluated.against``): a
    light, pruned or trimmed model against the family's full model, a trimmed one also against the
    light one, the control against the trimmed model, and every other rule's model against APoZ's
    at the same target (does APoZ pick better channels than it?)."""

    def variant(family: str, kind: str) -> str | None:
        return next((m for m in models if REGISTRY[m].family == family and REGISTRY[m].variant == kind), None)

    out = []
    for name in models:
        s = spec(name, "params.yaml: models: ")
        full = variant(s.family, "full")
        out.append(Evaluated(name, s.family, s.variant, full if full != name else None, stage_name("train", name)))
    for name in pruned:
        out.append(Evaluated(f"{name}_pruned", spec(name).family, "pruned", name, stage_name("prune", name), parent=name))
    for name in trimmed:
        family, light = spec(name).family, variant(spec(name).family, "light")
        out.append(Evaluated(f"{name}_trim", family, "trim", name, stage_name("trim", name), (light,) if light else (),
                             parent=name))
        out.append(Evaluated(f"{name}_trim_scratch", family, "trim_scratch", f"{name}_trim",
                             stage_name("trim_scratch", name), parent=name))
    names, rules, targets = criteria
    for name in names:
        for target in targets:
            for rule in rules:
                apoz = criterion_model(name, "apoz", target) if "apoz" in rules and rule != "apoz" else None
                out.append(Evaluated(criterion_model(name, rule, target), spec(name).family, "criterion", apoz,
                                     stage_name("criteria", f"{name}-{rule}-{target}"), parent=name, rule=rule,
                                     target=target))
    return out


def evaluated_for(settings) -> list[Evaluated]:
    """``evaluated`` for the settings of params.yaml (``ricecnn.core.settings.Settings``)."""
    c = settings.criteria
    return evaluated(list(settings.models), settings.prune.models, settings.trim.models, (c.models, c.rules, c.targets))
