"""What a channel stage (prune, trim, criteria) reads of params.yaml beside its own section: the
training settings (for fine-tuning), and that every model its section lists is trained. The section
itself is the stage's own (``ricecnn.stages.prune``, ...; the batch size its checks score at included:
``prune.batch_size``, ...); ``SECTION`` names it."""

from __future__ import annotations

from typing import ClassVar

from pydantic import model_validator

from ..core.settings import named_models
from ..training.settings import Training


class ChannelStage(Training):
    SECTION: ClassVar[str]  # the stage's own section: prune, trim or criteria

    @model_validator(mode="after")
    def _listed_models_are_trained(self) -> ChannelStage:
        named_models(self.SECTION, getattr(self, self.SECTION).models, self.models)
        return self
