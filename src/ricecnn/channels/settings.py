"""What the channel stages' sections share with the stages that read them: the lists of models prune,
trim and criteria run on (``ricecnn.core.settings.Lists``, which the comparison plan reads too), and
the criteria's rules and targets (criteria_report reads them
too). Each stage's own settings are in its stage module (``ricecnn.stages.prune``, ...), which adds them
to these."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from ..core.settings import Distinct, Lists

CriterionRule = Literal["apoz", "l1", "random"]  # the channel criteria (``ricecnn.channels.criteria``)


class CriteriaLists(Lists):
    """``criteria``: each model's live channels cut by each rule to each target (criteria@<m>-<replicate>),
    reported by criteria_report@<m>."""

    rules: Annotated[list[CriterionRule], Distinct]
    targets: Annotated[list[Annotated[float, Field(gt=0, lt=1)]], Distinct]
