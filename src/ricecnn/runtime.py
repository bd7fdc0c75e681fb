"""Process-wide setup shared by the stages that run Keras: seeding, determinism, precision.

With distribute.py (data-parallel placement) this is the only place that knows about backends:
the models and the training loop use `keras` only, so KERAS_BACKEND=tensorflow (default), jax or
torch all run the same code.
"""

from __future__ import annotations

import os
from pathlib import Path

os.environ.setdefault("TF_DETERMINISTIC_OPS", "1")

import keras  # noqa: E402

from .errors import RiceError  # noqa: E402
from .io import atomic_path  # noqa: E402


def configure(seed: int, mixed_precision: bool = False) -> None:
    """Seed Python, NumPy and the backend, and ask the backend for deterministic kernels."""
    keras.utils.set_random_seed(seed)
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        tf.config.experimental.enable_op_determinism()
    elif backend == "torch":
        import torch

        torch.use_deterministic_algorithms(True, warn_only=True)
    keras.mixed_precision.set_global_policy("mixed_bfloat16" if mixed_precision else "float32")


def accelerator_free_bytes() -> int | None:
    """Free memory of the first GPU Keras' backend sees, in bytes; None without one, and None on
    TensorFlow, which reports only the memory it uses itself, not what is free (host path)."""
    backend = keras.backend.backend()
    try:
        if backend == "jax":
            import jax

            gpus = [d for d in jax.devices() if d.platform == "gpu"]
            if gpus:
                stats = gpus[0].memory_stats() or {}
                return int(stats.get("bytes_limit", 0) - stats.get("bytes_in_use", 0)) or None
        elif backend == "torch":
            import torch

            if torch.cuda.is_available():
                return int(torch.cuda.mem_get_info()[0])
    except Exception:  # a backend without memory introspection: stay on the host path
        return None
    return None


def save_model(model: keras.Model, path: str | os.PathLike) -> None:
    """Save a .keras file atomically: a stage killed mid-save leaves no half-written model."""
    with atomic_path(path) as tmp:
        raw = tmp.with_name(tmp.name + ".keras")  # Keras insists on the suffix
        try:
            model.save(raw)
            os.replace(raw, tmp)
        finally:
            raw.unlink(missing_ok=True)


def same_weights(a: keras.Model, b: keras.Model) -> bool:
    """True if two models hold bit-identical weights (the .keras files themselves differ: Keras
    writes object ids into config.json and HDF5 writes its own metadata)."""
    wa, wb = a.get_weights(), b.get_weights()
    return len(wa) == len(wb) and all(x.shape == y.shape and (x == y).all() for x, y in zip(wa, wb))


def load_model(path: Path, name: str, image_shape: tuple, num_classes: int):
    """The trained model, checked against the split it is run on (image size, class count)."""
    if not path.exists():
        raise RiceError(f"{path} not found: run `dvc repro train@{name}` first")
    try:
        model = keras.models.load_model(path, compile=False)
    except Exception as e:  # a truncated or foreign file
        raise RiceError(f"cannot load {path}: {str(e).splitlines()[0] if str(e) else type(e).__name__}") from None
    if tuple(model.input_shape[1:]) != tuple(image_shape) or model.output_shape[-1] != num_classes:
        raise RiceError(
            f"{path} takes {model.input_shape[1:]} images and has {model.output_shape[-1]} outputs, but the split holds "
            f"{tuple(image_shape)} images of {num_classes} classes: rerun `dvc repro train@{name}`"
        )
    return model
