"""The comparison plan: which models the comparison stages cover (the trained ones and the variants
the stages derive from them), which model each is compared with, and their names: a derived model's
(``<m>_pruned``, ``<m>_trim``, ``<m>_trim_scratch``) and the DVC stage that
writes each, made here and nowhere else in Python (dvc.yaml writes the same names;
``tests/test_dag.py`` checks that they agree). A trained model and the variants made from it are one
line (``Evaluated.line``): one folder of models per replicate, scored by one evaluate@<line>-<seed> and
exported by one export@<line>.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import model_validator

from ..core.cli import stage_name
from ..core.settings import Design, Lists, named_models
from ..networks.registry import REGISTRY, spec


class Plan(Design):
    """What the plan reads of params.yaml: the replicates (checked against the pilot's), the models'
    names and the lists of models each stage kind runs on."""

    models: dict[str, Any]
    prune: Lists
    trim: Lists

    @model_validator(mode="after")
    def _listed_models_are_trained(self) -> Plan:
        if not self.models:
            raise ValueError("models must name at least one model, e.g. cnn: {epochs: 30}")
        for section in ("prune", "trim"):
            named_models(section, getattr(self, section).models, self.models)
        return self


@dataclass(frozen=True)
class Evaluated:
    """A model the comparison stages cover."""

    name: str  # models/<seed>/<line>/<name>.keras
    family: str
    variant: str  # full | light | pruned | trim | trim_scratch
    baseline: str | None  # the model it is compared with first: the family's full model, or for the
    #                       scratch control the trimmed model whose architecture it trains
    stage: str  # the stage group that writes it (``stage_for`` names the stage of one seed)
    others: tuple[str, ...] = ()  # further paired comparisons (a trimmed model against the light one)
    parent: str | None = None  # the trained model it is made from (pruned, trim, trim_scratch)

    @property
    def line(self) -> str:
        """The trained model it is, or is made from: its folder (``models/<seed>/<line>/``), and the
        evaluate@, export@ and score_exports@ stages that cover it."""
        return self.parent or self.name

    @property
    def trained(self) -> bool:
        """Whether the train stage trains it (a full or a light model), rather than a stage deriving it."""
        return self.variant in ("full", "light")

    def stage_for(self, seed: int) -> str:
        """The DVC stage that writes this model for training seed ``seed`` (dvc.yaml's matrix names)."""
        kind, model = self.stage.split("@")
        return stage_name(kind, model, seed)

    @property
    def against(self) -> tuple[str, ...]:
        """Every model it is compared with, paired on the same images."""
        return ((self.baseline,) if self.baseline else ()) + self.others


def evaluated(models: list[str], pruned: list[str], trimmed: list[str] = ()) -> list[Evaluated]:
    """The trained models (``models:``), ``<m>_pruned`` for each of ``prune.models``, for each of
    ``trim.models`` its trimmed model ``<m>_trim`` and the control ``<m>_trim_scratch`` (the trimmed
    architecture trained from scratch). The comparisons (``Evaluated.against``): a light, pruned or
    trimmed model against the family's full model, a trimmed one also against the light one, and the
    control against the trimmed model. (The channel criteria's models are scored in their own stage,
    criteria@, and compared by criteria_report@: ``ricecnn.study.criteria``.)"""

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
    return out


def evaluated_for(settings) -> list[Evaluated]:
    """``evaluated`` for the settings of params.yaml (a ``Plan``, or any view that holds its keys)."""
    return evaluated(list(settings.models), settings.prune.models, settings.trim.models)


def line_for(settings, model: str) -> list[Evaluated]:
    """The models of ``model``'s line: the trained model and the variants the stages derive from it
    (``Evaluated.line``), read from the stage lists alone, not from the other models' settings, so that
    evaluate@, export@ and score_exports@ of one line list no other model's. Their comparisons are
    summarize's (``evaluated_for``): a light model's line holds no full model, so here its ``baseline``
    is None."""

    def mine(names: list[str]) -> list[str]:
        return [model] if model in names else []

    return evaluated([model], mine(settings.prune.models), mine(settings.trim.models))
