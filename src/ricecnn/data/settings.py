"""The ``data`` and ``split`` sections of params.yaml: where the dataset comes from, its image size,
and the split's shares."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator

from ..core.settings import Fraction, ImageSize, PositiveInt, Section


class Synthetic(Section):
    per_class: PositiveInt  # images drawn per class
    size: Annotated[int, Field(ge=16, le=2048)]  # drawn image size in px
    offset: Annotated[float, Field(ge=0, le=0.5)]  # largest offset of the grain's centre, fraction of the image


class Data(Section):
    source: Literal["synthetic", "kaggle", "path"]
    path: str | None
    kaggle_dataset: Annotated[str, Field(min_length=1)]
    synthetic: Synthetic
    img_size: ImageSize


class Split(Section):
    val: Fraction
    test: Fraction

    @model_validator(mode="after")
    def _train_not_empty(self) -> Split:
        if self.val + self.test >= 1:
            raise ValueError("split.val + split.test must be < 1 so that the train split is not empty")
        return self
