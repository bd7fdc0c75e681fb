"""summarize: the summary and pair tables from hand-made metrics, the formatting, and the stage CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
import yaml

from ricecnn.cli import main as cli
from ricecnn.models import evaluated
from ricecnn.stages import summarize as su

ROOT = Path(__file__).resolve().parents[1]
NAMES = ["cnn", "cnn_light", "vgg16", "vgg16_light", "vgg16_pruned"]
# name: (params, flops, flops_224, filters, val_accuracy, augmented_accuracy, misclassified)
MADE_UP = {
    "cnn": (1_000_000, 400e6, 2e9, 200, 0.99, 0.98, 20),
    "cnn_light": (10_000, 4e6, 20e6, 20, 0.995, 0.99, 10),
    "vgg16": (15_000_000, 1e9, 15e9, 4000, 0.99, 0.995, 5),
    "vgg16_light": (1_500_000, 500e6, 7.5e9, 1000, 0.99, 0.985, 15),
    "vgg16_pruned": (3_000_000, 250e6, 3e9, 2000, 0.99, 0.995, 5),
}


def metrics() -> tuple[dict, dict, dict, dict]:
    train, flops, fmaps, evaluate = {}, {}, {}, {}
    for m, (params, fl, fl224, filters, val, aug, wrong) in MADE_UP.items():
        train[m] = {"val_accuracy": val, "val_loss": 0.1, "train_accuracy": 1.0, "train_loss": 0.01, "best_epoch": 3,
                    "epochs_run": 5, "params_total": params, "params_trainable": params, "train_seconds": 10.0,
                    "train_images_per_second": 100.0}  # fmt: skip
        flops[m] = {"flops": fl, "macs": fl / 2, "flops_224": fl224, "macs_224": fl224 / 2, "params": params,
                    "params_224": params, "params_trainable": params // 2, "filters": filters, "img_size": 64}  # fmt: skip
        fmaps[m] = {"model": m, "samples": 8, "layers": {}, "channels": filters, "dead_channels": filters // 4, "dead_fraction": 0.25}
        evaluate[m] = {"clean_accuracy": 1.0, "clean_loss": 0.0, "augmented_accuracy": aug, "augmented_loss": 0.1,
                       "misclassified": wrong, "test_images": 1000, "latency_ms": 2.5, "images_per_second": 400.0}  # fmt: skip
    return train, flops, fmaps, evaluate


MODELS = evaluated(["cnn", "cnn_light", "vgg16", "vgg16_light"], ["vgg16"])


def test_summary_rows():
    df = su.summary_table(MODELS, *metrics())
    assert list(df.model) == NAMES
    assert list(df.columns) == ["model", "family", "variant", "baseline", "params", "params_trainable", "flops", "flops_224", "macs",
                                "filters", "dead_fraction", "val_accuracy", "clean_accuracy", "augmented_accuracy",
                                "misclassified", "latency_ms"]  # fmt: skip
    row = df.set_index("model").loc["vgg16_light"]
    assert (row.family, row.variant, row.params, row.params_trainable, row.flops, row.macs) == ("vgg16", "light", 1_500_000, 750_000, 500e6, 250e6)
    assert (row.filters, row.dead_fraction, row.val_accuracy, row.augmented_accuracy, row.misclassified) == (1000, 0.25, 0.99, 0.985, 15)


def test_pair_reductions():
    pairs = su.pair_table(su.summary_table(MODELS, *metrics())).set_index("variant")
    assert list(pairs.index) == ["cnn_light", "vgg16_light", "vgg16_pruned"]
    c = pairs.loc["cnn_light"]
    assert c.baseline == "cnn" and c.family == "cnn"
    assert c.params_reduction_pct == pytest.approx(99.0)
    assert c.flops_224_reduction_pct == pytest.approx(99.0) and c.flops_reduction_pct == pytest.approx(99.0)
    assert c.filters_reduction_pct == pytest.approx(90.0)
    assert c.flops_ratio_224 == pytest.approx(100.0) and c.flops_ratio == pytest.approx(100.0)
    assert c.augmented_accuracy_change_pp == pytest.approx(1.0)
    v = pairs.loc["vgg16_light"]
    assert (v.params_reduction_pct, v.flops_224_reduction_pct, v.filters_reduction_pct) == pytest.approx((90.0, 50.0, 75.0))
    assert v.flops_ratio == pytest.approx(2.0) and v.augmented_accuracy_change_pp == pytest.approx(-1.0)
    assert pairs.loc["vgg16_pruned"].flops_ratio_224 == pytest.approx(5.0)


def test_a_light_model_without_its_full_model_has_no_pair():
    models = evaluated(["cnn_light", "vgg16", "vgg16_light"], ["vgg16"])
    df = su.summary_table(models, *metrics())
    assert list(su.pair_table(df).variant) == ["vgg16_light", "vgg16_pruned"]


def test_markdown_numbers_are_readable():
    df = pd.DataFrame([{"model": "cnn", "params": 12939077, "flops": 1.5e9, "macs": 2.5e6, "augmented_accuracy": 0.99876,
                        "flops_ratio": 12.345, "params_reduction_pct": 99.6, "augmented_accuracy_change_pp": 0.01}])  # fmt: skip
    md = su.markdown(df).splitlines()
    assert md[0] == "| model | params | flops | macs | augmented_accuracy | flops_ratio | params_reduction_pct | augmented_accuracy_change_pp |"
    assert md[2] == "| cnn | 12,939,077 | 1.50G | 2.50M | 0.9988 | 12.3x | 99.6 | +0.01 |"


@pytest.fixture
def project(tmp_path) -> Path:
    train, flops, fmaps, evaluate = metrics()
    md = tmp_path / "metrics"
    for kind, data in (("train", train), ("flops", flops), ("featuremaps", fmaps)):
        (md / kind).mkdir(parents=True)
        for m, d in data.items():
            (md / kind / f"{m}.json").write_text(json.dumps(d))
    (md / "evaluate.json").write_text(json.dumps(evaluate))
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["models"] = {m: params["models"][m] for m in ["cnn", "cnn_light", "vgg16", "vgg16_light"]}
    params["prune"]["models"] = []
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    return tmp_path


def run_stage(root: Path) -> int:
    return cli(["summarize", "--params", str(root / "params.yaml"), "--metrics-dir", str(root / "metrics"), "--out-dir", str(root / "reports")])


def test_stage_writes_tables_and_pictures(project):
    assert run_stage(project) == 0
    out = project / "reports"
    summary = pd.read_csv(out / "summary.csv")
    assert list(summary.model) == ["cnn", "cnn_light", "vgg16", "vgg16_light"]  # the models of params, in order
    points = pd.read_csv(out / "summary_points.csv")
    assert list(points.columns) == ["model", "family", "flops", "filters", "params", "augmented_accuracy", "misclassified"]
    md = (out / "summary.md").read_text()
    assert "| cnn_light | cnn | light | cnn | 10,000 |" in md and "| cnn | cnn | cnn_light | 99.0 |" in md
    assert "| vgg16_light | 0.9979 | 0.9980 | 15 |" in md  # the paper's numbers
    for png in ("accuracy_vs_flops.png", "accuracy_vs_filters.png", "params.png"):
        assert 0 < (out / png).stat().st_size < 150_000
    first = {p.name: p.read_bytes() for p in out.iterdir()}
    assert run_stage(project) == 0
    assert first == {p.name: p.read_bytes() for p in out.iterdir()}  # byte-identical rerun


def test_missing_metrics_is_one_line_and_exit_2(project, capsys):
    (project / "metrics" / "flops" / "vgg16.json").unlink()
    assert run_stage(project) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "vgg16.json not found" in err[0]
    assert not (project / "reports").exists()
