"""A model's parameter counts: all, and the trainable ones (frozen layers excluded)."""

from __future__ import annotations

import math


def count_parameters(model) -> dict[str, int]:
    return {
        "params": int(model.count_params()),
        "params_trainable": int(sum(math.prod(w.shape) for w in model.trainable_weights)),
    }
