"""Stage `fetch`: the dataset as one zip in Kaggle's layout (`Rice_Image_Dataset/<Class>/*.jpg`).

data.source = synthetic (default, offline) | kaggle (the real dataset, needs an API token) | path
(a local zip or a folder with one sub-folder per class); ``ricecnn.data.sources`` gets it. The stand-in
draws one set of new images per replicate (``replicates``), each replicate's split takes its own.
"""

from __future__ import annotations

import json

from ..core import settings
from ..core.cli import parse
from ..core.io import atomic_path
from ..core.settings import Replicates, Seed, View
from ..data import archive, sources
from ..data.settings import Data


class Settings(View):
    seed: Seed
    replicates: Replicates
    data: Data


def main(argv: list[str] | None = None) -> None:
    args = parse(argv, "fetch", __doc__, "out")
    s = settings.load(args.params, Settings)
    with atomic_path(args.out) as tmp:
        sources.fetch(s.data, s.seed, tmp, tuple(s.replicates))
        counts = archive.class_counts(tmp)
    print(f"fetch: {args.out} holds {sum(counts.values())} images in {len(counts)} classes: {json.dumps(counts)}")
