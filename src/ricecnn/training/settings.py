"""The ``train`` section of params.yaml (how every model is trained and fine-tuned), and what the
stages that train or fine-tune read of the file."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AfterValidator

from ..core.settings import BACKENDS, LearningRate, NonNegativeInt, PositiveInt, Section, Seed, View
from ..networks.settings import Models, entry


def _devices(value: str | int) -> str | int:
    if value == "all" or (isinstance(value, int) and value >= 1):
        return value
    raise ValueError("must be all or a device count >= 1")


class Train(Section):
    batch_size: PositiveInt
    schedule: Literal["constant", "cosine"]  # the learning rate over a model's epochs (fit.learning_rate_schedule)
    patience: NonNegativeInt | None  # None: no early stopping, every epoch runs and the last one's weights are kept
    learning_rate: LearningRate
    mixed_precision: bool
    backend: Literal[BACKENDS]
    input_path: Literal["auto", "host", "device"]
    jit_compile: Literal["auto", True, False]
    steps_per_execution: PositiveInt
    distribution: Literal["none", "data_parallel"]
    devices: Annotated[str | int, AfterValidator(_devices)]


class Training(View):
    """What every stage that trains or fine-tunes reads: the seed, ``train`` and the model entries."""

    seed: Seed
    train: Train
    models: Models

    def entry(self, model: str):
        """The model's ``models:`` entry; one clear line when it has none."""
        return entry(self.models, model)

    def learning_rate(self, model: str) -> float:
        """The model's own learning rate, else the shared one."""
        return self.models[model].learning_rate or self.train.learning_rate
