"""Process-wide setup of the stages that train: seeding, determinism, precision, the accelerator's free
memory, and the from-scratch copy of a model. Model files (loading, saving, the weights' digest):
``ricecnn.inference.files``.

With distribute.py (data-parallel placement) this is the only place that knows about backends:
the models and the training loop use `keras` only, so KERAS_BACKEND=tensorflow (default), jax or
torch all run the same code. The backend itself is chosen once per process, from
``train.backend``, by the CLI before any stage module imports Keras (``ricecnn.core.cli.select_backend``).
"""

from __future__ import annotations

import os

os.environ.setdefault("TF_DETERMINISTIC_OPS", "1")


def configure(seed: int, mixed_precision: bool = False) -> None:
    """Seed Python, NumPy and the backend, and ask the backend for deterministic kernels."""
    import keras

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
    import keras

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


def from_scratch(model, pretrained: bool):
    """``model``'s architecture freshly initialised by each layer's initialiser under the current
    seed: where the control "the same architecture trained from scratch" starts (Liu et al. 2019,
    "Rethinking the Value of Network Pruning": random initialisation, every layer trained).

    ``pretrained``: whether the original training started from learned weights (VGG's ``weights``
    anything but none: imagenet, standin or a file). Its frozen layers then held learned features, which a fresh copy does not
    have, so every layer of the copy trains. Without (``weights: none``) the original's frozen
    layers were random too, and the copy keeps them frozen: it repeats the original's own training
    from another random start.
    """
    import keras

    copy = keras.Model.from_config(model.get_config())
    if pretrained:
        for layer in copy.layers:
            layer.trainable = True
    return copy
