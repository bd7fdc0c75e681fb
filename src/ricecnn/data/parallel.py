"""An ordered parallel map over worker processes with bounded memory (fetch draws, split decodes).

Why not ``Pool.imap``: it queues every finished result until the consumer takes it, so a fast pool
and a slow consumer (a zip writer) would hold the whole dataset in memory. ``ordered_map`` keeps at
most ``window`` results in flight, whatever the dataset's size.
"""

from __future__ import annotations

import collections
import contextlib
import multiprocessing as mp
import os
from typing import Any, Callable, Iterable, Iterator


def workers() -> int:
    """The CPUs this process may run on."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


class _Serial:
    """A stand-in for a Pool on one core: the same ``apply_async`` interface, no processes."""

    class _Done:
        def __init__(self, value):
            self.value = value

        def get(self):
            return self.value

    def apply_async(self, fn, args):
        return self._Done(fn(*args))


@contextlib.contextmanager
def pool(jobs: int, initializer: Callable | None = None, initargs: tuple = ()) -> Iterator[Any]:
    """A fork pool of ``min(workers(), jobs)`` processes, or ``_Serial`` where that is one."""
    n = min(workers(), max(1, jobs))
    if n == 1:
        if initializer:
            initializer(*initargs)
        yield _Serial()
        return
    with mp.get_context("fork").Pool(n, initializer=initializer, initargs=initargs) as p:
        yield p


def ordered_map(pool, fn: Callable, jobs: list, window: int | None = None) -> Iterable:
    """``fn(job)`` for every job, in order, computed by ``pool`` with at most ``window`` results
    in flight (default: two per worker)."""
    window = window or 2 * workers()
    pending = collections.deque(pool.apply_async(fn, (job,)) for job in jobs[:window])
    for job in jobs[window:] + [None] * len(pending):
        result = pending.popleft().get()
        if job is not None:
            pending.append(pool.apply_async(fn, (job,)))
        yield result
