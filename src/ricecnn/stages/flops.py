"""Stage `flops@<model>`: FLOPs/MACs per image, parameters and filters of one registry model.

Counts are analytic (ricecnn.networks.flops, TensorFlow profiler rules), at `data.img_size` and at the
paper's 224 px, for the number of classes of the split. Weights do not change any count, so the
model is built without them (no download); `freeze` is kept for the trainable parameter count.
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
from ..networks.settings import Models, entry


class Settings(View):
    data: Images
    models: Models


def main(argv: list[str] | None = None) -> None:
    args = parse(argv, "flops", __doc__, "split-dir", "out", model=True)
    spec(args.model)
    s = settings.load(args.params, Settings)
    freeze = entry(s.models, args.model).freeze
    num_classes = len(load_classes(args.split_dir))
    model = build_model(args.model, s.data.img_size, num_classes, {"freeze": freeze} if freeze is not None else {})
    write_json(args.out, {
        "model": args.model,
        "num_classes": num_classes,
        **describe(model, PAPER_SIZE),
        "feature_layers": len(feature_layers(model)),
        "per_layer": count_flops(model)["per_layer"],
    })
