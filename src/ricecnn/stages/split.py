"""Stage `split`: stratified, seeded train/val/test split, decoded once into uint8 arrays
(``ricecnn.data.splitting``). Every later stage memory-maps `<split>_x.npy` instead of decoding JPEGs
again (``ricecnn.data.arrays``).
"""

from __future__ import annotations

from ..core import settings
from ..core.cli import parse
from ..core.io import atomic_path
from ..core.settings import Seed, View
from ..data.settings import Data, Split
from ..data.splitting import split


class Settings(View):
    seed: Seed
    data: Data
    split: Split


def main(argv: list[str] | None = None) -> None:
    args = parse(argv, "split", __doc__, "raw", "out")
    cfg = settings.load(args.params, Settings)
    size = cfg.data.img_size
    with atomic_path(args.out, directory=True) as tmp:
        s = split(args.raw, tmp, size, cfg.split.val, cfg.split.test, cfg.seed)
    per_class = ", ".join(f"{c} {n:,}" for c, n in s["per_class"].items())
    print(f"split: {s['train']:,} train / {s['val']:,} val / {s['test']:,} test images of {s['classes']} classes "
          f"at {size} px ({per_class}); decoded {s['decode_rate']:.0f} images/s")
