"""The pretraining source of the stand-in's VGG16 (stage `pretrain`): what ImageNet is to the paper's
VGG16, a separate labelled set its base learns features on before any rice image is seen.

Ten made-up grain shapes, none of them one of the five rice classes (``synthetic.GRAINS``): rounder,
thinner, boxier, more bent, darker or chalkier. They are drawn by the stand-in's own drawing code
(``synthetic.render``) at ``data.synthetic.size``, JPEG-encoded and decoded to the model's input
size as `split` decodes the rice images (``splitting.decode``: RGB, PIL bilinear), in memory. Their
random streams are their own (``STREAM`` in every key, the ``pretrain.seed``), so no image repeats a
rice image's randomness whatever the seeds.
"""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

from . import synthetic
from .parallel import ordered_map, pool
from .synthetic import Grain

# length and width at 250 px, tip (superellipse exponent), curve, chalky core, base brightness
GRAINS: dict[str, Grain] = {
    "Bean": Grain(150, 95, 2.6, 0.6, 0.0, 0.62),  # broad, bent, darker
    "Brick": Grain(165, 95, 4.0, 0.0, 0.0, 0.80),  # boxy ends
    "Crescent": Grain(190, 50, 1.6, 1.2, 0.0, 0.88),  # strongly bent
    "Dusk": Grain(140, 55, 1.8, 0.0, 0.0, 0.50),  # dark
    "Hook": Grain(220, 40, 1.5, 0.8, 0.0, 0.85),  # long, thin, bent
    "Lentil": Grain(105, 95, 2.0, 0.0, 0.0, 0.72),  # nearly round
    "Needle": Grain(232, 28, 1.2, 0.0, 0.0, 0.95),  # very long and thin, pointed
    "Pearl": Grain(85, 70, 2.2, 0.0, 0.30, 0.80),  # small, chalky
    "Chalk": Grain(175, 65, 2.0, 0.0, 0.40, 0.70),  # a large chalky core
    "Spindle": Grain(210, 75, 1.1, 0.0, 0.0, 0.76),  # wide middle, sharp tips
}
CLASSES = sorted(GRAINS)
STREAM = 2**32 - 1  # in every image's key: a key no rice image has (theirs hold small draw numbers)
CHUNK = 32  # images per worker task


def image(class_index: int, index: int, seed: int, size: int, img_size: int, offset: float) -> np.ndarray:
    """Image ``index`` of pretraining class ``class_index``: drawn at ``size`` px, then as `split`
    decodes a drawn JPEG, (img_size, img_size, 3) uint8."""
    rng = np.random.default_rng([seed, STREAM, class_index, index])
    buf = io.BytesIO()
    Image.fromarray(synthetic.render(GRAINS[CLASSES[class_index]], rng, size, offset)).save(
        buf, format="JPEG", quality=synthetic.JPEG_QUALITY)
    with Image.open(buf) as im:
        im = im.convert("RGB")
        if im.size != (img_size, img_size):
            im = im.resize((img_size, img_size), Image.Resampling.BILINEAR)
        return np.asarray(im, dtype=np.uint8)


def _batch(job: tuple) -> np.ndarray:
    class_index, start, stop, *rest = job
    return np.stack([image(class_index, i, *rest) for i in range(start, stop)])


def make(classes: int, per_class: int, seed: int, size: int, img_size: int,
         offset: float = synthetic.OFFSET) -> tuple[np.ndarray, np.ndarray]:
    """``per_class`` images of each of the first ``classes`` pretraining classes, drawn in parallel:
    (uint8 NHWC images, int64 labels), class by class in index order."""
    jobs = [(c, start, min(start + CHUNK, per_class), seed, size, img_size, offset)
            for c in range(classes) for start in range(0, per_class, CHUNK)]
    with pool(len(jobs)) as workers:
        x = np.concatenate(list(ordered_map(workers, _batch, jobs)))
    return x, np.repeat(np.arange(classes, dtype=np.int64), per_class)


def split(x: np.ndarray, y: np.ndarray, val: float) -> tuple[tuple, tuple]:
    """(train, val) pairs: the last ``round(val * n)`` images of each class validate (the images of a
    class are independent draws, so any fixed choice is a random one)."""
    is_val = np.zeros(len(y), bool)
    for c in np.unique(y):
        idx = np.flatnonzero(y == c)
        is_val[idx[len(idx) - max(1, round(val * len(idx))):]] = True
    return (x[~is_val], y[~is_val]), (x[is_val], y[is_val])
