"""Stage `check`: params.yaml checked before any other stage acts, so that a typo loses nothing.

DVC removes a stage's outputs before it runs the stage, and only then finds that a section the stage
lists is missing from params.yaml, or that a model's builder does not exist: a misspelt ``train:``
used to cost every trained model's files and their committed metrics. Every stage comes after this
one (dvc.yaml: `fetch` and `pretrain` depend on its output, everything else on theirs), it reads
params.yaml as a file (so DVC runs it on any change, before looking at any section): a mistake stops
`dvc repro` here, with one line, and every other stage's outputs stay as they were. Its own output
goes (DVC removes a failed stage's outputs) and comes back, the same bytes, with the next valid run.
It is a cached output, not a persistent one: DVC keeps no run-cache entry for a stage with a
persistent output, so an experiment run again on its commit would run this stage again.

What it checks is what DVC itself needs before a stage can run: the sections (none unknown, none
missing), the models (each one of the registry's, whose builder dvc.yaml lists), the lists that name
models (``pretrain.models``, ``prune.models``, ...: only models of ``models``) and the replicates
against the pilot's. A mistake inside a section is each stage's to find, in one line, as before.

Its output never changes (the same bytes whatever the settings), so a valid change reruns nothing
through it. It imports no Keras.
"""

from __future__ import annotations

from pathlib import Path

from ..core import settings
from ..core.cli import parse
from ..core.errors import RiceError
from ..core.io import write_json
from ..core.settings import SECTIONS, Design, named_models
from ..networks.registry import REGISTRY

LISTS = ("pretrain", "prune", "trim", "criteria")  # the sections whose `models` list names models


def check(path) -> None:
    """RiceError with one line for the first mistake DVC would meet before the stages could say it."""
    file = Path(path).name  # the params file, as each message names it
    raw = settings.read(path)  # unknown top-level keys, with the nearest valid one
    missing = [s for s in SECTIONS if s not in raw]
    if missing:
        raise RiceError(f"{file}: missing section {', '.join(missing)} (every section is read by some stage; "
                        "`git diff params.yaml` shows what changed)")
    models = raw["models"]
    if not isinstance(models, dict) or not models:
        raise RiceError(f"{file}: models must be a mapping of at least one model to its settings")
    for name in models:
        if name not in REGISTRY:
            raise RiceError(f"{file}: models.{name} is not a model of the registry ({', '.join(REGISTRY)}); a new "
                            "model is a builder in src/ricecnn/networks/ and an entry in networks/registry.py")
    for section in LISTS:
        names = raw[section].get("models") if isinstance(raw[section], dict) else None
        if isinstance(names, list):
            try:
                named_models(section, names, models)
            except ValueError as e:
                raise RiceError(f"{file}: {e}") from None
    settings.load(path, Design)


def main(argv: list[str] | None = None) -> None:
    args = parse(argv, "check", __doc__, "out")
    check(args.params)
    write_json(args.out, {"params": "checked by `ricecnn check` before any stage ran; the same bytes for any valid "
                                    "settings, so a change reruns nothing through this file"})
    print("check: params.yaml holds every section, only the registry's models, and replicates the pilot never saw")
