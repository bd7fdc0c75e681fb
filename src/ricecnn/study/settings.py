"""The ``compare`` section of params.yaml: the margin, the families of claims fixed before the runs,
and the failed-run rule (docs/statistics.md)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator

from ..core.settings import Distinct, Section
from ..evaluation.augment import TEST_SETS

# the kinds of paired comparison (ricecnn.study.tables.KINDS words them): a light, pruned or trimmed model
# against its full model, a trimmed one against the light one, the scratch control against the trimmed
# model (the channel criteria's thesis family is their own: ricecnn.study.criteria)
ClaimKind = Literal["light", "pruned", "trim", "trim_vs_light", "trim_scratch"]
Condition = Literal[TEST_SETS]  # the test sets every comparison is made on


class Family(Section):
    kinds: Annotated[list[ClaimKind], Field(min_length=1), Distinct]
    conditions: Annotated[list[Condition], Field(min_length=1), Distinct]
    # variant models whose claims of these kinds the plan withholds (bench/power-plan.json: their pilot interval held
    # the margin; docs/statistics.md, "The pilot and the plan"): reported with their interval, no verdict
    undecidable: Annotated[list[str], Distinct] = []
    # the family's own margin (default: compare.margin); 0 makes its claims superiority claims, "the variant is
    # better", read off the same simultaneous intervals (``stats.verdict``)
    margin: Annotated[float, Field(ge=0, lt=1)] | None = None


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
