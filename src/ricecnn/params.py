"""Read and validate params.yaml up front: wrong types, ranges and unknown keys are one clear line.

The schema below is the single description of every setting; the README documents the same keys.
"""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Any, Callable

import yaml

from .errors import RiceError

SOURCES = ("synthetic", "kaggle", "path")


def _int(lo: int | None = None, hi: int | None = None) -> Callable[[Any], str | None]:
    def check(v: Any) -> str | None:
        if isinstance(v, bool) or not isinstance(v, int):
            return "must be an integer"
        if lo is not None and v < lo:
            return f"must be >= {lo}"
        if hi is not None and v > hi:
            return f"must be <= {hi}"
        return None

    return check


def _float(lo: float, hi: float, *, lo_open: bool = False, hi_open: bool = False) -> Callable[[Any], str | None]:
    def check(v: Any) -> str | None:
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            return "must be a number"
        if v < lo or (lo_open and v == lo) or v > hi or (hi_open and v == hi):
            return f"must be in {'(' if lo_open else '['}{lo}, {hi}{')' if hi_open else ']'}"
        return None

    return check


def _choice(*options: Any) -> Callable[[Any], str | None]:
    return lambda v: None if v in options else f"must be one of {', '.join(map(str, options))}"


def _bool(v: Any) -> str | None:
    return None if isinstance(v, bool) else "must be true or false"


def _opt_str(v: Any) -> str | None:
    return None if v is None or isinstance(v, str) else "must be a string or null"


def _str(v: Any) -> str | None:
    return None if isinstance(v, str) and v else "must be a non-empty string"


# Section schemas: key -> checker, or a nested dict for a sub-section.
SCHEMA: dict[str, Any] = {
    "seed": _int(0),
    "data": {
        "source": _choice(*SOURCES),
        "path": _opt_str,
        "kaggle_dataset": _str,
        "synthetic": {"per_class": _int(1), "size": _int(16, 2048)},
        "img_size": _int(8, 1024),
    },
    "split": {"val": _float(0, 1, lo_open=True, hi_open=True), "test": _float(0, 1, lo_open=True, hi_open=True)},
    "featuremaps": {
        "samples": _int(1),  # validation images for APoZ / dead-channel counts
        "per_layer_max": _int(1),  # channels drawn per layer in the pictures
    },
    "evaluate": {"batch_size": _int(1), "latency_repeats": _int(1)},
    "train": {
        "batch_size": _int(1),
        "patience": _int(0),
        "learning_rate": _float(0, 10, lo_open=True),
        "mixed_precision": _bool,
        "backend": _choice("tensorflow", "jax", "torch", "env"),
        "input_path": _choice("auto", "host", "device"),
        "jit_compile": _choice("auto", True, False),
        "steps_per_execution": _int(1),
        "distribution": _choice("none", "data_parallel"),
        "devices": lambda v: None if v == "all" or _int(1)(v) is None else "must be all or a device count >= 1",
    },
    "models": lambda v: _models(v),
    "prune": {
        "models": lambda v: None if isinstance(v, list) and all(isinstance(m, str) for m in v) else "must be a list of model names",
        "apoz_threshold": _float(0, 1, lo_open=True),
        "min_channels": _int(1),
        "finetune_epochs": _int(0),
    },
}


def _models(models: Any) -> str | None:
    """The `models:` section is checked against the model registry (imported only here)."""
    from .models import validate_models

    validate_models(models)
    return None


def _nearest(key: str, valid: list[str]) -> str:
    near = difflib.get_close_matches(key, valid, n=1, cutoff=0.5)
    return f" (did you mean {near[0]!r}?)" if near else f" (valid keys: {', '.join(valid)})"


def validate_section(values: Any, schema: dict[str, Any], where: str) -> None:
    """Check ``values`` against ``schema``; raise RiceError naming the first problem."""
    if not isinstance(values, dict):
        raise RiceError(f"params.yaml: {where or 'top level'} must be a mapping")
    for key in values:
        if key not in schema:
            raise RiceError(f"params.yaml: unknown key {where + '.' if where else ''}{key}{_nearest(str(key), list(schema))}")
    for key, check in schema.items():
        name = f"{where}.{key}" if where else key
        if key not in values:
            raise RiceError(f"params.yaml: missing key {name}")
        if isinstance(check, dict):
            validate_section(values[key], check, name)
        else:
            problem = check(values[key])
            if problem:
                raise RiceError(f"params.yaml: {name} = {values[key]!r} {problem}")


def load(path: str | Path = "params.yaml") -> dict:
    """Load params.yaml and validate all of it against SCHEMA."""
    path = Path(path)
    if not path.exists():
        raise RiceError(f"{path} not found: run from the project root or pass --params")
    try:
        params = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as e:
        raise RiceError(f"{path} is not valid YAML: {str(e).splitlines()[0]}") from None
    validate_section(params, SCHEMA, "")
    split = params["split"]
    if split["val"] + split["test"] >= 1:
        raise RiceError("params.yaml: split.val + split.test must be < 1 so that the train split is not empty")
    unknown = [m for m in params["prune"]["models"] if m not in params["models"]]
    if unknown:
        raise RiceError(f"params.yaml: prune.models names {unknown[0]!r}, which has no entry under models")
    return params


def evaluated_models(params: dict) -> list[str]:
    """Every model the comparison stages cover: the trained ones, then `<m>_pruned` per prune.models."""
    return list(params["models"]) + [f"{m}_pruned" for m in params["prune"]["models"]]
