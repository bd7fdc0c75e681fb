"""Building a registry model: ``build_model`` checks the request against the registry, then imports
that one model's builder, ``ricecnn.networks.<name>``.

Why an import by name and not a table of functions: a table would import all six builders into
every stage that builds one model, and so a builder's edit would rerun every family's stages. The
DAG test (tests/test_dag.py) follows this one import by name: a stage that runs this module lists
the builder of the model its command names.
"""

from __future__ import annotations

import importlib
from typing import Any, Callable

from ..core.errors import RiceError
from .registry import check_input_size, check_options, spec


def builder(name: str) -> Callable[..., Any]:
    """The raw builder of registry model ``name``: ``(img_size, num_classes, **options) -> keras.Model``,
    without the registry's checks."""
    spec(name)
    return importlib.import_module(f"{__package__}.{name}").build


def build_model(name: str, img_size: int, num_classes: int, options: dict | None = None):
    """Build registry model ``name`` (uncompiled) for ``img_size`` px RGB input and ``num_classes``.

    ``options``: the model's params.yaml entry (``epochs`` and ``learning_rate`` are training
    settings and ignored here; VGG takes ``weights`` and ``freeze``, ``weights: standin`` already
    resolved to its file by ``networks.settings.standin_weights``).
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
        if weights == "standin":
            raise RiceError(f"models.{name}.weights is standin, but no pretrained weights file was given to build it")
        kwargs = {"weights": None if weights == "none" else weights, "freeze": "paper" if freeze is None else freeze}
    return builder(name)(img_size, num_classes, **kwargs)
