"""What the channel stages' sections share with the plan: the lists of models prune, trim and criteria
run on (and the criteria's rules and targets), which evaluate and summarize read too. Each stage's
own settings are in its stage module (``ricecnn.stages.prune``, ...), which adds them to these."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from ..core.settings import Distinct, View

CriterionRule = Literal["apoz", "l1", "random"]  # the channel criteria (``ricecnn.channels.criteria``)


class Lists(View):
    """A section's list of the models a stage kind runs on (``prune.models``, ``trim.models``)."""

    models: list[str]


class CriteriaLists(Lists):
    """``criteria``: each model pruned by each rule to each target (criteria@<m>-<rule>-<target>-<seed>)."""

    rules: Annotated[list[CriterionRule], Distinct]
    targets: Annotated[list[Annotated[float, Field(gt=0, lt=1)]], Distinct]
