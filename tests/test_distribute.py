"""Data-parallel training (train.distribution / train.devices) on 4 simulated CPU devices.

JAX simulates them from XLA_FLAGS=--xla_force_host_platform_device_count=4; ricecnn splits
TensorFlow's host CPU into 4 logical devices from the same flag. Each run is a real `ricecnn train`
in a subprocess (the device count is fixed when a backend starts), then the saved model is loaded in
a fresh single-device process.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import env, write_params, write_split

FOUR = {"XLA_FLAGS": "--xla_force_host_platform_device_count=4"}
CLASSES = ["a", "b", "c", "d", "e"]

# Tolerances on the final validation loss, 4 devices x 4 images vs 1 device x 16 (same seed, same
# global batch, 2 epochs). JAX partitions one program over the devices: observed |diff| ~1e-6.
# TensorFlow runs a replica per device and sums gradients across them, in another order; Adam's
# per-parameter normalisation turns those rounding differences into small steps: observed ~0.1%.
TOLERANCE = {"jax": 1e-4, "tensorflow": 1e-2}


# --- pure helpers ----------------------------------------------------------------------------------

@pytest.mark.parametrize("n, batch, replicas", [(50, 16, 4), (64, 16, 4), (3, 16, 4), (7, 4, 1), (33, 9, 3)])
def test_even_batches_split_evenly_and_drop_at_most_replicas_minus_one(n, batch, replicas):
    from ricecnn.training.distribute import even_batches

    order = np.random.default_rng(0).permutation(n)
    parts = even_batches(order, batch, replicas)
    assert all(len(p) % replicas == 0 and 0 < len(p) <= batch for p in parts)
    kept = np.concatenate(parts) if parts else np.array([], int)
    assert (kept == order[:len(kept)]).all()  # the epoch's order, cut short at the end only
    assert n - len(kept) == (n % batch) % replicas < replicas


def tiny_model():
    import keras

    keras.utils.set_random_seed(0)
    x = inputs = keras.Input((8, 8, 3))
    x = keras.layers.Rescaling(1 / 255)(x)
    x = keras.layers.Conv2D(4, 3, activation="relu")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    model = keras.Model(inputs, keras.layers.Dense(5, activation="softmax")(x))
    model.compile(loss="categorical_crossentropy", metrics=["accuracy"])
    return model


def test_padded_prediction_drops_its_padding():
    from ricecnn.inference.batches import predict

    model = tiny_model()
    x = np.random.default_rng(1).integers(0, 256, (23, 8, 8, 3)).astype(np.uint8)
    want = model.predict(x.astype(np.float32), verbose=0)
    for batch, replicas in ((8, 4), (12, 4), (5, 1), (23, 3), (8, 8)):
        got = predict(model, x, batch, multiple=replicas)
        assert got.shape == want.shape and np.allclose(got, want, atol=1e-6)


def test_validation_callback_reports_what_keras_evaluate_does():
    from ricecnn.training.fit import validation

    model = tiny_model()
    rng = np.random.default_rng(2)
    x, y = rng.integers(0, 256, (18, 8, 8, 3)).astype(np.uint8), np.arange(18) % 5
    loss, acc = model.evaluate(x.astype(np.float32), np.eye(5)[y], verbose=0)
    cb, logs = validation(x, y, batch_size=8, replicas=4), {}
    cb.set_model(model)
    cb.on_epoch_end(0, logs)
    assert logs["val_loss"] == pytest.approx(loss, abs=1e-5)
    assert logs["val_accuracy"] == pytest.approx(acc, abs=1e-6)


# --- real runs on 4 simulated devices --------------------------------------------------------------

@pytest.fixture(scope="module")
def split_dir(tmp_path_factory) -> Path:
    # 64 training images: 4 full global batches of 16 (no image dropped); 18 validation images do
    # not split evenly over 4 devices (the last prediction batch is padded).
    return write_split(tmp_path_factory.mktemp("dp") / "split", {"train": 64, "val": 18, "test": 10}, CLASSES)


def train(tmp: Path, split_dir: Path, tag: str, backend: str, devices: int | None, model="cnn_light",
          epochs=2, batch=16, extra_env=None, check=True, **train_over):
    """`ricecnn train` in a subprocess; devices None = distribution none (one device)."""
    dist = {} if devices is None else {"distribution": "data_parallel", "devices": devices}
    params = write_params(tmp / f"{tag}.yaml", models={model: {"epochs": epochs}},
                          train={"backend": backend, "batch_size": batch, **dist, **train_over})
    out = tmp / tag
    p = subprocess.run(
        [sys.executable, "-m", "ricecnn", "train", model, "--seed", "42", "--params", str(params), "--split-dir", str(split_dir),
         "--out", str(out / "m.keras"), "--metrics", str(out / "m.json"), "--live-dir", str(out / "live")],
        env={**env(), **FOUR, **(extra_env or {})}, capture_output=True, text=True)
    if check:
        assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]
        return json.loads((out / "m.json").read_text()), out, p.stdout
    return p


LOAD = """
import json, sys, numpy as np, keras
model = keras.models.load_model(sys.argv[1])
x, y = np.load(sys.argv[2] + "/val_x.npy").astype("float32"), np.load(sys.argv[2] + "/val_y.npy")
p = model.predict(x, batch_size=7, verbose=0)
loss = keras.ops.convert_to_numpy(keras.losses.categorical_crossentropy(np.eye(p.shape[1])[y], p)).mean()
print(json.dumps({"devices": len(keras.distribution.list_devices()), "val_loss": float(loss)}))
"""


def load_on_one_device(model_file: Path, split_dir: Path, backend: str) -> dict:
    """Load the model in a fresh process that sees one device, and compute its validation loss."""
    e = {k: v for k, v in env().items() if k != "XLA_FLAGS"}
    p = subprocess.run([sys.executable, "-c", LOAD, str(model_file), str(split_dir)], capture_output=True, text=True,
                       env={**e, "KERAS_BACKEND": backend}, check=True)
    return json.loads(p.stdout.strip().splitlines()[-1])


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["jax", "tensorflow"])
def test_four_devices_train_as_one_with_the_same_global_batch(tmp_path, split_dir, backend):
    one, _, _ = train(tmp_path, split_dir, "one", backend, None, batch=16)
    four, out, stdout = train(tmp_path, split_dir, "four", backend, 4, batch=4)
    assert "data parallel over 4 devices" in stdout and "global batch 16" in stdout
    assert (one["replicas"], one["global_batch_size"]) == (1, 16)
    assert (four["replicas"], four["global_batch_size"], four["input_path"]) == (4, 16, "host")
    assert four["epochs_run"] == one["epochs_run"] == 2 and four["backend"] == backend
    assert four["val_loss"] == pytest.approx(one["val_loss"], rel=TOLERANCE[backend])
    assert four["train_loss"] == pytest.approx(one["train_loss"], rel=TOLERANCE[backend])
    # the per-epoch curves carry the validation figures the distributed run computed
    assert (out / "live" / "plots" / "metrics" / "eval" / "loss.tsv").read_text().count("\n") == 3

    loaded = load_on_one_device(out / "m.keras", split_dir, backend)
    assert loaded["devices"] == 1
    assert loaded["val_loss"] == pytest.approx(four["val_loss"], abs=1e-5)


@pytest.mark.slow
def test_distributed_run_is_reproducible_with_uneven_data_and_a_frozen_prefix(tmp_path_factory):
    # 50 training images: the last global batch of 16 has 2, which cannot split over 4 devices and is
    # dropped; vgg16_light's frozen VGG base is computed once, on the 4 devices, in padded batches.
    tmp = tmp_path_factory.mktemp("uneven")
    split_dir = write_split(tmp / "split", {"train": 50, "val": 18, "test": 10}, CLASSES)
    a, out_a, _ = train(tmp, split_dir, "a", "tensorflow", 4, model="vgg16_light", batch=4)
    b, out_b, _ = train(tmp, split_dir, "b", "tensorflow", 4, model="vgg16_light", batch=4)
    assert a["replicas"] == 4 and a["frozen_prefix_cached"] is True and a["epochs_run"] == 2
    assert a == b  # no timing in the record (printed, not recorded)
    code = ("import sys, keras; from ricecnn.inference.files import weights_digest; "
            "print(*(weights_digest(keras.models.load_model(f)) for f in sys.argv[1:]))")
    p = subprocess.run([sys.executable, "-c", code, str(out_a / "m.keras"), str(out_b / "m.keras")],
                       env=env(), capture_output=True, text=True, check=True)
    digest_a, digest_b = p.stdout.strip().splitlines()[-1].split()
    assert digest_a == digest_b


@pytest.mark.slow
@pytest.mark.parametrize("backend, devices, over, message", [
    ("torch", 4, {}, "train.distribution data_parallel needs the jax or tensorflow backend"),
    ("jax", 8, {}, "train.devices is 8 but jax sees 4 device(s)"),
    ("tensorflow", 2, {"input_path": "device"}, "train.input_path device keeps the arrays on one device"),
])
def test_bad_distribution_settings_are_one_line(tmp_path, split_dir, backend, devices, over, message):
    p = train(tmp_path, split_dir, "bad", backend, devices, check=False, **over)
    assert p.returncode == 2, p.stderr[-3000:]
    assert p.stderr.strip().splitlines()[-1].startswith(f"ricecnn train: error: {message}"), p.stderr[-2000:]
    assert "Traceback" not in p.stderr
    assert not (tmp_path / "bad" / "m.keras").exists()


@pytest.mark.parametrize("over, message", [
    ({"distribution": "model_parallel"}, "train.distribution = 'model_parallel' must be 'none' or 'data_parallel'"),
    ({"devices": 0}, "train.devices = 0 must be all or a device count >= 1"),
    ({"devices": "some"}, "train.devices = 'some' must be all or a device count >= 1"),
])
def test_distribution_settings_are_validated(tmp_path, over, message):
    from ricecnn.core import settings
    from ricecnn.core.errors import RiceError
    from ricecnn.training.settings import Training

    with pytest.raises(RiceError, match="^p.yaml: " + message.replace("(", r"\(")):
        settings.load(write_params(tmp_path / "p.yaml", train=over), Training)
