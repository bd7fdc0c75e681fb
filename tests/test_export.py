"""export: LiteRT and ONNX conversions that keep the Keras model's predictions, int8 within a bound
of float32, the latency with its spread, and a model a runtime cannot take (one line; the others
exported)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import keras
import numpy as np
import pandas as pd
import pytest
import yaml

from ricecnn.core.cli import main as cli
from ricecnn.deploy import latency
from ricecnn.deploy.convert import ConversionError, convert
from ricecnn.deploy.formats import FORMATS
from ricecnn.deploy.runtimes import load

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning", "ignore::FutureWarning")
ROOT = Path(__file__).resolve().parents[1]
CLASSES = ["Arborio", "Basmati", "Ipsala"]
SIZE = 16
FLOAT_TOLERANCE = 1e-4  # largest difference of a class probability, float32 export against Keras
INT8_BOUND = 0.05  # int8 loses at most 5 points of test accuracy against float32 on these images


def images(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Learnable images: class k has a bright horizontal band in the k-th third, over noise."""
    rng = np.random.default_rng(seed)
    y = np.arange(n) % len(CLASSES)
    x = rng.integers(0, 120, (n, SIZE, SIZE, 3))
    for i, k in enumerate(y):
        x[i, k * SIZE // 3:(k + 1) * SIZE // 3] += 120
    return x.astype(np.uint8), y.astype(np.int64)


@keras.saving.register_keras_serializable("tests")
class LogGamma(keras.layers.Layer):
    """An op neither LiteRT's built-ins nor ONNX have (TensorFlow's Lgamma)."""

    def call(self, x):
        import tensorflow as tf

        return tf.math.lgamma(x + 1.0)


def network(extra: bool = False) -> keras.Model:
    keras.utils.set_random_seed(0)
    inp = keras.Input((SIZE, SIZE, 3))
    x = keras.layers.Rescaling(1 / 255)(inp)
    x = keras.layers.Conv2D(8, 3, padding="same", activation="relu")(x)
    if extra:
        x = LogGamma()(x)
    x = keras.layers.MaxPooling2D(4)(x)
    x = keras.layers.Flatten()(x)
    return keras.Model(inp, keras.layers.Dense(len(CLASSES), activation="softmax")(x))


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    """A split of learnable images, a trained cnn and a cnn_light with an op no runtime has."""
    root = tmp_path_factory.mktemp("export")
    split = root / "data" / "split"
    split.mkdir(parents=True)
    for part, (n, seed) in {"train": (90, 1), "val": (9, 2), "test": (60, 3)}.items():
        x, y = images(n, seed)
        np.save(split / f"{part}_x.npy", x)
        np.save(split / f"{part}_y.npy", y)
    (split / "classes.json").write_text(json.dumps(CLASSES))
    (root / "models").mkdir()
    model = network()
    model.compile(optimizer=keras.optimizers.Adam(0.01), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    x, y = images(90, 1)
    model.fit(x.astype(np.float32), y, epochs=15, batch_size=16, verbose=0)
    model.save(root / "models" / "cnn.keras")
    network(extra=True).save(root / "models" / "cnn_light.keras")
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["data"]["img_size"] = SIZE
    params["models"] = {"cnn": {"epochs": 1}, "cnn_light": {"epochs": 1}}
    params["prune"]["models"] = params["trim"]["models"] = params["criteria"]["models"] = []
    params["export"].update(calibration_images=30, warmup=2, repeats=10, batch_size=16)
    (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    # evaluate's predictions of the Keras model (the cards' agreement): its classes on the clean and augmented test set
    from ricecnn.evaluation.augment import condition_sets

    x_test = np.load(split / "test_x.npy")
    sets = condition_sets(x_test, params["seed"], 16, folder=root, alone=False)
    keras_classes = {c: np.asarray(CLASSES)[model.predict_on_batch(np.asarray(sets[c], np.float32)).argmax(1)] for c in sets}
    (root / "evaluate").mkdir()
    pd.DataFrame({"image": range(60), "actual": np.asarray(CLASSES)[np.load(split / "test_y.npy")], **keras_classes}).to_csv(
        root / "evaluate" / "cnn.csv", index=False)
    return root


def converted(project: Path, tmp_path: Path, fmt) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Keras' probabilities on the test images, the export's in ``fmt``'s runtime, and the labels."""
    model = keras.models.load_model(project / "models" / "cnn.keras", compile=False)
    x, y = np.load(project / "data/split/test_x.npy"), np.load(project / "data/split/test_y.npy")
    path = tmp_path / f"cnn{fmt.suffix}"
    convert(model, fmt, path, np.load(project / "data/split/train_x.npy")[:30], x[:1])
    return model.predict_on_batch(x.astype(np.float32)), load(fmt.runtime, path, threads=1).predict(x), y


@pytest.mark.parametrize("fmt", [f for f in FORMATS if f.precision == "float32"], ids=lambda f: f.key)
def test_a_float32_export_predicts_what_keras_does(project, tmp_path, fmt):
    keras_probs, probs, y = converted(project, tmp_path, fmt)
    assert (keras_probs.argmax(1) == y).mean() > 0.9  # a model that learned something: the check means something
    assert np.array_equal(probs.argmax(1), keras_probs.argmax(1))  # the same class on every image
    assert np.abs(probs - keras_probs).max() < FLOAT_TOLERANCE


def test_int8_loses_at_most_the_bound_against_float32(project, tmp_path):
    f32, i8 = (next(f for f in FORMATS if f.runtime == "litert" and f.precision == p) for p in ("float32", "int8"))
    _, float_probs, y = converted(project, tmp_path, f32)
    _, int8_probs, _ = converted(project, tmp_path, i8)
    assert (int8_probs.argmax(1) == y).mean() >= (float_probs.argmax(1) == y).mean() - INT8_BOUND


def test_latency_is_the_median_with_the_quartiles_as_its_spread():
    calls = []

    def call(x):  # every other call is slow: 1 ms, 3 ms, 1 ms, ...
        calls.append(x.shape)
        time.sleep(0.001 if len(calls) % 2 else 0.003)

    t = latency.measure(call, np.zeros((4, 4, 3), np.uint8), warmup=3, repeats=40)
    assert len(calls) == 43 and set(calls) == {(1, 4, 4, 3)}  # warm-up calls untimed, one image as a batch of one
    assert t.repeats == 40 and 1.0 <= t.q1_ms <= t.median_ms <= t.q3_ms and t.q3_ms >= 3.0  # half the calls slept 3 ms
    assert t.as_dict() == {"latency_ms": t.median_ms, "latency_q1_ms": t.q1_ms, "latency_q3_ms": t.q3_ms,
                           "latency_repeats": 40}


def test_the_stage_exports_every_model_and_a_failure_is_one_line(project, capsys):
    out = project / "exports"
    args = ["export", "--seed", "42", "--params", str(project / "params.yaml"), "--model-file",
            str(project / "models" / "{model}.keras"), "--split-dir", str(project / "data" / "split"), "--out-dir", str(out),
            "--metrics", str(project / "export.json"), "--predictions-dir", str(project / "predictions"),
            "--keras-predictions", str(project / "evaluate" / "{model}.csv")]
    assert cli(args) == 0
    errors = [line for line in capsys.readouterr().err.splitlines() if "error" in line]
    assert len(errors) == len(FORMATS)  # one line per format cnn_light could not be converted to
    assert all("cnn_light cannot be converted" in e and "lacks op Lgamma" in e for e in errors), errors
    # cnn's files, all of them, its card and the labels; cnn_light, which no format took, has no card
    assert sorted(p.name for p in out.iterdir()) == sorted([*(f"cnn{f.suffix}" for f in FORMATS), "cnn.card.json", "labels.txt"])
    record = json.loads((project / "export.json").read_text())
    assert record["cnn_light"]["formats"]["onnx_float32"] == {"runtime": "onnx", "precision": "float32",
                                                               "error": "the runtime lacks op Lgamma"}
    for key, r in record["cnn"]["formats"].items():
        assert r["latency_repeats"] == 10 and 0 < r["latency_q1_ms"] <= r["latency_ms"] <= r["latency_q3_ms"], key
        assert r["bytes"] == (out / r["file"]).stat().st_size if key != "keras" else r["bytes"] > 0
    frame = pd.read_csv(project / "predictions" / "cnn.csv")
    keras_model = keras.models.load_model(project / "models" / "cnn.keras", compile=False)
    x = np.load(project / "data/split/test_x.npy").astype(np.float32)
    assert list(frame.litert_float32_clean) == [CLASSES[k] for k in keras_model.predict_on_batch(x).argmax(1)]
    assert list(frame.columns) == ["image", "actual", *(f"{f.key}_{c}" for f in FORMATS for c in ("clean", "augmented"))]
    # the bundle: the labels in output order, and a card that holds what the study measured
    assert (out / "labels.txt").read_text().splitlines() == json.loads((project / "data/split/classes.json").read_text())
    card = json.loads((out / "cnn.card.json").read_text())
    assert card["classes"] == CLASSES and card["files"] == {f.key: f"cnn{f.suffix}" for f in FORMATS}
    assert card["input"]["shape"]["litert"] == [1, SIZE, SIZE, 3] and card["input"]["range"] == [0, 255]
    assert "BILINEAR" in card["input"]["resize"] and card["trained_on"]["train_images"] == 90
    from ricecnn.networks.flops import count_flops

    assert card["flops_per_image"] == count_flops(keras_model)["flops"] and card["parameters"] == keras_model.count_params()
    for f in FORMATS:
        for c in ("clean", "augmented"):
            got = frame[f"{f.key}_{c}"]
            assert card["scores"][f.key][c]["accuracy"] == pytest.approx((got == frame.actual).mean())
            kept = pd.read_csv(project / "evaluate" / "cnn.csv")[c]
            assert card["scores"][f.key][c]["agreement_with_keras"] == pytest.approx((got == kept).mean())
    assert card["scores"]["litert_float32"]["clean"]["agreement_with_keras"] == 1.0
    # the ONNX file describes itself: named input and output, the labels and the input in its metadata
    import onnx

    proto = onnx.load(str(out / "cnn.onnx"))
    meta = {p.key: p.value for p in proto.metadata_props}
    assert json.loads(meta["labels"]) == CLASSES and json.loads(meta["input"])["range"] == [0, 255]
    assert [i.name for i in proto.graph.input] == ["image"] and [o.name for o in proto.graph.output] == ["probabilities"]
    assert np.array_equal(load("onnx", out / "cnn.onnx", 1).predict(x[:5]).argmax(1), keras_model.predict_on_batch(x[:5]).argmax(1))
    # the README's five lines, on one of these images saved as a JPEG bigger than the model's input
    import re
    import subprocess
    import sys

    from PIL import Image

    code = re.search(r"```python\n(.*?)```", (ROOT / "README.md").read_text(), re.S).group(1)
    assert len(code.strip().splitlines()) == 5
    big = Image.fromarray(np.load(project / "data/split/test_x.npy")[0]).resize((4 * SIZE, 4 * SIZE), Image.Resampling.BILINEAR)
    big.save(project / "grain.jpg", quality=95)
    code = code.replace("exports/201/", f"{out}/").replace("cnn_light", "cnn").replace('"grain.jpg"', repr(str(project / "grain.jpg")))
    shown = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    again = np.asarray(Image.open(project / "grain.jpg").convert("RGB").resize((SIZE, SIZE), Image.Resampling.BILINEAR), np.float32)
    expected = keras_model.predict_on_batch(again[None])[0]
    assert shown[0] == CLASSES[expected.argmax()] and float(shown[1]) == pytest.approx(expected.max(), abs=2e-3)


def test_a_conversion_failure_leaves_nothing_half_written(tmp_path):
    path = tmp_path / "bad.onnx"
    with pytest.raises(ConversionError, match="^the runtime lacks op Lgamma$"):
        convert(network(extra=True), FORMATS[2], path, np.zeros((2, SIZE, SIZE, 3), np.uint8), np.zeros((1, SIZE, SIZE, 3), np.uint8))
    assert list(tmp_path.iterdir()) == []
