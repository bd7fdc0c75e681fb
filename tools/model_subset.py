"""The one rule for a run that keeps only some of params.yaml's models: pretrain.models, prune.models,
trim.models and criteria.models keep only the models kept (each list in its own order). Settings validation refuses a
list that names a model with no entry under ``models``, and the evaluate stage looks for the files of
every model these lists name, so every caller that narrows ``models`` narrows these lists with it:
tests/conftest.py (``write_params``, ``only``), tools/rehearse_paper.py and bench/gpu_study.sh.
A module, not a script: its callers import it with tools/ on the path.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping

SECTIONS = ("pretrain", "prune", "trim", "criteria")  # the params.yaml sections whose `models` list names models


def model_lists(params: Mapping, models: Collection[str]) -> dict[str, list[str]]:
    """{section: its ``models`` list keeping only ``models``} for pretrain, prune, trim and criteria; a section
    that ``params`` lacks, or whose ``models`` is not a list, is left out."""
    return {section: [m for m in params[section]["models"] if m in models]
            for section in SECTIONS
            if isinstance(params.get(section), Mapping) and isinstance(params[section].get("models"), list)}
