"""Stage evaluate_augmented: clean and augmented test accuracy, loss, speed, confusion of all models.

Every model (the trained ones and the variants derived from them, ``ricecnn.models.evaluated``) is
judged on the same test split, on the same seeded augmented copy of it, and on each augmentation
alone (``ricecnn.augment``). Every accuracy comes with its 95 % interval, every variant with a
paired comparison to its baseline on the same images (``ricecnn.stats``), and every image's
predicted class under every condition is kept (``predictions/<model>.csv``).
"""

from __future__ import annotations

import csv
import time
from pathlib import Path

import numpy as np

from .. import settings, stats
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


def evaluate_model(model, sets: dict[str, np.ndarray], labels, batch_size: int, repeats: int) -> tuple[dict, dict]:
    """Metrics of one model on every test set of ``augment.CONDITIONS`` and its predicted classes."""
    from ..augment import TRANSFORMS
    from ..predict import predict

    probs, seconds = timed_predict(model, sets["clean"], batch_size)
    probs = {"clean": probs, **{c: predict(model, x, batch_size, multiple=batch_size).astype(np.float64)
                                for c, x in sets.items() if c != "clean"}}
    predicted = {c: p.argmax(1) for c, p in probs.items()}
    acc = {c: stats.accuracy(pred == labels) for c, pred in predicted.items()}
    metrics = {}
    for c in ("clean", "augmented"):
        metrics.update({f"{c}_accuracy": acc[c].value, f"{c}_accuracy_lo": acc[c].lo, f"{c}_accuracy_hi": acc[c].hi,
                        f"{c}_loss": scores(probs[c], labels)[1]})
    metrics.update(
        misclassified=int(np.sum(predicted["augmented"] != labels)),
        test_images=len(labels),
        by_transform={t: {"accuracy": acc[t].value, "lo": acc[t].lo, "hi": acc[t].hi} for t in TRANSFORMS},
        latency_ms=latency_ms(model, sets["clean"][0], repeats),
        images_per_second=len(labels) / max(seconds, 1e-9),
    )
    return metrics, predicted


def comparison(variant: dict[str, np.ndarray], baseline: dict[str, np.ndarray], labels: np.ndarray) -> dict:
    """A variant against its baseline on the same images, clean and augmented (``ricecnn.stats``)."""
    out = {}
    for c in ("clean", "augmented"):
        d = stats.paired(variant[c] == labels, baseline[c] == labels)
        out[c] = {"diff": d.diff, "lo": d.lo, "hi": d.hi, "p": d.p, "verdict": d.verdict,
                  "variant_only_right": d.discordant[0], "baseline_only_right": d.discordant[1]}
    return out


def write_predictions(out: Path, name: str, labels, predicted: dict[str, np.ndarray], classes) -> None:
    """Every test image's class as predicted under each condition (DVC's confusion plot reads
    `actual` and `augmented`); any two models can be compared from these files later."""
    with open(out / "predictions" / f"{name}.csv", "w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(["image", "actual", *predicted])
        w.writerows([i, classes[a], *(classes[p[i]] for p in predicted.values())] for i, a in enumerate(labels))


def write_plots(out: Path, name: str, augmented, labels, predicted, classes, metrics: dict) -> None:
    from .. import plots

    k = len(classes)
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

    models = evaluated(list(s.models), s.prune.models, s.trim.models)
    files = {m.name: args.models_dir / f"{m.name}.keras" for m in models}
    for m in models:  # fail before the long work
        if not files[m.name].exists():
            raise RiceError(f"{files[m.name]} not found: run `dvc repro {m.stage}` first")
    classes = load_classes(args.split_dir)
    clean, labels = load_split(args.split_dir, "test")
    if len(labels) == 0:
        raise RiceError(f"the test split in {args.split_dir} is empty: raise split.test or the data size")
    import keras

    from ..augment import condition_sets
    from ..runtime import load_model

    sets = condition_sets(clean, s.seed, cfg.batch_size)
    results, predicted = {}, {}
    with atomic_path(args.plots_dir, directory=True) as out:
        (out / "predictions").mkdir()
        for m in models:
            print(f"evaluate {m.name}", flush=True)
            model = load_model(files[m.name], m.stage, clean.shape[1:], len(classes))
            results[m.name], predicted[m.name] = evaluate_model(model, sets, labels, cfg.batch_size, cfg.latency_repeats)
            write_predictions(out, m.name, labels, predicted[m.name], classes)
            write_plots(out, m.name, sets["augmented"], labels, predicted[m.name]["augmented"], classes, results[m.name])
            del model
            keras.backend.clear_session()  # one model in memory at a time
    for m in models:
        if m.baseline:
            results[m.name]["vs_baseline"] = {"baseline": m.baseline,
                                              **comparison(predicted[m.name], predicted[m.baseline], labels)}
        if m.others:
            results[m.name]["vs_others"] = {o: comparison(predicted[m.name], predicted[o], labels) for o in m.others}
    write_json(args.out, results)
