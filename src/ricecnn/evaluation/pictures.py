"""The evaluate stage's pictures (evaluate@<model>-<seed>, the first replicate's): the confusion matrix
on the augmented test set and the misclassified images. Saved by ``ricecnn.pictures.save_png``.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
from matplotlib.figure import Figure

from ..pictures import show_rgb


def text_figure(text: str, size: tuple[float, float] = (4, 1.5)) -> Figure:
    fig = Figure(figsize=size)
    fig.text(0.5, 0.5, text, ha="center", va="center", fontsize=12)
    return fig


def confusion_figure(counts: np.ndarray, classes: Sequence[str], title: str) -> Figure:
    """A confusion matrix (rows actual, columns predicted) with each count written in its cell."""
    k = len(classes)
    fig = Figure(figsize=(1.2 + 0.8 * k, 1.0 + 0.8 * k), layout="constrained")
    ax = fig.add_subplot()
    ax.imshow(counts, cmap="Blues", vmin=0, vmax=max(1, counts.max()))
    for (i, j), v in np.ndenumerate(counts):
        ax.text(j, i, str(v), ha="center", va="center", fontsize=8, color="white" if v > counts.max() / 2 else "black")
    ax.set_xticks(range(k), classes, rotation=45, ha="right", fontsize=8)
    ax.set_yticks(range(k), classes, fontsize=8)
    ax.set_xlabel("predicted")
    ax.set_ylabel("actual")
    ax.set_title(title, fontsize=9)
    return fig


def image_grid(images: np.ndarray, titles: Sequence[str], suptitle: str, cols: int = 5) -> Figure:
    """Up to ``len(images)`` RGB tiles with a small title each."""
    n = len(images)
    cols = max(1, min(cols, n))
    rows = -(-n // cols)
    fig = Figure(figsize=(1.8 * cols, 2.0 * rows + 0.4), layout="constrained")
    fig.suptitle(suptitle, fontsize=10)
    for i, (image, title) in enumerate(zip(images, titles)):
        show_rgb(fig.add_subplot(rows, cols, i + 1), image, title, fontsize=7)
    return fig
