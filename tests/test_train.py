"""train@<model>-<seed>: the real training path on tiny data, frozen-prefix caching, bad settings."""

from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import synthetic_split, write_params

from ricecnn.core.cli import main as cli


@pytest.fixture(scope="module")
def split_dir(tmp_path_factory):
    return synthetic_split(tmp_path_factory.mktemp("data"))


def train_cli(tmp_path, split_dir, model="cnn_light", tag="a", **params_over):
    params = write_params(tmp_path / f"params_{tag}.yaml", **params_over)
    out = tmp_path / tag
    rc = cli(["train", model, "--seed", "42", "--params", str(params), "--split-dir", str(split_dir), "--out", str(out / "m.keras"),
              "--metrics", str(out / "m.json"), "--live-dir", str(out / "live")])
    return rc, out


TIMINGS = ("train_seconds", "train_images_per_second", "epoch_seconds")


def test_training_is_bit_reproducible(tmp_path, split_dir):
    models = {"cnn_light": {"epochs": 2}}
    rc_a, a = train_cli(tmp_path, split_dir, tag="a", models=models)
    rc_b, b = train_cli(tmp_path, split_dir, tag="b", models=models)
    assert rc_a == rc_b == 0
    ma, mb = (json.loads((d / "m.json").read_text()) for d in (a, b))
    assert (a / "m.json").read_bytes() == (b / "m.json").read_bytes()  # timings are printed, never recorded
    assert not set(TIMINGS) & set(ma)
    assert ma["epochs_run"] == 2 and 1 <= ma["best_epoch"] <= 2 and ma["params_total"] == ma["params_trainable"]
    from ricecnn.inference.files import load_model, weights_digest

    wa, wb = (load_model(d / "m.keras", "train@cnn_light", (32, 32, 3), 5) for d in (a, b))
    # the same bytes (inference.files.reproducible: Keras writes the save time and Python ids into the file), so DVC's cache matches a rerun
    assert (a / "m.keras").read_bytes() == (b / "m.keras").read_bytes()
    assert weights_digest(wa) == weights_digest(wb)
    k, bias = wb.get_layer("fc1").get_weights()
    k[0, 0] = np.nextafter(k[0, 0], np.inf)
    wb.get_layer("fc1").set_weights([k, bias])
    assert weights_digest(wa) != weights_digest(wb)  # one ulp of one weight
    # DVCLive wrote the per-epoch curves that dvc.yaml declares as plots
    rows = (a / "live" / "plots" / "metrics" / "eval" / "accuracy.tsv").read_text().splitlines()
    assert rows[0].split("\t") == ["step", "accuracy"] and len(rows) == 3


def test_frozen_prefix_is_computed_once_and_exact(split_dir):
    from ricecnn.networks.build import build_model
    from ricecnn.training.fit import frozen_prefix, split_model

    model = build_model("vgg16_light", 32, 5, {"freeze": "paper"})
    k = frozen_prefix(model)
    assert model.layers[k - 1].name == "block3_pool"  # the whole frozen VGG base
    prefix, suffix = split_model(model, k)
    x = np.random.default_rng(0).integers(0, 255, (4, 32, 32, 3)).astype("float32")
    np.testing.assert_allclose(np.asarray(suffix.predict_on_batch(prefix.predict_on_batch(x))),
                               np.asarray(model.predict_on_batch(x)), rtol=1e-5, atol=1e-6)
    weighted = [layer for layer in suffix.layers if layer.weights]
    assert [layer.name for layer in weighted] == ["fc1", "predictions"]
    assert all(layer is model.get_layer(layer.name) for layer in weighted)  # shared, not copied
    assert frozen_prefix(build_model("vgg16_light", 32, 5, {"freeze": "none"})) == 0
    assert frozen_prefix(build_model("cnn", 32, 5)) == 0


def test_cached_training_learns_the_full_model(tmp_path, split_dir):
    rc, out = train_cli(tmp_path, split_dir, model="vgg16_light", models={"vgg16_light": {"epochs": 2, "weights": None}})
    assert rc == 0
    m = json.loads((out / "m.json").read_text())
    assert m["frozen_prefix_cached"] and m["params_trainable"] == 256 * 256 + 256 + 256 * 5 + 5
    from ricecnn.inference.files import load_model

    model = load_model(out / "m.keras", "train@vgg16_light", (32, 32, 3), 5)
    assert model.count_params() == m["params_total"] and model.get_layer("block1_conv1") is not None


@pytest.mark.parametrize("weights", ["file", "none"])
def test_the_scratch_control_trains_its_base_where_the_original_base_was_pretrained(tmp_path, split_dir, weights):
    """`trim_scratch` (trim_scratch@): with pretrained weights (here a local weights
    file) the control is random-initialised and trains every layer (Liu et al. 2019); with
    ``weights: none`` the original's frozen base was random too, and the control keeps it frozen."""
    import keras

    from ricecnn.inference.files import load_model
    from ricecnn.networks.build import build_model
    from ricecnn.training import runtime

    path = "none"
    if weights == "file":
        path = str(tmp_path / "vgg16_notop.weights.h5")
        keras.applications.VGG16(include_top=False, weights=None, input_shape=(32, 32, 3)).save_weights(path)
    models = {"vgg16_light": {"epochs": 1, "weights": path, "freeze": "paper"}}
    trimmed = build_model("vgg16_light", 32, 5, models["vgg16_light"])  # the model the control copies
    trimmed.save(tmp_path / "trimmed.keras")
    params = write_params(tmp_path / "params.yaml", models=models)
    out = tmp_path / "control"
    assert cli(["trim_scratch", "vgg16_light", "--seed", "42", "--params", str(params), "--split-dir", str(split_dir),
                "--model-file", str(tmp_path / "trimmed.keras"), "--out", str(out / "m.keras"), "--metrics", str(out / "m.json"),
                "--live-dir", str(out / "live")]) == 0
    control = keras.models.load_model(out / "m.keras", compile=False)
    m = json.loads((out / "m.json").read_text())
    # the control's start, as the stage makes it: seeded, the saved architecture, freshly initialised
    runtime.configure(42)
    start = runtime.from_scratch(load_model(tmp_path / "trimmed.keras", "trim@vgg16_light", (32, 32, 3), 5),
                                 pretrained=weights == "file")
    conv = "block1_conv1"
    assert not np.array_equal(start.get_layer(conv).get_weights()[0], trimmed.get_layer(conv).get_weights()[0])
    trained = not np.array_equal(control.get_layer(conv).get_weights()[0], start.get_layer(conv).get_weights()[0])
    if weights == "file":
        assert trained and all(layer.trainable for layer in control.layers)
        assert m["params_trainable"] == m["params_total"] == control.count_params()
    else:
        assert not trained and not control.get_layer(conv).trainable and m["frozen_prefix_cached"] is True
        assert m["params_trainable"] == 256 * 256 + 256 + 256 * 5 + 5  # the head only, as the original trained


@pytest.mark.parametrize(
    "models, message",
    [
        ({"cnn_lite": {"epochs": 1}}, "error: unknown model 'cnn_lite' (did you mean 'cnn_light'?)"),
        ({"cnn_light": {"epochs": -2}}, "models.cnn_light.epochs = -2 must be greater than or equal to 1"),
        ({"cnn_light": {"epochs": 1.5}}, "models.cnn_light.epochs = 1.5 must be a valid integer"),
        ({"vgg16": {"epochs": 1, "weights": "/no/such/vgg.h5"}}, "weights = '/no/such/vgg.h5' is not an existing file (weights file not found)"),
        ({"cnn_light": {"epochs": 1, "learning_rate": 0}}, "learning_rate = 0 must be greater than 0"),
    ],
)
def test_bad_model_settings_are_one_line(tmp_path, split_dir, capsys, models, message):
    rc, out = train_cli(tmp_path, split_dir, model=next(iter(models)), models=models)
    assert rc == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert "Traceback" not in "\n".join(err) and message in err[-1]
    assert not (out / "m.keras").exists() and not (out / "m.json").exists()


def test_a_model_without_settings_is_one_line(tmp_path, split_dir, capsys):
    rc, out = train_cli(tmp_path, split_dir, model="googlenet", models={"cnn_light": {"epochs": 1}})
    assert rc == 2 and not out.exists()
    assert capsys.readouterr().err.strip().splitlines() == [
        "ricecnn train: error: model 'googlenet' has no entry under models: in params.yaml"]


def test_too_small_input_is_refused_before_training(tmp_path, split_dir, capsys):
    rc, out = train_cli(tmp_path, split_dir, model="vgg16", models={"vgg16": {"epochs": 1, "weights": "none"}},
                        data={"img_size": 16})
    assert rc == 2
    assert "too small for vgg16" in capsys.readouterr().err and not out.exists()


def test_split_of_another_size_is_refused(tmp_path, split_dir, capsys):
    rc, _ = train_cli(tmp_path, split_dir, models={"cnn_light": {"epochs": 1}}, data={"img_size": 48})
    assert rc == 2
    assert "data/split holds 32 px images but data.img_size is 48" in capsys.readouterr().err.replace(str(split_dir), "data/split")


@pytest.mark.parametrize("backend", ["tensorflow", "jax"])
def test_device_input_path_trains_the_same(backend):
    """The accelerator input path (arrays on the device, on-device gathers) gives the host path's
    result exactly; run in a subprocess per backend, on the CPU here."""
    import subprocess
    import sys

    code = """
import numpy as np
from ricecnn.training import runtime
from ricecnn.networks.build import build_model
from ricecnn.training.fit import fit as train
rng = np.random.default_rng(0)
x = rng.integers(0, 255, (48, 32, 32, 3), dtype=np.uint8); y = rng.integers(0, 5, 48)
out = []
for path in ("host", "device"):
    runtime.configure(0)
    m = build_model("cnn_light", 32, 5)
    r = train(m, (x, y), (x[:16], y[:16]), num_classes=5, epochs=2, batch_size=16, patience=5,
              learning_rate=1e-3, seed=0, input_path=path)
    assert r["input_path"] == path and len(r["epoch_seconds"]) == 2
    out.append(m.get_weights())
assert all(np.array_equal(a, b) for a, b in zip(*out)), "device and host paths differ"
print("same")
"""
    p = subprocess.run([sys.executable, "-c", code], env={**__import__("os").environ, "KERAS_BACKEND": backend},
                       capture_output=True, text=True)
    assert p.returncode == 0 and p.stdout.strip().endswith("same"), p.stderr[-3000:]


def test_in_graph_batches_train_exactly_as_the_pydataset(monkeypatch):
    """``fit``'s tf.data path reproduces the batches Keras takes from the PyDataset, in its order (the
    seeded permutations, Keras' per-epoch shuffle of the batch order with Python's random): the same
    weights bit for bit, an uneven last batch and several steps per call included, and the same random
    state after the run (a second fit in the same process, as trim's rounds, matches too)."""
    import keras

    from ricecnn.networks.build import build_model
    from ricecnn.training import fit as fitting
    from ricecnn.training import runtime

    rng = np.random.default_rng(0)
    x, y = rng.integers(0, 255, (40, 32, 32, 3), dtype=np.uint8), rng.integers(0, 5, 40)
    used = []
    real = fitting.graph_batches
    monkeypatch.setattr(fitting, "graph_batches", lambda *a: used.append(a[4]) or real(*a))

    def run(graph_bytes):
        monkeypatch.setattr(fitting, "GRAPH_BYTES", graph_bytes)
        runtime.configure(0)
        weights = []
        for epochs in (3, 2):
            m = build_model("cnn_light", 32, 5)
            r = fitting.fit(m, (x, y), (x[:12], y[:12]), num_classes=5, epochs=epochs, batch_size=16, patience=None,
                            learning_rate=1e-2, seed=epochs, schedule="cosine", steps_per_execution=2)
            assert r["input_path"] == "host" and r["epochs_run"] == epochs
            weights.append(m.get_weights())
            keras.backend.clear_session()
        return weights

    budget = fitting.GRAPH_BYTES
    python = run(0)  # nothing fits the in-graph budget: the PyDataset
    assert used == []
    graph = run(budget)
    assert used == [3, None, 2, None]  # training and validation of both runs went through tf.data
    for a, b in zip(python, graph):
        assert all(np.array_equal(u, v) for u, v in zip(a, b))


def test_epoch_timer_waits_for_the_last_update(monkeypatch):
    # JAX (and any backend on a GPU) returns from a step before running it: the timer must wait
    # for the trained weights before it reads the clock, or it times the dispatch only. Here
    # reading a weight takes 0.1 s, as a device still computing the last step would: an epoch
    # that waits for its weights cannot take less than that.
    import time

    import keras

    from ricecnn.training.fit import epoch_timer

    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3), keras.layers.Dense(2)])
    real = keras.ops.convert_to_numpy
    monkeypatch.setattr(keras.ops, "convert_to_numpy", lambda v: time.sleep(0.1) or real(v))
    timer = epoch_timer()
    timer.set_model(model)
    timer.on_epoch_begin(0)
    timer.on_test_begin()
    timer.on_test_begin()  # a second validation pass in the same epoch is not a second epoch
    timer.on_epoch_begin(1)
    timer.on_epoch_end(1)  # an epoch without validation
    assert len(timer.seconds) == 2
    assert all(s >= 0.1 * len(model.trainable_variables) for s in timer.seconds)


def test_the_cosine_schedule_falls_to_zero_over_exactly_the_budgets_updates():
    # the default recipe (train.schedule cosine): the learning rate falls from its start to 0 over
    # epochs x batches updates, the ones a real fit makes: 6 here (3 epochs of 2 batches)
    import math

    import keras

    from ricecnn.training.fit import fit

    class Rates(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.seen = []

        def on_train_batch_begin(self, batch, logs=None):
            self.seen.append(float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate)))

    x, y = np.zeros((32, 4, 4, 3), dtype=np.uint8), np.arange(32) % 5  # the model and data do not matter
    model = keras.Sequential([keras.Input((4, 4, 3)), keras.layers.Flatten(), keras.layers.Dense(5, activation="softmax")])
    rates = Rates()
    fit(model, (x, y), (x[:16], y[:16]), num_classes=5, epochs=3, batch_size=16, patience=None, learning_rate=0.01,
        seed=0, schedule="cosine", callbacks=[rates])
    after = float(keras.ops.convert_to_numpy(model.optimizer.learning_rate))
    assert int(model.optimizer.iterations) == 6
    # the rate of each update, then after the last: 0.01 down to 0, not reached before the end
    assert [*rates.seen, after] == pytest.approx([0.005 * (1 + math.cos(math.pi * k / 6)) for k in range(7)], abs=1e-9)


def test_the_kept_epoch_and_the_chance_verdict_follow_the_history():
    """What ``fit`` makes of Keras' history, scripted here so that no optimiser's behaviour is
    assumed. No patience (the default): every epoch runs, without early stopping, and the metrics
    are the last epoch's (the weights it keeps), the lowest val_loss only reported. A patience:
    Keras' early stopping on val_loss restoring the best weights, and that epoch's metrics.
    ``learned`` (the train stage's "no better than chance" warning): the kept epoch's val_accuracy
    above 1.5 x chance, 0.3 for 5 classes (the last epoch's 0.3 is not above it)."""
    from types import SimpleNamespace

    import keras

    from ricecnn.training.fit import fit

    history = {"loss": [1.6, 1.2, 1.0, 0.8], "accuracy": [0.2, 0.5, 0.6, 0.7],
               "val_loss": [1.6, 1.1, 1.3, 1.4], "val_accuracy": [0.2, 0.35, 0.32, 0.3]}
    passed = {}

    def scripted_fit(data, validation_data=None, epochs=None, callbacks=(), verbose=None, **_):
        passed.update(epochs=epochs, stops=[c for c in callbacks if isinstance(c, keras.callbacks.EarlyStopping)])
        return SimpleNamespace(history=history)

    model = keras.Sequential([keras.Input((4, 4, 3)), keras.layers.Flatten(), keras.layers.Dense(5, activation="softmax")])
    model.fit = scripted_fit
    xy = np.zeros((8, 4, 4, 3), dtype=np.uint8), np.arange(8) % 5

    def run_fit(patience):
        r = fit(model, xy, xy, num_classes=5, epochs=4, batch_size=4, patience=patience, learning_rate=1e-3, seed=0)
        return {k: r[k] for k in ("best_epoch", "lowest_val_loss_epoch", "epochs_run", "val_loss", "val_accuracy",
                                  "train_loss", "train_accuracy", "learned")}

    assert run_fit(None) == {"best_epoch": 4, "lowest_val_loss_epoch": 2, "epochs_run": 4, "val_loss": 1.4,
                             "val_accuracy": 0.3, "train_loss": 0.8, "train_accuracy": 0.7, "learned": False}
    assert passed == {"epochs": 4, "stops": []}
    assert run_fit(2) == {"best_epoch": 2, "lowest_val_loss_epoch": 2, "epochs_run": 4, "val_loss": 1.1,
                          "val_accuracy": 0.35, "train_loss": 1.2, "train_accuracy": 0.5, "learned": True}
    [stop] = passed["stops"]
    assert (stop.monitor, stop.patience, stop.restore_best_weights) == ("val_loss", 2, True)
