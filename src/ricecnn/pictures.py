"""The one way every picture is saved, and what more than one stage draws with: headless (Agg), no
pyplot global state.

Figures are plain ``matplotlib.figure.Figure`` objects saved by :func:`save_png`, which writes
atomically and leaves out the PNG metadata that would otherwise vary between runs. Each stage's own
figures are beside its code: featuremaps' in ``ricecnn.channels.pictures``, evaluate's in
``ricecnn.evaluation.pictures``, summarize's in ``ricecnn.study.figures``.
"""

from __future__ import annotations

import io
import os

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from PIL import Image  # noqa: E402

from .core.io import atomic_path  # noqa: E402


def show_rgb(ax, image: np.ndarray, title: str | None = None, fontsize: float = 8) -> None:
    """Draw a uint8 RGB image without axes."""
    ax.imshow(np.asarray(image, dtype=np.uint8), interpolation="nearest")
    ax.set_axis_off()
    if title:
        ax.set_title(title, fontsize=fontsize)


def render(fig: Figure, dpi: float) -> np.ndarray:
    """The figure as an (H, W, 4) uint8 RGBA array, as it would be saved."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    return np.asarray(Image.open(buf).convert("RGBA"))


def save_png(fig: Figure, path: str | os.PathLike, dpi: float = 80, palette: bool = False) -> None:
    """Save ``fig`` as a PNG atomically. ``palette`` stores it with 256 colours (much smaller
    for big greyscale grids); the result is byte-identical for the same figure."""
    with atomic_path(path) as tmp:
        if palette:
            image = Image.fromarray(render(fig, dpi)).convert("RGB")
            image.quantize(colors=256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE).save(
                tmp, format="png", optimize=True
            )
        else:
            fig.savefig(tmp, format="png", dpi=dpi, metadata={"Software": None})
