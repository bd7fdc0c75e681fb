"""The ``export:`` section of params.yaml, read by the two stages that make and check the device files
(export converts, score_exports scores what it wrote)."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from ..core.settings import Distinct, PositiveInt, Section
from .formats import FormatKey


class Export(Section):
    formats: Annotated[list[FormatKey], Field(min_length=1), Distinct]  # which of deploy.formats.FORMATS to write
    augmented_formats: Annotated[list[FormatKey], Distinct]  # those also scored on the augmented test set (if written)
    calibration_images: PositiveInt  # training images (spread evenly) int8's activation ranges are measured on
    batch_size: PositiveInt  # images per call when scoring the test sets
