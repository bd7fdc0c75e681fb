"""Data-parallel training over the accelerators of one machine, on the engines that exist:
`keras.distribution.DataParallel` on JAX, `tf.distribute.MirroredStrategy` on TensorFlow.

Each device holds a replica of the model and takes `train.batch_size` images of every step; the
global batch is `batch_size x devices` and the replicas' gradients are averaged before each update.
Keras does not rescale the learning rate: `learning_rate` applies to the global batch as written.

Both engines need every batch to split evenly over the devices (JAX refuses an uneven batch; a
TensorFlow replica handed an empty slice fails inside the convolution), so `even_batches` trims a
training batch to a multiple of the device count, and prediction batches are padded
(`ricecnn.inference.batches`, ``multiple=replicas``).

A CPU-only machine can simulate several devices, for tests and benches: JAX reads
`XLA_FLAGS=--xla_force_host_platform_device_count=N` itself; for TensorFlow the same flag makes
`placement` split the host CPU into N logical devices (TensorFlow has no such flag of its own).
"""

from __future__ import annotations

import contextlib
import os
import re
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from ..core.errors import RiceError

HOST_DEVICES_FLAG = "--xla_force_host_platform_device_count"


@dataclass
class Placement:
    """Where training runs: the devices, and the scope that models must be built and compiled in."""

    devices: list[str] = field(default_factory=list)
    scope: Callable[[], contextlib.AbstractContextManager] = contextlib.nullcontext

    @property
    def replicas(self) -> int:
        return max(1, len(self.devices))


def simulated_host_devices() -> int | None:
    """N from XLA_FLAGS' --xla_force_host_platform_device_count=N, if set."""
    m = re.search(rf"{HOST_DEVICES_FLAG}=(\d+)", os.environ.get("XLA_FLAGS", ""))
    return int(m.group(1)) if m else None


def placement(distribution: str, devices: str | int) -> Placement:
    """Set up ``train.distribution`` / ``train.devices`` for the current Keras backend.

    Call before building the model (the variables must be created under the distribution) and
    before anything has run on TensorFlow (logical devices are fixed once its runtime starts).
    """
    if distribution == "none":
        return Placement()
    import keras

    backend = keras.backend.backend()
    if backend == "jax":
        found = keras.distribution.list_devices()  # the GPUs or TPUs, else the host CPU devices
    elif backend == "tensorflow":
        found = _tensorflow_devices()
    else:
        raise RiceError(f"train.distribution {distribution} needs the jax or tensorflow backend; "
                        f"Keras has no data-parallel training on {backend}")
    chosen = _choose(found, devices, backend)
    if backend == "jax":
        keras.distribution.set_distribution(keras.distribution.DataParallel(devices=chosen))
        return Placement(chosen)
    import tensorflow as tf

    return Placement(chosen, tf.distribute.MirroredStrategy(chosen).scope)


def _choose(found: list[str], devices: str | int, backend: str) -> list[str]:
    if devices == "all":
        return found
    if devices > len(found):
        raise RiceError(f"train.devices is {devices} but {backend} sees {len(found)} device(s) "
                        f"({', '.join(found)}); set train.devices to all or at most {len(found)}")
    return found[:devices]


def _tensorflow_devices() -> list[str]:
    import tensorflow as tf

    # Physical devices first: listing logical ones starts the runtime, which fixes the CPU split.
    n = simulated_host_devices()
    if not tf.config.list_physical_devices("GPU") and n and n > 1:
        cpu = tf.config.list_physical_devices("CPU")[0]
        try:
            tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * n)
        except RuntimeError:  # the runtime had already started: keep the devices it has
            pass
    return [d.name for d in tf.config.list_logical_devices("GPU") or tf.config.list_logical_devices("CPU")]


def even_batches(order: np.ndarray, batch_size: int, replicas: int) -> list[np.ndarray]:
    """Split an epoch's image order into batches whose sizes are multiples of ``replicas``.

    Only the last batch can be short; it loses its last ``len % replicas`` images (at most
    replicas - 1 per epoch, different ones each epoch since the order is reshuffled).
    """
    out = [order[i:i + batch_size] for i in range(0, len(order), batch_size)]
    if replicas > 1 and out:
        keep = len(out[-1]) - len(out[-1]) % replicas
        out[-1] = out[-1][:keep]
        if not keep:
            out.pop()
    return out
