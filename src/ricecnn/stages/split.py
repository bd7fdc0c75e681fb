"""Stage `split`: one replicate's data draw, a stratified train/val/test split seeded by the replicate,
decoded once into uint8 arrays (``ricecnn.data.splitting``). The synthetic stand-in's replicate takes
its own newly drawn images; a real dataset's, its own partition of the same images. Every later stage memory-maps `<split>_x.npy` instead of decoding JPEGs
again (``ricecnn.data.arrays``).
"""

from __future__ import annotations

from ..core import settings
from ..core.cli import parse
from ..core.errors import RiceError
from ..core.io import atomic_path
from ..core.settings import Design
from ..data.settings import Data, Split
from ..data.splitting import split


class Settings(Design):
    data: Data
    split: Split


def main(argv: list[str] | None = None) -> None:
    args = parse(argv, "split", __doc__, "raw", "out", options={"replicate": int})
    cfg = settings.load(args.params, Settings)
    if args.replicate not in cfg.replicates:
        raise RiceError(f"replicate {args.replicate} is not one of replicates {cfg.replicates} in {args.params}")
    size = cfg.data.img_size
    with atomic_path(args.out, directory=True) as tmp:
        s = split(args.raw, tmp, size, cfg.split.val, cfg.split.test, args.replicate, args.replicate,
                  drawn=cfg.data.source == "synthetic")
    per_class = ", ".join(f"{c} {n:,}" for c, n in s["per_class"].items())
    print(f"split: {s['train']:,} train / {s['val']:,} val / {s['test']:,} test images of {s['classes']} classes "
          f"at {size} px ({per_class}); decoded {s['decode_rate']:.0f} images/s")
