"""What the translation drop depends on: the grain's position, or interpolation blur?

Scores trained models on the test split translated four ways: as `evaluate@<seed>` draws it
(fractional pixels, bilinear), by the same amounts rounded to whole pixels (no blur), by half a
pixel only (blur without displacement), and by a fixed diagonal shift. See docs/standin.md.

    PATH=$PWD/.venv/bin:$PATH python tools/translation_check.py --split-dir data/split \\
        --models-dir models cnn cnn_light vgg16_light
"""

from __future__ import annotations

import argparse
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402


def shifted(x: np.ndarray, dx: np.ndarray, dy: np.ndarray) -> np.ndarray:
    """``x`` translated by (dx, dy) px with Keras' affine transform (bilinear, reflect), as uint8."""
    from keras import ops

    n = len(x)
    one, zero = np.ones(n), np.zeros(n)
    m = np.stack([one, zero, -dx, zero, one, -dy, zero, zero], 1).astype(np.float32)
    out = ops.image.affine_transform(np.asarray(x, np.float32), m, interpolation="bilinear", fill_mode="reflect")
    return np.clip(np.rint(ops.convert_to_numpy(out)), 0, 255).astype(np.uint8)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--split-dir", required=True)
    ap.add_argument("--models-dir", required=True)
    ap.add_argument("--seed", type=int, default=42, help="the augmentation seed (params.yaml seed)")
    ap.add_argument("--shift", type=float, default=3.0, help="px of the fixed diagonal shift")
    ap.add_argument("models", nargs="+")
    args = ap.parse_args()
    import keras

    from ricecnn.evaluation.augment import augment, draw_augmentation
    from ricecnn.data.arrays import load_split
    from ricecnn.inference.batches import predict

    x, y = load_split(args.split_dir, "test")
    x = np.asarray(x)
    n, h, w = x.shape[:3]
    p = draw_augmentation(n, h, w, args.seed)
    sets = {
        "clean": x,
        "translated as drawn": augment(x, args.seed, 64, ("translation",)),
        "rounded to whole pixels": shifted(x, np.rint(p["dx"]), np.rint(p["dy"])),
        "half a pixel only": shifted(x, np.full(n, 0.5), np.full(n, 0.5)),
        f"fixed {args.shift:g} px diagonal": shifted(x, np.full(n, args.shift), np.full(n, args.shift)),
    }
    print("| test images | " + " | ".join(args.models) + " |\n|---" + "|---:" * len(args.models) + "|")
    models = {m: keras.models.load_model(os.path.join(args.models_dir, f"{m}.keras"), compile=False) for m in args.models}
    for name, images in sets.items():
        accs = [float(np.mean(predict(models[m], images, 64).argmax(-1) == y)) for m in args.models]
        print(f"| {name} | " + " | ".join(f"{a:.3f}" for a in accs) + " |")


if __name__ == "__main__":
    main()
