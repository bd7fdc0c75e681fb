"""The settings each stage process reads, recorded for tests/test_pipeline.py: on the Python path of
the stages' processes (``PYTHONPATH``) with $RICECNN_PARAMS_TRACE set to a folder, this module wraps
``ricecnn.core.settings.load`` so that the settings object a stage gets records the dotted key of
every setting read through it, and the process writes them to ``<folder>/<stage>.json`` at exit
(``$DVC_STAGE``, which DVC sets for a stage's command), and to ``<folder>/loaded/<stage>.json`` its Keras
backend and whether it loaded jax. The tests check them against the params each stage lists in
dvc.yaml, and that no stage on TensorFlow loads jax. Test code only: the stages never run it outside the tests.
"""

from __future__ import annotations

import atexit
import functools
import json
import os
import sys
from pathlib import Path
from typing import Any

from pydantic import BaseModel

TRACE = "RICECNN_PARAMS_TRACE"


@functools.cache
def _trace(folder: str) -> set[str]:
    """The dotted keys read in this process, written to ``folder`` when it ends."""
    seen: set[str] = set()

    def write() -> None:
        stage = os.environ.get("DVC_STAGE", "no-stage")
        (Path(folder) / f"{stage}.json").write_text(json.dumps(sorted(seen)) + "\n")
        keras = sys.modules.get("keras")  # and what the process loaded: its Keras backend, and whether jax came in
        loaded = {"keras_backend": keras.config.backend() if keras else None, "jax": sys.modules.get("jax") is not None}
        (Path(folder) / "loaded").mkdir(exist_ok=True)
        (Path(folder) / "loaded" / f"{stage}.json").write_text(json.dumps(loaded) + "\n")

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


def _install(folder: str) -> None:
    from ricecnn.core import settings

    load = settings.load

    @functools.wraps(load)
    def traced_load(path, view):
        return _Traced(load(path, view), "", _trace(folder))

    settings.load = traced_load


if os.environ.get(TRACE):
    _install(os.environ[TRACE])
