"""The full-size path rehearsed: the paper's profile at 224 px through every stage, on a zip in
Kaggle's exact layout read with `data.source: path` (`make rehearse-paper`, here at its smallest:
10 images per class, the fewest that give the paper's 80/10/10 split a test image of every class,
and one model, cnn, on which every kind of stage runs)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import zipfile

import pytest
import yaml
from conftest import BUILT_MODELS, BUILT_SETTINGS, ROOT, commit, make_repo, run, write_params

STAGE_KINDS = {"check", "fetch", "split", "pretrain", "train", "flops", "featuremaps", "prune", "trim", "trim_scratch", "criteria", "evaluate",
               "export", "score_exports", "summarize", "criteria_report"}


def exp_file(repo, name: str, path: str) -> str:
    refs = run(["git", "for-each-ref", "--format=%(refname)", "refs/exps"], repo).stdout.split()
    ref = next(r for r in refs if r.endswith("/" + name))
    return run(["git", "show", f"{ref}:{path}"], repo).stdout


@pytest.mark.slow
def test_the_paper_profile_runs_every_stage_at_224_px(tmp_path):
    # cnn alone: every kind of stage runs on it (trained, its feature maps, pruned, trimmed, the control)
    repo = make_repo(tmp_path / "repo", models={"cnn": BUILT_MODELS["cnn"]}, **BUILT_SETTINGS)
    for folder in ("profiles", "tools"):
        shutil.copytree(ROOT / folder, repo / folder, ignore=shutil.ignore_patterns("__pycache__"))
    commit(repo, "the profile and the rehearsal")
    p = run([sys.executable, "tools/rehearse_paper.py", "--per-class", "10", "--seeds", "1", "--epochs", "1",
             "--trim-rounds", "1", "--rules", "apoz", "--export-formats", "litert_int8", "--json", "rehearsal.json"], repo)
    r = json.loads((repo / "rehearsal.json").read_text())

    # every kind of stage ran (one seed: the comparisons over seeds are the quick default's), each one's memory measured
    assert {s["stage"].split("@")[0] for s in r["stages"]} == STAGE_KINDS
    assert {s["stage"] for s in r["stages"]} >= {"train@cnn-1", "prune@cnn-1", "trim_scratch@cnn-1", "evaluate@cnn-1"}
    assert [s["stage"] for s in r["stages"] if s["stage"].startswith("criteria@")] == ["criteria@cnn-1"]  # one process per model and replicate
    assert all(s["peak_rss_mib"] > 0 for s in r["stages"]), r["stages"]
    assert "is cached - skipping run" not in p.stdout  # -f: no stage came back from an earlier rehearsal's run-cache

    # the data was the hand-downloaded zip in Kaggle's layout, split as the paper split it, at 224 px
    zips = list((repo / "data/rehearsal").glob("*.zip"))
    with zipfile.ZipFile(zips[0]) as zf:
        names = zf.namelist()
    assert "Rice_Citation_Request.txt" in names and "Rice_Image_Dataset/Arborio/Arborio (1).jpg" in names
    assert "split: 40 train / 5 val / 5 test images of 5 classes at 224 px (Arborio 10, " in p.stdout
    params = yaml.safe_load(exp_file(repo, "rehearse-paper", "params.yaml"))
    assert params["data"]["img_size"] == 224 and params["split"] == {"val": 0.1, "test": 0.1}
    assert params["data"]["source"] == "path" and params["replicates"] == [1]
    # one format (each is converted by the same code; tests/test_export.py converts all five): the quantised one,
    # whose calibration runs the 224-px model on training images
    assert params["export"]["formats"] == ["litert_int8"]
    cards = json.loads(exp_file(repo, "rehearse-paper", "metrics/export/cnn.json"))
    assert set(cards) >= {"cnn", "cnn_pruned", "cnn_trim"} and all(set(c["formats"]) == {"keras", "litert_int8"} for c in cards.values())
    evaluated = json.loads(exp_file(repo, "rehearse-paper", "metrics/evaluate/1/cnn.json"))
    assert evaluated["cnn_trim_scratch"]["test_images"] == 5
    summary = exp_file(repo, "rehearse-paper", "reports/study/summary.md")
    assert "224 px" in summary and "1 replicate" in summary

    # the rates the projection uses were read from the experiment
    assert set(r["rates"]["train"]) == {"cnn"} and r["rates"]["train"]["cnn"]["images"] == 40
    assert r["rates"]["inference"]["cnn"]["test_images"] == 5

    # the workspace kept the quick default
    assert yaml.safe_load((repo / "params.yaml").read_text())["data"]["img_size"] == 32
    assert subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=repo, capture_output=True,
                          text=True).stdout.strip() == ""


def test_the_gpu_study_script_runs_dvc_yaml_s_commands(tmp_path):
    """bench/gpu_study.sh runs the stage modules without DVC: the commands it runs are dvc.yaml's own
    for the params it writes (tools/stage_commands.py, which tests/test_dag.py checks against DVC)."""
    import importlib.util

    env = {"PER_CLASS": "8", "SIZE": "32", "EPOCHS": "1", "BACKEND": "tensorflow", "EVAL_BACKEND": "tensorflow",
           "MIXED": "false", "BATCH": "16", "MODELS": "cnn,cnn_light", "WORK": str(tmp_path / "work"),
           "PYTHON": sys.executable, "DRY_RUN": "1"}
    p = run(["bash", "bench/gpu_study.sh"], ROOT, extra_env=env)
    shown = [tuple(line.split("\t")) for line in p.stdout.splitlines() if "\t" in line]
    spec = importlib.util.spec_from_file_location("stage_commands", ROOT / "tools" / "stage_commands.py")
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    params = yaml.safe_load((tmp_path / "work" / "params.yaml").read_text())
    expected = [(n, c) for n, c in tool.expand(yaml.safe_load((ROOT / "dvc.yaml").read_text()), params)
                if n.split("@")[0] in ("fetch", "split", "pretrain", "train", "flops", "featuremaps", "evaluate", "export",
                                       "score_exports", "summarize")]
    assert shown == expected
    assert [n for n, _ in shown] == ["fetch", "split@42", "pretrain", "train@cnn-42", "train@cnn_light-42", "flops@cnn", "flops@cnn_light",
                                     "featuremaps@cnn-42", "featuremaps@cnn_light-42", "evaluate@cnn-42", "evaluate@cnn_light-42",
                                     "export@cnn", "export@cnn_light", "score_exports@cnn", "score_exports@cnn_light", "summarize"]
    assert params["models"]["cnn"]["epochs"] == 1 and params["data"]["img_size"] == 32


@pytest.mark.slow
def test_the_gpu_study_script_runs_for_real_on_the_models_kept(tmp_path):
    """bench/gpu_study.sh's CPU smoke run at its smallest (6 images per class, 32 px, 1 epoch, TensorFlow),
    from a params file whose criteria name cnn, which the run leaves out: prune, trim and criteria keep
    only the models whose stages run here (none; tools/model_subset.py's rule), so settings validation
    passes and evaluate looks for no pruned, trimmed or criteria model."""
    # TINY's split (0.2/0.2): 1 validation and 1 test image per class of 6
    params = write_params(tmp_path / "params.yaml", criteria={"models": ["cnn"]},  # one export format: each is the same code
                          export={"formats": ["litert_int8"], "augmented_formats": ["litert_int8"]})
    assert yaml.safe_load(params.read_text())["trim"]["models"] == ["cnn"]
    work = tmp_path / "work"
    env = {"PER_CLASS": "6", "SIZE": "32", "EPOCHS": "1", "BACKEND": "tensorflow", "EVAL_BACKEND": "tensorflow",
           "MIXED": "false", "BATCH": "16", "MODELS": "cnn_light", "WORK": str(work), "PARAMS": str(params),
           "PYTHON": sys.executable}
    p = run(["bash", "bench/gpu_study.sh"], ROOT, extra_env=env)  # fails the test unless it exits 0

    # the stage times, the per-model table and the study's summary were printed
    assert "| stage | seconds |" in p.stdout and "| evaluate@cnn_light-42 " in p.stdout and "| summarize " in p.stdout
    assert "| model | fastest epoch s" in p.stdout and "\n| cnn_light | " in p.stdout
    assert "# Summary" in p.stdout and (work / "reports/study/summary.md").is_file()
    assert (work / "metrics/train/42/cnn_light.json").is_file()

    # the run's params: cnn_light alone, no model to prune, trim or compare criteria on
    ran = yaml.safe_load((work / "params.yaml").read_text())
    assert list(ran["models"]) == ["cnn_light"]
    assert ran["prune"]["models"] == ran["trim"]["models"] == ran["criteria"]["models"] == []
    assert set(json.loads((work / "metrics/evaluate/42/cnn_light.json").read_text())) == {"cnn_light"}
    # no file of cnn, nor of a pruned, trimmed or criteria model (cnn_pruned, cnn_apoz_0.25, ...)
    notes = {f for f in (work / "models/pretrain").rglob("pretrain.json") if not json.loads(f.read_text())["pretrained"]}
    assert len(notes) == 6 and not list((work / "models/pretrain").rglob("*.h5"))  # every registry model's note, no base
    named = {part.split(".")[0].removesuffix("_int8").removesuffix("_uint8") for f in work.rglob("*") if f.is_file()
             and f not in notes for part in f.relative_to(work).parts if part.startswith(("cnn", "googlenet", "vgg16"))}
    assert named == {"cnn_light"}  # (its export included: cnn_light_int8.tflite)
    assert not (work / "metrics/criteria").exists() and not (work / "models/criteria").exists()
