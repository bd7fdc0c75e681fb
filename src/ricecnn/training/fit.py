"""Training: Adam + categorical cross-entropy over a fixed budget of epochs with a cosine learning-rate
schedule (or, as a setting, early stopping on val_loss with the best epoch's weights restored),
batches straight from the memory-mapped uint8 split arrays.

``fit`` is the loop of `train@<model>`, and of every stage that fine-tunes a model it changed
(prune, trim); ``settings_for`` gives each of them the same training settings. Keras is imported
inside the functions: the CLI picks the backend first (``ricecnn.core.cli.select_backend``).
"""

from __future__ import annotations

import contextlib
import sys
import time

import numpy as np

from ..core.errors import RiceError
from ..inference.batches import predict
from .distribute import Placement, even_batches
from .runtime import accelerator_free_bytes
from .settings import Training


def batches(x: np.ndarray, y: np.ndarray, num_classes: int, batch_size: int, seed: int | None, replicas: int = 1):
    """A keras PyDataset over memory-mapped uint8 images: one batch in RAM at a time.

    Shuffled with its own seeded generator each epoch (seed None: fixed order, for validation).
    Images stay uint8 on disk and become float32 per batch; the models' Rescaling(1/255) scales.
    With several replicas every batch splits evenly over them (``distribute.even_batches``).
    """
    import keras

    class Batches(keras.utils.PyDataset):
        def __init__(self):
            super().__init__(workers=1, use_multiprocessing=False)
            self.rng = None if seed is None else np.random.default_rng(seed)
            self.order = np.arange(len(x))
            self.on_epoch_end()

        def __len__(self) -> int:
            return len(self.parts)

        def __getitem__(self, i: int):
            idx = np.sort(self.parts[i])  # sorted: sequential reads
            return x[idx].astype(np.float32), np.eye(num_classes, dtype=np.float32)[y[idx]]

        def on_epoch_end(self) -> None:
            if self.rng is not None:
                self.order = self.rng.permutation(len(x))
            self.parts = even_batches(self.order, batch_size, replicas)

    return Batches()


GRAPH_BYTES = 2 * 2**30  # arrays copied into TensorFlow's memory for ``graph_batches`` only below this size


def graph_batches(x: np.ndarray, y: np.ndarray, num_classes: int, batch_size: int, seed: int | None, epochs: int):
    """TensorFlow only: the very batches that Keras' ``fit`` takes from ``batches`` over ``epochs``
    epochs, in the order it takes them, as one tf.data pipeline gathering them from ``x`` in memory;
    returns it and the steps of one epoch (fit's ``steps_per_epoch``: one iterator for the whole run).

    Why not the PyDataset: through it every step calls back into Python (tf.data's from_generator);
    for the small models, whose steps take about a millisecond, that is most of the time. The order
    is reproduced from what Keras 3 does with a PyDataset, so that both give the same model, bit for
    bit (tests/test_train.py): it calls ``on_epoch_end`` when ``fit`` starts and after every epoch, so
    epoch e takes the (e+2)-th permutation of the seeded generator; and it visits an epoch's batches
    in an order shuffled by Python's ``random`` (its PyDatasetAdapter under ``fit``'s shuffle=True),
    one ``random.shuffle`` per epoch, drawn here in the same sequence. With ``seed`` None: in order
    (validation: one epoch, which Keras reads again every epoch).
    """
    import random

    import tensorflow as tf

    host = batches(x, y, num_classes, batch_size, seed)
    steps, order = len(host), []
    for _ in range(epochs):
        visit = list(range(steps))
        if seed is not None:
            host.on_epoch_end()
            random.shuffle(visit)
        order += [np.sort(host.parts[i]).astype(np.int32) for i in visit]
    images = tf.constant(np.asarray(x))
    labels = tf.one_hot(np.asarray(y, dtype=np.int32), num_classes)
    rows = tf.RaggedTensor.from_row_lengths(np.concatenate(order), [len(i) for i in order])
    data = tf.data.Dataset.from_tensor_slices(rows).map(
        lambda i: (tf.cast(tf.gather(images, i), tf.float32), tf.gather(labels, i)))
    return data.prefetch(tf.data.AUTOTUNE), steps


def device_batches(x: np.ndarray, y: np.ndarray, num_classes: int, batch_size: int, seed: int | None,
                   replicas: int = 1):
    """Like ``batches``, but the uint8 images go to the accelerator once and each batch is an
    on-device gather: no per-step host-to-device copy of pixels (only the batch's indices).

    On a GPU the host path, not the GPU, bounds a Keras training loop: pixels cross PCIe as float32
    every step. Here they cross once as uint8; the cast and the 1/255 happen in the compiled step.
    """
    import keras
    from keras import ops

    images = ops.convert_to_tensor(np.ascontiguousarray(x))
    labels = ops.one_hot(ops.convert_to_tensor(np.asarray(y, dtype=np.int32)), num_classes)
    host = batches(x, y, num_classes, batch_size, seed, replicas)  # same seeded order as the host path

    class DeviceBatches(keras.utils.PyDataset):
        def __init__(self):
            super().__init__(workers=1, use_multiprocessing=False)

        def __len__(self) -> int:
            return len(host)

        def __getitem__(self, i: int):
            idx = ops.convert_to_tensor(np.sort(host.parts[i]).astype(np.int32))
            return ops.take(images, idx, axis=0), ops.take(labels, idx, axis=0)

        def on_epoch_end(self) -> None:
            host.on_epoch_end()

    return DeviceBatches()


def choose_input_path(setting: str, nbytes: int) -> str:
    """'device' when asked, or for 'auto' when an accelerator holds the arrays with room to spare."""
    if setting != "auto":
        return setting
    free = accelerator_free_bytes()
    return "device" if free is not None and nbytes < 0.5 * free else "host"


# Layers whose output depends on the input alone (no randomness, no batch statistics).
PURE_LAYERS = ("InputLayer", "Rescaling", "Conv2D", "MaxPooling2D")
CACHE_BYTES = 2 * 2**30  # frozen-prefix features are kept in RAM only below this size


def frozen_prefix(model) -> int:
    """How many leading layers form a frozen, deterministic chain that holds a convolution.

    Their output never changes during training, so it can be computed once per image instead of
    once per epoch ("feature extraction" in Keras' transfer-learning guide). For the VGG models
    with `freeze: paper` this makes each epoch 5-10x cheaper; the result is the same model.
    """
    layers, k = model.layers, 0
    for i, layer in enumerate(layers):
        chained = i == 0 or layer.input is layers[i - 1].output
        if type(layer).__name__ not in PURE_LAYERS or not chained or (layer.weights and layer.trainable):
            break
        k = i + 1
    rest_chained = all(layers[i].input is layers[i - 1].output for i in range(k, len(layers)))
    has_conv = any(type(layer).__name__ == "Conv2D" for layer in layers[:k])
    return k if has_conv and rest_chained and k < len(layers) else 0


def split_model(model, k: int):
    """(prefix, suffix) sharing ``model``'s layers: suffix(prefix(x)) == model(x)."""
    import keras

    boundary = model.layers[k - 1].output
    prefix = keras.Model(model.inputs, boundary, name=f"{model.name}_frozen")
    x = inputs = keras.Input(boundary.shape[1:], name="features")
    for layer in model.layers[k:]:
        x = layer(x)
    return prefix, keras.Model(inputs, x, name=f"{model.name}_trainable")


def epoch_timer():
    """A Keras callback collecting each epoch's training seconds (validation excluded).

    It waits for the epoch's last update before reading the clock: JAX (and torch/TF on a GPU)
    return from a train step before the device has run it, so an unsynchronised timer measures
    only the dispatch (on JAX/CPU: 0.03 s for an epoch that computes for 3.9 s). Place it before
    callbacks that do work at epoch end (the data-parallel validation).
    """
    import keras

    class EpochTimer(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.seconds: list[float] = []
            self._start = None

        def on_epoch_begin(self, epoch, logs=None):
            self._start = time.perf_counter()

        def on_test_begin(self, logs=None):  # validation starts: the training part is over
            self._stop()

        def on_epoch_end(self, epoch, logs=None):  # an epoch without (Keras') validation
            self._stop()

        def _stop(self):
            if self._start is not None:
                for v in self.model.trainable_variables:  # blocks until the last step has run
                    keras.ops.convert_to_numpy(v)
                self.seconds.append(time.perf_counter() - self._start)
                self._start = None

    return EpochTimer()


def validation(x: np.ndarray, y: np.ndarray, batch_size: int, replicas: int):
    """A Keras callback that puts val_loss and val_accuracy into each epoch's logs, from predictions
    padded to split evenly over ``replicas`` devices (the padding is left out of both figures).

    Under a distribution Keras' own validation would need every batch to split evenly, which a
    validation set of any size does not; this computes the same categorical cross-entropy and
    accuracy over exactly the validation images. The loss clips probabilities to [1e-7, 1 - 1e-7]
    as Keras does on JAX and torch (on TensorFlow Keras takes the softmax's logits instead: the two
    differ only for a probability below 1e-7). It must come before the callbacks that read those
    logs (early stopping, DVCLive).
    """
    import keras

    class Validation(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            p = predict(self.model, x, batch_size, multiple=replicas).astype(np.float64)
            p = np.clip(p / p.sum(axis=-1, keepdims=True), 1e-7, 1 - 1e-7)
            rows = np.arange(len(y))
            logs["val_loss"] = float(np.mean(-np.log(p[rows, y])))
            logs["val_accuracy"] = float(np.mean(p.argmax(axis=-1) == y))

    return Validation()


def learning_rate_schedule(schedule: str, learning_rate: float, steps: int):
    """Adam's learning rate: ``constant``, or ``cosine``: from ``learning_rate`` down to 0 over
    ``steps`` updates (Loshchilov and Hutter 2017, "SGDR", without restarts; Keras' CosineDecay)."""
    import keras

    if schedule == "constant":
        return learning_rate
    if schedule == "cosine":
        return keras.optimizers.schedules.CosineDecay(learning_rate, decay_steps=max(steps, 1), alpha=0.0)
    raise ValueError(f"unknown learning-rate schedule {schedule!r}")


def fit(model, train_xy, val_xy, *, num_classes: int, epochs: int, batch_size: int, patience: int | None,
        learning_rate: float, seed: int, schedule: str = "constant", callbacks=(), input_path: str = "auto",
        jit_compile="auto", steps_per_execution: int = 1, placement: Placement | None = None) -> dict:
    """Compile and fit ``model`` in place; return the metrics of the epoch whose weights it keeps.

    ``patience``: early stopping on val_loss after that many epochs without a better one, the best
    epoch's weights restored; None: every one of ``epochs`` runs and the last epoch's weights are
    kept. ``schedule``: the learning rate over the epochs (``learning_rate_schedule``).
    ``placement`` (``distribute.placement``): the devices to train on, data parallel, each taking
    ``batch_size`` images of every step; ``model`` must have been built in its scope.
    """
    import keras

    placement = placement or Placement()
    replicas = placement.replicas
    if replicas > 1 and input_path == "device":
        raise RiceError("train.input_path device keeps the arrays on one device; with train.distribution "
                        "data_parallel use host or auto")
    global_batch = batch_size * replicas
    if replicas > 1 and steps_per_execution > 1 and keras.backend.backend() == "tensorflow":
        # Keras 3.15's multi-step loop under tf.distribute.MirroredStrategy fails ("You must feed a
        # value for placeholder tensor"): one step per call there (tests/test_distribute.py)
        print(f"train: steps_per_execution {steps_per_execution} -> 1 (TensorFlow's MirroredStrategy)")
        steps_per_execution = 1
    start = time.perf_counter()
    k = frozen_prefix(model)
    feature_bytes = 4 * (len(train_xy[1]) + len(val_xy[1])) * (int(np.prod(model.layers[k - 1].output.shape[1:])) if k else 0)
    cached = bool(k) and feature_bytes <= CACHE_BYTES
    if cached:  # train the suffix on precomputed features; it shares its layers with ``model``
        with placement.scope():  # new Model objects: TensorFlow ties them to the strategy they are made in
            prefix, model = split_model(model, k)
        train_xy = (predict(prefix, train_xy[0], global_batch, multiple=replicas), train_xy[1])
        val_xy = (predict(prefix, val_xy[0], global_batch, multiple=replicas), val_xy[1])
        print(f"train: frozen layers up to {prefix.layers[-1].name} computed once ({feature_bytes / 2**20:.0f} MiB)")
    path = "host" if replicas > 1 else choose_input_path(input_path, train_xy[0].nbytes + val_xy[0].nbytes)
    in_graph = (path == "host" and replicas == 1 and patience is None and keras.backend.backend() == "tensorflow"
                and train_xy[0].nbytes + val_xy[0].nbytes <= GRAPH_BYTES)  # early stopping: fewer epochs than drawn
    make = device_batches if path == "device" else batches
    if in_graph:
        train_data, steps = graph_batches(*train_xy, num_classes, batch_size, seed, epochs)
    else:
        train_data = make(*train_xy, num_classes, global_batch, seed, replicas)
        steps = len(train_data)
    rate = learning_rate_schedule(schedule, learning_rate, epochs * steps)
    with placement.scope():
        model.compile(optimizer=keras.optimizers.Adam(rate, name="adam"),  # named, not numbered (adam_1): the same bytes for a second fit in one process
                      loss="categorical_crossentropy",
                      metrics=["accuracy"], jit_compile=jit_compile, steps_per_execution=steps_per_execution)
    stop = [] if patience is None else [
        keras.callbacks.EarlyStopping(monitor="val_loss", patience=patience, restore_best_weights=True)]
    timer = epoch_timer()
    if replicas > 1:  # validation by a callback placed first: Keras' own needs evenly split batches
        val_data, first = None, [validation(*val_xy, global_batch, replicas)]
    elif in_graph:
        val_data, first = graph_batches(*val_xy, num_classes, batch_size, None, 1)[0], []
    else:
        val_data, first = make(*val_xy, num_classes, batch_size, None), []
    hist = model.fit(train_data, validation_data=val_data, epochs=epochs, steps_per_epoch=steps if in_graph else None,
                     shuffle=not in_graph,  # tf.data: shuffled as Keras shuffles the PyDataset, in graph_batches
                     callbacks=[timer, *first, *stop, *callbacks], verbose=2).history
    seconds = time.perf_counter() - start
    lowest = int(np.argmin(hist["val_loss"]))
    best = len(hist["loss"]) - 1 if patience is None else lowest  # the epoch whose weights are kept
    return {
        "val_accuracy": hist["val_accuracy"][best],
        "val_loss": hist["val_loss"][best],
        "train_accuracy": hist["accuracy"][best],
        "train_loss": hist["loss"][best],
        "best_epoch": best + 1,
        "lowest_val_loss_epoch": lowest + 1,
        "epochs_run": len(hist["loss"]),
        "curves": {k: [float(v) for v in hist[k]] for k in ("loss", "accuracy", "val_loss", "val_accuracy")},
        "frozen_prefix_cached": cached,
        "learned": bool(hist["val_accuracy"][best] > 1.5 / num_classes),
        "input_path": path,
        "replicas": replicas,
        "global_batch_size": global_batch,
        "steps_per_execution": steps_per_execution,
        "train_seconds": seconds,
        "train_images_per_second": len(train_xy[1]) * len(hist["loss"]) / seconds,
        "epoch_seconds": timer.seconds,
    }


TIMINGS = ("train_seconds", "train_images_per_second", "epoch_seconds")  # what ``fit`` measures of the clock


def settings_for(s: Training, model: str, seed: int) -> dict:
    """``fit``'s keyword arguments from the ``train`` settings, the model's own learning rate and the
    training ``seed``: every stage that trains or fine-tunes passes these."""
    t = s.train
    return {"batch_size": t.batch_size, "patience": t.patience, "schedule": t.schedule, "learning_rate": s.learning_rate(model),
            "seed": seed, "input_path": t.input_path, "jit_compile": t.jit_compile,
            "steps_per_execution": t.steps_per_execution}


@contextlib.contextmanager
def curves(live_dir: str):
    """DVCLive's Keras callback writing per-epoch curves into ``live_dir`` (dvc.yaml's plots).

    Without dvclive installed (e.g. a bare GPU box running the stage modules directly) training
    goes on without curves, with a warning.
    """
    try:
        from dvclive import Live
        from dvclive.keras import DVCLiveCallback
    except ImportError:
        print("ricecnn train: warning: dvclive is not installed: no per-epoch curves", file=sys.stderr)
        yield []
        return
    with Live(live_dir, dvcyaml=False, save_dvc_exp=False) as live:
        yield [DVCLiveCallback(live=live)]
