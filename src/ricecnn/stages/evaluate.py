"""Stage evaluate_augmented: clean and augmented test accuracy, loss, speed, confusion of all models.

The SPEC augmentation (RandomFlip("horizontal"), RandomRotation(0.1), RandomZoom(0.1),
RandomTranslation(0.1, 0.1), RandomContrast(0.1)) is drawn ONCE, per image, from numpy
Generators seeded by params `seed`, and applied with the very matrices and formulas of those Keras
layers (`keras.ops.image.affine_transform`, bilinear, fill_mode="reflect"). Drawing in numpy
rather than calling the layers keeps the draw independent of the backend and of the batch size,
so every model is judged on the same uint8 images, on every run.
"""

from __future__ import annotations

import argparse
import csv
import time
from pathlib import Path

import numpy as np
from tqdm import tqdm

from .. import params as params_mod
from ..data import load_classes, load_split
from ..errors import RiceError
from ..io import atomic_path, write_json
from ..runtime import load_model

FACTOR = 0.1  # every SPEC augmentation layer uses 0.1
MAX_TILES = 25


def draw_augmentation(n: int, height: int, width: int, seed: int) -> dict[str, np.ndarray]:
    """Per-image parameters of the five layers; layer i draws from its own child of ``seed``."""
    flip, rot, zoom, trans, contrast = (np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(5))
    shift = trans.uniform(-FACTOR, FACTOR, (n, 2))  # one (dy, dx) pair per image: image i's draw is the same for any n
    return {
        "flip": flip.uniform(size=n) <= 0.5,  # RandomFlip: flip where uniform <= 0.5
        "angle": rot.uniform(-FACTOR * 2 * np.pi, FACTOR * 2 * np.pi, n),  # factor is a fraction of 2 pi
        "zoom": zoom.uniform(1 - FACTOR, 1 + FACTOR, n),  # width zoom = height zoom (aspect kept)
        "dy": shift[:, 0] * height,
        "dx": shift[:, 1] * width,
        "contrast": contrast.uniform(1 - FACTOR, 1 + FACTOR, n),
    }


def _matrices(p: dict[str, np.ndarray], sl: slice, h: int, w: int) -> list[np.ndarray]:
    """Keras' output->input maps (a0 a1 a2 b0 b1 b2 0 0) for rotation, zoom and translation."""
    cos, sin, z = np.cos(p["angle"][sl]), np.sin(p["angle"][sl]), p["zoom"][sl]
    cx, cy, zero, one = (w - 1) / 2, (h - 1) / 2, np.zeros_like(z), np.ones_like(z)
    rotation = [cos, -sin, cx - cx * cos + cy * sin, sin, cos, cy - cx * sin - cy * cos, zero, zero]
    zooming = [z, zero, cx * (1 - z), zero, z, cy * (1 - z), zero, zero]
    translation = [one, zero, -p["dx"][sl], zero, one, -p["dy"][sl], zero, zero]
    return [np.stack(m, axis=1).astype(np.float32) for m in (rotation, zooming, translation)]


def augment(images: np.ndarray, seed: int, batch_size: int = 64) -> np.ndarray:
    """The augmented copy of uint8 NHWC ``images`` (same shape, uint8); a pure function of its inputs."""
    from keras import ops

    n, h, w = images.shape[:3]
    p = draw_augmentation(n, h, w, seed)
    out = np.empty(images.shape, dtype=np.uint8)
    for start in tqdm(range(0, n, batch_size), desc="augment", unit="batch", leave=False):
        sl = slice(start, min(start + batch_size, n))
        x = np.asarray(images[sl], dtype=np.float32)
        x = np.where(p["flip"][sl, None, None, None], x[:, :, ::-1], x)
        for m in _matrices(p, sl, h, w):
            x = ops.convert_to_numpy(ops.image.affine_transform(x, m, interpolation="bilinear", fill_mode="reflect"))
        mean = x.mean(axis=(1, 2), keepdims=True, dtype=np.float64)  # RandomContrast: per image and channel
        x = (x - mean) * p["contrast"][sl, None, None, None] + mean
        out[sl] = np.clip(np.rint(x), 0, 255).astype(np.uint8)
    return out


def predict(model, images: np.ndarray, batch_size: int) -> tuple[np.ndarray, float]:
    """Softmax outputs over ``images`` (last batch padded, so one compiled shape) and seconds taken."""
    model.predict_on_batch(np.asarray(images[:batch_size], dtype=np.float32))  # warm-up / compile
    outs, seconds = [], 0.0
    for start in tqdm(range(0, len(images), batch_size), desc="predict", unit="batch", leave=False):
        x = np.asarray(images[start : start + batch_size], dtype=np.float32)
        m = len(x)
        if m < batch_size and len(images) > batch_size:
            x = np.concatenate([x, np.zeros((batch_size - m, *x.shape[1:]), np.float32)])
        t = time.perf_counter()
        outs.append(np.asarray(model.predict_on_batch(x))[:m])
        seconds += time.perf_counter() - t
    return np.concatenate(outs).astype(np.float64), seconds


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
    clean_probs, seconds = predict(model, clean, batch_size)
    aug_probs, _ = predict(model, augmented, batch_size)
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
    ap = argparse.ArgumentParser(prog="ricecnn evaluate", description=__doc__.splitlines()[0])
    ap.add_argument("--params", default="params.yaml")
    ap.add_argument("--models-dir", default="models", type=Path)
    ap.add_argument("--split-dir", default="data/split", type=Path)
    ap.add_argument("--out", default="metrics/evaluate.json")
    ap.add_argument("--plots-dir", default="reports/evaluate", type=Path)
    args = ap.parse_args(argv)
    params = params_mod.load(args.params)
    names, cfg = params_mod.evaluated_models(params), params["evaluate"]
    files = {name: args.models_dir / f"{name}.keras" for name in names}
    for name, path in files.items():  # fail before the long work
        if not path.exists():
            stage = f"prune@{name[:-len('_pruned')]}" if name not in params["models"] else f"train@{name}"
            raise RiceError(f"{path} not found: run `dvc repro {stage}` first")
    classes = load_classes(args.split_dir)
    clean, labels = load_split(args.split_dir, "test")
    if len(labels) == 0:
        raise RiceError(f"the test split in {args.split_dir} is empty: raise split.test or the data size")
    import keras

    augmented = augment(clean, params["seed"], cfg["batch_size"])
    results = {}
    with atomic_path(args.plots_dir, directory=True) as out:
        (out / "confusion").mkdir()
        for name, path in files.items():
            print(f"evaluate {name}", flush=True)
            model = load_model(path, name.removesuffix("_pruned"), clean.shape[1:], len(classes))
            results[name], predicted = evaluate_model(
                model, clean, augmented, labels, cfg["batch_size"], cfg["latency_repeats"]
            )
            write_plots(out, name, augmented, labels, predicted, classes, results[name])
            del model
            keras.backend.clear_session()  # one model in memory at a time
    write_json(args.out, results)
