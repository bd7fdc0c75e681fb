"""Channel criteria at matched cost (ricecnn.channels.criteria, stages criteria@ and criteria_report@): each rule
picks the channels it should on a hand-made model, the FLOPs counted from the channel counts are the pruned
model's, every rule's cut has the same architecture at a target, the random rule is seeded per draw, no
criterion cuts a layer frozen at random initialisation, and the stages write every cut's scores and the report."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import yaml
from conftest import ROOT, synthetic_split, write_params

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
    fraction, kept, reached = criteria.match(model, criteria.Cost(model, 224), convs, target, 2)
    full = count_flops(resized(model, 224))["flops"]
    assert target - 0.03 <= reached <= target  # the largest share not above the target, within 3 points of it
    less = criteria.counts(model, convs, fraction - 1e-9, 2)  # and the next fraction down would be above it
    big = resized(model, 224)
    assert count_flops(criteria.surgery.prune(big, {c: list(range(k)) for c, k in less.items()}))["flops"] / full > target
    shares = set()
    for rule in criteria.RULES:
        chosen = criteria.keep(criteria.scores(rule, model, convs, images=np.zeros((2, 32, 32, 3), "float32"), seed=1), kept)
        pruned = criteria.surgery.prune(model, chosen)
        assert {c: len(k) for c, k in chosen.items()} == kept
        shares.add(count_flops(resized(pruned, 224))["flops"] / full)
    assert len(shares) == 1 and shares.pop() == pytest.approx(reached)  # the same architecture for every rule


def test_the_floor_stops_a_target_out_of_reach():
    model = build_model("cnn", 32, 5)
    _, kept, reached = criteria.match(model, criteria.Cost(model, 224), ["conv1", "conv2", "conv3"], 0.001, 8)
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
    removed, kept, reached = criteria.match_global(criteria.Cost(model, 8), ranked, 0.95, 1)
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
    _, kept, reached = criteria.match(model, criteria.Cost(model, 8), ["a", "b"], 0.5, 1)
    assert kept["a"] == 3 and reached <= 0.5
    apoz = criteria.keep(criteria.scores("apoz", model, ["a", "b"], images=images()), kept)
    l1 = criteria.keep(criteria.scores("l1", model, ["a", "b"]), kept)
    assert apoz["a"] == [0, 3, 4] and set(l1["a"]) >= {1, 2, 5}


@pytest.mark.parametrize("name", ["cnn", "googlenet"])
def test_the_flops_counted_from_the_channel_counts_are_the_pruned_model_s(name):
    """``Cost`` against ``count_flops`` of the pruned model itself at 224 px: Flatten->Dense (cnn) and the
    inception modules' concatenations (googlenet), random channel counts."""
    from ricecnn.networks.anatomy import relu_convs

    model = build_model(name, 32, 5)
    cost, big, rng = criteria.Cost(model, 224), resized(model, 224), np.random.default_rng(0)
    for _ in range(2):
        counts = {c: int(rng.integers(1, model.get_layer(c).filters + 1)) for c in relu_convs(model)}
        pruned = criteria.surgery.prune(big, {c: list(range(k)) for c, k in counts.items()})
        assert cost.flops(counts) == count_flops(pruned)["flops"]
    assert cost.flops({}) == cost.full


def test_a_layer_frozen_at_random_initialisation_is_never_cut():
    from ricecnn.stages.criteria import frozen_at_random

    model = hand_made()
    model.get_layer("a").trainable = False
    assert frozen_at_random(model, ["a", "b"], "none") == ["a"]  # random weights, frozen: never learned
    assert frozen_at_random(model, ["a", "b"], "standin") == []  # frozen, but pretrained: learned
    # every model `make criteria` cuts has learned every layer at the default settings
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    for line in yaml.safe_load((ROOT / "profiles/criteria.yaml").read_text()):
        key, value = line.split("=", 1)
        if key == "criteria.models":
            for name in value.strip("[]").split(","):
                entry = params["models"][name]
                assert entry.get("weights", "none") != "none" or entry.get("freeze", "none") == "none", name


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    d = tmp_path_factory.mktemp("criteria")
    synthetic_split(d)
    params = write_params(d / "params.yaml", models={"cnn": {"epochs": 1}},
                          criteria={"targets": [0.5, 0.25], "rankings": ["layer", "global"], "draws": 2,
                                    "finetune_epochs": 1, "samples": 8, "test_images": 8})
    assert cli(["train", "cnn", "--seed", "3", "--params", str(params), "--split-dir", str(d / "split"),
                "--out", str(d / "cnn.keras"), "--metrics", str(d / "train.json"), "--live-dir", str(d / "live")]) == 0
    return d


def run_stage(d, seed: int = 3, params: str = "params.yaml", model: str = "cnn.keras") -> int:
    return cli(["criteria", "cnn", "--seed", str(seed), "--params", str(d / params), "--model-file", str(d / model),
                "--split-dir", str(d / "split"), "--metrics", str(d / f"{seed}.json"), "--scores", str(d / f"{seed}.npy")])


def test_the_stage_cuts_by_every_rule_ranking_and_target_and_scores_each(trained):
    from ricecnn.study.criteria import load

    assert run_stage(trained) == 0
    m = json.loads((trained / "3.json").read_text())
    cuts = pd.DataFrame(m["cuts"])
    assert len(cuts) == 2 * 2 * (1 + 1 + 2)  # rankings x targets x (apoz, l1, random's 2 draws)
    for (ranking, target), g in cuts.groupby(["ranking", "target"]):
        assert (g.flops_share_224 <= target).all()
        if ranking == "layer":  # one architecture per target: the criterion is the only difference
            assert len({repr(c) for c in g.channels}) == 1 and g.flops_share_224.nunique() == 1
    assert cuts[cuts.ranking == "global"].channels.map(repr).nunique() > 1  # each rule's own architecture
    correct = load(m, np.load(trained / "3.npy"))
    assert all(len(v) == m["test_images"] == 8 for v in correct.values())
    tuned = [k for k in correct if k.endswith("/tuned")]
    assert sorted(tuned) == sorted(f"layer/{t:g}/{r}/0/tuned" for t in (0.5, 0.25) for r in ("apoz", "l1", "random"))
    assert [s["target"] for s in m["scratch"]] == [0.5, 0.25] and "layer/0.5/scratch/0/scratch" in correct
    for r in m["cuts"]:  # the record's accuracy is the scores' mean
        assert r["test_cut"] == pytest.approx(correct[f"{r['ranking']}/{r['target']:g}/{r['rule']}/{r['draw']}/cut"].mean())


def test_the_stage_refuses_a_model_frozen_at_random_initialisation(trained, capsys):
    import keras

    model = keras.models.load_model(trained / "cnn.keras", compile=False)
    model.get_layer("conv1").trainable = False
    model.save(trained / "frozen.keras")
    assert run_stage(trained, model="frozen.keras") == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err.startswith("ricecnn criteria: error: criteria cnn: 1 convolutions (conv1, ...) are frozen at their random")


def test_a_scratch_control_of_no_model_is_refused_in_one_line(trained, capsys):
    write_params(trained / "stray.yaml", models={"cnn": {"epochs": 1}}, criteria={"scratch": ["cnn", "vgg61"]})
    assert run_stage(trained, params="stray.yaml") == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "criteria.scratch names 'vgg61', which is no model" in err[0]


def test_the_report_gives_curves_comparisons_and_the_thesis_verdicts(tmp_path):
    """Made-up scores of 3 replicates: APoZ right on every image, l1 on none, random's two draws on half
    each: the thesis family (2 claims) says APoZ is better than both; the curves hold every rule."""
    n, targets = 40, [0.5, 0.25]
    for seed in (1, 2, 3):
        keys, rows, cuts = [], [], []
        for t in targets:
            for rule, draw, right in (("apoz", 0, 1.0), ("l1", 0, 0.0), ("random", 0, 0.5), ("random", 1, 0.5)):
                row = np.arange(n) < right * n if draw == 0 else np.arange(n) >= n - right * n
                keys.append(f"layer/{t:g}/{rule}/{draw}/cut"), rows.append(row)
                cuts.append({"ranking": "layer", "target": t, "rule": rule, "draw": draw, "flops_share_224": t - 0.01,
                             "params": 100, "channels": {}})
        (tmp_path / f"{seed}.json").write_text(json.dumps({"test_images": n, "keys": keys, "cuts": cuts, "scratch": []}))
        np.save(tmp_path / f"{seed}.npy", np.packbits(np.asarray(rows), axis=1))
    params = write_params(tmp_path / "params.yaml", replicates=[1, 2, 3], models={"cnn": {"epochs": 1}},
                          criteria={"models": ["cnn"], "targets": targets, "rankings": ["layer"]})
    out = {k: tmp_path / f"out.{k}" for k in ("curves", "figure", "metrics")}
    assert cli(["criteria_report", "cnn", "--params", str(params), "--records", str(tmp_path / "{seed}.json"),
                "--scores", str(tmp_path / "{seed}.npy"), *[f"--{k}={v}" for k, v in out.items()]]) == 0
    record = json.loads(out["metrics"].read_text())
    thesis = pd.DataFrame(record["thesis"]).set_index("other")
    comps = pd.DataFrame(record["comparisons"]).set_index(["target", "other"])  # each target alone, at 95 %
    assert comps.loc[(0.25, "l1"), "diff"] == pytest.approx(1.0) and comps.level.unique().tolist() == [0.95]
    assert thesis.loc["l1", "diff"] == pytest.approx(1.0) and thesis.loc["random", "diff"] == pytest.approx(0.5)
    assert set(thesis.verdict) == {"better"} and thesis.level.iloc[0] == pytest.approx(1 - 0.05 / 2)
    # a pilot's plan: sized at the interval's lower end, the replicates 80 % power takes there
    assert (thesis.planned_effect == thesis.lo).all() and (thesis.replicates_needed >= 2).all()
    curves = pd.read_csv(out["curves"]).set_index(["target", "rule"])
    assert curves.loc[(0.5, "random"), "accuracy"] == pytest.approx(0.5) and len(curves) == 2 * 3
    assert out["figure"].stat().st_size > 0


def test_a_claim_with_no_advantage_to_size_for_records_none_beside_one_that_has():
    """Two replicates: APoZ beats l1 on every image (a plan: replicates_needed a count), and ties random
    image for image (no advantage: None, which the record must keep as JSON null, not NaN)."""
    from ricecnn.study import criteria

    n, rng = 60, np.random.default_rng(0)
    correct = []
    for _ in range(2):
        right = rng.random(n) < 0.6
        correct.append({"layer/0.5/apoz/0/cut": right | (np.arange(n) < 50), "layer/0.5/l1/0/cut": np.arange(n) < 5,
                        "layer/0.5/random/0/cut": right | (np.arange(n) < 50)})
    thesis = criteria.thesis("cnn", correct, ["apoz", "l1", "random"], [0.5], 2, 0.0).set_index("other")
    assert isinstance(thesis.loc["l1", "replicates_needed"], int)
    assert thesis.loc["random", "planned_effect"] is None and thesis.loc["random", "replicates_needed"] is None
    assert json.loads(json.dumps(thesis.reset_index().to_dict(orient="records"), allow_nan=False))


def test_the_budget_pilot_settles_each_model_and_chooses_when_every_model_is_settled(tmp_path):
    """tools/criteria_budget.py on made-up records: at 12 against 24 one model still moves (+3 points), so no
    budget; at 24 against 48 that model alone runs and moves +0.5: 24 is chosen, and the docs' sentence gives
    each model's last pair (the settled one's 12 against 24)."""
    import subprocess
    import sys

    def records(folder, epochs, acc):
        for model in {m for m, _ in acc}:
            folder.mkdir(parents=True, exist_ok=True)
            cuts = [{"target": t, "rule": r, "test_tuned": a + 0.001 * i} for i, (t, r) in
                    enumerate([(0.75, "apoz"), (0.75, "l1"), (0.45, "apoz")]) for (m, a) in [(model, acc[model, epochs])]]
            (folder / f"{model}.json").write_text(json.dumps({"model": model, "seed": 101, "finetune_epochs": epochs,
                                                              "cuts": cuts}))

    acc = {("cnn", 12): 0.95, ("cnn", 24): 0.952, ("vgg16", 12): 0.80, ("vgg16", 24): 0.83, ("vgg16", 48): 0.835}
    records(tmp_path / "E12", 12, {k: v for k, v in acc.items()})
    records(tmp_path / "E24", 24, acc)
    records(tmp_path / "E48", 48, {k: v for k, v in acc.items() if k[0] == "vgg16"})
    jsonl = tmp_path / "budget.jsonl"
    tool = [sys.executable, str(ROOT / "tools" / "criteria_budget.py")]

    def pair(a, b):
        return subprocess.run([*tool, str(tmp_path / a), str(tmp_path / b), "--jsonl", str(jsonl)], capture_output=True,
                              text=True, check=True).stdout

    assert "budget: not reached: at least 24 epochs; run 24 against 48 next" in pair("E12", "E24")
    out = pair("E24", "E48")
    assert "budget: 24 epochs" in out and "all" not in out  # one model ran: no "all" row
    lines = [json.loads(line) for line in jsonl.read_text().splitlines()]
    assert [b["choice"] for b in lines] == [None, 24] and set(lines[1]["models"]) == {"vgg16"}
    sys.path.insert(0, str(ROOT / "tools"))
    from criteria_tables import pilot_table

    said = pilot_table(ROOT / "results" / "criteria-pilot", jsonl)
    assert "Chosen budget: **24 epochs**" in said
    assert "cnn's 12 against 24: +0.2" in said and "vgg16's 24 against 48: +0.5" in said
