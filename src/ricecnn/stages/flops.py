"""Stage `flops@<model>`: FLOPs/MACs per image, parameters and filters of one registry model.

Counts are analytic (ricecnn.networks.flops, TensorFlow profiler rules), at `data.img_size` and at the
paper's 224 px, for the number of classes of the split. They belong to the architecture alone: the
model is built without weights (no download) and without its `models.<m>` options, so this stage
reads no `models.<m>` setting and a change of epochs or freezing reruns none of it. How many of the
parameters train (``freeze``) is the train stage's record (``params_trainable``), not this one's.
"""

from __future__ import annotations

import keras  # noqa: F401  (Keras starts on import: inside the CLI's quiet start-up, core/cli.py)

from ..core import settings
from ..core.cli import parse
from ..core.io import write_json
from ..core.settings import View
from ..data.arrays import Images, load_classes
from ..networks.anatomy import feature_layers
from ..networks.build import build_model
from ..networks.flops import PAPER_SIZE, count_flops, describe
from ..networks.registry import spec


class Settings(View):
    data: Images


def main(argv: list[str] | None = None) -> None:
    args = parse(argv, "flops", __doc__, "split-dir", "out", model=True)
    spec(args.model)
    s = settings.load(args.params, Settings)
    num_classes = len(load_classes(args.split_dir))
    model = build_model(args.model, s.data.img_size, num_classes)
    counts = {k: v for k, v in describe(model, PAPER_SIZE).items() if not k.startswith("params_trainable")}
    write_json(args.out, {
        "model": args.model,
        "num_classes": num_classes,
        **counts,
        "feature_layers": len(feature_layers(model)),
        "per_layer": count_flops(model)["per_layer"],
    })
