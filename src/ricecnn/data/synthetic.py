"""Procedural stand-in for the Rice Image Dataset: one grain per image on a black background.

Each image depends only on (seed, draw, class index, image index), so the output is byte-identical
for the same settings however the work is split across processes. A draw is one replicate's own
images (``draw=None``: the images of no replicate, as drawn before replicates had draws of their own). Morphology per docs/paper.md
"The synthetic stand-in" (length x width in px at 250x250, about 6 % spread, classes overlapping a little).
"""

from __future__ import annotations

import io
import math
import re
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from PIL import Image


@dataclass(frozen=True)
class Grain:
    length: float  # mean length at 250 px
    width: float  # mean width at 250 px
    tip: float  # superellipse exponent along the length: < 2 pointed tips, > 2 blunt ends
    curve: float  # bend of the centre line, in half-widths at the tips
    chalky: float  # brightness of a whiter core (Arborio's chalky centre)
    white: float  # base brightness (0..1)


GRAINS: dict[str, Grain] = {
    "Arborio": Grain(150, 80, 2.2, 0.0, 0.18, 0.84),
    "Basmati": Grain(200, 45, 1.35, 0.0, 0.0, 0.90),
    "Ipsala": Grain(190, 85, 2.4, 0.0, 0.0, 0.92),
    "Jasmine": Grain(175, 55, 1.8, 0.35, 0.0, 0.90),
    "Karacadag": Grain(125, 75, 2.0, 0.0, 0.0, 0.86),
}
CLASSES = sorted(GRAINS)
SPREAD = 0.06
JPEG_QUALITY = 92
# The largest offset of the grain's centre from the image centre, as a fraction of the image
# (params.yaml data.synthetic.offset). Until 2026-11 the stand-in capped it at 12 px of 250 (0.048):
# tests then translated grains by up to 0.1 of the image, out of the positions training had seen.
OFFSET = 0.1


@lru_cache(maxsize=4)
def _grid(size: int) -> tuple[np.ndarray, np.ndarray]:
    c = (size - 1) / 2
    y, x = np.mgrid[0:size, 0:size].astype(np.float32)
    return x - c, y - c


def draw(class_index: int, index: int, seed: int, size: int = 250, offset: float = OFFSET,
         draw_id: int | None = None) -> np.ndarray:
    """Draw one grain image as a (size, size, 3) uint8 array; the grain's centre lies up to
    ``offset`` x ``size`` from the image centre (less where the grain would not fit whole). Images of
    another ``draw_id`` are other images (independent streams of one generator seed)."""
    key = [seed, class_index, index] if draw_id is None else [seed, draw_id, class_index, index]
    return render(GRAINS[CLASSES[class_index]], np.random.default_rng(key), size, offset)


def render(g: Grain, rng: np.random.Generator, size: int = 250, offset: float = OFFSET) -> np.ndarray:
    """Draw one grain of shape ``g`` with ``rng``'s random variation, as ``draw`` describes: the
    drawing itself, shared by the rice classes and any other grain (``ricecnn.data.pretraining``)."""
    scale = size / 250
    length = g.length * scale * (1 + SPREAD * rng.standard_normal())
    width = g.width * scale * (1 + SPREAD * rng.standard_normal())
    a, b = length / 2, width / 2
    angle = rng.uniform(0, math.pi)
    room = max(0.0, (size - length) / 2 - 3 * scale)
    dx, dy = rng.uniform(-1, 1, 2) * min(room, offset * size)
    bend = g.curve * rng.choice([-1, 1]) * (1 + 0.2 * rng.standard_normal())
    skew = 0.08 * rng.standard_normal()  # one end a little fuller than the other

    # Work only on the square that can hold the grain (any rotation): ~2x less pixel work.
    gx, gy = _grid(size)
    c, reach = (size - 1) / 2, a + 2
    r0, r1 = max(0, int(c + dy - reach)), min(size, int(c + dy + reach) + 2)
    c0, c1 = max(0, int(c + dx - reach)), min(size, int(c + dx + reach) + 2)
    x, y = gx[r0:r1, c0:c1] - dx, gy[r0:r1, c0:c1] - dy
    cos, sin = math.cos(angle), math.sin(angle)
    u = x * cos + y * sin  # along the grain
    v = -x * sin + y * cos  # across
    t = np.clip(u / a, -1, 1)
    half = b * (1 + skew * t) * np.sqrt(np.clip(1 - np.abs(t) ** g.tip, 0, 1))
    v = v - bend * b * t * t
    inside_w = half - np.abs(v)  # px to the long edge
    inside_l = a - np.abs(u)  # px to the tips
    alpha = np.clip(np.minimum(inside_w, inside_l) + 0.5, 0, 1)
    r = np.abs(v) / np.maximum(half, 1e-3)
    dome = np.sqrt(np.clip(1 - r * r, 0, 1)) * np.sqrt(np.clip(1 - t * t, 0, 1))
    shade = g.white * (1 + 0.05 * rng.standard_normal()) * (0.62 + 0.38 * dome)
    if g.chalky:
        shade = shade + g.chalky * np.exp(-((t / 0.4) ** 2 + (r / 0.55) ** 2))
    light = np.array([1.0, 0.965, 0.86], np.float32) * (1 + 0.015 * rng.standard_normal(3)).astype(np.float32)
    noise = rng.standard_normal((*alpha.shape, 1), dtype=np.float32) * 0.025
    img = np.zeros((size, size, 3), np.uint8)
    img[r0:r1, c0:c1] = np.clip(alpha[..., None] * (shade[..., None] * light + noise) * 255, 0, 255).astype(np.uint8)
    return img


def jpeg(class_index: int, index: int, seed: int, size: int = 250, offset: float = OFFSET,
         draw_id: int | None = None) -> bytes:
    """One image as JPEG bytes (PIL's encoder is deterministic for the same pixels)."""
    buf = io.BytesIO()
    Image.fromarray(draw(class_index, index, seed, size, offset, draw_id)).save(buf, format="JPEG", quality=JPEG_QUALITY)
    return buf.getvalue()


def jpeg_batch(job: tuple) -> list[bytes]:
    """Worker entry point: JPEG bytes of images [start, stop) of one class (of one draw, if a 7th
    element names it)."""
    class_index, start, stop, seed, size, offset, *draw_id = job
    return [jpeg(class_index, i, seed, size, offset, *draw_id) for i in range(start, stop)]


# A drawn image's member name in the archive carries its draw: `<Class> (<draw>-<i>).jpg`, so that a
# replicate's split takes its own draw's images (``draw_of``); Kaggle's names are `<Class> (<i>).jpg`.
_DRAWN = re.compile(r" \((\d+)-\d+\)\.jpg$")


def member_name(class_name: str, index: int, draw_id: int | None = None) -> str:
    """The file name of image ``index`` (from 0) of a class, of one draw or of none."""
    return f"{class_name} ({index + 1}).jpg" if draw_id is None else f"{class_name} ({draw_id}-{index + 1}).jpg"


def draw_of(member: str) -> int | None:
    """The draw an archive member was drawn for (``member_name``), None for any other name."""
    m = _DRAWN.search(member)
    return int(m.group(1)) if m else None
