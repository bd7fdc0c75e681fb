"""Stage evaluate_augmented: clean and augmented test accuracy, loss, speed, confusion of all models.

Every model (the trained ones and the variants derived from them, ``ricecnn.models.evaluated``) is
judged on the same test split and on the same seeded augmented copy of it (``ricecnn.augment``).
"""

from __future__ import annotations

import csv
import time
from pathlib import Path

import numpy as np

from .. import settings
from ..cli import parse
from ..data import load_classes, load_split
from ..errors import RiceError
from ..io import atomic_path, write_json

MAX_TILES = 25  # misclassified images drawn per model


def timed_predict(model, images: np.ndarray, batch_size: int) -> tuple[np.ndarray, float]:
    """Softmax outputs over ``images`` (every batch of one shape: compiled once, after a warm-up
    call) and the seconds the predictions took."""
    from ..predict import predict

    predict(model, images[:batch_size], batch_size, multiple=batch_size)  # warm-up / compile
    start = time.perf_counter()
    probs = predict(model, images, batch_size, multiple=batch_size, desc="predict")
    return probs.astype(np.float64), time.perf_counter() - start


def latency_ms(model, image: np.ndarray, repeats: int) -> float:
    x = np.asarray(image[None], dtype=np.float32)
    for _ in range(3):
        model.predict_on_batch(x)
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        model.predict_on_batch(x)
        times.append(time.perf_counter() - t)
    return float(np.median(times) * 1000)


def scores(probs: np.ndarray, labels: np.ndarray) -> tuple[float, float]:
    """(accuracy, categorical cross-entropy) of softmax ``probs``."""
    p = np.clip(probs[np.arange(len(labels)), labels], 1e-7, 1.0)
    return float(np.mean(probs.argmax(1) == labels)), float(np.mean(-np.log(p)))


def evaluate_model(model, clean, augmented, labels, batch_size: int, repeats: int) -> tuple[dict, np.ndarray]:
    """Metrics of one model and its predicted classes on the augmented set."""
    clean_probs, seconds = timed_predict(model, clean, batch_size)
    aug_probs, _ = timed_predict(model, augmented, batch_size)
    (clean_acc, clean_loss), (aug_acc, aug_loss) = scores(clean_probs, labels), scores(aug_probs, labels)
    predicted = aug_probs.argmax(1)
    return {
        "clean_accuracy": clean_acc,
        "clean_loss": clean_loss,
        "augmented_accuracy": aug_acc,
        "augmented_loss": aug_loss,
        "misclassified": int(np.sum(predicted != labels)),
        "test_images": len(labels),
        "latency_ms": latency_ms(model, clean[0], repeats),
        "images_per_second": len(labels) / max(seconds, 1e-9),
    }, predicted


def write_plots(out: Path, name: str, augmented, labels, predicted, classes, metrics: dict) -> None:
    from .. import plots

    k = len(classes)
    with open(out / "confusion" / f"{name}.csv", "w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(["actual", "predicted"])
        w.writerows((classes[a], classes[b]) for a, b in zip(labels, predicted))
    counts = np.bincount(labels * k + predicted, minlength=k * k).reshape(k, k)
    title = f"{name}: augmented test, accuracy {metrics['augmented_accuracy']:.4f}"
    plots.save_png(plots.confusion_figure(counts, classes, title), out / f"confusion_{name}.png")
    wrong = np.flatnonzero(predicted != labels)[:MAX_TILES]
    if len(wrong):
        tiles = [f"true {classes[labels[i]]}\npred {classes[predicted[i]]}" for i in wrong]
        sup = f"{name}: {metrics['misclassified']} of {len(labels)} augmented test images misclassified"
        sup += f" (the first {MAX_TILES})" if metrics["misclassified"] > MAX_TILES else ""
        fig = plots.image_grid(augmented[wrong], tiles, sup)
    else:
        fig = plots.text_figure(f"{name}: no misclassified images")
    plots.save_png(fig, out / f"misclassified_{name}.png")


def main(argv: list[str] | None = None) -> None:
    args = parse(argv, "evaluate", __doc__, "models-dir", "split-dir", "out", "plots-dir")
    s = settings.load(args.params)
    cfg = s.evaluate
    from ..models import evaluated

    models = evaluated(list(s.models), s.prune.models)
    files = {m.name: args.models_dir / f"{m.name}.keras" for m in models}
    for m in models:  # fail before the long work
        if not files[m.name].exists():
            raise RiceError(f"{files[m.name]} not found: run `dvc repro {m.stage}` first")
    classes = load_classes(args.split_dir)
    clean, labels = load_split(args.split_dir, "test")
    if len(labels) == 0:
        raise RiceError(f"the test split in {args.split_dir} is empty: raise split.test or the data size")
    import keras

    from ..augment import augment
    from ..runtime import load_model

    augmented = augment(clean, s.seed, cfg.batch_size)
    results = {}
    with atomic_path(args.plots_dir, directory=True) as out:
        (out / "confusion").mkdir()
        for m in models:
            print(f"evaluate {m.name}", flush=True)
            model = load_model(files[m.name], m.stage, clean.shape[1:], len(classes))
            results[m.name], predicted = evaluate_model(
                model, clean, augmented, labels, cfg.batch_size, cfg.latency_repeats
            )
            write_plots(out, m.name, augmented, labels, predicted, classes, results[m.name])
            del model
            keras.backend.clear_session()  # one model in memory at a time
    write_json(args.out, results)
