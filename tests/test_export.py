"""export: LiteRT and ONNX conversions that keep the Keras model's predictions, int8 within a bound
of float32 and integer inside, a model a runtime cannot take (one line and the converter's log; the
others exported), a defect of the code failing the stage; and the latency bench's rounds."""

from __future__ import annotations

import json
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
ONNX = next(f for f in FORMATS if f.runtime == "onnx")
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
    params["export"].update(calibration_images=30, batch_size=16)
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


def test_a_model_converts_to_the_same_bytes_every_time(project, tmp_path):
    """DVC's hash of the export folder repeats only if every file does: tf2onnx's counter-made names
    (which differ on a second export in the same process) are rewritten from the graph's structure.
    Each run loads the model anew, as the export stage does: a model object's ONNX graph is converted
    once and reused for its int8 file (convert._onnx_float32), so one object would prove nothing."""
    x, calibration = np.load(project / "data/split/test_x.npy"), np.load(project / "data/split/train_x.npy")[:30]
    for run in ("first", "second"):
        model = keras.models.load_model(project / "models" / "cnn.keras", compile=False)
        for fmt in FORMATS:
            convert(model, fmt, tmp_path / run / f"cnn{fmt.suffix}", calibration, x[:1])
    for fmt in FORMATS:
        assert (tmp_path / "first" / f"cnn{fmt.suffix}").read_bytes() == (tmp_path / "second" / f"cnn{fmt.suffix}").read_bytes(), fmt.key


@pytest.mark.parametrize("precision", ["int8", "uint8"])
def test_integer_files_lose_at_most_the_bound_against_float32(project, tmp_path, precision):
    f32, i8 = (next(f for f in FORMATS if f.runtime == "litert" and f.precision == p) for p in ("float32", precision))
    _, float_probs, y = converted(project, tmp_path, f32)
    _, int8_probs, _ = converted(project, tmp_path, i8)
    assert (int8_probs.argmax(1) == y).mean() >= (float_probs.argmax(1) == y).mean() - INT8_BOUND
    from ricecnn.deploy.runtimes import integer_io

    ends = integer_io(tmp_path / f"cnn{i8.suffix}")
    if precision == "int8":
        assert ends is None  # integer inside, float32 in and out
    else:  # integer in and out: the pixel range the calibration saw (these images reach 239, not 255), probabilities in 1/256
        top = int(np.load(project / "data/split/train_x.npy")[:30].max())
        assert ends["input"]["dtype"] == "uint8" and ends["input"]["zero_point"] == 0
        assert ends["input"]["scale"] == pytest.approx(top / 255, rel=1e-6)
        assert ends["output"] == {"dtype": "uint8", "scale": 1 / 256, "zero_point": 0}


def test_latency_is_a_median_of_interleaved_rounds(monkeypatch):
    calls, clock = [], [0.0]
    # a clock the calls advance, not the machine's: what the test decides cannot depend on how busy the machine is
    monkeypatch.setattr(latency.time, "perf_counter", lambda: clock[0])

    def timed(name, pattern):
        def call(x):  # the calls of a round take 1, 1, 10, 1, 1, 10, ... ms: the median 1, the mean 4
            calls.append((name, x.shape))
            clock[0] += pattern[len([c for c in calls if c[0] == name]) % len(pattern)] / 1000
        return call

    rounds = latency.interleaved({"a": timed("a", [1, 1, 10]), "b": timed("b", [2, 2, 20])}, np.zeros((4, 4, 3), np.uint8),
                                 rounds=4, warmup=2, repeats=6, seed=0)
    assert len(calls) == 2 * 4 * (2 + 6) and {shape for _, shape in calls} == {(1, 4, 4, 3)}  # one image, a batch of one
    order = [name for name, _ in calls[::8]]  # who ran first in each block of 8 calls: the rounds' shuffled orders
    assert sorted(order) == ["a"] * 4 + ["b"] * 4 and order != ["a", "b"] * 4 and order != ["b", "a"] * 4
    a, b = latency.Spread.of(rounds["a"]), latency.Spread.of(rounds["b"])
    # the median of the timed calls (1 and 2 ms), never their mean (4 and 8)
    assert rounds["a"] == pytest.approx([1.0] * 4) and rounds["b"] == pytest.approx([2.0] * 4)
    assert len(a.rounds) == 4 and a.median == pytest.approx(1.0) and b.median == pytest.approx(2.0)
    ratio = latency.paired_ratio(rounds["a"], rounds["b"])
    assert ratio.median == pytest.approx(0.5) and ratio.rounds == tuple(x / y for x, y in zip(rounds["a"], rounds["b"]))
    assert latency.Spread.of([1.0, 1.1, 2.0]).wide and not latency.Spread.of([1.0, 1.1, 1.2]).wide


def test_the_stage_exports_every_model_and_a_failure_is_one_line(project, capsys):
    exports, record, scores = project / "exports", {}, {}
    for line in ("cnn", "cnn_light"):  # one export@<line> each, and the next stage, score_exports@<line>, scores what it wrote
        assert cli(["export", line, "--seed", "42", "--params", str(project / "params.yaml"), "--model-file",
                    str(project / "models" / "{model}.keras"), "--split-dir", str(project / "data" / "split"), "--out-dir",
                    str(exports / line), "--metrics", str(project / "export" / f"{line}.json")]) == 0
        assert cli(["score_exports", line, "--seed", "42", "--params", str(project / "params.yaml"), "--exports-dir",
                    str(exports / line), "--split-dir", str(project / "data" / "split"), "--out", str(project / "scores.json"),
                    "--predictions-dir", str(project / "predictions" / line), "--keras-predictions",
                    str(project / "evaluate" / "{model}.csv")]) == 0
        record |= json.loads((project / "export" / f"{line}.json").read_text())
        scores |= json.loads((project / "scores.json").read_text())
    errors = [line for line in capsys.readouterr().err.splitlines() if "error" in line]
    # every file of cnn's is scored, none of cnn_light's (none was written)
    assert scores["cnn_light"] == {} and list(pd.read_csv(project / "predictions" / "cnn_light" / "cnn_light.csv").columns) == [
        "image", "actual"]
    assert len(errors) == len(FORMATS)  # one line per format cnn_light could not be converted to
    assert all("cnn_light cannot be converted" in e and "lacks op Lgamma" in e for e in errors), errors
    # cnn's files, all of them, its card and the labels; cnn_light, which no format took, has no card
    # and beside each failure line, the converter's log
    out = exports / "cnn"
    assert sorted(p.name for p in out.iterdir()) == sorted([*(f"cnn{f.suffix}" for f in FORMATS), "cnn.card.json", "labels.txt"])
    assert sorted(p.name for p in (exports / "cnn_light").iterdir()) == sorted(
        [*(f"cnn_light{f.suffix}.log" for f in FORMATS), "labels.txt"])
    assert "Lgamma" in (exports / "cnn_light" / "cnn_light.onnx.log").read_text()
    assert record["cnn_light"]["formats"]["onnx_float32"] == {"runtime": "onnx", "precision": "float32",
                                                               "error": "the runtime lacks op Lgamma (the converter's log: "
                                                                        "cnn_light.onnx.log)"}
    for key, r in record["cnn"]["formats"].items():
        assert not any(k.startswith("latency") for k in r), key  # timed by bench/latency.py, never by the pipeline
        if key != "keras":
            assert r["bytes"] == (out / r["file"]).stat().st_size
    # the Keras file as shipped: without the optimizer state the training file keeps (Adam's two moments)
    trained = (project / "models" / "cnn.keras").stat().st_size
    assert 0 < record["cnn"]["formats"]["keras"]["bytes"] < trained - 2 * 4 * keras_params(project)
    from ricecnn.deploy.bundle import file_md5

    assert record["cnn"]["keras_md5"] == file_md5(project / "models" / "cnn.keras")
    frame = pd.read_csv(project / "predictions" / "cnn" / "cnn.csv")
    keras_model = keras.models.load_model(project / "models" / "cnn.keras", compile=False)
    x = np.load(project / "data/split/test_x.npy").astype(np.float32)
    assert list(frame.litert_float32_clean) == [CLASSES[k] for k in keras_model.predict_on_batch(x).argmax(1)]
    scored = {f.key: ("clean", "augmented") if f.precision != "float32" else ("clean",) for f in FORMATS}  # export.augmented_formats
    assert list(frame.columns) == ["image", "actual", *(f"{f.key}_{c}" for f in FORMATS for c in scored[f.key])]
    # the bundle: the labels in output order, and a card that describes the files (their scores: score_exports')
    assert (out / "labels.txt").read_text().splitlines() == json.loads((project / "data/split/classes.json").read_text())
    card = json.loads((out / "cnn.card.json").read_text())
    assert card["classes"] == CLASSES and card["files"] == {f.key: f"cnn{f.suffix}" for f in FORMATS}
    assert card["input"]["shape"]["litert"] == [1, SIZE, SIZE, 3] and card["input"]["range"] == [0, 255]
    assert "BILINEAR" in card["input"]["resize"] and card["trained_on"]["train_images"] == 90
    from ricecnn.networks.flops import count_flops

    assert card["flops_per_image"] == count_flops(keras_model)["flops"] and card["parameters"] == keras_model.count_params()
    assert "score_exports" in card["scores"]
    for f in FORMATS:
        assert set(scores["cnn"][f.key]) == set(scored[f.key])
        for c in scored[f.key]:
            got = frame[f"{f.key}_{c}"]
            assert scores["cnn"][f.key][c]["accuracy"] == pytest.approx((got == frame.actual).mean())
            kept = pd.read_csv(project / "evaluate" / "cnn.csv")[c]
            assert scores["cnn"][f.key][c]["agreement_with_keras"] == pytest.approx((got == kept).mean())
    assert scores["cnn"]["litert_float32"]["clean"]["agreement_with_keras"] == 1.0
    assert card["integer_io"]["input"]["dtype"] == "uint8" and card["integer_io"]["output"]["scale"] == 1 / 256  # the uint8 file
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
    code = code.replace("exports/201/cnn_light/", f"{out}/").replace("cnn_light", "cnn").replace('"grain.jpg"', repr(str(project / "grain.jpg")))
    shown = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    again = np.asarray(Image.open(project / "grain.jpg").convert("RGB").resize((SIZE, SIZE), Image.Resampling.BILINEAR), np.float32)
    expected = keras_model.predict_on_batch(again[None])[0]
    assert shown[0] == CLASSES[expected.argmax()] and float(shown[1]) == pytest.approx(expected.max(), abs=2e-3)


@pytest.mark.parametrize("key", ["formats", "augmented_formats"])
def test_an_unknown_export_format_is_one_line_naming_the_formats(project, tmp_path, capsys, key):
    params = yaml.safe_load((project / "params.yaml").read_text())
    params["export"][key] = ["litert_float32", "tflite"]  # a format that does not exist: the list of those that do
    says = f"export.{key}"
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    assert cli(["export", "cnn", "--seed", "42", "--params", str(tmp_path / "params.yaml"), "--model-file", "{model}.keras",
                "--split-dir", str(tmp_path), "--out-dir", str(tmp_path / "out"), "--metrics", str(tmp_path / "m.json")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and says in err and "onnx_int8" in err, err
    assert not (tmp_path / "out").exists()


def keras_params(project: Path) -> int:
    return keras.models.load_model(project / "models" / "cnn.keras", compile=False).count_params()


def test_a_conversion_failure_leaves_nothing_half_written(tmp_path):
    path = tmp_path / "bad.onnx"
    with pytest.raises(ConversionError, match=r"^the runtime lacks op Lgamma \(the converter's log: bad.onnx.log\)$"):
        convert(network(extra=True), ONNX, path, np.zeros((2, SIZE, SIZE, 3), np.uint8), np.zeros((1, SIZE, SIZE, 3), np.uint8))
    assert [p.name for p in tmp_path.iterdir()] == ["bad.onnx.log"]  # the log, whole; no model file


@pytest.mark.parametrize("defect", [TypeError("a bug in the project"), ImportError("No module named 'ai_edge_litert'")],
                         ids=["bug", "missing-runtime"])
def test_a_defect_of_the_code_or_the_install_fails_instead_of_marking_a_format(tmp_path, monkeypatch, defect):
    import ricecnn.deploy.convert as conversion

    def broken(*args):
        raise defect

    monkeypatch.setattr(conversion, "_export", broken)
    with pytest.raises(type(defect)):
        convert(network(), FORMATS[0], tmp_path / "m.tflite", np.zeros((2, SIZE, SIZE, 3), np.uint8),
                np.zeros((1, SIZE, SIZE, 3), np.uint8))
    assert list(tmp_path.iterdir()) == []


def test_an_int8_file_with_a_float_op_inside_is_refused(tmp_path):
    keras.utils.set_random_seed(0)
    inp = keras.Input((SIZE, SIZE, 3))
    x = keras.layers.Conv2D(4, 3)(keras.layers.Rescaling(1 / 255)(inp))
    x = keras.layers.Activation(keras.ops.sin)(x)  # LiteRT has no int8 SIN: the converter leaves it in float
    model = keras.Model(inp, keras.layers.Dense(len(CLASSES), activation="softmax")(keras.layers.Flatten()(x)))
    calibration = images(20, 5)[0]
    int8 = next(f for f in FORMATS if f.precision == "int8")
    with pytest.raises(ConversionError, match="^not integer inside: .*SIN"):
        convert(model, int8, tmp_path / "m_int8.tflite", calibration, calibration[:1])
    assert not (tmp_path / "m_int8.tflite").exists()
    convert(model, FORMATS[0], tmp_path / "m.tflite", calibration, calibration[:1])  # float32 takes it


def test_classify_gives_keras_classes_in_every_format_and_one_line_for_bad_input(project, tmp_path, capsys):
    from PIL import Image

    model = keras.models.load_model(project / "models" / "cnn.keras", compile=False)
    x = np.load(project / "data/split/test_x.npy")[:6]
    expected = model.predict_on_batch(x.astype(np.float32))
    shots = []
    for i, image in enumerate(x):
        shots.append(tmp_path / f"grain{i}.png")
        Image.fromarray(image).save(shots[-1])  # lossless at the model's size: the same pixels
    (tmp_path / "labels.txt").write_text("".join(f"{c}\n" for c in CLASSES))
    train = np.load(project / "data/split/train_x.npy")[:30]
    for fmt in FORMATS:
        convert(model, fmt, tmp_path / f"cnn{fmt.suffix}", train, x[:1])
        assert cli(["classify", "--model", str(tmp_path / f"cnn{fmt.suffix}"), "--json", *map(str, shots)]) == 0
        rows = json.loads(capsys.readouterr().out)
        assert [r["image"] for r in rows] == list(map(str, shots)) and all(set(r["probabilities"]) == set(CLASSES) for r in rows)
        got = [r["class"] for r in rows]
        keras_classes = [CLASSES[k] for k in expected.argmax(1)]
        if fmt.precision == "float32":
            assert got == keras_classes, fmt.key
            assert [r["probability"] for r in rows] == pytest.approx(list(expected.max(1)), abs=FLOAT_TOLERANCE)
        else:
            assert np.mean(np.asarray(got) == keras_classes) >= 5 / 6, fmt.key
    assert cli(["classify", "--model", str(tmp_path / "cnn.onnx"), str(shots[0])]) == 0  # the plain form: path, class, probability
    path, name, p = capsys.readouterr().out.strip().split("\t")
    assert path == str(shots[0]) and name == CLASSES[expected[0].argmax()] and float(p) == pytest.approx(expected[0].max(), abs=1e-4)
    # a bigger photograph in another mode is resized as split resizes: RGB, PIL's bilinear filter
    big = Image.fromarray(x[1]).resize((4 * SIZE, 3 * SIZE), Image.Resampling.NEAREST).convert("RGBA")
    big.save(tmp_path / "big.png")
    again = np.asarray(big.convert("RGB").resize((SIZE, SIZE), Image.Resampling.BILINEAR), np.float32)[None]
    assert cli(["classify", "--model", str(tmp_path / "cnn.onnx"), "--json", str(tmp_path / "big.png")]) == 0
    shown = json.loads(capsys.readouterr().out)[0]["probabilities"]
    assert [shown[c] for c in CLASSES] == pytest.approx(list(model.predict_on_batch(again)[0]), abs=1e-4)
    # bad input: one line on stderr each, exit status 2
    (tmp_path / "notes.jpg").write_text("not an image")
    (tmp_path / "other.tflite").write_bytes((tmp_path / "cnn.onnx").read_bytes())
    for argv, message in [(["--model", str(tmp_path / "cnn.onnx"), str(tmp_path / "missing.jpg")], "no image file"),
                          (["--model", str(tmp_path / "cnn.onnx"), str(tmp_path / "notes.jpg")], "cannot read"),
                          (["--model", str(tmp_path / "other.tflite"), str(shots[0])], "is not a litert model")]:
        assert cli(["classify", *argv]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith("ricecnn classify: error: ") and message in err[0], err


def test_the_latency_bench_times_every_file_in_rounds_with_its_conditions(project, tmp_path):
    import subprocess
    import sys

    model = keras.models.load_model(project / "models" / "cnn.keras", compile=False)
    x = np.load(project / "data/split/test_x.npy")
    exports, models = tmp_path / "exports" / "cnn", tmp_path / "models" / "cnn"  # a folder per line, as export@<line> writes
    exports.mkdir(parents=True)
    models.mkdir(parents=True)
    (models / "cnn.keras").write_bytes((project / "models" / "cnn.keras").read_bytes())
    for fmt in FORMATS:
        convert(model, fmt, exports / f"cnn{fmt.suffix}", np.load(project / "data/split/train_x.npy")[:30], x[:1])
    (exports / "cnn.card.json").write_text("{}")  # the bench times the models export wrote a card for
    out = tmp_path / "latency.json"
    subprocess.run([sys.executable, str(ROOT / "bench" / "latency.py"), "--exports", str(exports.parent), "--models",
                    str(models.parent), "--split-dir", str(project / "data" / "split"), "--rounds", "3", "--warmup", "1",
                    "--repeats", "3", "--runs", "2", "--out", str(out)], check=True, capture_output=True, text=True)
    record = json.loads(out.read_text())
    assert set(record["conditions"]["cpu_flags"]) >= {"avx2", "avx512f", "amx_tile"} and record["conditions"]["threads"] == 1
    assert {"keras", "onnxruntime", "ai-edge-litert"} <= set(record["conditions"]["versions"])
    assert len(record["runs"]) == 2 and all(len(r["load_before"]) == len(r["load_after"]) == 3 for r in record["runs"])
    from ricecnn.deploy.bundle import file_md5

    assert record["files"] == {"cnn": file_md5(project / "models" / "cnn.keras")}
    for run in record["runs"]:
        assert set(run["latency"]) == {"cnn", "empty"}  # the model and the near-empty one: the binding's own time
        for latencies in run["latency"].values():
            assert set(latencies) == {"keras_float32", "keras_compiled_float32", *(f.key for f in FORMATS)}
            for t in latencies.values():
                assert len(t["rounds_ms"]) == 3 and t["low_ms"] <= t["median_ms"] <= t["high_ms"]
                assert t["median_ms"] == pytest.approx(float(np.median(t["rounds_ms"])))


def test_identity_reshapes_are_dropped_so_the_optimiser_s_choice_leaves_one_file(tmp_path):
    """tf2onnx leaves one no-op Reshape more or less from run to run (googlenet_light at 32 px: 143 or
    142 nodes); canonical_names drops every Reshape that keeps its input's shape, and only those, so
    both graphs become the same bytes and compute the same."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    from ricecnn.deploy.convert import canonical_names

    def graph(extra: bool) -> Path:
        same = numpy_helper.from_array(np.array([-1, 3, 1, 1], np.int64), "same")
        flat = numpy_helper.from_array(np.array([-1, 3], np.int64), "flat")
        nodes = [helper.make_node("Relu", ["image"], ["r"]), helper.make_node("Reshape", ["r", "same"], ["a"])]
        if extra:
            nodes.append(helper.make_node("Reshape", ["a", "same"], ["b"], name="Reshape__907"))
        nodes += [helper.make_node("Reshape", ["b" if extra else "a", "flat"], ["probabilities"])]
        g = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("image", TensorProto.FLOAT, ["N", 3, 1, 1])],
                              [helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, ["N", 3])], [same, flat])
        path = tmp_path / f"{extra}.onnx"
        onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)]), str(path))
        return path

    one, two = graph(False), graph(True)
    x = np.random.default_rng(0).normal(size=(4, 3, 1, 1)).astype(np.float32)
    before = load("onnx", two, 1).predict(x)
    canonical_names(one), canonical_names(two)
    assert one.read_bytes() == two.read_bytes()
    kept = onnx.load(str(two)).graph
    assert [n.op_type for n in kept.node] == ["Relu", "Reshape"]  # the real reshape, to [N, 3], stays
    assert [t.name for t in kept.initializer] == ["w0"]
    assert np.array_equal(load("onnx", two, 1).predict(x), before)


def test_the_int8_onnx_file_quantises_the_float32_file_s_graph(project, tmp_path, monkeypatch):
    """A second tf2onnx export of one model in one process need not give the first's graph (an export
    run once left an int8 file with a Reshape and a Transpose a fresh process did not): both ONNX
    files come from the model's one export."""
    model = keras.models.load_model(project / "models" / "cnn.keras", compile=False)
    exports = []
    real = type(model).export

    def counted(self, *args, **kwargs):
        exports.append(kwargs.get("format"))
        return real(self, *args, **kwargs)

    monkeypatch.setattr(type(model), "export", counted)
    x, calibration = np.load(project / "data/split/test_x.npy"), np.load(project / "data/split/train_x.npy")[:30]
    for fmt in (f for f in FORMATS if f.runtime == "onnx"):
        convert(model, fmt, tmp_path / f"cnn{fmt.suffix}", calibration, x[:1])
    assert exports == ["onnx"]
