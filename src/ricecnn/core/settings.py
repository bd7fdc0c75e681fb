"""params.yaml as typed, validated settings: parsed once per process, one clear line per mistake.

What every stage shares: the parsing, the one-line messages and the building blocks of a schema.
Each section's schema lives with the code that reads it (``ricecnn.data.settings``,
``ricecnn.training.settings``, ``ricecnn.networks.settings``, ``ricecnn.evaluation.plan``, and a stage's
own section in its stage module), and each stage validates the sections it reads, through a
``View`` of the file that names them: so a change to one stage kind's schema reruns only that kind.
Every load checks the file's top-level keys (``SECTIONS``), so a misspelt section is caught by any
stage; a mistake inside a section is caught by every stage that reads it.

Types and ranges are strict (pydantic: no silent "32" -> 32 or true -> 1). A mistake becomes one
line naming the key, e.g. ``params.yaml: unknown key train.batchsize (did you mean 'batch_size'?)``
or ``params.yaml: train.batch_size = 0 must be greater than or equal to 1``.
"""

from __future__ import annotations

import difflib
import functools
import re
import typing
from pathlib import Path
from typing import Annotated, Any, TypeVar

import yaml
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, model_validator

from .errors import RiceError

# the top-level keys of params.yaml: the sections, the data's seed and the replicates every part of the
# study shares, and the pilot the confirmation's plan was made from
SECTIONS = ("seed", "replicates", "pilot", "data", "split", "pretrain", "train", "models", "prune", "trim", "criteria", "featuremaps",
            "evaluate", "export", "compare")
BACKENDS = ("tensorflow", "jax", "torch", "env")  # train.backend: Keras' backend (env: $KERAS_BACKEND's)


def _distinct(values: list) -> list:
    if len(set(values)) != len(values):
        raise ValueError("must not repeat a value")
    return values


PositiveInt = Annotated[int, Field(ge=1)]
NonNegativeInt = Annotated[int, Field(ge=0)]
Fraction = Annotated[float, Field(gt=0, lt=1)]
LearningRate = Annotated[float, Field(gt=0, le=10)]
Distinct = AfterValidator(_distinct)
ImageSize = Annotated[int, Field(ge=8, le=1024)]  # data.img_size: the split's images are this many px square
Seed = NonNegativeInt  # seed: the stand-in's generator, the APoZ samples, the test-time augmentation
# replicates: one replicate of the study per value r: its own data draw (the stand-in's images of draw r, or
# a real dataset's stratified partition by seed r) and its own training seed r, every model trained once
Replicates = Annotated[list[NonNegativeInt], Field(min_length=1), Distinct]


class Section(BaseModel):
    """A section of params.yaml, whole: every key it may hold (an unknown one is a mistake)."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class View(BaseModel):
    """What one stage reads of params.yaml (or of a section): the keys it names, the rest left to the
    stages that read them."""

    model_config = ConfigDict(extra="ignore", strict=True, frozen=True)


class Pilot(Section):
    """``pilot``: the exploration replicates the plan was made from (``make pilot``), and whether this run
    is that pilot."""

    replicates: Replicates
    running: bool


class Design(View):
    """The replicates this run makes, checked against the pilot's: a confirmation runs only on data draws
    and training seeds the pilot never saw (a replicate's draw and seed are both its number)."""

    replicates: Replicates
    pilot: Pilot

    @model_validator(mode="after")
    def _fresh_randomness(self) -> Design:
        shared = [r for r in self.replicates if r in self.pilot.replicates]
        if self.pilot.running and len(shared) < len(self.replicates):
            other = [r for r in self.replicates if r not in self.pilot.replicates]
            raise ValueError(f"pilot.running is true but replicates {other} are not pilot.replicates: "
                             "a pilot runs only its own replicates")
        if not self.pilot.running and shared:
            raise ValueError(f"replicates {shared} were the pilot's (pilot.replicates): a confirmation runs only on "
                             "data draws and training seeds the pilot never saw; choose other numbers")
        return self


class Lists(View):
    """A section's list of the models a stage kind runs on (``prune.models``, ``trim.models``): what the
    channel stages and the comparison plan share of those sections (each stage's own schema adds the rest)."""

    models: list[str]


def named_models(section: str, names: list[str], models: typing.Iterable[str]) -> None:
    """A list of models (``prune.models``, ...) names only models that have an entry under ``models``."""
    for name in names:
        if name not in models:
            raise ValueError(f"{section}.models names {name!r}, which has no entry under models")


V = TypeVar("V", bound=BaseModel)


def load(path: str | Path, view: type[V]) -> V:
    """Read params.yaml and validate what ``view`` names of it; RiceError with one line on the first
    mistake. Parsed once per process and content: the CLI reads the backend from it before the
    stage runs, and the stage gets the same parse."""
    path = Path(path)
    return _validated(path, _raw(path)[0], view)


def read(path: str | Path) -> dict:
    """The file as a mapping, its top-level keys checked (``SECTIONS``), nothing else validated."""
    return _raw(Path(path))[1]


def _raw(path: Path) -> tuple[str, dict]:
    if not path.exists():
        raise RiceError(f"{path} not found: run from the project root or pass --params")
    text = path.read_text()
    return text, _parse(path, text)


@functools.lru_cache(maxsize=8)
def _parse(path: Path, text: str) -> dict:
    try:
        raw = yaml.safe_load(text) or {}
    except yaml.YAMLError as e:
        raise RiceError(f"{path} is not valid YAML: {str(e).splitlines()[0]}") from None
    if not isinstance(raw, dict):
        raise RiceError(f"{path}: the top level must be a mapping of sections")
    for key in raw:
        if key not in SECTIONS:
            near = difflib.get_close_matches(str(key), SECTIONS, n=1, cutoff=0.5)
            hint = f" (did you mean {near[0]!r}?)" if near else f" (valid keys: {', '.join(SECTIONS)})"
            raise RiceError(f"{path.name}: unknown key {key}{hint}")
    return raw


@functools.lru_cache(maxsize=32)
def _validated(path: Path, text: str, view: type[V]) -> V:
    raw = _parse(path, text)
    try:
        return view.model_validate(raw)
    except ValidationError as e:
        raise RiceError(f"{path.name}: {_one_line(e.errors()[0], raw, view)}") from None


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


def _valid_keys(section: list[str], view: type[BaseModel]) -> list[str]:
    """The keys the section at ``section`` (e.g. ['train'], ['models', 'cnn']) may hold."""
    node: Any = view
    for key in section:
        if typing.get_origin(node) is dict:  # models: {name: ModelEntry}
            node = typing.get_args(node)[1]
        elif isinstance(node, type) and issubclass(node, BaseModel) and key in node.model_fields:
            node = node.model_fields[key].annotation
        else:
            return []
    return list(node.model_fields) if isinstance(node, type) and issubclass(node, BaseModel) else []


def _one_line(error: dict, raw: dict, view: type[BaseModel]) -> str:
    keys = _field_path(tuple(error["loc"]), raw)
    name = ".".join(keys)
    if error["type"] == "extra_forbidden":
        valid = _valid_keys(keys[:-1], view)
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
