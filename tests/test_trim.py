"""trim@<model>: iterative APoZ pruning with fine-tuning (ricecnn.channels.trimming) on tiny data, and the
stage CLI. The trim chain in a real `dvc repro`: test_pipeline.py."""

from __future__ import annotations

import json
from pathlib import Path

import keras
import numpy as np
import pytest
import yaml
from conftest import ROOT, write_split

from ricecnn.channels import selection
from ricecnn.core.cli import main as cli
from ricecnn.networks.flops import describe
from ricecnn.networks.build import build_model
from ricecnn.training.fit import fit
from ricecnn.channels.selection import Rule
from ricecnn.networks.anatomy import relu_convs
from ricecnn.channels.trimming import channels, trim

pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")  # Keras' own save()
CLASSES = ["Arborio", "Basmati", "Ipsala"]


# --- the rules ------------------------------------------------------------------------------------


def test_fraction_rule_removes_the_highest_apoz_share():
    apoz = np.array([0.1, 0.9, 0.5, 0.95, 0.2, 0.3, 0.7, 0.4])
    assert selection.keep_all_but_highest(apoz, 0.25, 1) == [0, 2, 4, 5, 6, 7]  # 0.95 and 0.9 go
    assert selection.keep_all_but_highest(apoz, 0.99, 3) == [0, 4, 5]  # never below min_channels: the lowest stay
    assert selection.keep_all_but_highest(np.array([0.5, 0.6, 0.7]), 0.25, 1) == [0, 1, 2]  # 0.75 of a channel: none


def test_std_rule_is_hu_et_al():
    apoz = np.array([0.1, 0.1, 0.1, 0.1, 0.9])  # mean 0.26, std 0.32: only 0.9 lies above mean + 1 std
    assert selection.keep_below_mean_std(apoz, 1.0, 1) == [0, 1, 2, 3]
    assert selection.keep_below_mean_std(apoz, 2.0, 1) == [0, 1, 2, 3, 4]  # 0.9 < 0.26 + 2 x 0.32
    assert selection.keep_below_mean_std(np.full(4, 0.5), 1.0, 1) == [0, 1, 2, 3]  # no spread: nothing stands out


# --- the loop on tiny data --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    split = write_split(tmp_path_factory.mktemp("trim") / "split", {"train": 48, "val": 24, "test": 12}, CLASSES)
    return tuple((np.load(split / f"{p}_x.npy"), np.load(split / f"{p}_y.npy")) for p in ("train", "val")), split


def tuner(train_xy, val_xy, epochs=1):
    def finetune(model):
        return fit(model, train_xy, val_xy, num_classes=len(CLASSES), epochs=epochs, batch_size=8, patience=2,
                   learning_rate=1e-3, seed=0)
    return finetune


def run_trim(model, data, budget, max_rounds, rule=Rule("fraction", 0.25, 1)):
    (train_xy, val_xy), _ = data
    calls = []

    def finetune(m):
        calls.append(m)
        return tuner(train_xy, val_xy)(m)

    trimmed, record = trim(model, train_xy, val_xy, np.arange(16), rule, budget=budget, max_rounds=max_rounds,
                           paper_size=64, batch_size=8, finetune=finetune, log=lambda *_: None)
    return trimmed, record, calls


def test_a_round_removes_channels_then_fine_tunes(data):
    keras.utils.set_random_seed(0)
    model = build_model("cnn", 32, len(CLASSES))
    before = channels(model)
    trimmed, record, calls = run_trim(model, data, budget=1.0, max_rounds=2)
    assert [r["round"] for r in record["rounds"]] == [0, 1, 2] and record["kept_round"] == 2
    assert record["stopped"] == "max_rounds (2) reached"
    one = record["rounds"][1]
    assert one["channels"] == {"conv1": 24, "conv2": 48, "conv3": 96}  # a quarter of each, highest APoZ first
    assert one["removed"] == sum(before.values()) - sum(one["channels"].values()) == 56
    assert one["finetune_epochs"] == 1 and len(calls) == 2  # fine-tuned once per round
    assert channels(trimmed) == record["rounds"][2]["channels"] == {"conv1": 18, "conv2": 36, "conv3": 72}
    assert record["rounds"][2]["flops"] < one["flops"] < record["rounds"][0]["flops"]
    assert describe(trimmed, 64)["flops_64"] == record["rounds"][2]["flops_64"]  # the record is the model's


def test_the_budget_stops_the_loop_and_keeps_the_last_model_within_it(data):
    keras.utils.set_random_seed(0)
    model = build_model("cnn", 32, len(CLASSES))
    # a negative budget asks for more than the full model's accuracy: the first round is beyond it
    trimmed, record, _ = run_trim(model, data, budget=-1.0, max_rounds=5)
    assert [r["within_budget"] for r in record["rounds"]] == [True, False]
    assert record["kept_round"] == 0 and record["stopped"] == "validation accuracy fell more than -1.0 below the full model's"
    assert trimmed is model and channels(trimmed) == {"conv1": 32, "conv2": 64, "conv3": 128}


def test_frozen_layers_are_trimmed_and_stay_frozen(data):
    keras.utils.set_random_seed(0)
    model = build_model("vgg16_light", 32, len(CLASSES), {"freeze": "paper"})
    # two rounds: the second trims a model whose layers the first fine-tuning's frozen-prefix split reused
    trimmed, record, calls = run_trim(model, data, budget=1.0, max_rounds=2)
    assert len(record["rounds"]) == 3 and record["rounds"][2]["channels"]["block1_conv1"] == 36
    assert set(relu_convs(model)) == set(record["rounds"][1]["channels"])
    assert record["rounds"][1]["channels"]["block1_conv1"] == 48  # 64 less a quarter
    assert not trimmed.get_layer("block1_conv1").trainable and trimmed.get_layer("fc1").trainable
    assert record["rounds"][1]["params_trainable"] == record["rounds"][0]["params_trainable"] - 64 * 256  # fc1's rows
    assert channels(trimmed) == record["rounds"][2]["channels"]


# --- the stage CLI ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def project(tmp_path_factory, data) -> Path:
    root = tmp_path_factory.mktemp("trimstage")
    _, split = data
    keras.utils.set_random_seed(1)
    (root / "models").mkdir()
    build_model("cnn", 32, len(CLASSES)).save(root / "models" / "cnn.keras")
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["data"]["img_size"] = 32
    params["train"]["batch_size"] = 8
    params["trim"].update(models=["cnn"], samples=16, max_rounds=2, finetune_epochs=1, budget=1.0)
    (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    return root


def trim_stage(root: Path, split: Path, params: Path | None = None) -> int:
    return cli(["trim", "cnn", "--seed", "42", "--params", str(params or root / "params.yaml"), "--model-file",
                str(root / "models" / "cnn.keras"), "--split-dir", str(split), "--out", str(root / "models" / "cnn_trim.keras"),
                "--metrics", str(root / "metrics" / "trim" / "cnn.json")])


def test_stage_records_what_the_saved_model_is(project, data):
    assert trim_stage(project, data[1]) == 0
    m = json.loads((project / "metrics" / "trim" / "cnn.json").read_text())
    saved = keras.models.load_model(project / "models" / "cnn_trim.keras", compile=False)
    counted = describe(saved, 224)
    for key in ("params", "params_trainable", "flops", "macs", "filters", "flops_224", "params_224"):
        assert m[key] == counted[key], key
    assert m["kept_round"] == 2 and len(m["rounds"]) == 3 and m["samples"] == 16
    assert m["flops_ratio_224"] == pytest.approx(m["rounds"][0]["flops_224"] / counted["flops_224"])
    assert channels(saved) == m["rounds"][2]["channels"]


def test_more_samples_than_train_images_takes_them_all_and_says_so(project, data, capsys, tmp_path):
    params = yaml.safe_load((project / "params.yaml").read_text())
    params["trim"].update(samples=49, max_rounds=1)
    (tmp_path / "p.yaml").write_text(yaml.safe_dump(params))
    assert trim_stage(project, data[1], tmp_path / "p.yaml") == 0
    assert "ricecnn: note: trim.samples = 49 but the train split holds 48 images: measuring on all 48" in \
        capsys.readouterr().err.splitlines()
    assert json.loads((project / "metrics" / "trim" / "cnn.json").read_text())["samples"] == 48
