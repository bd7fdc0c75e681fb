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
                "--metrics", str(d / f"{rule}.json")])


def test_the_stage_writes_a_model_at_the_target_fine_tuned_alike(trained):
    import keras

    for rule in ("apoz", "l1"):
        assert run_stage(trained, rule) == 0
    m = {rule: json.loads((trained / f"{rule}.json").read_text()) for rule in ("apoz", "l1")}
    assert m["apoz"]["channels"] == m["l1"]["channels"] and m["apoz"]["flops_224"] == m["l1"]["flops_224"]
    assert m["apoz"]["kept"] != m["l1"]["kept"]  # the same counts, other channels
    assert m["apoz"]["flops_share_224"] <= 0.25 and m["apoz"]["finetune"]["epochs_run"] == 1
    model = keras.models.load_model(trained / "cnn_apoz.keras", compile=False)
    assert {c: model.get_layer(c).filters for c in m["apoz"]["channels"]} == m["apoz"]["channels"]


def test_bad_arguments_are_one_line(trained, capsys):
    assert run_stage(trained, "magnitude") == 2
    assert run_stage(trained, "apoz", "1.5") == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["ricecnn criteria: error: unknown criterion 'magnitude': one of apoz, l1, random",
                   "ricecnn criteria: error: --target 1.5 must be a share of the full model's FLOPs, between 0 and 1"]
