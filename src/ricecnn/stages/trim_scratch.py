"""Stage `trim_scratch@<model>-<seed>`: the control of trimming. The trimmed model's architecture
(``--model-file``, written by trim@) trained from scratch with the model's settings
(``runtime.from_scratch``), as ``train`` trains the model itself: it tells what a trimmed model owes
to its architecture and what to its inherited weights (Liu et al. 2019, "Rethinking the Value of
Network Pruning"). It builds no registry model, so a builder's edit does not rerun it."""

from __future__ import annotations

import keras  # noqa: F401  (Keras starts on import: inside the CLI's quiet start-up, core/cli.py)

from ..core import settings
from ..core.cli import parse, stage_name
from ..data.arrays import Images
from ..inference.files import load_model
from ..training import runtime
from ..training.run import train_and_save
from ..training.settings import Training


class Settings(Training):
    data: Images


def main(argv: list[str] | None = None) -> None:
    args = parse(argv, "trim_scratch", __doc__, "model-file", "split-dir", "out", "metrics", "live-dir", model=True,
                 seed=True)
    s = settings.load(args.params, Settings)
    name = args.model
    pretrained = s.entry(name).weights not in (None, "none")

    def make(classes: int, shape: tuple):
        trimmed = load_model(args.model_file, stage_name("trim", name, args.seed), shape, classes)
        return runtime.from_scratch(trimmed, pretrained=pretrained)

    train_and_save("trim_scratch", name, args.seed, s, s.data.img_size, args.split_dir, make, args.out, args.metrics,
                   args.live_dir)
