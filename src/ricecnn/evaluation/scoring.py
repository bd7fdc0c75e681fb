"""Scoring a model on the test set: clean, under each augmentation alone and under all five
(``ricecnn.evaluation.augment``), with 95 % intervals (``ricecnn.evaluation.proportions``), speed, and every image's predicted
class (from which summarize compares models; batch-1 latency is the export stage's); and the pictures of what it got wrong.

Memory is bounded by design: the conditions are arrays (memory-mapped at full size) streamed one
batch at a time through the model, and only each image's predicted class and the loss's running
sum are kept, whatever the test set's size.
"""

from __future__ import annotations

import csv
import time
from pathlib import Path

import numpy as np

from ..core.cli import print_timing
from ..inference.batches import outputs
from .augment import TRANSFORMS
from .proportions import accuracy_interval

MAX_TILES = 25  # misclassified images drawn per model


def classify(model, images: np.ndarray, labels: np.ndarray, batch_size: int, desc: str | None = None) -> tuple[np.ndarray, float]:
    """Each image's predicted class, and the mean categorical cross-entropy, batch by batch (every
    batch of one shape, so compiled once)."""
    predicted = np.empty(len(labels), dtype=np.int64)
    nll = 0.0
    for where, (probs,) in outputs(model, images, batch_size, multiple=batch_size, desc=desc):
        predicted[where] = probs.argmax(1)
        nll -= float(np.sum(np.log(np.clip(probs[np.arange(len(probs)), labels[where]], 1e-7, 1.0), dtype=np.float64)))
    return predicted, nll / max(len(labels), 1)


def evaluate(model, sets: dict[str, np.ndarray], labels: np.ndarray, batch_size: int,
             index: np.ndarray | None = None, name: str | None = None) -> tuple[dict, dict]:
    """Metrics of one model on every condition of ``sets`` (``augment.condition_sets``: at least the
    clean and the augmented test set) and its predicted classes per condition; the clean pass's images
    per second are printed (``core.cli.print_timing``, under ``name``), not returned. A test set smaller than ``batch_size`` is one batch of its own size (not
    padded to ``batch_size``: at 224 px that padding would cost more than the images)."""
    batch_size = max(1, min(batch_size, len(labels)))
    classify(model, sets["clean"][:batch_size], labels[:batch_size], batch_size)  # warm-up / compile
    start = time.perf_counter()
    predicted, loss = {}, {}
    predicted["clean"], loss["clean"] = classify(model, sets["clean"], labels, batch_size, desc="clean")
    seconds = time.perf_counter() - start
    def truth(x: np.ndarray) -> np.ndarray:  # a condition of the ``index`` images only: their labels
        return labels if len(x) == len(labels) else labels[index]

    for c, x in sets.items():
        if c != "clean":
            predicted[c], loss[c] = classify(model, x, truth(x), batch_size, desc=c)
    acc = {c: accuracy_interval(pred == truth(pred)) for c, pred in predicted.items()}
    metrics = {}
    for c in ("clean", "augmented"):
        metrics.update({f"{c}_accuracy": acc[c].value, f"{c}_accuracy_lo": acc[c].lo, f"{c}_accuracy_hi": acc[c].hi,
                        f"{c}_loss": loss[c]})
    metrics.update(misclassified=int(np.sum(predicted["augmented"] != labels)), test_images=len(labels))
    print_timing("evaluate", {"model": name or model.name, "test_images": len(labels), "images_per_second": len(labels) / max(seconds, 1e-9)})
    if set(TRANSFORMS) <= set(acc):
        metrics["by_transform"] = {t: {"accuracy": acc[t].value, "lo": acc[t].lo, "hi": acc[t].hi, "images": acc[t].n}
                                   for t in TRANSFORMS}
    return metrics, predicted


def write_predictions(path: Path, labels: np.ndarray, predicted: dict[str, np.ndarray], classes: list[str],
                      index: np.ndarray | None = None) -> None:
    """Every test image's class as predicted under each condition (DVC's confusion plot reads
    `actual` and `augmented`); any two models can be compared from these files later. A condition
    scored on the ``index`` images only is empty for the others."""
    columns = []
    for p in predicted.values():
        column = [""] * len(labels)
        for i, k in zip(range(len(labels)) if len(p) == len(labels) else index, p):
            column[i] = classes[k]
        columns.append(column)
    with open(path, "w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(["image", "actual", *predicted])
        w.writerows([i, classes[a], *(c[i] for c in columns)] for i, a in enumerate(labels))


def write_plots(out: Path, name: str, augmented: np.ndarray, labels, predicted, classes, metrics: dict) -> None:
    """``confusion_<name>.png`` (augmented test set) and ``misclassified_<name>.png`` (the first
    ``MAX_TILES`` misclassified augmented images)."""
    from ..pictures import save_png
    from .pictures import confusion_figure, image_grid, text_figure

    k = len(classes)
    counts = np.bincount(labels * k + predicted, minlength=k * k).reshape(k, k)
    title = f"{name}: augmented test, accuracy {metrics['augmented_accuracy']:.4f}"
    save_png(confusion_figure(counts, classes, title), out / f"confusion_{name}.png", palette=True)
    wrong = np.flatnonzero(predicted != labels)[:MAX_TILES]
    if len(wrong):
        tiles = [f"true {classes[labels[i]]}\npred {classes[predicted[i]]}" for i in wrong]
        sup = f"{name}: {metrics['misclassified']} of {len(labels)} augmented test images misclassified"
        sup += f" (the first {MAX_TILES})" if metrics["misclassified"] > MAX_TILES else ""
        fig = image_grid(augmented[wrong], tiles, sup)
    else:
        fig = text_figure(f"{name}: no misclassified images")
    save_png(fig, out / f"misclassified_{name}.png", palette=True)
