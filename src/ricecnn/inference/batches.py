"""The one batched-inference loop: a model's outputs over uint8 images, one batch in memory.

Every stage that runs a model forward goes through ``outputs`` (feature-map probes with several
outputs) or ``predict`` (one output). A short last batch can be padded to a multiple of
``multiple`` by repeating its last image, and the padding is dropped from the results: to split
evenly over data-parallel replicas, or (``multiple=batch_size``) so that every call has the same
shape and is compiled once.
"""

from __future__ import annotations

from typing import Iterator

import numpy as np


def outputs(model, x: np.ndarray, batch_size: int, *, multiple: int = 1,
            desc: str | None = None) -> Iterator[tuple[slice, list[np.ndarray]]]:
    """Yield, batch by batch, (the batch's slice of ``x``, the model's float32 outputs on it)."""
    starts = range(0, len(x), batch_size)
    if desc is not None:  # a progress bar (tqdm is imported only then: GPU boxes may lack it)
        from tqdm import tqdm

        starts = tqdm(starts, desc=desc, unit="batch", leave=False, disable=None)  # none in a log file
    for start in starts:
        batch = np.asarray(x[start:start + batch_size], dtype=np.float32)
        n = len(batch)
        if n % multiple:
            batch = np.concatenate([batch, np.repeat(batch[-1:], multiple - n % multiple, axis=0)])
        out = model.predict_on_batch(batch)
        out = out if isinstance(out, (list, tuple)) else [out]
        yield slice(start, start + n), [np.asarray(o, dtype=np.float32)[:n] for o in out]


def predict(model, x: np.ndarray, batch_size: int, *, multiple: int = 1, desc: str | None = None) -> np.ndarray:
    """``model``'s float32 outputs for every image in ``x``."""
    result = None
    for where, (out,) in outputs(model, x, batch_size, multiple=multiple, desc=desc):
        if result is None:
            result = np.empty((len(x), *out.shape[1:]), np.float32)
        result[where] = out
    return result if result is not None else np.empty((0,), np.float32)


def model_accuracy(model, x: np.ndarray, y: np.ndarray, batch_size: int) -> float:
    """The share of ``x`` whose predicted class is ``y``."""
    return float(np.mean(predict(model, x, batch_size).argmax(-1) == y))
