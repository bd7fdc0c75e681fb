"""The whole DAG end to end: real `dvc repro` in a temporary git repo on tiny settings."""

from __future__ import annotations

import json

import pytest
import yaml
from conftest import make_repo, run

pytestmark = pytest.mark.slow
MODELS = {"cnn": {"epochs": 1}, "cnn_light": {"epochs": 1}}
FIRST_RUN: dict[str, str] = {}
TIMINGS = {"train_seconds", "train_images_per_second", "epoch_seconds", "latency_ms", "images_per_second",
           "finetune_seconds"}


def untimed(data):
    """``data`` without its timing fields, at any depth (they differ from run to run)."""
    if isinstance(data, dict):
        return {k: untimed(v) for k, v in data.items() if k not in TIMINGS}
    if isinstance(data, list):
        return [untimed(v) for v in data]
    return data


@pytest.fixture(scope="module")
def repo(tmp_path_factory):
    repo = make_repo(tmp_path_factory.mktemp("pipeline") / "repo", models=MODELS,
                     featuremaps={"samples": 8, "per_layer_max": 8}, evaluate={"batch_size": 8, "latency_repeats": 3})
    FIRST_RUN["stdout"] = run(["dvc", "repro"], repo).stdout
    return repo


def test_every_stage_runs_and_writes_its_outputs(repo):
    for stage in ("fetch", "split", "train@cnn", "train@cnn_light", "flops@cnn", "featuremaps@cnn_light",
                  "prune@cnn", "trim@cnn", "trim_scratch@cnn", "evaluate_augmented", "summarize"):
        assert f"Running stage '{stage}'" in FIRST_RUN["stdout"]
    for path in ("models/cnn.keras", "metrics/train/cnn_light.json", "metrics/flops/cnn.json",
                 "metrics/featuremaps/cnn.json", "metrics/evaluate.json", "reports/summary.md", "reports/summary.csv",
                 "reports/accuracy_vs_flops.png", "reports/evaluate/predictions/cnn_light.csv", "reports/findings.md",
                 "reports/robustness.png", "reports/trim/cnn.png", "models/cnn_trim.keras", "metrics/trim/cnn.json",
                 "reports/featuremaps/cnn/apoz.png", "reports/train/cnn/plots/metrics/eval/accuracy.tsv"):
        assert (repo / path).is_file(), path
    evaluate = json.loads((repo / "metrics/evaluate.json").read_text())
    # prune.models and trim.models keep the models present: cnn
    assert set(evaluate) == {*MODELS, "cnn_pruned", "cnn_trim", "cnn_trim_scratch"}
    rows = (repo / "reports/evaluate/predictions/cnn.csv").read_text().splitlines()
    assert rows[0].startswith("image,actual,clean,") and len(rows) - 1 == evaluate["cnn"]["test_images"] == 10
    summary = (repo / "reports/summary.csv").read_text().splitlines()
    assert len(summary) == 6 and summary[0].startswith("model,") and summary[3].startswith("cnn_pruned,cnn,pruned,cnn,")
    pruned = json.loads((repo / "metrics/prune/cnn.json").read_text())
    assert pruned["max_abs_output_diff"] <= 1e-5 and pruned["params_after"] <= pruned["params_before"]


def test_second_repro_runs_nothing(repo):
    assert "Running stage" not in run(["dvc", "repro"], repo).stdout
    assert json.loads(run(["dvc", "status", "--json"], repo).stdout) == {}


def test_metrics_and_plots_render(repo, tmp_path):
    shown = run(["dvc", "metrics", "show", "--json"], repo).stdout
    assert "val_accuracy" in shown and "augmented_accuracy" in shown
    out = tmp_path / "plots"
    run(["dvc", "plots", "show", "-o", str(out)], repo)
    html = (out / "index.html").read_text()
    assert "summary_points.csv" in html and "accuracy.tsv" in html
    assert "reports_evaluate_predictions_cnn_csv" in html and '"rect"' in html  # the confusion plot: a heat map


def test_changing_one_model_reruns_only_its_chain(repo):
    params = yaml.safe_load((repo / "params.yaml").read_text())
    params["models"]["cnn_light"]["epochs"] = 2
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    try:
        stale = set(json.loads(run(["dvc", "status", "--json"], repo).stdout))
    finally:
        run(["git", "checkout", "params.yaml"], repo)
    # featuremaps@cnn_light follows once train@cnn_light has written a new model; cnn's chain never does
    assert stale == {"train@cnn_light", "flops@cnn_light", "evaluate_augmented", "summarize"}


def test_forced_rerun_gives_identical_metrics(repo):
    def snapshot():
        return {str(p.relative_to(repo)): untimed(json.loads(p.read_text())) for p in sorted((repo / "metrics").rglob("*.json"))}

    before = snapshot()
    again = run(["dvc", "repro", "-f", "train@cnn_light", "featuremaps@cnn_light", "evaluate_augmented"], repo).stdout
    assert "Running stage 'train@cnn_light'" in again
    assert snapshot() == before
