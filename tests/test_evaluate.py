"""evaluate@<model>-<seed>: the seeded augmentation (and the paper's), the scores, and the stage CLI."""

from __future__ import annotations

import csv
import hashlib
import json
import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import pandas as pd
import pytest
import yaml
from conftest import write_split
from scipy.stats import binomtest

from ricecnn.evaluation import augment as aug
from ricecnn.evaluation import scoring as evaluation
from ricecnn.core.cli import main as cli
from ricecnn.data.arrays import spread
from ricecnn.inference.files import load_model

pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")  # Keras' own save()
ROOT = Path(__file__).resolve().parents[1]
CLASSES = ["Arborio", "Basmati", "Ipsala"]


def images(n: int = 5, h: int = 24, w: int = 20) -> np.ndarray:
    return np.random.default_rng(1).integers(0, 256, (n, h, w, 3), dtype=np.uint8)


def test_augmented_set_is_repeatable_and_differs_from_the_clean_set():
    clean = images()
    a = aug.augment(clean, seed=3, batch_size=2)
    assert a.dtype == np.uint8 and a.shape == clean.shape
    assert np.array_equal(a, aug.augment(clean, seed=3, batch_size=4))  # same bytes, whatever the batching
    assert np.array_equal(a[:2], aug.augment(clean[:2], seed=3))  # an image's transform does not depend on n
    assert (a != clean).mean() > 0.5
    assert not np.array_equal(a, aug.augment(clean, seed=4))


def test_augmented_set_is_the_same_in_another_process():
    code = (
        "import hashlib, numpy as np\nfrom ricecnn.evaluation.augment import augment\n"
        "x = np.random.default_rng(1).integers(0, 256, (5, 24, 20, 3), dtype=np.uint8)\n"
        "print(hashlib.sha256(augment(x, seed=3).tobytes()).hexdigest())"
    )
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    if p.returncode:
        pytest.fail(p.stderr[-3000:])
    assert p.stdout.split()[-1] == hashlib.sha256(aug.augment(images(), seed=3).tobytes()).hexdigest()


def test_augmentation_matches_the_keras_layers_given_the_same_draw():
    clean = images()
    n, h, w = clean.shape[:3]
    p = aug.draw_augmentation(n, h, w, seed=3)
    f32 = lambda v: np.asarray(v, "float32")  # noqa: E731
    L = keras.layers
    x = L.RandomFlip("horizontal").transform_images(clean.astype("float32"), {"flips": p["flip"][:, None, None, None]})
    x = L.RandomRotation(0.1).transform_images(x, {"rotation_matrix": aug._matrices(p, slice(None), h, w)[0]})
    x = L.RandomZoom(0.1).transform_images(x, {"height_zoom": f32(p["zoom"][:, None]), "width_zoom": f32(p["zoom"][:, None])})
    x = L.RandomTranslation(0.1, 0.1).transform_images(x, {"translations": f32(np.stack([p["dx"], p["dy"]], 1))})
    x = L.RandomContrast(0.1).transform_images(x, {"contrast_factor": f32(p["contrast"][:, None, None, None])})
    keras_out = np.clip(np.rint(keras.ops.convert_to_numpy(x)), 0, 255)
    assert np.abs(keras_out - aug.augment(clean, seed=3)).max() <= 1  # float rounding only


def test_the_papers_augmentation_call_transforms_the_test_images(tmp_path):
    """The paper's call, as docs/paper.md states it: the test folder loaded with
    `image_dataset_from_directory(shuffle=False, label_mode="categorical")`, each batch mapped in
    `tf.data` through `Rescaling(1/255)(augmentation(x))`, `augmentation` a `keras.Sequential` of the
    five layers, called without `training`. The images change: Keras 3's augmentation layers default
    to `training=True` in `call`; only `training=False` passes them through unchanged."""
    from PIL import Image

    from ricecnn.data import synthetic

    for c in range(2):
        (tmp_path / synthetic.CLASSES[c]).mkdir()
        for i in range(4):
            Image.fromarray(synthetic.draw(c, i, 0, size=64)).save(tmp_path / synthetic.CLASSES[c] / f"{i}.jpg")
    ds = keras.utils.image_dataset_from_directory(str(tmp_path), shuffle=False, label_mode="categorical",
                                                  image_size=(64, 64), batch_size=4, verbose=False)
    L = keras.layers
    augmentation = keras.Sequential([L.RandomFlip("horizontal"), L.RandomRotation(0.1), L.RandomZoom(0.1),
                                     L.RandomTranslation(0.1, 0.1), L.RandomContrast(0.1)])
    rescale = L.Rescaling(1.0 / 255)

    def images(fn) -> np.ndarray:
        return np.concatenate([np.asarray(x) for x, _ in ds.map(lambda x, y: (fn(x), y))])

    clean = images(rescale)
    as_the_paper = images(lambda x: rescale(augmentation(x)))
    inference = images(lambda x: rescale(augmentation(x, training=False)))
    assert clean.shape == (8, 64, 64, 3)
    assert np.abs(as_the_paper - clean).mean() > 0.25 * clean.mean()  # far from zero: transformed
    assert np.array_equal(inference, clean)  # only an explicit training=False is the identity


def test_draw_stays_in_the_spec_ranges():
    p = aug.draw_augmentation(2000, 100, 50, seed=0)
    assert 0.4 < p["flip"].mean() < 0.6
    assert np.abs(p["angle"]).max() <= 0.2 * np.pi and np.abs(p["dy"]).max() <= 10 and np.abs(p["dx"]).max() <= 5
    assert p["zoom"].min() >= 0.9 and p["zoom"].max() <= 1.1 and p["contrast"].min() >= 0.9


def test_classify_keeps_the_predicted_class_and_the_mean_cross_entropy():
    probs = np.array([[0.5, 0.5, 0.0], [0.1, 0.8, 0.1], [1.0, 0.0, 0.0]], dtype=np.float32)

    class Lookup:  # the "model" answers each image's row of ``probs``: image i holds the value i
        def predict_on_batch(self, x):
            return probs[x[:, 0, 0, 0].astype(int)]

    x = np.arange(3, dtype=np.uint8)[:, None, None, None] * np.ones((1, 2, 2, 3), np.uint8)
    predicted, loss = evaluation.classify(Lookup(), x, np.array([0, 1, 1]), batch_size=2)
    assert predicted.tolist() == [0, 1, 0]  # ties go to the first class, as argmax does
    assert loss == pytest.approx((-np.log(0.5) - np.log(0.8) - np.log(1e-7)) / 3, rel=1e-6)


# --- the stage CLI on a tiny project -------------------------------------------------------------


def tiny_model(path: Path, seed: int, filters: int) -> None:
    keras.utils.set_random_seed(seed)
    inp = keras.Input((32, 32, 3))
    x = keras.layers.Rescaling(1 / 255)(inp)
    x = keras.layers.Conv2D(filters, 3, padding="same", activation="relu")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    keras.Model(inp, keras.layers.Dense(3, activation="softmax")(x)).save(path)


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("ev")
    write_split(root / "data" / "split", {"train": 6, "val": 6, "test": 10}, CLASSES)
    (root / "models").mkdir()
    tiny_model(root / "models" / "cnn.keras", 1, 4)
    tiny_model(root / "models" / "cnn_light.keras", 2, 2)
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["data"]["img_size"] = 32
    params["models"] = {"cnn": {"epochs": 1}, "cnn_light": {"epochs": 1}}
    params["prune"]["models"] = params["trim"]["models"] = params["criteria"]["models"] = []
    params["evaluate"] = {"batch_size": 4, "robustness_images": 1000}
    (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    return root


def run_stage(root: Path, models_dir: str = "models", pictures_seed: int = 5) -> int:
    return cli([
        "evaluate", "cnn", "--seed", "5", "--pictures-seed", str(pictures_seed), "--params", str(root / "params.yaml"),
        "--model-file", str(root / models_dir / "{model}.keras"),
        "--split-dir", str(root / "data" / "split"), "--out", str(root / "metrics" / "evaluate.json"),
        "--predictions-dir", str(root / "reports" / "predictions"), "--pictures-dir", str(root / "reports" / "pictures"),
    ])  # fmt: skip


def test_stage_writes_metrics_predictions_and_pictures(project):
    assert run_stage(project) == 0
    results = json.loads((project / "metrics" / "evaluate.json").read_text())
    assert list(results) == ["cnn"]  # cnn's line (no variant is made from it here), not cnn_light's: its own stage's
    keys = {"clean_accuracy", "clean_accuracy_lo", "clean_accuracy_hi", "clean_loss", "augmented_accuracy",
            "augmented_accuracy_lo", "augmented_accuracy_hi", "augmented_loss", "misclassified", "test_images",
            "by_transform", "seed", "backend"}  # fmt: skip (no timing: printed, not recorded)
    out = project / "reports"
    for name, r in results.items():
        assert set(r) == keys and r["test_images"] == 10 and r["seed"] == 5
        with open(out / "predictions" / f"{name}.csv") as f:
            rows = list(csv.DictReader(f))
        assert list(rows[0]) == ["image", "actual", "clean", "flip", "rotation", "zoom", "translation", "contrast",
                                 "augmented"]  # fmt: skip
        assert [r_["actual"] for r_ in rows] == [CLASSES[i % 3] for i in range(10)]
        assert sum(r_["actual"] != r_["augmented"] for r_ in rows) == r["misclassified"]
        for c in ("clean", "augmented"):  # every accuracy is its predictions', inside its interval
            k = sum(r_["actual"] == r_[c] for r_ in rows)
            assert r[f"{c}_accuracy"] == pytest.approx(k / 10)
            assert r[f"{c}_accuracy_lo"] <= r[f"{c}_accuracy"] <= r[f"{c}_accuracy_hi"]
            assert (r[f"{c}_accuracy_lo"], r[f"{c}_accuracy_hi"]) == pytest.approx(
                tuple(binomtest(k, 10).proportion_ci(method="wilson")), rel=1e-5)  # 6 significant digits in JSON
        for t in aug.TRANSFORMS:
            assert r["by_transform"][t]["accuracy"] == pytest.approx(sum(r_["actual"] == r_[t] for r_ in rows) / 10)
        for png in (f"confusion_{name}.png", f"misclassified_{name}.png"):
            assert (out / "pictures" / png).stat().st_size > 0
    first, recorded = (out / "predictions" / "cnn.csv").read_bytes(), (project / "metrics" / "evaluate.json").read_bytes()
    assert run_stage(project) == 0  # a rerun writes the same bytes: nothing of the clock is in them
    assert (project / "metrics" / "evaluate.json").read_bytes() == recorded and (out / "predictions" / "cnn.csv").read_bytes() == first


def test_each_transform_alone_is_scored_on_the_first_robustness_images(project):
    from ricecnn.study import records as study

    params = yaml.safe_load((project / "params.yaml").read_text())
    params["evaluate"]["robustness_images"] = 4
    (project / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    try:
        assert run_stage(project) == 0
        r = json.loads((project / "metrics" / "evaluate.json").read_text())["cnn"]
        frame = pd.read_csv(project / "reports" / "predictions" / "cnn.csv")
    finally:
        params["evaluate"]["robustness_images"] = 1000
        (project / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    assert r["test_images"] == 10 and frame.clean.notna().all() and frame.augmented.notna().all()
    rows = [0, 3, 6, 9]  # 4 of the 10 spread evenly: every class (they cycle) in its share
    assert spread(10, 4).tolist() == rows and spread(10, 40).tolist() == list(range(10))
    for t in aug.TRANSFORMS:  # those images scored, the others left empty
        assert np.flatnonzero(frame[t].notna()).tolist() == rows
        assert r["by_transform"][t]["images"] == 4
        assert r["by_transform"][t]["accuracy"] == pytest.approx((frame[t] == frame.actual)[rows].mean())
    correct = study.correctness({5: {"cnn": frame}}, ["cnn"])["cnn"]
    assert correct["clean"].shape == (1, 10) and correct["flip"].shape == (1, 4)
    # each image keeps the draw it has in the full augmentation
    clean = np.load(project / "data" / "split" / "test_x.npy")
    whole = aug.condition_sets(clean, 42, 4)
    part = aug.condition_sets(clean, 42, 4, index=np.array(rows))
    for t in aug.TRANSFORMS:
        assert np.array_equal(part[t], whole[t][rows])


def test_other_seeds_are_scored_on_the_clean_and_the_augmented_test_set_only(project):
    assert run_stage(project, pictures_seed=4) == 0  # seed 5 is not the pictures' seed: no robustness
    results = json.loads((project / "metrics" / "evaluate.json").read_text())
    assert "by_transform" not in results["cnn"]
    with open(project / "reports" / "predictions" / "cnn.csv") as f:
        assert next(csv.reader(f)) == ["image", "actual", "clean", "augmented"]
    assert [p.name for p in (project / "reports" / "pictures").iterdir()] == ["README.txt"]  # no pictures either


def test_each_transform_alone_uses_its_draw_in_the_full_augmentation():
    clean = images(4, 16, 16)
    sets = aug.condition_sets(clean, seed=5, batch_size=2)
    assert list(sets) == ["clean", *aug.TRANSFORMS, "augmented"]
    assert np.array_equal(sets["clean"], clean) and np.array_equal(sets["augmented"], aug.augment(clean, 5))
    p = aug.draw_augmentation(4, 16, 16, 5)
    flipped = np.where(p["flip"][:, None, None, None], clean[:, :, ::-1], clean)
    assert np.array_equal(sets["flip"], flipped)  # the flip alone: exactly the drawn flips
    for t in aug.TRANSFORMS:
        assert not np.array_equal(sets[t], sets["augmented"])
    with pytest.raises(ValueError, match="unknown transforms"):
        aug.augment(clean, 5, transforms=("shear",))


def test_missing_model_file_is_one_line_and_exit_2(project, tmp_path, capsys):
    (tmp_path / "models").mkdir()
    assert run_stage(project, str(tmp_path / "models")) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "cnn.keras not found" in err[0] and "dvc repro train@cnn-5" in err[0]


def test_a_model_that_does_not_fit_the_split_is_a_clear_error(project):
    from ricecnn.core.errors import RiceError

    with pytest.raises(RiceError, match=r"has 3 outputs, but the split holds \(32, 32, 3\) images of 5 classes"):
        load_model(project / "models" / "cnn.keras", "train@cnn", (32, 32, 3), 5)
    with pytest.raises(RiceError, match="cannot load"):
        bad = project / "models" / "broken.keras"
        bad.write_bytes(b"not a zip")
        load_model(bad, "train@broken", (32, 32, 3), 3)


# --- memory: bounded by design, whatever the test set's size ---------------------------------------

EVALUATE_PEAK = """
import sys, tempfile, tracemalloc
import numpy as np
import pandas as pd
import keras
from ricecnn.evaluation import scoring as evaluation
from ricecnn.evaluation.augment import condition_sets

x, y = np.load(sys.argv[1], mmap_mode="r"), np.load(sys.argv[2])
batch = int(sys.argv[3])
model = keras.Sequential([keras.Input(x.shape[1:]), keras.layers.Rescaling(1 / 255),
                          keras.layers.Conv2D(4, 3, strides=4, activation="relu"),
                          keras.layers.GlobalAveragePooling2D(), keras.layers.Dense(5, activation="softmax")])
evaluation.classify(model, x[:batch], y[:batch], batch)  # compiled before the measurement
with tempfile.TemporaryDirectory(dir=sys.argv[4]) as tmp:
    tracemalloc.start()
    sets = condition_sets(x, 0, batch, folder=tmp)
    metrics, predicted = evaluation.evaluate(model, sets, y, batch)
    peak = tracemalloc.get_traced_memory()[1]
print(len(sets), metrics["test_images"], peak)
"""


def test_evaluation_holds_a_few_batches_not_the_test_set(tmp_path):
    """Evaluate's whole work on one model (every test condition drawn, every image classified under
    each, the latency) on a memory-mapped test set larger than the bound: the heap's peak stays
    under 8 float32 batches. Holding any one condition in memory (even as uint8) would exceed it.
    Measured in a process of its own: tracemalloc counts every thread, a test worker's too."""
    n, size, batch = 3000, 64, 64
    x = np.lib.format.open_memmap(tmp_path / "x.npy", mode="w+", dtype=np.uint8, shape=(n, size, size, 3))
    x[:] = np.random.default_rng(0).integers(0, 256, size=(1, size, size, 3), dtype=np.uint8)
    x.flush()
    np.save(tmp_path / "y.npy", np.arange(n) % 5)
    bound = 8 * batch * size * size * 3 * 4
    assert x.nbytes > bound
    out = subprocess.run([sys.executable, "-c", EVALUATE_PEAK, str(tmp_path / "x.npy"), str(tmp_path / "y.npy"),
                          str(batch), str(tmp_path)], capture_output=True, text=True, check=True).stdout.split()
    conditions, images, peak = (int(v) for v in out[-3:])
    assert conditions == 7 and images == n
    assert peak < bound, f"peak {peak / 2**20:.0f} MiB, bound {bound / 2**20:.0f} MiB"
