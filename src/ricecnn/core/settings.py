"""params.yaml as one typed, validated object: parsed once per process, one clear line per mistake.

Every setting is declared once, here, with its type and range (pydantic, strict: no silent
"32" -> 32 or true -> 1). A mistake becomes one line naming the key, e.g.
``params.yaml: unknown key train.batchsize (did you mean 'batch_size'?)`` or
``params.yaml: train.batch_size = 0 must be greater than or equal to 1``.

The file's structure is checked here, and what needs no model: types, ranges, that a weights
file named exists. What a setting means for one model (which options a model takes, how many
base layers it can freeze) is checked by the model registry (``ricecnn.models``) when a stage
asks it for that model, so that the data stages (fetch, split) never import a model.
"""

from __future__ import annotations

import atexit
import difflib
import functools
import json
import os
import re
import typing
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    model_validator,
)

from .errors import RiceError

PositiveInt = Annotated[int, Field(ge=1)]
NonNegativeInt = Annotated[int, Field(ge=0)]
Fraction = Annotated[float, Field(gt=0, lt=1)]
LearningRate = Annotated[float, Field(gt=0, le=10)]


def _weights(value: str | None) -> str | None:
    if value in (None, "none", "imagenet"):
        return value
    if not value.endswith(".h5"):
        raise ValueError("must be imagenet, none or a path to a .h5 weights file")
    if not Path(value).expanduser().is_file():
        raise ValueError("is not an existing file (weights file not found): fix the path, or use imagenet or none")
    return value


def _freeze(value: str | int) -> str | int:
    if value in ("paper", "none") or (isinstance(value, int) and value >= 0):
        return value
    raise ValueError("must be paper, none or a number of VGG base layers >= 0")


def _devices(value: str | int) -> str | int:
    if value == "all" or (isinstance(value, int) and value >= 1):
        return value
    raise ValueError("must be all or a device count >= 1")


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class Synthetic(Section):
    per_class: PositiveInt  # images drawn per class
    size: Annotated[int, Field(ge=16, le=2048)]  # drawn image size in px
    offset: Annotated[float, Field(ge=0, le=0.5)]  # largest offset of the grain's centre, fraction of the image


class Data(Section):
    source: Literal["synthetic", "kaggle", "path"]
    path: str | None
    kaggle_dataset: Annotated[str, Field(min_length=1)]
    synthetic: Synthetic
    img_size: Annotated[int, Field(ge=8, le=1024)]


class Split(Section):
    val: Fraction
    test: Fraction

    @model_validator(mode="after")
    def _train_not_empty(self) -> Split:
        if self.val + self.test >= 1:
            raise ValueError("split.val + split.test must be < 1 so that the train split is not empty")
        return self


class Train(Section):
    batch_size: PositiveInt
    schedule: Literal["constant", "cosine"]  # the learning rate over a model's epochs (training.learning_rate_schedule)
    patience: NonNegativeInt | None  # None: no early stopping, every epoch runs and the last one's weights are kept
    learning_rate: LearningRate
    mixed_precision: bool
    backend: Literal["tensorflow", "jax", "torch", "env"]
    input_path: Literal["auto", "host", "device"]
    jit_compile: Literal["auto", True, False]
    steps_per_execution: PositiveInt
    distribution: Literal["none", "data_parallel"]
    devices: Annotated[str | int, AfterValidator(_devices)]


class ModelEntry(Section):
    """One entry of ``models:``. Which options apply to which model: ``ricecnn.models``."""

    epochs: PositiveInt
    learning_rate: LearningRate | None = None  # overrides train.learning_rate
    weights: Annotated[str | None, AfterValidator(_weights)] = None  # VGG: imagenet | none | file.h5
    freeze: Annotated[str | int, AfterValidator(_freeze)] | None = None  # VGG: paper | none | N

    def options(self) -> dict[str, Any]:
        """The options set in params.yaml (those left out are not passed on)."""
        return self.model_dump(exclude_unset=True)


class Prune(Section):
    models: list[str]
    apoz_threshold: Annotated[float, Field(gt=0, le=1)]
    min_channels: PositiveInt
    finetune_epochs: NonNegativeInt
    tolerance: Annotated[float, Field(gt=0)]  # largest output change on the APoZ sample at threshold 1.0


class Trim(Section):
    models: list[str]
    rule: Literal["fraction", "std"]  # fraction: a share of each layer per round; std: Hu et al.'s mean + k std
    strength: Annotated[float, Field(gt=0)]  # the share (fraction, < 1) or k (std)
    min_channels: PositiveInt
    budget: Annotated[float, Field(ge=0, le=1)]  # largest fall of val accuracy below the full model's
    finetune_epochs: PositiveInt  # per round, with early stopping
    max_rounds: PositiveInt
    samples: PositiveInt  # train images APoZ is measured on each round

    @model_validator(mode="after")
    def _fraction_below_one(self) -> Trim:
        if self.rule == "fraction" and self.strength >= 1:
            raise ValueError(f"trim.strength = {self.strength} must be below 1 with rule fraction (a share of each layer)")
        return self


CriterionRule = Literal["apoz", "l1", "random"]  # the channel criteria (ricecnn.criteria)


def _distinct(values: list) -> list:
    if len(set(values)) != len(values):
        raise ValueError("must not repeat a value")
    return values


class Criteria(Section):
    models: list[str]  # criteria@<m>-<rule>-<target>-<seed>: each model pruned by each rule to each target
    rules: Annotated[list[CriterionRule], AfterValidator(_distinct)]
    targets: Annotated[list[Annotated[float, Field(gt=0, lt=1)]], AfterValidator(_distinct)]
    min_channels: PositiveInt  # every conv keeps at least this many channels
    finetune_epochs: PositiveInt  # with the train settings, the same for every rule
    samples: PositiveInt  # train images APoZ is measured on


class Featuremaps(Section):
    samples: PositiveInt  # validation images over which APoZ is measured
    per_layer_max: PositiveInt  # channels drawn per layer in the pictures


class Evaluate(Section):
    batch_size: PositiveInt
    latency_repeats: PositiveInt
    robustness_images: PositiveInt  # test images (spread evenly) scored under each augmentation alone


# the kinds of paired comparison (ricecnn.tables.KINDS words them): a light, pruned or trimmed model
# against its full model, a trimmed one against the light one, the scratch control against the trimmed
# model, another channel criterion against APoZ
ClaimKind = Literal["light", "pruned", "trim", "trim_vs_light", "trim_scratch", "criterion"]
Condition = Literal["clean", "augmented"]  # the test sets every comparison is made on


class Family(Section):
    kinds: Annotated[list[ClaimKind], Field(min_length=1), AfterValidator(_distinct)]
    conditions: Annotated[list[Condition], Field(min_length=1), AfterValidator(_distinct)]
    # variant models whose claims of these kinds were named, before the runs, as ones no affordable design
    # decides (docs/statistics.md, "Sizing the study"): reported as exploratory, outside the family
    undecidable: Annotated[list[str], AfterValidator(_distinct)] = []


class Compare(Section):
    margin: Annotated[float, Field(gt=0, lt=1)]  # the largest accuracy loss that still counts as "as good"
    families: dict[str, Family]  # the claims that get a verdict, fixed before the runs; the rest are exploratory
    failed_run: Annotated[float, Field(gt=0, le=1)]  # a run this far below its model's best run failed to train

    @model_validator(mode="after")
    def _a_claim_in_one_family(self) -> Compare:
        seen: dict[tuple[str, str], str] = {}
        for name, f in self.families.items():
            for key in ((k, c) for k in f.kinds for c in f.conditions):
                if key in seen:
                    raise ValueError(f"families: {key[0]} on {key[1]} is in both {seen[key]} and {name}: a claim belongs "
                                     "to one family")
                seen[key] = name
        return self


class Settings(Section):
    seed: NonNegativeInt  # data: drawing, splitting, the APoZ samples, the test-time augmentation
    training_seeds: Annotated[list[NonNegativeInt], Field(min_length=1), AfterValidator(_distinct)]
    data: Data
    split: Split
    train: Train
    models: dict[str, ModelEntry]
    prune: Prune
    trim: Trim
    criteria: Criteria
    featuremaps: Featuremaps
    evaluate: Evaluate
    compare: Compare

    @model_validator(mode="after")
    def _pruned_models_are_trained(self) -> Settings:
        if not self.models:
            raise ValueError("models must name at least one model, e.g. cnn: {epochs: 30}")
        for section, names in (("prune", self.prune.models), ("trim", self.trim.models), ("criteria", self.criteria.models)):
            for name in names:
                if name not in self.models:
                    raise ValueError(f"{section}.models names {name!r}, which has no entry under models")
        return self

    def entry(self, model: str) -> ModelEntry:
        """The model's ``models:`` entry; one clear line when it has none."""
        if model not in self.models:
            raise RiceError(f"model {model!r} has no entry under models: in params.yaml")
        return self.models[model]

    def learning_rate(self, model: str) -> float:
        """The model's own learning rate, else the shared one."""
        return self.models[model].learning_rate or self.train.learning_rate


TRACE = "RICECNN_PARAMS_TRACE"  # a folder: each stage process writes there the settings it read


def load(path: str | Path = "params.yaml", trace: bool = True) -> Settings:
    """Read and validate the whole params file; RiceError with one line on the first mistake.

    Parsed once per process and content: the CLI reads the backend from it before the stage runs,
    and the stage gets the same object. With $RICECNN_PARAMS_TRACE set to a folder, the object
    records every setting read and the process writes them to ``<folder>/<stage>.json`` at exit
    (``$DVC_STAGE``, which DVC sets for a stage's command): ``tests/test_pipeline.py`` checks them
    against the params each stage lists in dvc.yaml. ``trace=False``: a read that is not the stage's
    own (the CLI choosing the Keras backend for the process before any stage code runs)."""
    path = Path(path)
    if not path.exists():
        raise RiceError(f"{path} not found: run from the project root or pass --params")
    settings = _parse(path, path.read_text())
    folder = os.environ.get(TRACE) if trace else None
    return _Traced(settings, "", _trace(folder)) if folder else settings


# --- the settings a stage reads (diagnostics: $RICECNN_PARAMS_TRACE) -----------------------------------


@functools.cache
def _trace(folder: str) -> set[str]:
    """The dotted keys read in this process, written to ``folder`` when it ends."""
    seen: set[str] = set()

    def write() -> None:
        out = Path(folder) / f"{os.environ.get('DVC_STAGE', 'no-stage')}.json"
        out.write_text(json.dumps(sorted(seen)) + "\n")

    atexit.register(write)
    return seen


def _traced(value: Any, key: str, seen: set[str]) -> Any:
    if isinstance(value, BaseModel):
        return _Traced(value, key, seen)
    if isinstance(value, dict):
        return _TracedMap(value, key, seen)
    seen.add(key)
    return value


class _Traced:
    """A view of a settings section that records the dotted key of every setting read through it
    (a section's methods run on the view, so what they read is recorded too)."""

    def __init__(self, obj: BaseModel, path: str, seen: set[str]):
        self._obj, self._path, self._seen = obj, path, seen

    def __getattr__(self, name: str) -> Any:
        key = f"{self._path}.{name}" if self._path else name
        if name in type(self._obj).model_fields:
            return _traced(getattr(self._obj, name), key, self._seen)
        if name.startswith("model_"):  # pydantic's own (model_dump): the whole section is read
            self._seen.add(self._path)
            return getattr(self._obj, name)
        attr = getattr(type(self._obj), name)
        return functools.partial(attr, self) if callable(attr) else getattr(self._obj, name)


class _TracedMap(dict):
    """A mapping of sections (``models``): a key looked up is read; the whole mapping when iterated."""

    def __init__(self, items: dict, path: str, seen: set[str]):
        super().__init__(items)
        self._path, self._seen = path, seen

    def __getitem__(self, key):
        return _traced(super().__getitem__(key), f"{self._path}.{key}", self._seen)

    def __contains__(self, key) -> bool:
        self._seen.add(f"{self._path}.{key}")
        return super().__contains__(key)

    def __iter__(self):
        self._seen.add(self._path)
        return super().__iter__()

    def __len__(self) -> int:
        self._seen.add(self._path)
        return super().__len__()

    def get(self, key, default=None):
        return self[key] if super().__contains__(key) else default

    def keys(self):
        self._seen.add(self._path)
        return super().keys()

    def values(self):
        self._seen.add(self._path)
        return super().values()

    def items(self):
        self._seen.add(self._path)
        return super().items()


@functools.lru_cache(maxsize=8)
def _parse(path: Path, text: str) -> Settings:
    try:
        raw = yaml.safe_load(text) or {}
    except yaml.YAMLError as e:
        raise RiceError(f"{path} is not valid YAML: {str(e).splitlines()[0]}") from None
    if not isinstance(raw, dict):
        raise RiceError(f"{path}: the top level must be a mapping of sections")
    try:
        return Settings.model_validate(raw)
    except ValidationError as e:
        raise RiceError(f"{path.name}: {_one_line(e.errors()[0], raw)}") from None


# --- error messages --------------------------------------------------------------------------------


def _field_path(loc: tuple, raw: Any) -> list[str]:
    """The part of a pydantic error location that names keys of the file; the rest names union
    members (``('train', 'devices', 'constrained-int')``). A missing or unknown key ends it."""
    keys, node = [], raw
    for part in loc:
        if not isinstance(node, dict):
            break
        keys.append(str(part))
        if part not in node:
            break
        node = node[part]
    return keys


def _valid_keys(section: list[str]) -> list[str]:
    """The keys the section at ``section`` (e.g. ['train'], ['models', 'cnn']) may hold."""
    node: Any = Settings
    for key in section:
        if typing.get_origin(node) is dict:  # models: {name: ModelEntry}
            node = typing.get_args(node)[1]
        elif isinstance(node, type) and issubclass(node, BaseModel) and key in node.model_fields:
            node = node.model_fields[key].annotation
        else:
            return []
    return list(node.model_fields) if isinstance(node, type) and issubclass(node, BaseModel) else []


def _one_line(error: dict, raw: dict) -> str:
    keys = _field_path(tuple(error["loc"]), raw)
    name = ".".join(keys)
    if error["type"] == "extra_forbidden":
        valid = _valid_keys(keys[:-1])
        near = difflib.get_close_matches(keys[-1], valid, n=1, cutoff=0.5)
        hint = f" (did you mean {near[0]!r}?)" if near else f" (valid keys: {', '.join(valid)})"
        return f"unknown key {name}{hint}"
    if error["type"] == "missing":
        return f"missing key {name}"
    value: Any = raw
    for key in keys:
        value = value[key]
    msg = error["msg"].removeprefix("Value error, ").replace("Input should be", "must be")
    msg = re.sub(r"must be a valid dictionary or instance of \w+", "must be a mapping", msg)
    if isinstance(value, dict):  # a check across the keys of a section: the message names them
        return msg if error["type"] == "value_error" else f"{name or 'the top level'} {msg}"
    return f"{name} = {value!r} {msg}"
