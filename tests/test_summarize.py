"""summarize: tables, verdicts and findings computed from hand-made metrics, and the stage CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
import yaml
from conftest import ROOT

from ricecnn import report, stats
from ricecnn.augment import TRANSFORMS
from ricecnn.cli import main as cli
from ricecnn.models import evaluated

NAMES = ["cnn", "cnn_light", "vgg16", "vgg16_light", "vgg16_pruned"]
N = 1000
# name: (params, flops, flops_224, filters, val_accuracy, clean correct, augmented correct, best epoch, epochs run)
MADE_UP = {
    "cnn": (1_000_000, 400e6, 2e9, 200, 0.99, 950, 900, 9, 12),
    "cnn_light": (10_000, 4e6, 20e6, 20, 0.995, 930, 850, 30, 30),
    "vgg16": (15_000_000, 1e9, 15e9, 4000, 0.99, 960, 920, 5, 8),
    "vgg16_light": (1_500_000, 500e6, 7.5e9, 1000, 0.99, 955, 915, 10, 13),
    "vgg16_pruned": (3_000_000, 250e6, 3e9, 2000, 0.99, 960, 920, None, None),
}
# paired outcomes on the augmented images: (variant right only, baseline right only)
DISCORDANT = {"cnn_light": (10, 60), "vgg16_light": (20, 25), "vgg16_pruned": (0, 0)}
MODELS = evaluated(["cnn", "cnn_light", "vgg16", "vgg16_light"], ["vgg16"])


def comparison(b: int, c: int) -> dict:
    v = [True] * b + [False] * c + [True] * 500
    base = [False] * b + [True] * c + [True] * 500
    d = stats.paired(v, base)
    out = {"diff": d.diff, "lo": d.lo, "hi": d.hi, "p": d.p, "verdict": d.verdict}
    return out


def metrics() -> tuple[dict, dict, dict, dict, dict]:
    train, flops, fmaps, evaluate = {}, {}, {}, {}
    for m, (params, fl, fl224, filters, val, clean, aug, best, run) in MADE_UP.items():
        train[m] = {"val_accuracy": val, "best_epoch": best, "epochs_run": run, "epochs_max": 30}
        flops[m] = {"flops": fl, "macs": fl / 2, "flops_224": fl224, "params": params, "params_trainable": params // 2,
                    "filters": filters, "img_size": 32, "num_classes": 5}  # fmt: skip
        fmaps[m] = {"dead_fraction": 0.25}
        ca, aa = stats.accuracy(clean, N), stats.accuracy(aug, N)
        evaluate[m] = {"clean_accuracy": ca.value, "clean_accuracy_lo": ca.lo, "clean_accuracy_hi": ca.hi,
                       "augmented_accuracy": aa.value, "augmented_accuracy_lo": aa.lo, "augmented_accuracy_hi": aa.hi,
                       "misclassified": N - aug, "test_images": N, "latency_ms": 2.5,
                       "by_transform": {t: {"accuracy": (aug + 10 * i) / N} for i, t in enumerate(TRANSFORMS)}}  # fmt: skip
        if m in DISCORDANT:
            evaluate[m]["vs_baseline"] = {"baseline": m.removesuffix("_light").removesuffix("_pruned"),
                                          "clean": comparison(*DISCORDANT[m]), "augmented": comparison(*DISCORDANT[m])}
    train["vgg16_pruned"] = {"val_accuracy": 0.99}
    prune = {"vgg16": {"channels_removed": 768, "channels_before": 4224, "dead_channels_trained_layers": 700,
                       "dead_channels_frozen_layers": 68, "max_abs_output_diff": 1e-7, "samples": 100,
                       "max_abs_output_diff_test_clean": 2e-5, "max_abs_output_diff_test_augmented": 3e-3,
                       "predictions_changed_test_clean": 0, "predictions_changed_test_augmented": 1}}
    return train, flops, fmaps, evaluate, prune


def tables():
    train, flops, fmaps, evaluate, prune = metrics()
    df = report.summary_table(MODELS, train, flops, fmaps, evaluate)
    return df, report.pair_table(df, evaluate), report.paper_table(), report.robustness_table(MODELS, evaluate), prune


def test_summary_rows_carry_intervals_and_training_status():
    df = tables()[0]
    assert list(df.model) == NAMES
    row = df.set_index("model").loc["vgg16_light"]
    assert (row.family, row.variant, row.baseline, row.params, row.flops) == ("vgg16", "light", "vgg16", 1_500_000, 500e6)
    assert row.augmented_accuracy_lo < row.augmented_accuracy == 0.915 < row.augmented_accuracy_hi
    status = {r.model: report.training_status(r) for r in df.itertuples()}
    assert status["cnn"] == "stopped early (best epoch 9 of 12)"
    assert status["cnn_light"] == "still improving at the epoch limit (best epoch 30 of 30)"
    assert status["vgg16_pruned"] == ""


def test_pairs_carry_the_paired_test_and_its_verdict():
    pairs = tables()[1].set_index("variant")
    assert list(pairs.index) == ["cnn_light", "vgg16_light", "vgg16_pruned"]
    c = pairs.loc["cnn_light"]
    assert c.baseline == "cnn" and c.flops_ratio_224 == pytest.approx(100.0) and c.params_reduction_pct == pytest.approx(99.0)
    assert c.augmented_diff_pp == pytest.approx(-50 / 570 * 100) and c.augmented_verdict == "worse"
    assert pairs.loc["vgg16_light"].augmented_verdict.startswith("no detectable difference (±")
    assert pairs.loc["vgg16_pruned"].augmented_verdict == "no detectable difference (±0.0 pts)"


def test_the_papers_numbers_are_compared_unpaired():
    paper = tables()[2].set_index("variant")
    assert list(paper.index) == ["cnn_light", "googlenet_light", "vgg16_light"]
    g = paper.loc["googlenet_light"]  # 10 vs 6 misclassified of 7,500
    assert g.baseline == "googlenet" and g.diff_pp == pytest.approx(-4 / 75)
    assert g.p == pytest.approx(0.4543, abs=1e-3) and g.verdict.startswith("no detectable difference")


def test_findings_are_sentences_from_the_numbers():
    df, pairs, paper, robust, prune = tables()
    lines = report.findings(df, pairs, paper, robust, prune)
    light = next(x for x in lines if x.startswith("cnn_light:"))
    assert light.startswith("cnn_light: 100x fewer FLOPs than cnn; augmented accuracy 0.850 [")
    assert "paired difference -8.8 pts [" in light and "p < 0.001: worse" in light
    assert any(x.startswith("The paper's googlenet_light vs googlenet") and "p = 0.454 (Fisher)" in x for x in lines)
    assert "Training: cnn stopped early (best epoch 9 of 12); cnn_light still improving" in " ".join(lines)
    robustness = [x for x in lines if x.startswith("Robustness:")]
    assert robustness == ["Robustness: alone, flip costs the most accuracy for 5 of 5 models ("
                          + ", ".join(f"{m} {MADE_UP[m][5] / N:.3f} -> {MADE_UP[m][6] / N:.3f}" for m in NAMES) + ")."]
    pruned = next(x for x in lines if x.startswith("Pruning vgg16:"))
    assert "768 of 4224 channels removed (700 dead in trained layers, 68 in frozen ones)" in pruned
    assert "the 100 validation images APoZ was measured on" in pruned and "(0 and 1 predictions changed)" in pruned


def test_markdown_numbers_are_readable():
    df = pd.DataFrame([{"model": "cnn", "params": 12939077, "flops": 1.5e9, "macs": 2.5e6, "augmented_accuracy": 0.99876,
                        "flops_ratio": 12.345, "params_reduction_pct": 99.6, "augmented_diff_pp": 0.01,
                        "augmented_p": 0.0004}])  # fmt: skip
    md = report.markdown(df).splitlines()
    assert md[2] == "| cnn | 12,939,077 | 1.50G | 2.50M | 0.9988 | 12.3x | 99.6 | +0.01 | < 0.001 |"
    assert [report.times(r) for r in (138.1, 11.43, 1.071)] == ["138x", "11.4x", "1.07x"]


@pytest.fixture
def project(tmp_path) -> Path:
    train, flops, fmaps, evaluate, prune = metrics()
    md = tmp_path / "metrics"
    for kind, data in (("train", train), ("flops", flops), ("featuremaps", fmaps)):
        (md / kind).mkdir(parents=True)
        for m, d in data.items():
            (md / kind / f"{m}.json").write_text(json.dumps(d))
    (md / "prune").mkdir()
    after = {"params": 3_000_000, "params_trainable": 1_500_000, "flops": 250e6, "flops_224": 3e9, "macs": 125e6,
             "filters": 2000, "dead_fraction": 0.0}
    (md / "prune" / "vgg16.json").write_text(json.dumps({**prune["vgg16"], "val_accuracy_after": 0.99,
                                                         **{f"{k}_after": v for k, v in after.items()}}))
    (md / "evaluate.json").write_text(json.dumps(evaluate))
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["models"] = {m: params["models"][m] for m in ["cnn", "cnn_light", "vgg16", "vgg16_light"]}
    params["prune"]["models"] = ["vgg16"]
    params["trim"]["models"] = []
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    return tmp_path


def run_stage(root: Path) -> int:
    return cli(["summarize", "--params", str(root / "params.yaml"), "--metrics-dir", str(root / "metrics"), "--out-dir", str(root / "reports")])


def test_stage_writes_tables_findings_and_pictures(project):
    assert run_stage(project) == 0
    out = project / "reports"
    summary = pd.read_csv(out / "summary.csv")
    assert list(summary.model) == NAMES
    points = pd.read_csv(out / "summary_points.csv")
    assert list(points.columns) == ["model", "family", "flops", "filters", "params", "augmented_accuracy", "misclassified"]
    assert list(pd.read_csv(out / "robustness.csv").columns) == ["model", "clean", *TRANSFORMS, "all five"]
    findings = (out / "findings.md").read_text()
    assert findings.startswith("# Findings\n\nTest set: 1,000 images (200 per class), 32 px;")
    assert "| cnn_light | 20.00M | 10,000 | 0.930 [" in findings and "vs cnn, p < 0.001: worse |" in findings
    md = (out / "summary.md").read_text()
    assert "| vgg16_light | 0.9979 | 0.9980 | 15 |" in md  # the paper's numbers
    for png in ("accuracy_vs_flops.png", "accuracy_vs_filters.png", "params.png", "robustness.png"):
        assert 0 < (out / png).stat().st_size < 150_000
    first = {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()}
    assert run_stage(project) == 0
    assert first == {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()}  # byte-identical rerun


def test_missing_metrics_is_one_line_and_exit_2(project, capsys):
    (project / "metrics" / "flops" / "vgg16.json").unlink()
    assert run_stage(project) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "vgg16.json not found" in err[0]
    assert not (project / "reports").exists()


def test_trimmed_models_get_their_further_comparisons_and_a_trim_sentence():
    train, flops, fmaps, evaluate, prune = metrics()
    models = evaluated(["cnn", "cnn_light"], [], ["cnn"])
    assert [(m.name, m.baseline, m.others) for m in models[2:]] == [
        ("cnn_trim", "cnn", ("cnn_light",)), ("cnn_trim_scratch", "cnn", ("cnn_trim",))]
    for name, correct in (("cnn_trim", 880), ("cnn_trim_scratch", 860)):
        a = stats.accuracy(correct, N)
        evaluate[name] = {**evaluate["cnn"], "augmented_accuracy": a.value, "augmented_accuracy_lo": a.lo,
                          "augmented_accuracy_hi": a.hi, "vs_baseline": {"baseline": "cnn", "clean": comparison(0, 0),
                                                                         "augmented": comparison(0, 20)}}
        flops[name] = {**flops["cnn"], "flops_224": 2e8}
        train[name] = {"val_accuracy": 0.97}
    evaluate["cnn_trim"]["vs_others"] = {"cnn_light": {"clean": comparison(30, 0), "augmented": comparison(30, 0)}}
    evaluate["cnn_trim_scratch"]["vs_others"] = {"cnn_trim": {"clean": comparison(0, 0), "augmented": comparison(0, 20)}}
    df = report.summary_table(models, train, flops, fmaps, evaluate)
    others = report.others_table(models, evaluate)
    assert list(zip(others.variant, others.against)) == [("cnn_trim", "cnn_light"), ("cnn_trim_scratch", "cnn_trim")]
    trim = {"cnn": {"rounds": [{"flops_224": 2e9, "val_accuracy": 0.98}, {"flops_224": 2e8, "val_accuracy": 0.97}],
                    "kept_round": 1, "stopped": "max_rounds (1) reached", "full_val_accuracy": 0.98, "budget": 0.02}}
    lines = report.findings(df, report.pair_table(df, evaluate), report.paper_table(), report.robustness_table(models, evaluate),
                            {}, others, trim)
    assert any(x.startswith("cnn_trim against cnn_light (paired): FLOPs at 224 px 200,000,000 vs 20,000,000;")
               and x.endswith("p < 0.001: better (clean: +5.7 pts [+4.4, +5.7], p < 0.001: better).") for x in lines)
    assert "Trimming cnn: kept round 1 of 1 (max_rounds (1) reached); FLOPs at 224 px 2,000,000,000 -> 200,000,000 " \
           "(10.0x fewer); validation accuracy 0.980 -> 0.970 (budget: 0.020 below the full model's)." in lines
