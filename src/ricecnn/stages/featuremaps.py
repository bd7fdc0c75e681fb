"""Stage featuremaps@<model>-<seed>: per-layer activation pictures, and APoZ / dead channels over val data.

APoZ (``ricecnn.channels.apoz``, Hu et al. 2016) is counted exactly on a seeded sample of
``featuremaps.samples`` validation images. For the models of the training seed dvc.yaml gives as
``--pictures-seed`` it is drawn per layer (``apoz.png``) and so are the feature maps (one image per
class). The metrics keep the integer zero counts per channel,
the sample's indices and the model file's digest: prune decides from them which channels are dead
on that sample, without running the model again.
"""

from __future__ import annotations

import keras  # noqa: F401  (Keras starts on import: inside the CLI's quiet start-up, core/cli.py)
import numpy as np
from tqdm import tqdm

from ..channels import apoz, pictures
from ..core import settings
from ..core.cli import parse, stage_name
from ..core.errors import RiceError
from ..core.io import atomic_path, write_json
from ..core.settings import PositiveInt, Section, Seed, View
from ..data.arrays import load_classes, load_split
from ..inference.files import load_model, weights_digest
from ..networks.anatomy import feature_layers
from ..pictures import save_png

DPI = 80


def sample_indices(labels: np.ndarray, num_classes: int, seed: int) -> dict[int, int]:
    """One val image per class, by seed only (so the same for every model)."""
    rng = np.random.default_rng(seed)
    picks = {}
    for c in range(num_classes):
        candidates = np.flatnonzero(labels == c)
        if len(candidates):
            picks[c] = int(candidates[rng.integers(len(candidates))])
    return picks


class Featuremaps(Section):
    samples: PositiveInt  # validation images over which APoZ is measured
    per_layer_max: PositiveInt  # channels drawn per layer in the pictures


class Settings(View):
    seed: Seed
    featuremaps: Featuremaps


def main(argv: list[str] | None = None) -> None:
    args = parse(argv, "featuremaps", __doc__, "model-file", "split-dir", "out-metrics", "out-dir", model=True,
                 seed=True, pictures=True)
    name = args.model
    s = settings.load(args.params, Settings)
    cfg = s.featuremaps
    classes = load_classes(args.split_dir)
    x, y = load_split(args.split_dir, "val")

    model = load_model(args.model_file, stage_name("train", name, args.seed), x.shape[1:], len(classes))
    names = feature_layers(model)
    if not names:
        raise RiceError(f"{name} has no feature layers")
    idx = apoz.sample(len(y), cfg.samples, s.seed, "featuremaps.samples", "val")
    counts = apoz.zero_counts(model, names, x[idx])
    result = apoz.report(counts)
    picks = sample_indices(y, len(classes), s.seed) if args.pictures else {}
    acts = apoz.activations(model, names, x[list(picks.values())]) if picks else []
    with atomic_path(args.out_dir, directory=True) as out:
        for j, (c, i) in enumerate(tqdm(picks.items(), desc="pictures", unit="class", leave=False, disable=None)):
            title = f"{name}: {classes[c]} (val image {i})"
            fig = pictures.featuremap_figure(x[i], [a[j] for a in acts], names, title, cfg.per_layer_max)
            save_png(fig, out / f"{classes[c]}.png", dpi=DPI, palette=True)
        if args.pictures:
            title = f"{name}: dead channels and mean APoZ by layer ({len(idx)} val images)"
            save_png(pictures.apoz_figure(result, title), out / "apoz.png", dpi=DPI)
        else:  # the counts are in the metrics; pictures of every seed would cost start-up time and say little more
            (out / "README.txt").write_text(f"Pictures are drawn for replicate {args.pictures_seed}'s models only.\n")
    write_json(args.out_metrics, apoz.record(name, args.seed, weights_digest(model), idx, counts))
