"""summarize: tables, comparisons, verdicts and findings over training seeds, computed from made-up
metrics and per-image predictions whose answers are known, and the stage CLI."""

from __future__ import annotations

import re

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from conftest import ROOT

from ricecnn.core.cli import main as cli
from ricecnn.evaluation.augment import TRANSFORMS
from ricecnn.study import findings, pages, stats, tables, words
from ricecnn.study import records as study_
from ricecnn.study.paper import paper_table
from ricecnn.evaluation.plan import evaluated
from ricecnn.study.settings import Family

CLASSES = ["Arborio", "Basmati", "Ipsala", "Jasmine", "Karacadag"]
N = 1000
MODELS = evaluated(["cnn", "cnn_light"], ["cnn"], ["cnn"])
LINES = ["cnn", "cnn_light"]  # the trained models: each with the variants made from it, one folder and stage
NAMES = [m.name for m in MODELS]  # cnn, cnn_light, cnn_pruned, cnn_trim, cnn_trim_scratch
FLOPS = {"cnn": 2e9, "cnn_light": 2e7, "cnn_pruned": 1.8e9, "cnn_trim": 2e8, "cnn_trim_scratch": 2e8}


def correct(seeds: list[int]) -> dict[str, np.ndarray]:
    """Per model (seeds, images) correctness with known answers: cnn right on 90 %, cnn_light on 70 %
    of the images (clearly worse), cnn_pruned exactly cnn, cnn_trim cnn with 3 more wrong images
    (a 0.3-point loss), the control 5 points above cnn_trim on one seed only; right after the cut,
    APoZ's model 10 points below cnn and chance's 30 points below APoZ's, fine-tuned APoZ's half a
    point below cnn and chance's one point below APoZ's."""
    rng = np.random.default_rng(0)
    k = len(seeds)
    cnn = rng.random((k, N)) < 0.9
    trim = cnn.copy()
    trim[:, np.flatnonzero(cnn.all(axis=0))[:3]] = False  # three images every cnn seed gets right
    scratch = trim.copy()
    scratch[0, np.flatnonzero(~trim[0])[:50]] = True
    apoz = cnn.copy()
    apoz[:, np.flatnonzero(cnn.all(axis=0))[:5]] = False  # half a point below cnn
    chance = apoz.copy()
    chance[:, np.flatnonzero(apoz.all(axis=0))[:10]] = False  # one point below APoZ's after fine-tuning
    apoz_cut = cnn.copy()
    apoz_cut[:, np.flatnonzero(cnn.all(axis=0))[:100]] = False
    chance_cut = apoz_cut.copy()
    chance_cut[:, np.flatnonzero(apoz_cut.all(axis=0))[:300]] = False  # 30 points below APoZ's: its channels were worse
    return {"cnn_apoz_0.25": apoz, "cnn_random_0.25": chance, "cnn_apoz_0.25_cut": apoz_cut, "cnn_random_0.25_cut": chance_cut,
            "cnn": cnn, "cnn_light": rng.random((k, N)) < 0.7, "cnn_pruned": cnn.copy(), "cnn_trim": trim,
            "cnn_trim_scratch": scratch}


def labels() -> np.ndarray:
    return np.arange(N) % len(CLASSES)


def predictions(right: np.ndarray) -> pd.DataFrame:
    """One seed's predictions CSV: the actual class where right, the next class where wrong (all conditions alike)."""
    actual = labels()
    guess = np.where(right, actual, (actual + 1) % len(CLASSES))
    cols = {"image": np.arange(N), "actual": [CLASSES[i] for i in actual]}
    for c in ("clean", *TRANSFORMS, "augmented"):
        cols[c] = [CLASSES[i] for i in guess]
    return pd.DataFrame(cols)


def cost(name: str) -> dict:
    return {"params": 1000, "params_trainable": 1000, "flops": FLOPS[name] / 49, "macs": FLOPS[name] / 98,
            "filters": 100, "flops_224": FLOPS[name], "params_224": 49_000}


def metrics(seeds: list[int]) -> dict:
    """Every stage's metrics, as the stages write them, for ``seeds``."""
    rounds = [{"round": 0, **cost("cnn"), "val_accuracy": 0.9, "within_budget": True},
              {"round": 1, **cost("cnn_trim"), "val_accuracy": 0.89, "within_budget": True}]
    out = {"flops": {m: {**{k: v for k, v in cost(m).items() if k != "params_trainable"}, "img_size": 32, "num_classes": 5}
                     for m in ("cnn", "cnn_light")}}
    for s in seeds:
        out[s] = {
            "train": {m: {"val_accuracy": 0.9, "best_epoch": 12, "epochs_run": 12, "epochs_max": 12, "train_accuracy": 0.99,
                          "lowest_val_loss_epoch": 9, "params_trainable": 1000} for m in ("cnn", "cnn_light")},
            "featuremaps": {"cnn": {"dead_fraction": 0.1, "samples": 256}, "cnn_light": {"dead_fraction": 0.05, "samples": 256}},
            "prune": {"cnn": {**{f"{k}_after": v for k, v in cost("cnn_pruned").items()}, "dead_fraction_after": 0.0,
                              "val_accuracy_after": 0.9, "channels_removed": 22, "channels_before": 224,
                              "dead_channels_trained_layers": 22, "dead_channels_frozen_layers": 0, "samples": 256,
                              "max_abs_output_diff": 1e-7, "max_abs_output_diff_val": 1e-6, "predictions_changed_val": 0}},
            "trim": {"cnn": {**cost("cnn_trim"), "val_accuracy": 0.89, "rounds": rounds, "kept_round": 1,
                             "full_val_accuracy": 0.9, "budget": 0.02, "stopped": "max_rounds (1) reached"}},
            "trim_scratch": {"cnn": {"val_accuracy": 0.88, "best_epoch": 10, "epochs_run": 10, "epochs_max": 10,
                                     "train_accuracy": 0.97, "lowest_val_loss_epoch": 7}},
            "evaluate": {m: {"misclassified": 100} for m in NAMES},
        }
    return out


FAMILIES = {"confirmatory": Family(kinds=["light"], conditions=["clean", "augmented"]),  # 2 claims: 97.5 % intervals
            "data_found": Family(kinds=["trim", "trim_vs_light"], conditions=["clean", "augmented"]),  # 4 claims: 98.75 %
            "controls": Family(kinds=["trim_scratch"], conditions=["clean", "augmented"])}  # the pruned: exploratory


def study(seeds: list[int]) -> study_.Study:
    m = metrics(seeds)
    by_seed = {k: {} for k in ("train", "cost", "dead")}
    for s in seeds:
        per = {**m[s], "flops": m["flops"]}
        by_seed["train"][s], by_seed["cost"][s], by_seed["dead"][s] = study_.sources(MODELS, per)
    right = correct(seeds)
    frames = {s: {name: predictions(right[name][i]) for name in NAMES} for i, s in enumerate(seeds)}
    return study_.Study(seeds, MODELS, **by_seed, evaluate={s: m[s]["evaluate"] for s in seeds},
                        correct=study_.correctness(frames, NAMES), prune={s: m[s]["prune"] for s in seeds},
                        trim={s: m[s]["trim"] for s in seeds},
                        margin=0.02, img_size=32, classes=CLASSES,
                        predicted=study_.correctness(frames, NAMES, column="predicted"), failed_run=0.15,
                        families=FAMILIES, dead_samples=256, pictures_seed=seeds[0])


def test_accuracies_are_means_over_seeds_with_their_interval():
    st_ = study([1, 2, 3])
    df = tables.summary_table(st_).set_index("model")
    right = correct([1, 2, 3])
    row = df.loc["cnn_light"]
    assert row.augmented_accuracy == pytest.approx(right["cnn_light"].mean())
    assert row.augmented_by_seed == ";".join(f"{v:.4f}" for v in right["cnn_light"].mean(axis=1))
    _, lo, hi = stats.over_seeds(right["cnn_light"])
    assert (row.augmented_accuracy_lo, row.augmented_accuracy_hi) == pytest.approx((lo, hi))
    assert df.loc["cnn_trim_scratch", "baseline"] == "cnn_trim" and df.loc["cnn_trim", "flops_224"] == 2e8


def test_comparisons_read_each_verdict_off_its_familys_interval():
    comps = tables.comparisons(study([1, 2, 3]))
    assert len(comps) == 10  # light, pruned, trim vs full, trim vs light, control vs trim, on both test sets
    assert comps.groupby("claim_family").size().to_dict() == {"confirmatory": 2, "data_found": 4, "controls": 2,
                                                              "exploratory": 2}  # pruned both
    assert comps[comps.claim_family == "confirmatory"].level.tolist() == pytest.approx([1 - 0.05 / 2] * 2)
    assert comps[comps.claim_family == "data_found"].level.tolist() == pytest.approx([1 - 0.05 / 4] * 4)
    got = {(r.variant, r.against): r.verdict for r in comps[comps.condition == "augmented"].itertuples()}
    assert got[("cnn_light", "cnn")] == "worse"  # 20 points down: surely more than the margin of 2
    assert got[("cnn_pruned", "cnn")] == "identical"  # exploratory: a fact, no verdict
    assert got[("cnn_trim", "cnn")] == "not worse"  # 0.3 points lost, surely less than 2
    assert got[("cnn_trim", "cnn_light")] == "not worse"
    assert got[("cnn_trim_scratch", "cnn_trim")] == "inconclusive"  # +5, 0, 0: one seed says nothing about the architecture
    # every row of a family: the verdict is the one its printed interval gives, and so is the adjusted p
    for r in comps[comps.claim_family != "exploratory"].itertuples():
        m = r.margin_pp  # 2 points
        assert r.verdict == (("better" if m == 0 else "not worse") if r.lo_pp > -m else "worse" if r.hi_pp < -m else "inconclusive")
        assert (r.p_adjusted < 0.05) == (r.verdict != "inconclusive")
        assert r.p_adjusted == pytest.approx(min(1.0, r.p_margin * (0.05 / (1 - r.level))))
    trim = comps[(comps.variant == "cnn_trim") & (comps.against == "cnn") & (comps.condition == "augmented")].iloc[0]
    assert trim.diff_pp == pytest.approx(-0.3) and trim.per_seed_pp == "-0.3;-0.3;-0.3"
    assert trim.flops_ratio_224 == pytest.approx(10.0) and trim.kind == "trimmed vs full"
    # the interval is the family's simultaneous one
    e = stats.architecture_effect(*(correct([1, 2, 3])[m] for m in ("cnn_trim", "cnn")), level=1 - 0.05 / 4)
    assert (trim.lo_pp, trim.hi_pp) == pytest.approx((100 * e.lo, 100 * e.hi)) and trim.p_margin == pytest.approx(e.p(-0.02))
    # every claim of a family has its power; an undecided one the seeds that would decide it
    scratch = comps[(comps.variant == "cnn_trim_scratch") & (comps.condition == "augmented")].iloc[0]
    assert 0 <= scratch.power < 0.8 and 0 <= scratch.power_at_zero < 0.8 and scratch.seeds_needed
    decided = comps[(comps.claim_family != "exploratory") & (comps.verdict != "inconclusive")]
    assert len(decided) and not decided.seeds_needed.astype(bool).any()


def test_a_claim_named_undecidable_before_the_runs_is_exploratory_and_outside_its_family():
    st_ = study([1, 2, 3])
    st_.families = {**FAMILIES, "data_found": Family(kinds=["trim", "trim_vs_light"], conditions=["clean", "augmented"],
                                                     undecidable=["cnn_trim"])}
    comps = tables.comparisons(st_)
    named = comps[comps.named_undecidable]
    assert set(zip(named.variant, named.against)) == {("cnn_trim", "cnn"), ("cnn_trim", "cnn_light")}
    assert set(named.claim_family) == {"exploratory"} and set(named.verdict) == {"exploratory"}
    assert named.level.tolist() == pytest.approx([0.95] * 4) and named.power.isna().all()
    assert "data_found" not in set(comps.claim_family)  # the family left with no claim
    df = tables.summary_table(st_)
    text = findings.headline(st_, df, comps)
    withheld = text[text.index("**Withheld by the plan**"):]
    assert "cnn_trim vs cnn (clean), -0.3 pts [" in withheld and "(95 %)" in withheld
    assert "**Where the data cannot decide**" not in text or "cnn_trim vs cnn (clean)" not in text[
        text.index("**Where the data cannot decide**"):text.index("**Withheld by the plan**")]  # never "cannot decide"
    assert "(withheld by the plan, their pilot interval holding the margin" not in text  # data_found has no claim
    st_.families = {"confirmatory": Family(kinds=["light", "trim"], conditions=["clean"], undecidable=["cnn_trim"])}
    page = "\n".join(findings.setup_lines(st_, tables.comparisons(st_)))
    assert ("`confirmatory`: the 1 claim light vs full and trimmed vs full on clean images, each interval at 95 % ("
            "withheld by the plan, their pilot interval holding the margin: cnn_trim vs cnn)") in page


def test_the_robustness_table_compares_on_the_images_each_transform_was_scored_on():
    st_ = study([1, 2, 3])
    rows = np.arange(0, N, 10)  # each transform alone scored on every tenth image
    for m in ("cnn", "cnn_light"):
        for t in TRANSFORMS:
            st_.correct[m][t] = st_.correct[m][t][:, rows]
    st_.robustness_rows = rows
    robust = tables.robustness_table(st_).set_index("model")
    right = correct([1, 2, 3])["cnn_light"][0]  # seed 1, the pictures seed
    assert robust.loc["cnn_light", "clean"] == pytest.approx(right[rows].mean())
    assert robust.loc["cnn_light", "all five"] == pytest.approx(right[rows].mean())  # augmented: the same images
    assert robust.loc["cnn_light", "flip"] == pytest.approx(right[rows].mean())


def test_a_run_that_failed_to_train_counts_and_its_exclusion_is_a_sensitivity_analysis():
    st_ = study([1, 2, 3])
    for name in ("cnn_light",):
        st_.train[2][name] = {**st_.train[2][name], "val_accuracy": 0.5}  # 40 points below its best run
    assert st_.failed("cnn_light") == [2] and st_.failed("cnn") == []
    comps = tables.comparisons(st_)
    light = comps[(comps.variant == "cnn_light") & (comps.condition == "clean")].iloc[0]
    right = correct([1, 2, 3])
    every = stats.architecture_effect(right["cnn_light"], right["cnn"], light.level)
    kept = stats.architecture_effect(right["cnn_light"][[0, 2]], right["cnn"][[0, 2]], light.level)
    assert light.seeds_used == 3 and light.failed_seeds == "2" and light.diff_pp == pytest.approx(100 * every.diff)
    assert light.sens_seeds_used == 2 and (light.sens_diff_pp, light.sens_lo_pp) == pytest.approx((100 * kept.diff, 100 * kept.lo))
    assert light.sens_verdict == stats.verdict(kept.lo, kept.hi, 0.02)
    trim = comps[(comps.variant == "cnn_trim") & (comps.against == "cnn") & (comps.condition == "clean")].iloc[0]
    assert trim.seeds_used == 3 and np.isnan(trim.sens_diff_pp)  # cnn's runs all trained: no sensitivity analysis
    page = "\n".join(findings.setup_lines(st_, comps))
    assert "Runs that failed to train (validation accuracy more than 15 points below the best run of the same model" in page
    assert "cnn_light: seed 2, of 3 runs per model. Every run counts in the verdicts" in page
    line = next(x for x in findings.findings(st_, tables.summary_table(st_), comps, paper_table(0.02),
                                             tables.robustness_table(st_)) if x.startswith("cnn_light against cnn"))
    assert "; without the failed runs (seed 2): " in line


def test_one_seed_is_about_these_networks_only():
    st_ = study([7])
    comps = tables.comparisons(st_)
    c = comps[(comps.variant == "cnn_trim_scratch") & (comps.condition == "augmented")].iloc[0]
    d = stats.paired(correct([7])["cnn_trim_scratch"][0], correct([7])["cnn_trim"][0], level=c.level)
    assert c.level == pytest.approx(1 - 0.05 / 2) and (c.diff_pp, c.lo_pp, c.hi_pp, c.p_zero) == pytest.approx((100 * d.diff, 100 * d.lo, 100 * d.hi, d.p))
    assert c.p_margin == pytest.approx(stats.tango_p(*d.discordant, 1000, -0.02))
    text = pages.findings_page(st_, tables.summary_table(st_), comps, [])
    assert "1 replicate: about these trained networks only, not their architectures" in text


def test_the_headline_answers_from_the_verdicts():
    st_ = study([1, 2, 3])
    df, comps = tables.summary_table(st_), tables.comparisons(st_)
    text = findings.headline(st_, df, comps)
    assert text.startswith("**Is a CNN with all-black feature maps wasting its filters?** On the synthetic stand-in "
                           "(32 px, 1,000 test images clean and augmented, 3 replicates, each its own data draw and training seed; `not worse` means it loses "
                           "less than 2 points of accuracy, a margin fixed before the runs; a verdict is read off the "
                           "interval beside it, its family's simultaneous one (families fixed before the runs: "
                           "`confirmatory`: the 2 claims light vs full on clean and augmented images, each interval at 97.5 %; "
                           "`data_found`: the 4 claims ")
    assert ("- **Dead channels.** Of the full models' feature-map channels, cnn 10.0 % are zero on every one of the 256 "
            "validation images measured; removing them leaves every prediction of cnn the same on every test image of "
            "every replicate, and cuts their FLOPs by 10.0 %.") in text
    light, cnn = (correct([1, 2, 3])[m] for m in ("cnn_light", "cnn"))
    assert (f"- **The hand-made light models.** cnn_light (99.0 % fewer FLOPs than cnn) scores {100 * light.mean():.1f} % "
            f"clean and {100 * light.mean():.1f} % augmented against cnn's {100 * cnn.mean():.1f} % and {100 * cnn.mean():.1f} %: "
            "worse (loses more than 2 points; ") in text
    assert ("- **A light model found from data (trimming).** cnn_trim (90.0 % fewer FLOPs than cnn) scores ") in text
    assert "against cnn_light (10.0x more FLOPs) it scores " in text
    assert ("- **The scratch control** (the trimmed architecture trained from scratch): cnn_trim_scratch (the same FLOPs as "
            "cnn_trim) scores ") in text
    scratch = comps[(comps.variant == "cnn_trim_scratch") & (comps.condition == "clean")].iloc[0]
    assert ("- **Where the data cannot decide** (reports/study/summary.md, \"Power\"): cnn_trim_scratch vs cnn_trim (augmented), ") in text
    assert (f"at the estimate, `not worse` with 80 % power would take {scratch.seeds_needed} replicates (a data draw and a "
            "training seed each) of 1,000 test images") in text


def test_findings_state_the_family_and_every_comparison():
    st_ = study([1, 2, 3])
    df, comps = tables.summary_table(st_), tables.comparisons(st_)
    robust, paper = tables.robustness_table(st_), paper_table(0.02)
    lines = findings.findings(st_, df, comps, paper, robust)
    page = pages.findings_page(st_, df, comps, lines)
    assert "(`compare.families`): `confirmatory`: the 2 claims light vs full on clean and augmented images" in page
    assert "Every other comparison is `exploratory`" in page and "; `identical`: cnn_pruned vs cnn" in page
    assert page.index("## Models") > page.index("| cnn_trim vs cnn | 90.0 % fewer FLOPs |")
    light = next(x for x in lines if x.startswith("cnn_light against cnn"))
    assert light.startswith("cnn_light against cnn (light vs full; 99.0 % fewer FLOPs at 224 px): augmented ")
    assert " (97.5 % interval) (seeds " in light
    assert ("; test of a 2-point loss p < 0.001, Bonferroni over the 2 claims of confirmatory = 0.002; test of no difference "
            "p < 0.001: worse (loses more than 2 points)") in light
    pruned = next(x for x in lines if x.startswith("cnn_pruned against cnn"))
    assert "augmented the same predicted class on every test image of every replicate" in pruned
    assert any(x.startswith("Trimming cnn (replicate by replicate): kept round 1, 1, 1; FLOPs at 224 px 2,000,000,000 -> 200,000,000") for x in lines)
    assert any(x.startswith("Pruning cnn (replicate by replicate): 22, 22, 22 of 224 channels removed") for x in lines)
    assert ("Training, replicate by replicate (the epoch whose weights were kept, of the epochs run): cnn kept epoch 12/12, 12/12, 12/12, "
            "train accuracy 0.990, 0.990, 0.990, lowest validation loss at epoch 9, 9, 9;") in page
    assert any(x.startswith("The paper's googlenet_light vs googlenet") and "in no family" in x for x in lines)


def test_markdown_numbers_are_readable():
    df = pd.DataFrame([{"model": "cnn", "params": 12939077, "flops": 1.5e9, "macs": 2.5e6, "augmented_accuracy": 0.99876,
                        "flops_ratio": 12.345, "diff_pp": 0.01, "p": 0.0004, "p_adjusted": 0.01234}])  # fmt: skip
    md = pages.markdown(df).splitlines()
    assert md[2] == "| cnn | 12,939,077 | 1.50G | 2.50M | 0.9988 | 12.3x | +0.01 | < 0.001 | 0.012 |"
    assert [words.times(r) for r in (138.1, 11.43, 1.071)] == ["138x", "11.4x", "1.07x"]


# --- the stage CLI ---------------------------------------------------------------------------------


@pytest.fixture
def project(tmp_path) -> Path:
    seeds = [1, 2]
    m, right = metrics(seeds), correct(seeds)
    md = tmp_path / "metrics"
    for name, data in m["flops"].items():
        (md / "flops").mkdir(parents=True, exist_ok=True)
        (md / "flops" / f"{name}.json").write_text(json.dumps(data))
    for i, s in enumerate(seeds):
        for kind in ("train", "featuremaps", "prune", "trim", "trim_scratch"):
            (md / kind / str(s)).mkdir(parents=True)
            for name, data in m[s][kind].items():
                (md / kind / str(s) / f"{name}.json").write_text(json.dumps(data))
        (md / "evaluate" / str(s)).mkdir(parents=True)
        for line in LINES:  # one evaluate@<line>-<seed> each: the trained model and the variants made from it
            (md / "evaluate" / str(s) / f"{line}.json").write_text(json.dumps(
                {e.name: m[s]["evaluate"][e.name] for e in MODELS if e.line == line}))
            (tmp_path / "predictions" / str(s) / line).mkdir(parents=True)
        for model in MODELS:
            predictions(right[model.name][i]).to_csv(tmp_path / "predictions" / str(s) / model.line / f"{model.name}.csv", index=False)
        for name in ("cnn", "cnn_light"):  # DVCLive's folders of the trained models: two epochs each
            for split in ("train", "eval"):
                live = tmp_path / "live" / str(s) / name / "plots" / "metrics" / split
                live.mkdir(parents=True)
                (live / "accuracy.tsv").write_text(f"step\taccuracy\n0\t0.5\n1\t0.{6 + i}\n")
                (live / "loss.tsv").write_text("step\tloss\n0\t1.0\n1\t0.7\n")
    exported(tmp_path, right)
    (tmp_path / "split").mkdir()
    (tmp_path / "split" / "classes.json").write_text(json.dumps(CLASSES))
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params.update(replicates=seeds, models={"cnn": {"epochs": 30}, "cnn_light": {"epochs": 30}})
    params["prune"]["models"] = params["trim"]["models"] = ["cnn"]
    params["data"]["img_size"] = 32
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    return tmp_path


def exported(root: Path, right: dict) -> None:
    """The export stage's record for seed 1's models: Keras and three formats; LiteRT float32 predicts
    what Keras does, int8 gets the first 10 images Keras got right wrong, and cnn_light's ONNX failed.
    And bench/latency.py's record of the same files, but for cnn_trim, whose file it timed was another."""
    record = {}
    timing = lambda ms: {"median_ms": ms, "low_ms": 0.9 * ms, "high_ms": 1.2 * ms, "rounds_ms": [ms] * 5,  # noqa: E731
                         "spread": 0.3, "wide": ms > 1.2}
    latency, files = {}, {}
    for name in NAMES:
        light = name == "cnn_light"
        record[name] = {"seed": 1, "keras_md5": f"md5-{name}", "formats": {
            "keras": {"runtime": "keras", "precision": "float32", "bytes": 5000},
            "litert_float32": {"runtime": "litert", "precision": "float32", "file": f"{name}.tflite", "bytes": 2000},
            "litert_int8": {"runtime": "litert", "precision": "int8", "file": f"{name}_int8.tflite", "bytes": 500},
            "onnx_float32": ({"runtime": "onnx", "precision": "float32", "error": "the runtime lacks op Lgamma"} if light
                             else {"runtime": "onnx", "precision": "float32", "file": f"{name}.onnx", "bytes": 2000})}}
        latency[name] = {"keras_float32": timing(3.0 if light else 6.0), "keras_compiled_float32": timing(1.0 if light else 2.0),
                         "litert_float32": timing(0.1 if light else 1.0), "litert_int8": timing(0.05 if light else 0.4),
                         **({} if light else {"onnx_float32": timing(1.5)})}
        files[name] = "another file" if name == "cnn_trim" else f"md5-{name}"
        keras = predictions(right[name][0])
        int8 = right[name][0].copy()
        int8[np.flatnonzero(int8)[:10]] = False
        frame = {"image": keras.image, "actual": keras.actual}
        for c in ("clean", "augmented"):
            frame[f"litert_float32_{c}"] = keras[c]
            frame[f"litert_int8_{c}"] = predictions(int8)[c]
            if not light:
                frame[f"onnx_float32_{c}"] = keras[c]
        line = next(m.line for m in MODELS if m.name == name)
        (root / "export" / line).mkdir(parents=True, exist_ok=True)
        pd.DataFrame(frame).to_csv(root / "export" / line / f"{name}.csv", index=False)
    (root / "metrics" / "export").mkdir()
    for line in LINES:  # one export@<line> each
        (root / "metrics" / "export" / f"{line}.json").write_text(json.dumps(
            {m.name: record[m.name] for m in MODELS if m.line == line}))
    latency["empty"] = {"litert_float32": timing(0.004)}
    (root / "latency.json").write_text(json.dumps({
        "conditions": {"cpu": "Test CPU", "cpu_flags": {"avx2": True, "avx512f": False, "amx_tile": False}, "threads": 1},
        "settings": {"rounds": 5, "repeats": 100}, "files": files,
        "runs": [{"started": "2026-12-07T00:00:00Z", "latency": latency, "ratios": {}}]}))


def run_stage(root: Path) -> int:
    kinds = {kind: str(root / "metrics" / kind.replace("-", "_") / "{seed}" / "{model}.json")
             for kind in ("train", "featuremaps", "prune", "trim", "trim-scratch")}
    patterns = {**kinds, "flops": str(root / "metrics/flops/{model}.json"), "evaluate": str(root / "metrics/evaluate/{seed}/{line}.json"),
                "predictions": str(root / "predictions/{seed}/{line}/{model}.csv"), "curves": str(root / "live/{seed}/{model}")}
    patterns.update({"export": str(root / "metrics/export/{line}.json"), "export-predictions": str(root / "export/{line}/{model}.csv"),
                     "latency": str(root / "latency.json")})
    return cli(["summarize", "--params", str(root / "params.yaml"), *(a for k, v in patterns.items() for a in (f"--{k}", v)),
                "--split-dir", str(root / "split"), "--out-dir", str(root / "reports"), "--metrics", str(root / "study.json")])


def test_stage_writes_tables_findings_and_pictures(project):
    assert run_stage(project) == 0
    out = project / "reports"
    assert list(pd.read_csv(out / "summary.csv").model) == NAMES
    points = pd.read_csv(out / "summary_points.csv")
    assert list(points.columns) == ["model", "family", "flops", "filters", "params", "clean_accuracy", "augmented_accuracy",
                                    "misclassified"]
    assert list(pd.read_csv(out / "robustness.csv").columns) == ["model", "clean", *TRANSFORMS, "all five"]
    comps = pd.read_csv(out / "comparisons.csv")
    assert len(comps) == 10 and list(comps.columns) == tables.COMPARISON_COLUMNS
    findings = (out / "findings.md").read_text()
    answer, rest = findings.removeprefix("# Findings\n\n").split("\n\n", 1)
    assert rest.startswith("**Is a CNN with all-black feature maps wasting its filters?**")
    # the answer first: at most five sentences, with the numbers of the tables they come from
    sentences = [x for x in re.split(r"(?<=[.)])\s+(?=[A-Z])", answer) if x]
    assert 1 <= len(sentences) <= 5, sentences
    light = comps[(comps.claim_kind == "light") & (comps.condition == "clean")]
    for r in light.itertuples():
        assert f"{r.variant} " in answer and f"{r.diff_pp:+.1f} pts [{r.lo_pp:+.1f}, {r.hi_pp:+.1f}]" in answer
    dead = pd.read_csv(out / "summary.csv").set_index("model").dead_fraction
    assert f"{100 * dead['cnn']:.1f} % of cnn's channels" in answer
    assert "the study on the real rice images has not been run by this repository" in answer
    assert "2 replicates, each its own data draw and training seed (1, 2)" in findings
    md = (out / "summary.md").read_text()
    assert "| vgg16_light | 0.9979 | 0.9980 | 15 |" in md  # the paper's numbers
    for png in ("accuracy_vs_flops.png", "accuracy_vs_filters.png", "params.png", "robustness.png", "effects.png",
                "deployment.png", "trim/cnn.png"):
        assert 0 < (out / png).stat().st_size < 200_000, png
    # DVC's metrics: each model's accuracies and GFLOPs, each claim's difference and verdict, nothing else
    study = json.loads((project / "study.json").read_text())
    claims = {f"{v} vs {a}" for v, a in zip(comps.variant, comps.against)}
    assert set(study) == set(NAMES) | claims and len(claims) == len(comps) // 2
    row = pd.read_csv(out / "summary.csv").set_index("model").loc["cnn_light"]
    assert study["cnn_light"] == {"accuracy": float(f"{row.clean_accuracy:.4g}"), "gflops_224": float(f"{row.flops_224 / 1e9:.4g}"),
                                            "augmented_accuracy": float(f"{row.augmented_accuracy:.4g}")}
    light = comps[(comps.variant == "cnn_light") & (comps.against == "cnn")].set_index("condition")
    assert study["cnn_light vs cnn"] == {
        "clean": light.verdict["clean"], "augmented": light.verdict["augmented"],
        "clean_pp": float(f"{light.diff_pp['clean']:.3g}"), "augmented_pp": float(f"{light.diff_pp['augmented']:.3g}")}
    curves = pd.read_csv(out / "training_curves.csv")  # every trained model, seed and split, epochs from 1
    assert len(curves) == 2 * 2 * 2 * 2 and set(curves.epoch) == {1, 2}
    assert curves.set_index(["model", "seed", "split", "epoch"]).accuracy[("cnn_light", 2, "validation", 2)] == 0.7
    first = {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()}
    assert run_stage(project) == 0
    assert first == {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()}  # byte-identical rerun


def test_the_exported_models_are_paired_with_keras_on_the_same_images(project):
    assert run_stage(project) == 0
    out = project / "reports"
    table = pd.read_csv(out / "deployment.csv").fillna({"error": ""}).set_index(["model", "runtime", "precision"])
    right = correct([1, 2])["cnn"][0]  # seed 1's Keras cnn: the export seed's
    assert table.loc[("cnn", "keras", "float32"), "clean_accuracy"] == pytest.approx(right.mean())
    same = table.loc[("cnn", "litert", "float32")]
    assert same.clean_agreement == 1.0 and same.clean_diff_pp == 0.0 and same.clean_lo_pp < 0 < same.clean_hi_pp
    int8 = table.loc[("cnn", "litert", "int8")]  # 10 images Keras got right, now wrong: Tango's interval of that
    worse = right.copy()
    worse[np.flatnonzero(right)[:10]] = False
    d = stats.paired(worse, right)
    assert int8.clean_agreement == pytest.approx(1 - 10 / N) and int8.clean_diff_pp == pytest.approx(100 * d.diff)
    assert (int8.clean_lo_pp, int8.clean_hi_pp) == pytest.approx((100 * d.lo, 100 * d.hi), rel=1e-5)  # 6 digits in the CSV
    assert table.loc[("cnn_light", "onnx", "float32"), "error"] == "the runtime lacks op Lgamma"
    summary = pd.read_csv(out / "summary.csv").set_index("model").latency_ms
    assert summary["cnn_light"] == 1.0  # the compiled Keras call's, from the bench's record
    assert summary.isna()["cnn_trim"] and table.loc[("cnn_trim", "litert", "float32")].isna().latency_ms  # the bench timed another file
    assert table.loc[("cnn", "litert", "float32"), ["latency_low_ms", "latency_high_ms", "latency_rounds"]].tolist() == [0.9, 1.2, 5]
    findings = (out / "findings.md").read_text()
    assert ("Latency of cnn_light over cnn, as ratios light/full (batch 1, 1 CPU thread (Test CPU; AVX2), the median of 5 "
            "interleaved rounds of 100 timed calls (bench/latency.py, 2026-12-07), replicate 1's models): FLOPs 0.01; Keras float32 "
            "0.5 (3.000 vs 6.000 ms), Keras compiled float32 0.5 (1.000 vs 2.000 ms), LiteRT float32 0.1 (0.100 vs 1.000 ms), "
            "LiteRT int8 0.12 (0.050 vs 0.400 ms).") in findings
    assert "measured on a near-empty model (global average pooling and one dense layer): LiteRT float32 0.004 ms." in findings
    assert "spread over more than a quarter of their value between rounds" in findings and "cnn Keras float32" in findings
    assert "cnn_light was not converted to ONNX Runtime float32: the runtime lacks op Lgamma." in findings


def test_missing_metrics_or_predictions_are_one_line_and_exit_2(project, capsys):
    (project / "predictions" / "2" / "cnn" / "cnn_trim.csv").unlink()
    assert run_stage(project) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "cnn_trim.csv not found" in err[0] and "dvc repro evaluate@cnn-2" in err[0]
    (project / "metrics" / "flops" / "cnn.json").unlink()
    assert run_stage(project) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "cnn.json not found" in err[0]
    assert not (project / "reports").exists()


def test_a_variant_that_costs_more_says_more_not_a_fraction_fewer():
    assert words.fewer_flops(10.0) == "90.0 % fewer FLOPs" and words.fewer_flops(1.08) == "7.4 % fewer FLOPs"
    assert words.fewer_flops(1 / 12.7) == "12.7x more FLOPs"


def test_the_headline_names_the_data_it_is_about():
    st_ = study([1, 2])
    df, comps = tables.summary_table(st_), tables.comparisons(st_)
    assert "On the synthetic stand-in (32 px" in findings.headline(st_, df, comps)
    st_.source = "path"
    assert "On the images of data.path (32 px" in findings.headline(st_, df, comps)


def test_an_undecided_claim_says_why_and_never_that_a_loss_would_turn_not_worse():
    from types import SimpleNamespace

    st_ = study([1, 2, 3])  # margin 2 points
    row = SimpleNamespace(verdict="inconclusive", diff_pp=+0.5, seeds_needed="none")  # power.seeds_cannot_reach
    assert words.verdict_words(row, st_) == ("inconclusive (no number of replicates would reach `not worse`: its estimate "
                                             "lies on the margin)")
    row = SimpleNamespace(verdict="inconclusive", diff_pp=-6.4, seeds_needed="5")  # an estimate below -m
    said = words.verdict_words(row, st_)
    assert said == ("inconclusive (at the estimate, `worse` with 80 % power would take 5 replicates (a data draw and a training "
                    "seed each) of 1,000 test images)")
    assert "not worse" not in said
    row = SimpleNamespace(verdict="inconclusive", diff_pp=-2.5, seeds_needed=">200")  # half a point from the margin
    assert words.verdict_words(row, st_).startswith("inconclusive (its estimate lies 0.5 points from the margin, closer "
                                                    "than 1: no affordable design decides it")


def test_the_accuracy_figure_names_every_model_once_on_the_clean_set_with_no_label_on_another():
    """A pruned model sits on its full model (same FLOPs, same accuracy): one label names both; close
    points get labels that move apart."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    from ricecnn.study import figures as plots

    df = pd.DataFrame({"model": ["vgg16", "vgg16_pruned", "vgg16_light", "cnn", "cnn_trim"], "family": ["vgg16"] * 3 + ["cnn"] * 2,
                       "baseline": ["", "vgg16", "vgg16", "", "cnn"], "flops": [3.9e8, 3.8e8, 2.4e8, 2e7, 1.8e7],
                       "clean_accuracy": [0.870, 0.870, 0.955, 0.953, 0.941], "augmented_accuracy": [0.4, 0.4, 0.5, 0.7, 0.7]})
    for c in ("clean", "augmented"):
        df[f"{c}_accuracy_lo"], df[f"{c}_accuracy_hi"] = df[f"{c}_accuracy"] - 0.02, df[f"{c}_accuracy"] + 0.02
    fig = plots.accuracy_figure(df, "flops", "FLOPs", True)
    ax = fig.axes[0]
    assert "clean test set" in ax.get_ylabel() and ax.get_xscale() == "log"
    texts = [t for t in ax.texts if t.get_text()]
    assert sorted(t.get_text() for t in texts) == ["cnn", "cnn_trim", "vgg16, vgg16_pruned", "vgg16_light"]
    assert {tuple(t.xy) for t in texts} >= {(3.9e8, 0.870), (2.4e8, 0.955)}  # at the clean accuracies
    renderer = FigureCanvasAgg(fig).get_renderer()
    boxes = [t.get_window_extent(renderer) for t in texts]
    assert not [(a, b) for i, a in enumerate(boxes) for b in boxes[i + 1:] if a.overlaps(b)]


def test_verdict_colours_differ_in_print():
    from matplotlib.colors import to_rgb

    from ricecnn.study import figures as plots

    grey = {v: float(np.dot(to_rgb(c), [0.2126, 0.7152, 0.0722])) for v, c in plots.VERDICT_COLORS.items()}
    shades = sorted(grey.values())
    assert min(b - a for a, b in zip(shades, shades[1:])) >= 0.07, grey  # each verdict its own grey in print
    assert plots.EXPLORATORY_WIDTH < plots.VERDICT_WIDTH  # and exploratory bars thinner than a verdict's


def test_a_study_of_one_model_has_no_comparisons_and_still_reports(project):
    """models: only cnn_light, nothing pruned, trimmed or compared: every output is written."""
    params = yaml.safe_load((project / "params.yaml").read_text())
    params["models"] = {"cnn_light": {"epochs": 30}}
    params["prune"]["models"] = params["trim"]["models"] = []
    (project / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    assert run_stage(project) == 0
    assert pd.read_csv(project / "reports" / "comparisons.csv").empty
    assert set(json.loads((project / "study.json").read_text())) == {"cnn_light"}


def test_the_trim_figure_s_names_and_round_numbers_never_overlap():
    """The full model and its pruned model sit on one spot of the trim picture: both names readable."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    from ricecnn.study import figures as plots

    rounds = [{"round": r, "flops_224": f, "val_accuracy": a, "within_budget": r < 3}
              for r, f, a in ((0, 1e9, 0.944), (1, 5e8, 0.944), (2, 3e8, 0.948), (3, 1.7e8, 0.912))]
    points = {"cnn": (1.0e9, 0.940), "cnn_pruned": (1.0e9, 0.940), "cnn_trim_scratch": (3e8, 0.944), "cnn_light": (7e6, 0.88)}
    fig = plots.trim_figure("cnn", {201: {"rounds": rounds, "kept_round": 2}}, points)
    texts = [t for t in fig.axes[0].texts if t.get_text()]
    assert sorted(t.get_text() for t in texts) == sorted([*points, "0", "1", "2", "3"])
    renderer = FigureCanvasAgg(fig).get_renderer()
    boxes = [t.get_window_extent(renderer) for t in texts]
    assert not [(a, b) for i, a in enumerate(boxes) for b in boxes[i + 1:] if a.overlaps(b)]


def test_a_model_its_line_s_export_record_lacks_is_one_line_naming_that_line_s_stage(project, capsys):
    record = project / "metrics" / "export" / "cnn.json"
    exported = json.loads(record.read_text())
    del exported["cnn_trim"]
    record.write_text(json.dumps(exported))
    assert run_stage(project) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "has no results for cnn_trim" in err[0] and "dvc repro export@cnn" in err[0], err
