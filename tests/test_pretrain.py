"""pretrain: the stand-in's pretrained VGG16 base (weights: standin), on tiny settings: the file
it writes loads, the frozen layers of the models built from it hold learned weights, the same settings
give the same bytes, other models get only a note, and a missing file is one line."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import yaml
from conftest import ROOT, synthetic_split, write_params, write_split

from ricecnn.core.cli import main as cli
from ricecnn.networks.settings import STANDIN_FILE

TINY_PRETRAIN = {"seed": 3, "classes": 3, "per_class": 6, "val": 0.34, "epochs": 1, "learning_rate": 3e-4, "batch_size": 8}
STANDIN = {"epochs": 1, "weights": "standin", "freeze": "paper"}
MODELS = {"cnn": {"epochs": 1}, "vgg16": STANDIN, "vgg16_light": STANDIN}
TINY_PRETRAIN_MODELS = ("vgg16", "vgg16_light")  # conftest's pretrain.models


@pytest.fixture(scope="module")
def params(tmp_path_factory):
    return write_params(tmp_path_factory.mktemp("params") / "params.yaml", models=MODELS, pretrain=TINY_PRETRAIN)


@pytest.fixture(scope="module")
def pretrained(tmp_path_factory, params):
    """Two runs of the pretrain stage with the same settings: vgg16's folder of each."""
    root = tmp_path_factory.mktemp("pretrain")
    for run in ("a", "b"):
        assert cli(["pretrain", "--params", str(params), "--out", str(root / "stage" / run)]) == 0
        (root / run).symlink_to(root / "stage" / run / "vgg16")
    return root


def base_kernels(model) -> dict[str, np.ndarray]:
    return {layer.name: layer.get_weights()[0] for layer in model.layers if layer.name.startswith("block") and layer.weights}


def test_the_weights_file_loads_and_the_frozen_layers_hold_learned_weights(pretrained):
    from ricecnn.networks.build import build_model
    from ricecnn.networks.layers import _keras_base
    from ricecnn.training import runtime

    path = str(pretrained / "a" / STANDIN_FILE)
    base = _keras_base("vgg16", path)
    runtime.configure(TINY_PRETRAIN["seed"])  # the builder's initialisation, the one pretraining started from
    initial = base_kernels(build_model("vgg16", 32, 5, {"freeze": "paper"}))
    runtime.configure(TINY_PRETRAIN["seed"])
    model = build_model("vgg16", 32, 5, {"weights": path, "freeze": "paper"})
    frozen = [layer.name for layer in model.layers if layer.weights and not layer.trainable]
    assert frozen == [f"block{b}_conv{c}" for b, convs in ((1, 2), (2, 2), (3, 3), (4, 3)) for c in range(1, convs + 1)]
    loaded = base_kernels(model)
    record = json.loads((pretrained / "a" / "pretrain.json").read_text())
    assert record["pretrained"] and record["train_images"] == 12 and record["val_images"] == 6
    for name in frozen:
        np.testing.assert_array_equal(loaded[name], base.get_layer(name).get_weights()[0])
        assert not np.allclose(loaded[name], initial[name]), f"{name} is frozen at its random initialisation"
        # trained from exactly that initialisation, by as much as the stage recorded: the file holds what it learned
        moved = np.linalg.norm(loaded[name] - initial[name]) / np.linalg.norm(initial[name])
        assert moved == pytest.approx(record["kernel_moved"][name], rel=1e-4)


def test_pretraining_is_bit_reproducible(pretrained):
    a, b = (pretrained / run / STANDIN_FILE for run in ("a", "b"))
    assert a.read_bytes() == b.read_bytes()


def test_train_starts_from_the_pretrained_base(tmp_path, params, pretrained):
    from ricecnn.inference.files import load_model

    out = tmp_path / "m.keras"
    assert cli(["train", "vgg16_light", "--seed", "42", "--params", str(params), "--split-dir",
                str(synthetic_split(tmp_path)), "--out", str(out), "--metrics", str(tmp_path / "m.json"),
                "--live-dir", str(tmp_path / "live"), "--pretrained", str(pretrained / "a")]) == 0
    trained = base_kernels(load_model(out, "train@vgg16_light", (32, 32, 3), 5))
    from ricecnn.networks.layers import _keras_base

    base = _keras_base("vgg16", str(pretrained / "a" / STANDIN_FILE))
    for name, kernel in trained.items():  # blocks 1-3, frozen: still the pretrained ones
        np.testing.assert_array_equal(kernel, base.get_layer(name).get_weights()[0])
    assert json.loads((tmp_path / "m.json").read_text())["weights"] == "standin"


def test_each_pretrained_model_gets_the_same_base_and_every_other_model_a_note(pretrained):
    stage = pretrained / "stage" / "a"
    from ricecnn.networks.registry import REGISTRY

    assert sorted(f.name for f in stage.iterdir()) == sorted(REGISTRY)
    assert (stage / "vgg16" / STANDIN_FILE).read_bytes() == (stage / "vgg16_light" / STANDIN_FILE).read_bytes()
    for name in set(REGISTRY) - set(TINY_PRETRAIN_MODELS):
        assert [f.name for f in (stage / name).iterdir()] == ["pretrain.json"]
        assert json.loads((stage / name / "pretrain.json").read_text())["pretrained"] is False


def test_with_nothing_to_pretrain_the_stage_writes_notes_and_starts_no_keras(tmp_path):
    params = write_params(tmp_path / "params.yaml", models=MODELS, pretrain={**TINY_PRETRAIN, "models": []})
    out = tmp_path / "pretrain"
    code = ("import sys; from ricecnn.core.cli import main; "
            f"rc = main(['pretrain', '--params', {str(params)!r}, '--out', {str(out)!r}]); "
            "sys.exit(rc or 3 * ('keras' in sys.modules))")
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    if p.returncode:
        pytest.fail(f"exit {p.returncode} (3: Keras was imported)\n{p.stderr}")
    assert [f.name for f in (out / "cnn").iterdir()] == ["pretrain.json"]
    assert json.loads((out / "vgg16" / "pretrain.json").read_text())["pretrained"] is False


@pytest.mark.parametrize("pretrained_arg, message", [
    (None, "models.vgg16.weights is standin: pass --pretrained <its folder of the pretrain stage's, models/pretrain/vgg16>"),
    ("nowhere", "models.vgg16.weights is standin, so vgg16 must be in pretrain.models and `dvc repro pretrain` run first"),
])
def test_standin_without_its_file_is_one_line(tmp_path, capsys, params, pretrained_arg, message):
    argv = ["train", "vgg16", "--seed", "42", "--params", str(params), "--split-dir", str(tmp_path / "split"),
            "--out", str(tmp_path / "m.keras"), "--metrics", str(tmp_path / "m.json"), "--live-dir", str(tmp_path / "live")]
    argv += ["--pretrained", str(tmp_path / pretrained_arg)] if pretrained_arg else []
    assert cli(argv) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1, err


def test_flops_builds_a_standin_model_without_its_weights(tmp_path, params):
    split = write_split(tmp_path / "split", {"val": 1}, ["a", "b", "c", "d", "e"])
    assert cli(["flops", "vgg16_light", "--params", str(params), "--split-dir", str(split), "--out", str(tmp_path / "f.json")]) == 0


def test_pretraining_a_model_that_takes_no_vgg_weights_is_one_line(tmp_path, capsys):
    params = write_params(tmp_path / "params.yaml", models=MODELS, pretrain={**TINY_PRETRAIN, "models": ["cnn"]})
    assert cli(["pretrain", "--params", str(params), "--out", str(tmp_path / "cnn")]) == 2
    err = capsys.readouterr().err
    assert "pretrain.models names cnn, whose builder takes no VGG weights" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "cnn").exists()


def test_no_default_vgg16_layer_is_frozen_at_its_random_initialisation():
    # params.yaml's own models: a model that freezes base layers loads weights that learned something (the
    # stand-in's pretrained base, which the pretrain stage makes for it, or ImageNet's), never its random draw
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    frozen = {m: e for m, e in params["models"].items() if e.get("freeze") not in (None, "none", 0)}
    assert {"vgg16", "vgg16_light"} <= set(frozen)
    for m, e in frozen.items():
        assert e.get("weights") not in (None, "none"), m
        if e["weights"] == "standin":
            assert m in params["pretrain"]["models"], m
