"""The ``models`` section of params.yaml: one entry per model trained, its epochs and learning rate,
and VGG's weights and freezing. The types and ranges are checked here; which options a model takes,
and how many base layers it can freeze, by the registry when a stage builds it
(``ricecnn.networks.registry.check_options``)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

from pydantic import AfterValidator

from ..core.errors import RiceError
from ..core.settings import LearningRate, PositiveInt, Section


def _weights(value: str | None) -> str | None:
    if value in (None, "none", "imagenet", "standin"):
        return value
    if not value.endswith(".h5"):
        raise ValueError("must be imagenet, none or a path to a .h5 weights file (or standin: the pretrain stage's)")
    if not Path(value).expanduser().is_file():
        raise ValueError("is not an existing file (weights file not found): fix the path, or use imagenet, standin or none")
    return value


# weights: standin: VGG16's base as stage pretrain trained it (ricecnn.networks.pretraining), in this
# file of the folder it writes: the stand-in for ImageNet's weights, which cannot be downloaded offline
STANDIN_FILE = "vgg16_notop.weights.h5"


def standin_weights(pretrained: Path | None, model: str) -> str:
    """The weights file of ``weights: standin`` in the pretrain stage's folder ``pretrained``."""
    if pretrained is None:
        raise RiceError(f"models.{model}.weights is standin: pass --pretrained <its folder of the pretrain stage's, models/pretrain/{model}>")
    path = Path(pretrained) / STANDIN_FILE
    if not path.is_file():
        raise RiceError(f"{path} not found: models.{model}.weights is standin, so {model} must be in pretrain.models "
                        f"and `dvc repro pretrain` run first")
    return str(path)


def _freeze(value: str | int) -> str | int:
    if value in ("paper", "none") or (isinstance(value, int) and value >= 0):
        return value
    raise ValueError("must be paper, none or a number of VGG base layers >= 0")


class ModelEntry(Section):
    """One entry of ``models:``. Which options apply to which model: ``ricecnn.networks.registry``."""

    epochs: PositiveInt
    learning_rate: LearningRate | None = None  # overrides train.learning_rate
    weights: Annotated[str | None, AfterValidator(_weights)] = None  # VGG: imagenet | standin | none | file.h5
    freeze: Annotated[str | int, AfterValidator(_freeze)] | None = None  # VGG: paper | none | N

    def options(self) -> dict[str, Any]:
        """The options set in params.yaml (those left out are not passed on)."""
        return self.model_dump(exclude_unset=True)


def _not_empty(models: dict) -> dict:
    if not models:
        raise ValueError("models must name at least one model, e.g. cnn: {epochs: 30}")
    return models


Models = Annotated[dict[str, ModelEntry], AfterValidator(_not_empty)]


def entry(models: dict[str, ModelEntry], model: str) -> ModelEntry:
    """The model's ``models:`` entry; one clear line when it has none."""
    if model not in models:
        raise RiceError(f"model {model!r} has no entry under models: in params.yaml")
    return models[model]
