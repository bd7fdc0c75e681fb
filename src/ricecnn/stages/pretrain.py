"""Stage `pretrain`: the stand-in for ImageNet pretraining, run once for every model. VGG16's whole base
(``ricecnn.networks.pretraining``) is trained on the pretraining source (``ricecnn.data.pretraining``: ten
grain shapes that are not rice) and written as a Keras VGG16 notop weights file into ``<out>/<model>/`` for
each model of ``pretrain.models`` (the VGG models whose ``weights: standin`` load it; the same bytes in
each), which `train@<model>` loads and freezes as the paper froze ImageNet's (``--pretrained``). Every
other model of the registry gets a folder with only a note: it starts from its own initialisation.

One stage, one pretraining (it was one per model, the same recipe run twice); a model's chain still
depends on its own folder only (dvc.yaml: ``models/pretrain/<model>``), so a note that does not change
reruns nothing, and a model's own settings (its epochs) never rerun the pretraining."""

from __future__ import annotations

import shutil
import time
from pathlib import Path
from typing import Annotated

from pydantic import Field

from ..core import settings
from ..core.cli import parse, quiet_native_start
from ..core.io import atomic_path, write_json
from ..core.errors import RiceError
from ..core.settings import Distinct, Fraction, ImageSize, LearningRate, PositiveInt, Section, Seed, View
from ..data import pretraining as source
from ..networks.registry import REGISTRY, spec
from ..networks.settings import STANDIN_FILE

# VGG16's five blocks need 32 px: a smaller data.img_size pretrains at 32 (a convolution's weights fit any size)
MIN_SIZE = spec("vgg16").min_size


class Pretrain(Section):
    """``pretrain``: the models it pretrains, the pretraining source and its training, one recipe for every
    VGG model. A list of models, not each model's ``weights``: so that a model's own settings (its epochs)
    do not rerun its pretraining."""

    models: Annotated[list[str], Distinct]  # the models whose VGG16 base is pretrained (weights: standin loads it)
    seed: Seed  # the source's images, the initialisation, the shuffling
    classes: Annotated[int, Field(ge=2, le=len(source.CLASSES))]  # the first N of the source's classes
    per_class: PositiveInt  # images drawn per class
    val: Fraction  # share of each class held out: the pretraining task's accuracy
    epochs: PositiveInt
    learning_rate: LearningRate  # Adam, cosine to 0 over the epochs
    batch_size: PositiveInt


class Drawn(View):
    size: Annotated[int, Field(ge=16, le=2048)]
    offset: Annotated[float, Field(ge=0, le=0.5)]


class Sizes(View):
    img_size: ImageSize
    synthetic: Drawn


class Settings(View):
    data: Sizes
    pretrain: Pretrain


def pretrain(p: Pretrain, img_size: int, size: int, offset: float, out: Path) -> dict:
    """Train VGG16's base on the pretraining source; write its weights into the folder ``out``."""
    with quiet_native_start():  # Keras starts here (TensorFlow's start-up lines)
        from ..networks import pretraining
        from ..training import runtime
        from ..training.fit import fit

    train_xy, val_xy = source.split(*source.make(p.classes, p.per_class, p.seed, size, img_size, offset), p.val)
    runtime.configure(p.seed)
    model = pretraining.model(img_size, p.classes)
    initial = {layer.name: layer.get_weights() for layer in pretraining.base_layers(model)}
    metrics = fit(model, train_xy, val_xy, num_classes=p.classes, epochs=p.epochs, batch_size=p.batch_size,
                  patience=None, learning_rate=p.learning_rate, seed=p.seed, schedule="cosine", steps_per_execution=8)
    pretraining.save_base(model, out / STANDIN_FILE)
    return {"pretrained": True, "img_size": img_size, "classes": source.CLASSES[:p.classes],
            "train_images": len(train_xy[1]), "val_images": len(val_xy[1]), "epochs": p.epochs,
            "train_accuracy": metrics["train_accuracy"], "val_accuracy": metrics["val_accuracy"],
            "chance": 1 / p.classes, "kernel_moved": pretraining.movement(initial, model)}


def main(argv: list[str] | None = None) -> None:
    args = parse(argv, "pretrain", __doc__, "out")
    s = settings.load(args.params, Settings)
    d, p = s.data, s.pretrain
    for name in p.models:
        if "weights" not in spec(name).options:
            raise RiceError(f"pretrain.models names {name}, whose builder takes no VGG weights: only VGG models pretrain")
    with atomic_path(args.out, directory=True) as tmp:
        for name in REGISTRY:
            if name not in p.models:
                (tmp / name).mkdir()
                write_json(tmp / name / "pretrain.json", {"model": name, "pretrained": False,
                                                          "note": "not in pretrain.models: nothing to pretrain"})
        if not p.models:
            print("pretrain: pretrain.models is empty, nothing to pretrain")
            return
        first, *others = p.models
        (tmp / first).mkdir()
        start = time.perf_counter()  # printed, not recorded: the folder's bytes are the same on a rerun
        record = pretrain(p, max(d.img_size, MIN_SIZE), d.synthetic.size, d.synthetic.offset, tmp / first)
        write_json(tmp / first / "pretrain.json", {"model": first, **record})
        for name in others:  # the same base for each: one file per model, so each chain depends on its own
            (tmp / name).mkdir()
            shutil.copyfile(tmp / first / STANDIN_FILE, tmp / name / STANDIN_FILE)
            write_json(tmp / name / "pretrain.json", {"model": name, **record})
    print(f"pretrain {', '.join(p.models)}: {record['train_images']} images of {p.classes} other grain shapes, "
          f"val_accuracy {record['val_accuracy']:.3f} (chance {record['chance']:.2f}), {time.perf_counter() - start:.0f} s")
