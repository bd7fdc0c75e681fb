"""Channel criteria at matched cost (ricecnn.channels.criteria, stage criteria@): each rule picks the channels it
should on a hand-made model, every rule's model has the same architecture and FLOPs, the random rule is
seeded, and the stage writes a fine-tuned model at the target."""

from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import synthetic_split, write_params

from ricecnn.channels import criteria
from ricecnn.core.cli import main as cli
from ricecnn.networks.flops import count_flops, resized
from ricecnn.networks.build import build_model


def hand_made():
    """input (8x8x3) -> conv a (6 channels, ReLU) -> conv b (4 channels, ReLU) -> GAP -> dense 3. Channel
    2 of a is dead (a large filter but a bias far below anything it can add up to: zero after its ReLU
    on every image); channel 4 of a has the smallest filter (every weight 0.01), channel 0 the largest
    (every weight 1). So APoZ and the L1 norm disagree on which channel goes first."""
    import keras

    x = inputs = keras.Input((8, 8, 3))
    x = keras.layers.Conv2D(6, 3, padding="same", activation="relu", name="a")(x)
    x = keras.layers.Conv2D(4, 3, padding="same", activation="relu", name="b")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    model = keras.Model(inputs, keras.layers.Dense(3, activation="softmax")(x))
    kernel = np.full((3, 3, 3, 6), 0.1, dtype="float32")
    kernel[..., 0], kernel[..., 2], kernel[..., 4] = 1.0, 0.5, 0.01
    bias = np.zeros(6, dtype="float32")
    bias[2] = -1000.0
    model.get_layer("a").set_weights([kernel, bias])
    return model


def images(n: int = 4) -> np.ndarray:
    return np.random.default_rng(0).uniform(0, 1, (n, 8, 8, 3)).astype("float32")


def test_each_rule_scores_the_channels_it_should():
    model = hand_made()
    apoz = criteria.scores("apoz", model, ["a", "b"], images=images())
    assert apoz["a"][2] == 1.0 and np.argmax(apoz["a"]) == 2  # the dead channel: zero everywhere, first to go
    l1 = criteria.scores("l1", model, ["a", "b"])
    assert np.argmax(l1["a"]) == 4 and np.argmin(l1["a"]) == 0  # the smallest filter first, the largest last
    kept = criteria.keep(l1, {"a": 5, "b": 4})
    assert kept["a"] == [0, 1, 2, 3, 5] and kept["b"] == [0, 1, 2, 3]
    assert criteria.keep(apoz, {"a": 5, "b": 4})["a"] == [0, 1, 3, 4, 5]


def test_the_random_rule_is_seeded():
    model = hand_made()
    a, b = (criteria.scores("random", model, ["a", "b"], seed=s) for s in (1, 1))
    c = criteria.scores("random", model, ["a", "b"], seed=2)
    assert all(np.array_equal(a[k], b[k]) for k in a)  # the same seed: the same channels
    kept = {k: 3 for k in ("a", "b")}
    assert criteria.keep(a, kept) != criteria.keep(c, kept)  # another seed: other channels
    assert not np.array_equal(a["a"][:4], a["b"])  # and each layer its own order


@pytest.mark.parametrize("target", [0.5, 0.25, 0.1])
def test_every_rule_reaches_the_same_flops_at_the_target(target):
    model = build_model("cnn", 32, 5)
    convs = ["conv1", "conv2", "conv3"]
    fraction, kept, reached = criteria.match(model, convs, target, 2, 224)
    full = count_flops(resized(model, 224))["flops"]
    assert target - 0.03 <= reached <= target  # the largest share not above the target, within 3 points of it
    less = criteria.counts(model, convs, fraction - 1e-9, 2)  # and the next fraction down would be above it
    big = resized(model, 224)
    assert count_flops(criteria.surgery.prune(big, {c: list(range(k)) for c, k in less.items()}))["flops"] / full > target
    shares = set()
    for rule in criteria.RULES:
        pruned, chosen = criteria.prune(model, rule, kept, images=np.zeros((2, 32, 32, 3), "float32"), seed=1)
        assert {c: len(k) for c, k in chosen.items()} == kept
        shares.add(count_flops(resized(pruned, 224))["flops"] / full)
    assert len(shares) == 1 and shares.pop() == pytest.approx(reached)  # the same architecture for every rule


def test_the_floor_stops_a_target_out_of_reach():
    model = build_model("cnn", 32, 5)
    _, kept, reached = criteria.match(model, ["conv1", "conv2", "conv3"], 0.001, 8, 224)
    assert set(kept.values()) == {8} and reached > 0.001  # every conv at its floor: as far as it gets


def test_the_global_ranking_compares_layers_on_one_scale():
    # L1 norms a: 1, 2, 3, 4 (largest 4); b: 120, 400, 380, 390 (largest 400): divided by their layer's
    # largest, a's 0.25 and 0.5 and b's 0.3 are the three smallest; by the raw norms, a's three smallest
    l1 = {"a": -np.array([1.0, 2.0, 3.0, 4.0]), "b": -np.array([120.0, 400.0, 380.0, 390.0])}
    ranked = criteria.global_scores("l1", l1)
    assert criteria.global_keep(ranked, 3, 1) == {"a": [2, 3], "b": [1, 2, 3]}
    assert criteria.global_keep(l1, 3, 1) == {"a": [3], "b": [0, 1, 2, 3]}  # raw magnitudes: a layer emptied
    # a layer at its floor is passed over: a keeps 2 (its 0.75 is skipped), the fourth comes from b (0.95)
    assert criteria.global_keep(ranked, 4, 2) == {"a": [2, 3], "b": [1, 3]}
    assert criteria.global_keep(ranked, 6, 2) == {"a": [2, 3], "b": [1, 3]}  # every layer at its floor: no further
    assert criteria.global_keep(ranked, 0, 2) == {"a": [0, 1, 2, 3], "b": [0, 1, 2, 3]}
    random = criteria.global_scores("random", {"a": np.array([0.0, 1.0]), "b": np.array([3.0, 0.0, 1.0, 2.0])})
    assert all(np.all((v >= 0) & (v < 1)) for v in random.values())  # ranks over the width: layers compare


def test_a_global_apoz_cut_takes_the_dead_channel_first_and_meets_the_target():
    model = hand_made()
    ranked = criteria.global_scores("apoz", criteria.scores("apoz", model, ["a", "b"], images=images()))
    removed, kept, reached = criteria.match_global(model, ranked, 0.95, 1, 8)
    assert 2 not in kept["a"] and reached <= 0.95  # the dead channel is the first to go
    fewer = criteria.global_keep(ranked, removed - 1, 1)
    full = count_flops(model)["flops"]
    assert count_flops(criteria.surgery.prune(model, fewer))["flops"] / full > 0.95  # and no fewer channels would do


def test_on_a_model_with_many_dead_channels_apoz_removes_the_dead_ones_first():
    """Half of conv a dead (channels 1, 2 and 5: biases far below what their filters add up to), the
    largest filters among them: at a target that takes half of every layer, APoZ removes exactly the
    dead ones from a (and nothing any image sees changes there), the L1 norm keeps them."""
    model = hand_made()
    kernel, bias = model.get_layer("a").get_weights()
    kernel[..., [1, 2, 5]], bias[[1, 2, 5]] = 2.0, -1000.0
    model.get_layer("a").set_weights([kernel, bias])
    _, kept, reached = criteria.match(model, ["a", "b"], 0.5, 1, 8)
    assert kept["a"] == 3 and reached <= 0.5
    _, apoz = criteria.prune(model, "apoz", kept, images=images())
    _, l1 = criteria.prune(model, "l1", kept)
    assert apoz["a"] == [0, 3, 4] and set(l1["a"]) >= {1, 2, 5}


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    d = tmp_path_factory.mktemp("criteria")
    synthetic_split(d)
    params = write_params(d / "params.yaml", models={"cnn": {"epochs": 1}}, criteria={"finetune_epochs": 1, "samples": 8})
    assert cli(["train", "cnn", "--seed", "3", "--params", str(params), "--split-dir", str(d / "split"),
                "--out", str(d / "cnn.keras"), "--metrics", str(d / "train.json"), "--live-dir", str(d / "live")]) == 0
    return d


def run_stage(d, rule: str, target: str = "0.25") -> int:
    return cli(["criteria", "cnn", "--rule", rule, "--target", target, "--seed", "3", "--params", str(d / "params.yaml"),
                "--model-file", str(d / "cnn.keras"), "--split-dir", str(d / "split"), "--out", str(d / f"cnn_{rule}.keras"),
                "--out-cut", str(d / f"cnn_{rule}_cut.keras"), "--metrics", str(d / f"{rule}.json")])


def test_the_stage_writes_a_model_at_the_target_fine_tuned_alike(trained):
    import keras

    from ricecnn.training.predict import model_accuracy

    for rule in ("apoz", "l1"):
        assert run_stage(trained, rule) == 0
    m = {rule: json.loads((trained / f"{rule}.json").read_text()) for rule in ("apoz", "l1")}
    assert m["apoz"]["channels"] == m["l1"]["channels"] and m["apoz"]["flops_224"] == m["l1"]["flops_224"]
    assert m["apoz"]["kept"] != m["l1"]["kept"]  # the same counts, other channels
    assert m["apoz"]["flops_share_224"] <= 0.25 and m["apoz"]["finetune"]["epochs_run"] == 1
    model = keras.models.load_model(trained / "cnn_apoz.keras", compile=False)
    assert {c: model.get_layer(c).filters for c in m["apoz"]["channels"]} == m["apoz"]["channels"]
    # the model right after the cut: the same architecture, the weights before fine-tuning, its recorded accuracy
    cut = keras.models.load_model(trained / "cnn_apoz_cut.keras", compile=False)
    assert [w.shape for w in cut.get_weights()] == [w.shape for w in model.get_weights()]
    assert any(not np.array_equal(a, b) for a, b in zip(cut.get_weights(), model.get_weights()))
    x, y = np.load(trained / "split" / "val_x.npy"), np.load(trained / "split" / "val_y.npy")
    assert model_accuracy(cut, x, y, 64) == pytest.approx(m["apoz"]["val_accuracy_pruned"], abs=1e-6)
    assert model_accuracy(model, x, y, 64) == pytest.approx(m["apoz"]["val_accuracy"], abs=1e-6)


def test_a_global_cut_without_fine_tuning_records_the_accuracy_right_after_the_cut(trained):
    import keras

    from ricecnn.training.predict import model_accuracy

    params = write_params(trained / "global.yaml", models={"cnn": {"epochs": 1}},
                          criteria={"finetune_epochs": 0, "samples": 8, "ranking": "global"})
    assert cli(["criteria", "cnn", "--rule", "l1", "--target", "0.5", "--seed", "3", "--params", str(params),
                "--model-file", str(trained / "cnn.keras"), "--split-dir", str(trained / "split"),
                "--out", str(trained / "cnn_l1_global.keras"), "--out-cut", str(trained / "cnn_l1_global_cut.keras"),
                "--metrics", str(trained / "global.json")]) == 0
    m = json.loads((trained / "global.json").read_text())
    assert m["ranking"] == "global" and m["finetune"] == {} and m["val_accuracy"] == m["val_accuracy_pruned"]
    assert m["flops_share_224"] <= 0.5 and len(set(m["channels"].values())) > 1  # the layers cut by different shares
    model = keras.models.load_model(trained / "cnn_l1_global.keras", compile=False)
    x, y = np.load(trained / "split" / "val_x.npy"), np.load(trained / "split" / "val_y.npy")
    assert model_accuracy(model, x, y, 64) == pytest.approx(m["val_accuracy_pruned"], abs=1e-6)  # the saved cut model's


def test_bad_arguments_are_one_line(trained, capsys):
    assert run_stage(trained, "magnitude") == 2
    assert run_stage(trained, "apoz", "1.5") == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["ricecnn criteria: error: unknown criterion 'magnitude': one of apoz, l1, random",
                   "ricecnn criteria: error: --target 1.5 must be a share of the full model's FLOPs, between 0 and 1"]
