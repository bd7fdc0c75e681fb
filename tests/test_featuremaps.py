"""featuremaps@<model>: APoZ and dead channels on hand-built models, the grids, and the stage CLI."""

from __future__ import annotations

import json
from pathlib import Path

import keras
import numpy as np
import pytest
import yaml
from conftest import write_split
from matplotlib.figure import Figure

from ricecnn.channels import apoz, pictures

from ricecnn.pictures import render
from ricecnn.core.cli import main as cli
from ricecnn.stages import featuremaps as fm

pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")  # Keras' own save()
ROOT = Path(__file__).resolve().parents[1]
CLASSES = ["Arborio", "Basmati", "Ipsala"]


def pointwise_model() -> keras.Model:
    """1x1 convolutions with known weights on a 1-channel 2x2 input.

    conv_a: ch0 = relu(x), ch1 = relu(0*x - 1) (dead by construction), ch2 = relu(x - 2)
    conv_b (on conv_a): ch0 = relu(-1) (dead), ch1 = relu(a0 + a2)
    """
    inp = keras.Input((2, 2, 1))
    a = keras.layers.Conv2D(3, 1, activation="relu", name="conv_a")(inp)
    b = keras.layers.Conv2D(2, 1, activation="relu", name="conv_b")(a)
    model = keras.Model(inp, b)
    model.get_layer("conv_a").set_weights([np.array([1, 0, 1], "float32").reshape(1, 1, 1, 3), np.array([0, -1, -2], "float32")])
    kb = np.array([[0, 1], [0, 0], [0, 1]], "float32").reshape(1, 1, 3, 2)
    model.get_layer("conv_b").set_weights([kb, np.array([-1, 0], "float32")])
    return model


def test_apoz_finds_the_dead_channels_and_exact_fractions():
    images = np.array([[[0, 1], [2, 3]], [[0, 0], [0, 4]]], "float32")[..., None]
    counts = apoz.zero_counts(pointwise_model(), ["conv_a", "conv_b"], images, batch_size=1)  # over 2 batches
    assert counts["conv_a"]["zeros"].tolist() == [4, 8, 6] and counts["conv_a"]["positions"] == 8
    result = apoz.report(counts)
    a, b = result["layers"]["conv_a"], result["layers"]["conv_b"]
    # conv_a ch0 = x: zeros 1 + 3 of 8; ch1 always 0; ch2 = relu(x-2): [0,0,0,1] and [0,0,0,2] -> 6 of 8
    assert a["apoz"] == [0.5, 1.0, 0.75]
    assert (a["channels"], a["dead_channels"]) == (3, 1)
    assert a["apoz_mean"] == pytest.approx(0.75)
    # conv_b ch1 = a0 + a2: zero where x == 0 -> 1 + 3 of 8
    assert b["apoz"] == [1.0, 0.5] and b["dead_channels"] == 1
    assert (result["channels"], result["dead_channels"]) == (5, 2)
    assert result["dead_fraction"] == pytest.approx(0.4)


def test_layer_tiles_use_one_scale_per_layer():
    act = np.zeros((4, 4, 5), "float32")
    act[..., 1] = 4.0
    act[0, 0, 2] = 2.0
    act[..., 4] = 8.0  # not shown, but sets the layer's scale
    tiles = pictures.layer_tiles(act, max_channels=3)
    assert tiles.shape == (3, 4, 4)
    assert np.all(tiles[0] == 0)
    assert tiles[1].max() == 0.5 and tiles[2].max() == 0.25  # not stretched per channel
    assert np.all(pictures.layer_tiles(np.zeros((2, 2, 3)), 8) == 0)  # an all-zero layer stays black


def test_an_all_zero_channel_is_drawn_black():
    act = np.zeros((8, 8, 3), "float32")
    act[..., 1], act[..., 2] = 1.0, 3.0
    grid = pictures.mosaic(pictures.layer_tiles(act, 3), cols=3)  # 8 x 26: tiles at x 0-7, 9-16, 18-25
    assert grid.shape == (8, 26) and np.isnan(grid[:, 8]).all()  # separator column
    fig = Figure(figsize=(2.6, 0.8))
    pictures.show_gray(fig.add_axes((0, 0, 1, 1)), grid)
    pixels = render(fig, dpi=100)[..., :3].astype(int)  # 10 px per grid cell
    assert pixels.shape[:2] == (80, 260)
    assert np.all(pixels[20:60, 20:60] == 0)  # channel 0: exactly black
    assert np.all(pixels[20:60, 210:250] == 255)  # the layer's strongest channel: white
    assert 60 < pixels[20:60, 110:150].mean() < 110  # 1/3 of the layer max: dark grey, not stretched
    assert tuple(pixels[40, 85]) == (0x4A, 0x7A, 0xB8)  # the separator: a colour, not a grey


def test_featuremap_figure_titles_say_how_many_channels_are_shown():
    acts = [np.ones((4, 4, 40), "float32"), np.ones((2, 2, 8), "float32")]
    fig = pictures.featuremap_figure(np.zeros((8, 8, 3), "uint8"), acts, ["c1", "c2"], "m: Arborio", max_channels=32)
    titles = [ax.get_title() for ax in fig.axes]
    assert titles[0] == "m: Arborio"
    assert "showing 32 of 40 channels" in titles[1] and "showing 8 of 8 channels" in titles[2]


def test_sample_indices_one_per_class_and_seeded():
    labels = np.array([0, 1, 2, 0, 1, 2, 0, 1])
    picks = fm.sample_indices(labels, 4, seed=3)
    assert sorted(picks) == [0, 1, 2]  # class 3 has no image
    assert all(labels[i] == c for c, i in picks.items())
    assert picks == fm.sample_indices(labels, 4, seed=3)


# --- the stage CLI on a tiny project -------------------------------------------------------------


def tiny_model(path: Path, seed: int) -> None:
    keras.utils.set_random_seed(seed)
    inp = keras.Input((32, 32, 3))
    x = keras.layers.Rescaling(1 / 255)(inp)
    x = keras.layers.Conv2D(4, 3, padding="same", activation="relu", name="conv1")(x)
    x = keras.layers.MaxPooling2D(2)(x)
    x = keras.layers.Conv2D(6, 3, padding="same", activation="relu", name="conv2")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    keras.Model(inp, keras.layers.Dense(3, activation="softmax")(x)).save(path)


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("fm")
    write_split(root / "data" / "split", {"train": 6, "val": 9, "test": 6}, CLASSES)
    (root / "models").mkdir()
    tiny_model(root / "models" / "cnn.keras", 1)
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["data"]["img_size"] = 32
    params["featuremaps"] = {"samples": 5, "per_layer_max": 3}
    (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    return root


def run_stage(root: Path, model: str = "cnn", pictures_seed: int = 3) -> int:
    return cli([
        "featuremaps", model, "--seed", "3", "--pictures-seed", str(pictures_seed), "--params", str(root / "params.yaml"),
        "--model-file", str(root / "models" / f"{model}.keras"),
        "--split-dir", str(root / "data" / "split"), "--out-metrics", str(root / "metrics" / f"{model}.json"),
        "--out-dir", str(root / "reports" / model),
    ])  # fmt: skip


def test_stage_writes_metrics_and_pictures_deterministically(project):
    assert run_stage(project) == 0
    metrics = json.loads((project / "metrics" / "cnn.json").read_text())
    assert (metrics["model"], metrics["seed"], metrics["samples"]) == ("cnn", 3, 5)
    assert metrics["sample"] == {"split": "val", "indices": apoz.sample(9, 5, 42, "featuremaps.samples", "val").tolist()}  # seed 42 of params.yaml
    assert list(metrics["layers"]) == ["conv1", "conv2"]
    # the exact zero counts prune reads: the same images through the same model, counted again here
    x = np.load(project / "data" / "split" / "val_x.npy")[metrics["sample"]["indices"]]
    model = keras.models.load_model(project / "models" / "cnn.keras")
    again = apoz.zero_counts(model, ["conv1", "conv2"], x)
    for layer, c in again.items():
        assert metrics["layers"][layer]["zeros"] == c["zeros"].tolist()
        assert metrics["layers"][layer]["positions"] == c["positions"] == 5 * (32 if layer == "conv1" else 16) ** 2
    assert metrics["channels"] == 10 and len(metrics["layers"]["conv2"]["apoz"]) == 6
    out = project / "reports" / "cnn"
    assert sorted(p.name for p in out.iterdir()) == sorted([f"{c}.png" for c in CLASSES] + ["apoz.png"])
    assert all(p.stat().st_size < 300_000 for p in out.iterdir())
    first = {p.name: p.read_bytes() for p in [*out.iterdir(), project / "metrics" / "cnn.json"]}
    assert run_stage(project) == 0  # a rerun gives the same bytes
    assert first == {p.name: p.read_bytes() for p in [*out.iterdir(), project / "metrics" / "cnn.json"]}
    assert not list((project / "reports").glob(".*.tmp"))  # no temporary left behind


def test_other_seeds_get_the_counts_and_no_pictures(project):
    assert run_stage(project, pictures_seed=2) == 0
    assert [p.name for p in (project / "reports" / "cnn").iterdir()] == ["README.txt"]
    assert "replicate 2's models only" in (project / "reports" / "cnn" / "README.txt").read_text()
    assert json.loads((project / "metrics" / "cnn.json").read_text())["seed"] == 3


def test_more_samples_than_val_images_takes_them_all_and_says_so(project, capsys, tmp_path):
    params = yaml.safe_load((project / "params.yaml").read_text())
    params["featuremaps"]["samples"] = 10
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    assert cli(["featuremaps", "cnn", "--seed", "3", "--pictures-seed", "3", "--params", str(tmp_path / "params.yaml"), "--model-file",
                str(project / "models" / "cnn.keras"), "--split-dir", str(project / "data" / "split"),
                "--out-metrics", str(tmp_path / "m.json"), "--out-dir", str(tmp_path / "r")]) == 0
    err = capsys.readouterr().err.strip().splitlines()
    assert "ricecnn: note: featuremaps.samples = 10 but the val split holds 9 images: measuring on all 9" in err
    recorded = json.loads((tmp_path / "m.json").read_text())
    assert recorded["samples"] == 9 and recorded["sample"]["indices"] == list(range(9))


def test_missing_model_file_is_one_line_and_exit_2(project, capsys):
    assert run_stage(project, "cnn_light") == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "cnn_light.keras not found" in err[0] and "dvc repro train@cnn_light-3" in err[0]
    assert not (project / "reports" / "cnn_light").exists()
