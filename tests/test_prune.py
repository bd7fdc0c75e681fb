"""prune@<model>: the plan from APoZ, the physical surgery on every kind of graph, and the stage CLI.

Dead channels are made by hand: kernel 0 and bias -1 give a channel that is 0 after its ReLU on
every input. Live channels of the hand-built models get non-negative kernels and a positive bias
(on the non-negative images they are > 0 everywhere), so that the channel counts are exact.
"""

from __future__ import annotations

import json
from pathlib import Path

import keras
import numpy as np
import pytest
import yaml
from conftest import write_split
from keras import layers

from ricecnn.channels import apoz, selection, surgery
from ricecnn.core.cli import run_stage
from ricecnn.core.errors import RiceError
from ricecnn.networks.flops import count_flops
from ricecnn.core.io import write_json
from ricecnn.networks.anatomy import feature_layers
from ricecnn.networks.build import build_model
from ricecnn.networks.layers import inception
from ricecnn.inference.files import weights_digest
from ricecnn.stages import prune as stage

pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")  # Keras' own save()
ROOT = Path(__file__).resolve().parents[1]
TOL = 1e-5


def images(n: int = 6, size: int = 8, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (n, size, size, 3)).astype("float32")


def conv(x, filters, size, name, **kw):
    return layers.Conv2D(filters, size, padding="same", activation="relu", name=name, **kw)(x)


def make_live(model, seed: int = 0) -> None:
    """Every conv: |kernel| and bias 0.1, i.e. > 0 everywhere on non-negative input (scaled by the
    fan-in so that the softmax does not saturate and the output comparisons mean something)."""
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        if isinstance(layer, layers.Conv2D):
            k, b = layer.get_weights()
            fan_in = int(np.prod(k.shape[:-1]))
            layer.set_weights([np.abs(rng.normal(0, 1.5 / fan_in, k.shape)).astype("float32"), np.full_like(b, 0.1)])


def kill(model, layer: str, channels) -> None:
    """Make output channels of a conv 0 after its ReLU for every input."""
    k, b = model.get_layer(layer).get_weights()
    k[..., list(channels)], b[list(channels)] = 0, -1
    model.get_layer(layer).set_weights([k, b])


def measured(model, x) -> dict[str, np.ndarray]:
    """Exact per-channel APoZ of the feature layers over ``x``, as prune reads it."""
    return {n: c["zeros"] / c["positions"] for n, c in apoz.zero_counts(model, feature_layers(model), x, 4).items()}


def max_diff(a, b, x) -> float:
    return float(np.max(np.abs(np.asarray(a.predict_on_batch(x)) - np.asarray(b.predict_on_batch(x)))))


def filters(model) -> dict[str, int]:
    return {layer.name: layer.filters for layer in model.layers if isinstance(layer, layers.Conv2D)}


# --- the plan ---------------------------------------------------------------------------------------


def test_keep_channels_threshold_and_min_channels():
    apoz = [0.2, 1.0, 0.95, 0.5]
    assert selection.keep_channels(apoz, 1.0, 1) == [0, 2, 3]
    assert selection.keep_channels(apoz, 0.9, 1) == [0, 3]
    assert selection.keep_channels(apoz, 0.9, 3) == [0, 2, 3]  # the lowest APoZ make up the minimum
    assert selection.keep_channels([1.0, 1.0, 1.0], 1.0, 2) == [0, 1]  # all dead: min_channels, first on ties
    assert selection.keep_channels([1.0, 0.3], 1.0, 5) == [0, 1]  # never more than there are


def test_plan_checks_the_counts_are_this_model_s():
    # (its threshold and minimum come from the settings, which check their ranges: test_settings_are_validated)
    model = chain_model()
    result = measured(model, images())
    with pytest.raises(RiceError, match="no layer 'nope'.*rerun the featuremaps stage"):
        selection.plan(model, {**result, "nope": result["conv2"]}, 1.0, 1)
    with pytest.raises(RiceError, match="'conv2' has 5 channels but its APoZ counts have 3.*rerun the featuremaps"):
        selection.plan(model, {**result, "conv2": result["conv2"][:3]}, 1.0, 1)


# --- (1) conv chain with Flatten -> Dense -----------------------------------------------------------


def chain_model() -> keras.Model:
    keras.utils.set_random_seed(1)
    inp = keras.Input((8, 8, 3), name="image")
    x = layers.Rescaling(1 / 255, name="rescaling")(inp)
    x = conv(x, 4, 3, "conv1")
    x = layers.MaxPooling2D(2, name="pool1")(x)
    x = conv(x, 5, 3, "conv2")
    x = layers.Flatten(name="flatten")(x)
    x = layers.Dense(6, activation="relu", name="fc1")(x)
    x = layers.Dropout(0.3, name="dropout")(x)
    model = keras.Model(inp, layers.Dense(3, activation="softmax", name="predictions")(x), name="chain")
    make_live(model)
    fc1 = model.get_layer("fc1")
    fc1.set_weights([np.random.default_rng(2).normal(0, 0.3, fc1.kernel.shape).astype("float32"), np.zeros(6, "float32")])
    return model


def test_chain_flatten_dense_rows_are_sliced_per_position():
    model = chain_model()
    kill(model, "conv1", [1, 3])
    kill(model, "conv2", [0, 4])
    x = images()
    keep = selection.plan(model, measured(model, x), 1.0, 1)
    assert keep == {"conv1": [0, 2], "conv2": [1, 2, 3]}
    pruned = surgery.prune(model, keep)
    assert [layer.name for layer in pruned.layers] == [layer.name for layer in model.layers]
    assert filters(pruned) == {"conv1": 2, "conv2": 3}
    assert pruned.get_layer("conv2").kernel.shape == (3, 3, 2, 3)
    assert pruned.get_layer("fc1").kernel.shape == (4 * 4 * 3, 6)  # 16 positions x 3 channels
    assert max_diff(model, pruned, x) <= TOL
    assert max_diff(model, pruned, images(seed=5)) <= TOL  # hand-made dead channels are dead on any input
    assert pruned.count_params() < model.count_params()
    assert count_flops(pruned)["flops"] < count_flops(model)["flops"]
    # the rows really are per position: pruning a live channel changes the outputs
    assert max_diff(model, surgery.prune(model, {"conv2": [0, 2, 3, 4]}), x) > 1e-3


def test_a_layer_with_every_channel_dead_keeps_min_channels():
    model = chain_model()
    kill(model, "conv2", range(5))
    x = images()
    for m in (1, 2):
        keep = selection.plan(model, measured(model, x), 1.0, m)
        assert keep["conv2"] == list(range(m)) and keep["conv1"] == [0, 1, 2, 3]
        pruned = surgery.prune(model, keep)
        assert filters(pruned)["conv2"] == m
        assert max_diff(model, pruned, x) <= TOL


def test_a_lower_threshold_prunes_live_channels():
    model = chain_model()
    k, b = model.get_layer("conv1").get_weights()
    b[2] = -0.35  # channel 2: zero on part of the positions only
    model.get_layer("conv1").set_weights([k, b])
    x = images()
    result = measured(model, x)
    partly = result["conv1"][2]
    assert 0 < partly < 1
    assert selection.plan(model, result, 1.0, 1)["conv1"] == [0, 1, 2, 3]
    assert selection.plan(model, result, partly, 1)["conv1"] == [0, 1, 3]


# --- (2) an inception module followed by a conv ------------------------------------------------------


def inception_model() -> keras.Model:
    keras.utils.set_random_seed(3)
    inp = keras.Input((8, 8, 3), name="image")
    x = layers.Rescaling(1 / 255, name="rescaling")(inp)
    x = conv(x, 6, 3, "stem")
    x = inception(x, 2, 3, 4, 2, 3, 2, name="mod")  # 1x1: 2 | 3x3: 4 | 5x5: 3 | pool proj: 2 -> 11 channels
    x = conv(x, 5, 3, "after")
    x = layers.GlobalAveragePooling2D(name="avg_pool")(x)
    model = keras.Model(inp, layers.Dense(3, activation="softmax", name="predictions")(x), name="incep")
    make_live(model)
    return model


def test_inception_concat_channels_map_to_branch_convs():
    model = inception_model()
    assert feature_layers(model) == ["stem", "mod", "after"]
    assert surgery.feature_convs(model, "mod") == [("mod_1x1", 0, 2), ("mod_3x3", 2, 6), ("mod_5x5", 6, 9), ("mod_pool_proj", 9, 11)]
    kill(model, "stem", [2])
    kill(model, "mod_1x1", [0])
    kill(model, "mod_3x3", [1, 3])
    kill(model, "mod_pool_proj", [0, 1])  # a whole branch dead: it keeps min_channels
    kill(model, "mod_3x3_reduce", [0])  # not a feature layer: never pruned
    x = images()
    result = measured(model, x)
    assert int(np.sum(result["mod"] == 1.0)) == 5
    keep = selection.plan(model, result, 1.0, 1)
    assert keep == {"stem": [0, 1, 3, 4, 5], "mod_1x1": [1], "mod_3x3": [0, 2], "mod_5x5": [0, 1, 2],
                    "mod_pool_proj": [0], "after": [0, 1, 2, 3, 4]}
    pruned = surgery.prune(model, keep)
    got = filters(pruned)
    assert (got["stem"], got["mod_1x1"], got["mod_3x3"], got["mod_5x5"], got["mod_pool_proj"], got["after"]) == (5, 1, 2, 3, 1, 5)
    assert got["mod_3x3_reduce"] == 3 and got["mod_5x5_reduce"] == 2
    assert pruned.get_layer("mod").output.shape[-1] == 7
    assert pruned.get_layer("after").kernel.shape == (3, 3, 7, 5)
    assert pruned.get_layer("mod_pool_proj").kernel.shape == (1, 1, 5, 1)  # reads the pooled stem: 5 channels
    assert max_diff(model, pruned, x) <= TOL


# --- (3) a frozen VGG-style block, then a head --------------------------------------------------------


def vgg_model() -> keras.Model:
    keras.utils.set_random_seed(4)
    inp = keras.Input((8, 8, 3), name="image")
    x = layers.Rescaling(1 / 255, name="rescaling")(inp)
    x = conv(x, 4, 3, "block1_conv1", trainable=False)
    x = conv(x, 4, 3, "block1_conv2", trainable=False)
    x = layers.MaxPooling2D(2, strides=2, name="block1_pool")(x)
    x = conv(x, 6, 3, "block2_conv1")
    x = layers.GlobalAveragePooling2D(name="avg_pool")(x)
    x = layers.Dense(8, activation="relu", name="fc1")(x)
    x = layers.Dropout(0.3, name="dropout")(x)
    model = keras.Model(inp, layers.Dense(3, activation="softmax", name="predictions")(x), name="vggish")
    make_live(model)
    return model


def test_frozen_block_keeps_its_trainable_flags():
    model = vgg_model()
    kill(model, "block1_conv1", [0])
    kill(model, "block1_conv2", [1, 2])
    kill(model, "block2_conv1", [5])
    x = images()
    pruned = surgery.prune(model, selection.plan(model, measured(model, x), 1.0, 1))
    assert filters(pruned) == {"block1_conv1": 3, "block1_conv2": 2, "block2_conv1": 5}
    assert pruned.get_layer("fc1").kernel.shape == (5, 8)
    assert [layer.trainable for layer in pruned.layers] == [layer.trainable for layer in model.layers]
    assert not pruned.get_layer("block1_conv1").trainable and pruned.get_layer("block2_conv1").trainable
    assert len(pruned.trainable_weights) == len(model.trainable_weights)
    assert max_diff(model, pruned, x) <= TOL


def test_unsupported_layers_and_bad_keep_are_clear_errors():
    inp = keras.Input((8, 8, 3))
    x = conv(inp, 4, 3, "c1")
    x = layers.BatchNormalization(name="bn")(x)
    model = keras.Model(inp, layers.GlobalAveragePooling2D()(x))
    with pytest.raises(RiceError, match="'bn' is a BatchNormalization"):
        surgery.prune(model, {"c1": [0]})
    chain = chain_model()
    with pytest.raises(RiceError, match="no layer 'nope'"):
        surgery.prune(chain, {"nope": [0]})
    with pytest.raises(RiceError, match="only Conv2D"):
        surgery.prune(chain, {"fc1": [0]})
    with pytest.raises(RiceError, match="at least one channel"):
        surgery.prune(chain, {"conv1": []})
    with pytest.raises(RiceError, match="distinct indices in 0..3"):
        surgery.prune(chain, {"conv1": [0, 4]})


def test_layers_reused_in_another_model_are_not_shared_layers():
    # the training loop's frozen-prefix split calls a model's layers again in a new model (a second
    # Keras node on each); the surgery follows the model's own calls
    from ricecnn.training.fit import frozen_prefix, split_model

    model = vgg_model()
    kill(model, "block2_conv1", [5])
    split_model(model, frozen_prefix(model))
    assert len(model.get_layer("block2_conv1")._inbound_nodes) == 2
    x = images()
    pruned = surgery.prune(model, selection.plan(model, measured(model, x), 1.0, 1))
    assert filters(pruned)["block2_conv1"] == 5 and max_diff(model, pruned, x) <= TOL
    inp = keras.Input((8, 8, 3))
    shared = layers.Conv2D(3, 3, padding="same", activation="relu", name="twice")
    twice = keras.Model(inp, shared(shared(inp)))
    with pytest.raises(RiceError, match="'twice' is used more than once"):
        surgery.prune(twice, {"twice": [0, 1]})


# --- the real builders -------------------------------------------------------------------------------


@pytest.mark.parametrize("name, killed", [
    ("cnn", {"conv1": [3], "conv2": [0, 5], "conv3": [127]}),
    ("googlenet", {"conv2_3x3": [1], "inception_3a_3x3": [0, 2], "inception_4e_pool_proj": [3], "inception_5b_1x1": [0]}),
    ("vgg16", {"block1_conv2": [0], "block3_conv1": [9], "block5_conv3": [7]}),
])
def test_real_models_lose_killed_channels_and_keep_their_outputs(name, killed):
    keras.utils.set_random_seed(0)
    model = build_model(name, 32, 5)
    for layer, channels in killed.items():
        kill(model, layer, channels)
    x = images(4, 32)
    keep = selection.plan(model, measured(model, x), 1.0, 1)
    for layer, channels in killed.items():
        assert not set(channels) & set(keep[layer])
    pruned = surgery.prune(model, keep)
    assert max_diff(model, pruned, x) <= TOL
    assert pruned.count_params() < model.count_params()
    assert count_flops(pruned)["flops"] < count_flops(model)["flops"]
    assert [layer.name for layer in pruned.layers] == [layer.name for layer in model.layers]
    assert [layer.trainable for layer in pruned.layers] == [layer.trainable for layer in model.layers]


# --- the stage CLI ------------------------------------------------------------------------------------

CLASSES = ["Arborio", "Basmati", "Ipsala"]
KILLED = {"conv1": [0, 7], "conv2": [3]}


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("prune")
    split = write_split(root / "data" / "split", {"train": 9, "val": 12, "test": 6}, CLASSES)
    keras.utils.set_random_seed(1)
    model = build_model("cnn", 32, len(CLASSES))
    for layer, channels in KILLED.items():
        kill(model, layer, channels)
    (root / "models").mkdir()
    model.save(root / "models" / "cnn.keras")
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["data"]["img_size"] = 32
    params["featuremaps"] = {"samples": 8, "per_layer_max": 3}
    params["prune"].update(models=["cnn"], apoz_threshold=1.0, min_channels=1, finetune_epochs=0)
    (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    # the featuremaps stage's measurement, on its sample
    x = np.load(split / "val_x.npy")
    idx = apoz.sample(len(x), params["featuremaps"]["samples"], params["seed"], "featuremaps.samples", "val")
    counts = apoz.zero_counts(model, feature_layers(model), x[idx])
    record = apoz.record("cnn", 7, weights_digest(model), idx, counts)
    write_json(root / "metrics" / "featuremaps" / "cnn.json", record)
    return root


def prune_stage(root: Path, params: Path | None = None, featuremaps: Path | None = None) -> int:
    return run_stage(stage.main, [
        "cnn", "--seed", "7", "--params", str(params or root / "params.yaml"), "--model-file", str(root / "models" / "cnn.keras"),
        "--featuremaps", str(featuremaps or root / "metrics" / "featuremaps" / "cnn.json"),
        "--split-dir", str(root / "data" / "split"), "--out", str(root / "models" / "cnn_pruned.keras"),
        "--metrics", str(root / "metrics" / "prune" / "cnn.json"),
    ], "prune")  # fmt: skip


def with_prune(root: Path, **prune) -> Path:
    params = yaml.safe_load((root / "params.yaml").read_text())
    params["prune"].update(prune)
    path = root / f"params_{abs(hash(json.dumps(prune, sort_keys=True)))}.yaml"
    path.write_text(yaml.safe_dump(params, sort_keys=False))
    return path


def test_stage_writes_the_pruned_model_and_its_metrics(project):
    assert prune_stage(project) == 0
    m = json.loads((project / "metrics" / "prune" / "cnn.json").read_text())
    assert (m["model"], m["apoz_threshold"], m["min_channels"], m["samples"]) == ("cnn", 1.0, 1, 8)
    for layer, channels in KILLED.items():
        assert set(channels) <= set(m["layers"][layer]["removed"])
    assert m["channels_before"] == 32 + 64 + 128 and m["channels_after"] == m["channels_before"] - m["channels_removed"]
    assert m["layers"]["conv1"]["channels_after"] == 32 - len(m["layers"]["conv1"]["removed"])
    assert m["feature_layers"]["conv2"]["dead_channels"] == len(m["layers"]["conv2"]["removed"])
    assert m["params_after"] < m["params_before"] and m["flops_after"] < m["flops_before"]
    assert m["max_abs_output_diff"] <= TOL
    pruned = keras.models.load_model(project / "models" / "cnn_pruned.keras", compile=False)
    original = keras.models.load_model(project / "models" / "cnn.keras", compile=False)
    assert filters(pruned)["conv1"] == m["layers"]["conv1"]["channels_after"]
    assert pruned.count_params() == m["params_after"]
    assert pruned.name == f"{original.name}_pruned"  # its own name, not a layer's
    x = np.load(project / "data" / "split" / "val_x.npy").astype("float32")
    y = np.load(project / "data" / "split" / "val_y.npy")
    idx = apoz.sample(len(x), 8, 42, "featuremaps.samples", "val")
    assert max_diff(original, pruned, x[idx]) <= TOL
    # what it records on the whole val split is what the two saved models do there
    before, after = np.asarray(original.predict_on_batch(x)), np.asarray(pruned.predict_on_batch(x))
    assert m["max_abs_output_diff_val"] == pytest.approx(float(np.max(np.abs(after - before))), rel=1e-3, abs=1e-9)
    assert m["predictions_changed_val"] == int(np.sum(after.argmax(-1) != before.argmax(-1)))
    assert m["val_accuracy_before"] == pytest.approx(np.mean(before.argmax(-1) == y))
    assert m["val_accuracy_after"] == pytest.approx(np.mean(after.argmax(-1) == y))
    assert not list(project.rglob(".*.tmp"))


def test_stage_finetunes_when_asked(project):
    assert prune_stage(project) == 0
    plain = keras.models.load_model(project / "models" / "cnn_pruned.keras", compile=False)
    assert prune_stage(project, with_prune(project, finetune_epochs=1)) == 0
    m = json.loads((project / "metrics" / "prune" / "cnn.json").read_text())
    assert m["finetune_epochs"] == 1 and m["finetune"]["epochs_run"] == 1
    assert not {"train_seconds", "epoch_seconds"} & set(m["finetune"])  # timings printed, never in the record
    tuned = keras.models.load_model(project / "models" / "cnn_pruned.keras", compile=False)
    # the saved model is the fine-tuned one: the same architecture, other weights, the recorded accuracy
    assert filters(tuned) == filters(plain)
    assert any(not np.array_equal(a, b) for a, b in zip(tuned.get_weights(), plain.get_weights()))
    x, y = np.load(project / "data" / "split" / "val_x.npy"), np.load(project / "data" / "split" / "val_y.npy")
    assert m["val_accuracy_finetuned"] == pytest.approx(np.mean(np.argmax(tuned.predict_on_batch(x), -1) == y))


def test_a_change_beyond_the_tolerance_on_the_sample_is_an_error(project, capsys, tmp_path):
    """Counts that call a live channel dead (here conv1's channel 1, never zero) make the pruned
    model differ on the very sample the counts are from: the stage refuses to write it."""
    recorded = json.loads((project / "metrics" / "featuremaps" / "cnn.json").read_text())
    layer = recorded["layers"]["conv1"]
    live = next(c for c in range(32) if c not in KILLED["conv1"] and layer["zeros"][c] < layer["positions"])
    layer["zeros"][live] = layer["positions"]
    (tmp_path / "fm.json").write_text(json.dumps(recorded))
    out = project / "models" / "cnn_pruned.keras"
    out.unlink(missing_ok=True)
    assert prune_stage(project, featuremaps=tmp_path / "fm.json") == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "changed its outputs by" in err[0] and "prune.tolerance = 1e-05" in err[0]
    assert not out.exists()
    # a tolerance above the change lets it through: the check is the tolerance, nothing else
    assert prune_stage(project, with_prune(project, tolerance=10.0), featuremaps=tmp_path / "fm.json") == 0


@pytest.mark.parametrize("setting, message", [
    ({"apoz_threshold": 0}, "prune.apoz_threshold = 0 must be greater than 0"),
    ({"apoz_threshold": 1.5}, "prune.apoz_threshold = 1.5 must be less than or equal to 1"),
    ({"min_channels": 0}, "prune.min_channels = 0 must be greater than or equal to 1"),
    ({"min_channels": 1.5}, "prune.min_channels = 1.5 must be a valid integer"),
    ({"finetune_epochs": -1}, "prune.finetune_epochs = -1 must be greater than or equal to 0"),
    ({"min_channel": 2}, "unknown key prune.min_channel (did you mean 'min_channels'?)"),
    ({"models": ["cnn", "vgg17"]}, "prune.models names 'vgg17', which has no entry under models"),
])
def test_bad_settings_are_one_line_and_exit_2(project, capsys, setting, message):
    assert prune_stage(project, with_prune(project, **setting)) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("ricecnn prune: error: params") and message in err[0]


@pytest.mark.parametrize("change, message", [
    (lambda m: m.update(weights_sha256="0" * 64), "was measured on other weights than the model's"),
    (lambda m: m["sample"]["indices"].append(99), "was measured on another val split"),
    (lambda m: m.pop("sample"), "does not record its sample and model weights"),
    (lambda m: m["layers"].pop("conv2"), "has no counts for layer 'conv2' of cnn"),
])
def test_stale_featuremaps_are_refused(project, capsys, change, message):
    fm_json = json.loads((project / "metrics" / "featuremaps" / "cnn.json").read_text())
    change(fm_json)
    stale = project / "stale.json"
    stale.write_text(json.dumps(fm_json))
    assert prune_stage(project, featuremaps=stale) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0] and "`dvc repro featuremaps@cnn-7`" in err[0]
