"""Stage `train@<model>-<seed>`: train one registry model on the split with one training seed
(``ricecnn.training.fit``: Adam over the model's epochs with the learning-rate schedule of
``train.schedule``, or early stopping with ``train.patience``). A VGG model with ``weights: standin``
starts from the base that stage `pretrain` trained (``--pretrained``, the model's folder of it)."""

from __future__ import annotations

import keras  # noqa: F401  (Keras starts on import: inside the CLI's quiet start-up, core/cli.py)

from ..core import settings
from ..core.cli import parse
from ..data.arrays import Images
from ..networks.build import build_model
from ..networks.registry import check_input_size
from ..networks.settings import standin_weights
from ..training.run import train_and_save
from ..training.settings import Training


class Settings(Training):
    data: Images


def main(argv: list[str] | None = None) -> None:
    args = parse(argv, "train", __doc__, "split-dir", "out", "metrics", "live-dir", model=True, seed=True,
                 optional=("pretrained",))
    s = settings.load(args.params, Settings)
    name, size = args.model, s.data.img_size
    options = s.entry(name).options()
    if options.get("weights") == "standin":
        options["weights"] = standin_weights(args.pretrained, name)
    check_input_size(name, size)  # before placement starts a backend runtime
    train_and_save("train", name, args.seed, s, size, args.split_dir,
                   lambda classes, shape: build_model(name, size, classes, options), args.out, args.metrics, args.live_dir)
