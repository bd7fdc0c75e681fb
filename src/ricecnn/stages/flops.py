"""Stage `flops@<model>`: FLOPs/MACs per image, parameters and filters of one registry model.

Counts are analytic (ricecnn.flops, TensorFlow profiler rules), at `data.img_size` and at the
paper's 224 px, for the number of classes of the split. Weights do not change any count, so the
model is built without them (no download); `freeze` is kept for the trainable parameter count.
"""

from __future__ import annotations

from ..core import settings
from ..core.cli import parse
from ..data import load_classes
from ..flops import count_flops, describe
from ..core.io import write_json
from ..anatomy import feature_layers
from ..models import PAPER_SIZE, build_model, spec


def main(argv: list[str] | None = None) -> None:
    args = parse(argv, "flops", __doc__, "split-dir", "out", model=True)
    spec(args.model)
    s = settings.load(args.params)
    freeze = s.entry(args.model).freeze
    num_classes = len(load_classes(args.split_dir))
    model = build_model(args.model, s.data.img_size, num_classes, {"freeze": freeze} if freeze is not None else {})
    write_json(args.out, {
        "model": args.model,
        "num_classes": num_classes,
        **describe(model, PAPER_SIZE),
        "feature_layers": len(feature_layers(model)),
        "per_layer": count_flops(model)["per_layer"],
    })
