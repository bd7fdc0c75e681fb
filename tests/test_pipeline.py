"""The whole DAG end to end: one real `dvc repro` of a tiny project (conftest's ``built``), what it
wrote, what a change reruns, the backend every stage runs on, and a training killed mid-way."""

from __future__ import annotations

import ast
import json
import os
import re
import selectors
import shlex
import shutil
import signal
import subprocess
import sys
import time
import zipfile

import numpy as np
import pandas as pd
import pytest
import yaml
from conftest import BUILT_MODELS, ROOT, SEED, clone_built, env, run
from PIL import Image
from test_dag import expanded_stages, stage_code
from test_share import assert_offline, node_render

from ricecnn.study import stats

pytestmark = pytest.mark.slow
# Each line's (a trained model's and the variants made from it) scoring and export
LINE_STAGES = {f"{kind}@{m}" for kind in ("export", "score_exports") for m in BUILT_MODELS} | {
    f"evaluate@{m}-{SEED}" for m in BUILT_MODELS}


def ran(stdout: str) -> set[str]:
    return {line.split("'")[1] for line in stdout.splitlines() if line.startswith("Running stage")}


def set_params(repo, **changes) -> None:
    params = yaml.safe_load((repo / "params.yaml").read_text())
    for dotted, value in changes.items():
        *parents, leaf = dotted.split("__")
        node = params
        for k in parents:
            node = node[k]
        node[leaf] = value
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))


def test_every_stage_runs_and_writes_its_outputs(built):
    repo = built.repo
    s = SEED
    assert ran(built.stdout) == {
        "check", "fetch", f"split@{s}", "pretrain", f"train@cnn-{s}", f"train@cnn_light-{s}", "flops@cnn", "flops@cnn_light", f"featuremaps@cnn-{s}",
        f"featuremaps@cnn_light-{s}", f"prune@cnn-{s}", f"trim@cnn-{s}", f"trim_scratch@cnn-{s}", f"criteria@cnn-{s}",
        "criteria_report@cnn", *LINE_STAGES, "summarize"}
    assert not (repo / f"reports/evaluate/{s}/cnn/pictures/confusion_cnn_pruned.png").exists()  # the trained models' only
    for path in (f"models/{s}/cnn/cnn.keras", f"metrics/train/{s}/cnn_light.json", "metrics/flops/cnn.json",
                 f"metrics/featuremaps/{s}/cnn.json", f"metrics/evaluate/{s}/cnn.json", "reports/study/summary.md",
                 "reports/study/summary.csv", "reports/study/comparisons.csv", "reports/study/accuracy_vs_flops.png", "reports/study/effects.png",
                 f"reports/evaluate/{s}/cnn_light/predictions/cnn_light.csv", f"reports/evaluate/{s}/cnn/pictures/confusion_cnn.png",
                 "reports/study/findings.md", "reports/study/robustness.png", f"models/{s}/cnn/cnn_trim.keras", f"metrics/trim/{s}/cnn.json",
                 f"reports/featuremaps/{s}/cnn/apoz.png", f"reports/train/{s}/cnn/plots/metrics/eval/accuracy.tsv",
                 f"exports/{s}/cnn/cnn_trim_int8.tflite", f"exports/{s}/cnn/cnn_pruned_int8.tflite", "reports/criteria_report/cnn/curves.csv", f"exports/{s}/cnn/labels.txt",
                 f"exports/{s}/cnn_light/cnn_light.onnx", "metrics/export/cnn.json", "reports/export/cnn/cnn.csv",
                 "reports/study/deployment.csv", "reports/study/deployment.png"):
        assert (repo / path).is_file(), path
    # one line each: a trained model and the variants made from it (prune.models and trim.models keep cnn)
    lines = {"cnn": {"cnn", "cnn_pruned", "cnn_trim", "cnn_trim_scratch"}, "cnn_light": {"cnn_light"}}
    evaluate = {}
    for line, members in lines.items():
        scored = json.loads((repo / f"metrics/evaluate/{s}/{line}.json").read_text())
        assert set(scored) == members == set(json.loads((repo / f"metrics/export/{line}.json").read_text()))
        assert {p.stem for p in (repo / f"models/{s}/{line}").glob("*.keras")} == members
        evaluate |= scored
    rows = (repo / f"reports/evaluate/{s}/cnn/predictions/cnn.csv").read_text().splitlines()
    assert rows[0].startswith("image,actual,clean,") and len(rows) - 1 == evaluate["cnn"]["test_images"] == 10
    summary = (repo / "reports/study/summary.csv").read_text().splitlines()
    assert len(summary) == 6 and summary[0].startswith("model,") and summary[3].startswith("cnn_pruned,cnn,pruned,cnn,")
    pruned = json.loads((repo / f"metrics/prune/{s}/cnn.json").read_text())  # what summarize reads of it:
    row = pd.read_csv(repo / "reports/study/summary.csv").set_index("model").loc["cnn_pruned"]
    assert row.params == pruned["params_after"] <= pruned["params_before"]
    assert row.flops_224 == pytest.approx(pruned["flops_224_after"], rel=1e-5)  # the CSV keeps 6 digits


def test_a_zip_downloaded_by_hand_is_read_and_its_classes_counted(built):
    out = built.stdout + built.stderr
    assert "ricecnn: warning: " in out and "skipping non-image file Rice_Citation_Request.txt" in out
    assert ('split: 30 train / 10 val / 10 test images of 5 classes at 32 px (Arborio 10, Basmati 10, Ipsala 10, '
            'Jasmine 10, Karacadag 10)') in out


def test_a_sample_larger_than_its_split_takes_the_whole_split_and_says_so(built):
    # featuremaps.samples is 256 and the val split holds 10 images: no failure after the training
    for model in BUILT_MODELS:
        assert json.loads((built.repo / f"metrics/featuremaps/{SEED}/{model}.json").read_text())["samples"] == 10
    note = "ricecnn: note: featuremaps.samples = 256 but the val split holds 10 images: measuring on all 10"
    assert (built.stdout + built.stderr).count(note) == 2


def test_the_comparisons_are_what_the_predictions_say(built):
    repo = built.repo
    comps = pd.read_csv(repo / "reports/study/comparisons.csv")
    assert set(zip(comps.variant, comps.against)) == {("cnn_light", "cnn"), ("cnn_pruned", "cnn"), ("cnn_trim", "cnn"),
                                                     ("cnn_trim", "cnn_light"), ("cnn_trim_scratch", "cnn_trim")}
    predictions = {m: pd.read_csv(repo / f"reports/evaluate/{SEED}/{'cnn_light' if m == 'cnn_light' else 'cnn'}/predictions/{m}.csv")
                   for m in ("cnn", "cnn_light", "cnn_trim", "cnn_trim_scratch")}
    for variant, against in (("cnn_trim", "cnn_light"), ("cnn_trim_scratch", "cnn_trim")):
        for condition in ("clean", "augmented"):
            v, b = (predictions[m][condition] == predictions[m]["actual"] for m in (variant, against))
            expected = stats.paired(v.to_numpy(), b.to_numpy())  # one seed: the two networks' paired test
            got = comps[(comps.variant == variant) & (comps.against == against) & (comps.condition == condition)].iloc[0]
            assert (got.diff_pp, got.p_zero) == (pytest.approx(100 * expected.diff), pytest.approx(expected.p, abs=1e-6))
    margin = yaml.safe_load((repo / "params.yaml").read_text())["compare"]["margin"]
    assert set(comps.margin_pp) == {100 * margin}  # the channel criteria's thesis is criteria_report@'s own
    for r in comps[comps.claim_family != stats.EXPLORATORY].itertuples():  # each verdict is its printed interval's
        assert r.verdict == stats.verdict(r.lo_pp / 100, r.hi_pp / 100, r.margin_pp / 100), (r.variant, r.against, r.condition)
    assert "1 replicate: about these trained networks only" in (repo / "reports/study/findings.md").read_text()
    trim = json.loads((repo / f"metrics/trim/{SEED}/cnn.json").read_text())
    assert [r["round"] for r in trim["rounds"]] == [0, 1] and trim["kept_round"] == 1  # budget 1.0: never beyond
    picture = Image.open(repo / "reports/study/trim/cnn.png")
    assert picture.size == (512, 352) and len(set(np.asarray(picture.convert("L")).ravel().tolist())) > 10
    findings = (repo / "reports/study/findings.md").read_text()
    assert "Trimming cnn (replicate by replicate): kept round 1; FLOPs at 224 px" in findings


def test_every_setting_a_stage_reads_is_in_its_params(built):
    # each stage process recorded the settings it read (tests/params_trace, $RICECNN_PARAMS_TRACE);
    # a setting read but not listed would leave its results stale when it changes
    stages = expanded_stages(built.repo)
    traced = {f.stem: json.loads(f.read_text()) for f in built.params_read.glob("*.json")}
    assert set(traced) == set(stages)
    for name, keys in traced.items():
        listed = stages[name]["params"]
        unlisted = [k for k in keys if not any(k == p or k.startswith(p + ".") for p in listed)]
        assert not unlisted, f"{name} reads {unlisted} but dvc.yaml lists only {listed}"
    assert "data.source" in traced["summarize"] and "featuremaps.samples" in traced["featuremaps@cnn-1"]


def test_a_stage_on_tensorflow_does_not_load_jax(built):
    """TensorFlow's import would pull in jax (installed for the JAX backend), 1.5 s of every stage's start-up
    (cli.without_unused_jax); each stage process recorded what it loaded (tests/params_trace). On JAX it is the
    backend and is loaded: test_every_stage_that_loads_keras_runs_on_train_backend."""
    loaded = {f.stem: json.loads(f.read_text()) for f in (built.params_read / "loaded").glob("*.json")}
    on_tensorflow = {name for name, r in loaded.items() if r["keras_backend"] == "tensorflow"}
    assert {f"train@cnn-{SEED}", f"evaluate@cnn-{SEED}", "flops@cnn", "export@cnn"} <= on_tensorflow
    assert [name for name in on_tensorflow if loaded[name]["jax"]] == []


def test_second_repro_runs_nothing(built):
    assert "Running stage" not in run(["dvc", "repro"], built.repo).stdout
    assert json.loads(run(["dvc", "status", "--json"], built.repo).stdout) == {}


def test_a_fresh_clone_reproduces_every_output_s_bytes(built, tmp_path):
    """A teammate's clone, without the DVC cache, runs the tiny pipeline a second time and gets the bytes of
    every output the committed dvc.lock records: each stage whose outputs DVC caches (models, exports, data)
    runs and writes the committed hashes, and every other stage then finds its inputs unchanged and is
    skipped, its committed outs standing. So a run-cache hit or `dvc pull` is the same file, and the repro
    leaves git clean. (Each exported format's bytes in one process: tests/test_export.py.)"""
    clone = tmp_path / "clone"
    run(["git", "clone", "-q", str(built.repo), str(clone)], tmp_path)
    assert not (clone / ".dvc" / "cache").exists()
    from dvc.repo import Repo

    with Repo(str(built.repo)) as repo:  # the stages with an out in DVC's cache (not a committed `cache: false` one)
        cached = {stage.name for stage in repo.index.stages if any(o.use_cache for o in stage.outs)}
    assert {"fetch", f"split@{SEED}", "pretrain", f"train@cnn-{SEED}", f"prune@cnn-{SEED}", "export@cnn"} <= cached
    ran_here = ran(run(["dvc", "repro"], clone).stdout)
    assert ran_here == cached, ran_here ^ cached  # none of evaluate@, score_exports@, summarize: their inputs came out the same
    assert run(["git", "status", "--porcelain"], clone).stdout == ""  # dvc.lock and every committed out unchanged
    for model in (f"models/{SEED}/cnn/cnn.keras", f"exports/{SEED}/cnn/cnn_pruned.onnx"):
        assert (clone / model).read_bytes() == (built.repo / model).read_bytes()


# What DVC's own commands show of the study: dvc.yaml's `metrics:` and `plots:` (the study's numbers and
# pictures), none of the per-stage files.
TIMING = re.compile(r"second|per_second|batch|latency|replicas|steps_per", re.I)
BANNER = re.compile(r"absl::InitializeLog|oneDNN custom operations")


def test_stages_start_tensorflow_without_its_banners(built):
    assert not [ln for ln in (built.stdout + built.stderr).splitlines() if BANNER.search(ln)]
    assert "Running stage 'train@cnn-1'" in built.stdout  # (the output is the stages')


def test_dvc_shows_the_studys_numbers_and_pictures(built):
    shown = json.loads(run(["dvc", "metrics", "show", "--json"], built.repo).stdout)
    files = shown[""]["data"]
    assert set(files) == {"metrics/study.json", "metrics/criteria_report/cnn.json"}
    study = files["metrics/study.json"]["data"]
    assert set(json.loads((built.repo / f"metrics/evaluate/{SEED}/cnn.json").read_text())) < set(study)  # every model
    assert study["cnn_light vs cnn"]["clean"] in ("not worse", "worse", "inconclusive")  # the confirmatory family's
    assert study["cnn_light vs cnn"]["augmented"] == "exploratory"  # in no family: no verdict
    assert not TIMING.search(json.dumps(study))
    plots = json.loads(run(["dvc", "plots", "show", "--json"], built.repo).stdout)["data"]
    assert set(plots) == {"reports/study/training_curves.csv", "reports/study/summary_points.csv", "reports/study/accuracy_vs_flops.png",
                          "reports/study/effects.png", "reports/study/robustness.png",
                          "reports/study/deployment.png", "reports/criteria_report/cnn/curves.csv",
                          "reports/criteria_report/cnn/curves.png"}


def test_an_experiment_with_one_changed_setting_is_compared_by_dvc(built, tmp_path):
    repo = clone_built(built, tmp_path / "repo")
    set_params(repo, models__cnn_light__learning_rate=0.03)
    # featuremaps@, evaluate@, export@ and score_exports@ of cnn_light follow once train@cnn_light has written a new
    # model; cnn's chain never does (check reads params.yaml before any stage, a second, and its output stays the
    # same: nothing reruns through it)
    assert set(json.loads(run(["dvc", "status", "--json"], repo).stdout)) == {
        "check", f"train@cnn_light-{SEED}", "summarize"}  # not flops@: no count changed
    run(["git", "checkout", "params.yaml"], repo)
    assert ran(run(["dvc", "exp", "run", "-n", "faster", "-S", "+models.cnn_light.learning_rate=0.03"], repo).stdout) == {
        "check", f"train@cnn_light-{SEED}", f"featuremaps@cnn_light-{SEED}", f"evaluate@cnn_light-{SEED}", "export@cnn_light",
        "score_exports@cnn_light", "summarize"}
    # the workspace now holds the experiment's results: DVC compares them with the commit's
    params = json.loads(run(["dvc", "params", "diff", "--json"], repo).stdout)
    assert params["params.yaml"] == {"models.cnn_light.learning_rate": {"old": None, "new": 0.03}}
    diff = json.loads(run(["dvc", "metrics", "diff", "--json"], repo).stdout)["metrics/study.json"]
    assert "cnn_light.accuracy" in diff and "cnn_light vs cnn.clean_pp" in diff  # (on 10 test images: 0.3 -> 0.1)
    assert not [k for k in diff if TIMING.search(k)]
    assert not [k for k in diff if k.startswith("cnn.") or k.startswith("cnn_pruned")]  # cnn's chain never ran
    # the comparison screen: what changed, in at most 60 columns, numbers in a 200-column terminal
    table = run(["dvc", "exp", "show", "--only-changed", "--csv"], repo).stdout.splitlines()
    header = table[0].split(",")
    assert len(header) <= 60 and "models.cnn_light.learning_rate" in header and "cnn_light.accuracy" in header
    screen = run(["dvc", "exp", "show", "--only-changed", "--no-pager"], repo, extra_env={"COLUMNS": "200"}).stdout
    head, row = next(ln for ln in screen.splitlines() if "Experiment" in ln), next(ln for ln in screen.splitlines() if "faster" in ln)
    # the first metric columns are what changed (on 10 test images an accuracy may come out the same: then it is not shown)
    shown = [c for c in head.split()[2:] if c in diff]
    assert shown and shown[0] == "cnn_light.accuracy" and head.split()[2] == "cnn_light.accuracy", screen
    assert float(row.split()[5]) == diff["cnn_light.accuracy"]["new"], screen
    # the pictures of both, side by side, drawn offline with no flag: the repo's config names the offline page
    # template (make test-deps installs node)
    run(["dvc", "plots", "diff", "HEAD", "-o", str(tmp_path / "diff")], repo)
    page = (tmp_path / "diff" / "index.html").read_text()
    assert_offline(page)
    renders = node_render(tmp_path / "diff" / "index.html", tmp_path)
    assert len(renders["renders"]) == page.count("vegaEmbed('#") == 3 and all(r["marks"] > 0 for r in renders["renders"])
    assert page.count('<img src="static/') == 2 * 5  # the study's five pictures, of the commit and of the workspace
    # back to the commit's results, as the README says: git's files, then DVC's
    run(["git", "checkout", "--", "."], repo)
    run(["dvc", "checkout"], repo)
    assert json.loads(run(["dvc", "status", "--json"], repo).stdout) == {}
    assert run(["git", "status", "--porcelain", "--untracked-files=no"], repo).stdout == ""


def test_a_new_criterion_or_target_reruns_only_the_criteria(built, tmp_path):
    repo = clone_built(built, tmp_path / "repo")
    set_params(repo, criteria__rules=["apoz", "random", "l1"])
    # the criteria's settings are theirs alone: no line's evaluate@, export@ or scoring, no summarize
    assert set(json.loads(run(["dvc", "status", "--json"], repo).stdout)) == {"check", f"criteria@cnn-{SEED}",
                                                                              "criteria_report@cnn"}
    set_params(repo, criteria__margin=0.01)  # the thesis's margin: the report alone
    assert set(json.loads(run(["dvc", "status", "--json"], repo).stdout)) == {"check", f"criteria@cnn-{SEED}",
                                                                              "criteria_report@cnn"}
    set_params(repo, criteria__rules=["apoz", "random"])
    assert set(json.loads(run(["dvc", "status", "--json"], repo).stdout)) == {"check", "criteria_report@cnn"}
    curves = pd.read_csv(built.repo / "reports/criteria_report/cnn/curves.csv")
    assert set(zip(curves.rule, curves.stage)) == {("apoz", "cut"), ("apoz", "tuned"), ("random", "cut"), ("random", "tuned"),
                                                   ("scratch", "scratch")}


def test_an_experiment_run_again_on_its_commit_runs_no_stage(built, tmp_path):
    """`make criteria`'s way: an experiment in a temporary copy, then tools/run_cache.py writes the entries DVC
    skips; the same experiment again on the same commit restores every stage and runs none (check included)."""
    repo = clone_built(built, tmp_path / "repo")
    shutil.copytree(ROOT / "tools", repo / "tools", ignore=shutil.ignore_patterns("__pycache__"))
    experiment = ["dvc", "exp", "run", "--temp", "-n", "again", "-S", "criteria.margin=0.01", "criteria_report@cnn"]
    assert ran(run(experiment, repo).stdout) == {"check", "criteria_report@cnn"}
    run([sys.executable, "tools/run_cache.py", "again"], repo)
    run(["dvc", "exp", "remove", "again"], repo)
    assert ran(run(experiment, repo).stdout) == set()


def test_a_trim_setting_makes_only_the_trim_stage_stale(built, tmp_path):
    repo = clone_built(built, tmp_path / "repo")
    set_params(repo, trim__strength=0.5)
    assert set(json.loads(run(["dvc", "status", "--json"], repo).stdout)) == {"check", f"trim@cnn-{SEED}"}
    set_params(repo, trim__strength=0.3, compare__margin=0.05)  # the margin: summarize alone (the README's knob)
    assert set(json.loads(run(["dvc", "status", "--json"], repo).stdout)) == {"check", "summarize"}


def test_a_new_replicate_makes_only_its_stages_and_the_comparison_stale(built, tmp_path):
    repo = clone_built(built, tmp_path / "repo")
    new = SEED + 1
    set_params(repo, replicates=[SEED, new])
    per_seed = {f"train@cnn-{new}", f"train@cnn_light-{new}", f"featuremaps@cnn-{new}", f"featuremaps@cnn_light-{new}",
                f"prune@cnn-{new}", f"trim@cnn-{new}", f"trim_scratch@cnn-{new}", f"criteria@cnn-{new}",
                f"evaluate@cnn-{new}", f"evaluate@cnn_light-{new}"}
    # the stand-in draws the new replicate's images into the archive: fetch and every split@ are stale, but
    # the old replicate's split comes out byte-identical, so nothing after it reruns
    drawn = {"check", "fetch", f"split@{SEED}", f"split@{new}"}
    assert set(json.loads(run(["dvc", "status", "--json"], repo).stdout)) == per_seed | drawn | {"summarize", "criteria_report@cnn"}
    run(["dvc", "repro", "check", "fetch", f"split@{SEED}"], repo)
    assert set(json.loads(run(["dvc", "status", "--json"], repo).stdout)) == per_seed | {f"split@{new}", "summarize",
                                                                                         "criteria_report@cnn"}
    # (what the comparisons over two seeds are: tests/test_summarize.py; a repro after a change runs
    # only the stale stages: test_killed_training_reruns_cleanly)


# Runs a stage's command as `ricecnn` would, then reports the backend Keras was loaded with in that
# process: a process has exactly one, so it is the one every model of the stage ran on.
ON_BACKEND = ("import sys\nfrom ricecnn.core.cli import main\nrc = main(sys.argv[1:])\nimport keras\n"
              "print('keras backend:', keras.backend.backend())\nsys.exit(rc)")


# Tiny models, a few images: cheap XLA compilation matters more than fast code.
CHEAP_XLA = {"XLA_FLAGS": "--xla_backend_optimization_level=0 --xla_llvm_disable_expensive_passes=true"}


def loads_keras(root, cmd: str) -> bool:
    for path in stage_code(root, cmd):
        for node in ast.walk(ast.parse((root / path).read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            if any(n == "keras" or n.startswith("keras.") for n in names):
                return True
    return False


def test_every_stage_that_loads_keras_runs_on_train_backend(built, tmp_path):
    repo = clone_built(built, tmp_path / "repo")
    set_params(repo, train__backend="jax")
    stages = expanded_stages(repo)
    kinds = {}  # one stage of each kind (train@, prune@, ...), in the DAG's order, for every kind that loads Keras
    for name, stage in stages.items():
        if loads_keras(repo, stage["cmd"]):
            kinds.setdefault(name.split("@")[0], name)
    assert set(kinds) == {"pretrain", "train", "flops", "featuremaps", "prune", "trim", "trim_scratch", "criteria", "evaluate",
                          "export", "score_exports", "summarize"}  # export: TensorFlow always (its converter; cli.TENSORFLOW_STAGES)
    # every kind goes through cli.run_stage, which sets the backend before it imports the stage's module
    # (test_a_stage_on_tensorflow_does_not_load_jax); run on JAX here: those that write the backend down
    for kind, name in ((k, n) for k, n in kinds.items() if k in ("train", "evaluate")):
        argv = shlex.split(stages[name]["cmd"])
        p = run([sys.executable, "-c", ON_BACKEND, *argv[1:]], repo, extra_env={"KERAS_BACKEND": "tensorflow", **CHEAP_XLA})
        assert p.stdout.strip().splitlines()[-1] == "keras backend: jax", (name, p.stdout[-2000:])
    assert json.loads((repo / f"metrics/train/{SEED}/cnn.json").read_text())["backend"] == "jax"
    assert {r["backend"] for r in json.loads((repo / f"metrics/evaluate/{SEED}/cnn.json").read_text()).values()} == {"jax"}


# --- interruption ---------------------------------------------------------------------------------

def outputs_digest(repo) -> dict[str, str]:
    """Every file of the project but git's and DVC's own bookkeeping and params.yaml: what a run may lose."""
    import hashlib

    skip = (".git", ".dvc/tmp")
    return {str(f.relative_to(repo)): hashlib.sha256(f.read_bytes()).hexdigest() for f in sorted(repo.rglob("*"))
            if f.is_file() and not str(f.relative_to(repo)).startswith(skip) and f.name != "params.yaml"}


@pytest.mark.parametrize("mistake, message", [
    ("\ntrain:", "ricecnn check: error: params.yaml: unknown key trainn (did you mean 'train'?)"),
    ("models", "ricecnn check: error: params.yaml: models.resnet50 is not a model of the registry (cnn, cnn_light, googlenet, "
               "googlenet_light, vgg16, vgg16_light)"),
    ("\nfeaturemaps:", "ricecnn check: error: params.yaml: missing section featuremaps"),
    ("\ntrim:", "ERROR: failed to parse 'stages.trim.matrix' in 'dvc.yaml': Could not find 'trim.models'"),  # DVC's own
])
def test_a_typo_in_params_stops_at_check_and_every_output_stays(built, tmp_path, mistake, message):
    # DVC removes a stage's outputs before it finds a missing section or builder: the check stage comes first
    repo = clone_built(built, tmp_path / "repo")
    before = outputs_digest(repo)
    params = yaml.safe_load((repo / "params.yaml").read_text())
    if mistake == "models":
        params["models"]["resnet50"] = {"epochs": 5}
        (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    else:
        text = (repo / "params.yaml").read_text()
        assert mistake in text
        cut = text.replace(mistake, "\ntrainn:", 1) if mistake == "\ntrain:" else \
            yaml.safe_dump({k: v for k, v in params.items() if k != mistake.strip(":\n")}, sort_keys=False)
        (repo / "params.yaml").write_text(cut)
    p = run(["dvc", "repro"], repo, check=False)
    # a section dvc.yaml's foreach or matrix reads: DVC stops before any stage; any other mistake: at check
    assert p.returncode != 0 and ran(p.stdout) == (set() if mistake == "\ntrim:" else {"check"}), p.stdout + p.stderr
    said = [ln for ln in (p.stdout + p.stderr).splitlines() if ln.startswith(("ricecnn check: error:", "ERROR:"))]
    assert said[0].startswith(message), p.stdout + p.stderr  # one line says what is wrong, DVC may add that check failed
    assert said[1:] in ([], ["ERROR: failed to reproduce 'check': failed to run: ricecnn check --out data/checked.json, "
                             "exited with 2"]), said
    # every other stage's outputs stay; check's own (DVC removes a failed stage's outputs) comes back, the same
    # bytes, with the next valid run
    gone = set() if mistake == "\ntrim:" else {"data/checked.json"}
    assert outputs_digest(repo) == {k: v for k, v in before.items() if k not in gone}


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGKILL])
def test_killed_training_reruns_cleanly(built, tmp_path, sig):
    repo = clone_built(built, tmp_path / "repo")
    # 100,000 epochs (the default has no early stopping): training cannot finish before the signal lands
    params = repo / "params.yaml"
    text = params.read_text().replace("cnn_light:\n    epochs: 1", "cnn_light:\n    epochs: 100000")
    assert text.count("100000") == 1 and "patience: null" in text
    params.write_text(text)
    stage = f"train@cnn_light-{SEED}"
    proc = subprocess.Popen(["dvc", "repro", stage], cwd=repo, env=env(), start_new_session=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    seen = ""
    with selectors.DefaultSelector() as sel:  # wait until training is really under way: 120 s at most, never blocked
        sel.register(proc.stdout, selectors.EVENT_READ)
        deadline = time.monotonic() + 120
        while "Epoch 2/" not in seen:
            if time.monotonic() > deadline or not sel.select(timeout=deadline - time.monotonic()):
                proc.kill()
                pytest.fail("training never started:\n" + seen[-2000:])
            chunk = os.read(proc.stdout.fileno(), 65536).decode(errors="replace")
            if not chunk:  # the stage ended before its second epoch
                pytest.fail("training ended before the signal:\n" + seen[-2000:])
            seen += chunk
    os.killpg(proc.pid, sig)
    proc.communicate(timeout=60)  # drained: a stage blocked on a full pipe could not exit
    assert proc.returncode != 0
    assert not (repo / "models" / str(SEED) / "cnn_light" / "cnn_light.keras").exists()
    assert not (repo / "metrics" / "train" / str(SEED) / "cnn_light.json").exists()
    # (a SIGKILL during a save can leave a dot-named temp file: no stage reads it)
    params.write_text(params.read_text().replace("epochs: 100000", "epochs: 2"))
    out = run(["dvc", "repro", stage], repo).stdout
    assert f"Running stage '{stage}'" in out
    assert zipfile.is_zipfile(repo / "models" / str(SEED) / "cnn_light" / "cnn_light.keras")
    assert (repo / "metrics" / "train" / str(SEED) / "cnn_light.json").is_file()
    assert "Running stage" not in run(["dvc", "repro", stage], repo).stdout


def test_summarize_writes_its_outputs_into_the_one_folder_dvc_yaml_declares(built):
    from ricecnn.stages.summarize import OUTPUTS

    stage = expanded_stages(built.repo)["summarize"]
    cmd = shlex.split(stage["cmd"])
    folder, metrics = (cmd[cmd.index(option) + 1] for option in ("--out-dir", "--metrics"))
    assert set(stage["outs"]) == {folder, metrics}  # its names are made in Python alone
    assert sorted(p.name for p in (built.repo / folder).iterdir()) == sorted(OUTPUTS)


# What a one-line edit of the code costs a DVC user: the stages `dvc status` says changed
# (tools/edit_probe.py; a builder reruns its model's stages, the plan evaluate and summarize, a study
# figure summarize, a stage's own settings schema that stage kind). The package's folders follow the
# DAG: this keeps the granularity from regressing unseen.
EDITS = {
    "src/ricecnn/networks/cnn_light.py": {f"train@cnn_light-{SEED}", "flops@cnn_light"},
    "src/ricecnn/networks/cnn.py": {f"train@cnn-{SEED}", "flops@cnn"},  # not the scratch control: it builds nothing
    "src/ricecnn/evaluation/plan.py": {*LINE_STAGES, "summarize"},
    "src/ricecnn/study/figures.py": {"summarize"},
    "src/ricecnn/stages/criteria.py": {f"criteria@cnn-{SEED}"},
    "src/ricecnn/channels/trimming.py": {f"trim@cnn-{SEED}"},
}


def test_a_one_line_edit_reruns_only_the_stages_that_run_the_file(built, tmp_path):
    import importlib.util

    spec = importlib.util.spec_from_file_location("edit_probe", ROOT / "tools" / "edit_probe.py")
    probe = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(probe)
    repo = clone_built(built, tmp_path / "repo")
    total, changed = probe.probe(repo, list(EDITS))
    assert {f: set(stages) for f, stages in changed.items()} == EDITS
    assert total == 22 and run(["git", "status", "--porcelain", "src"], repo).stdout == ""  # every edit undone
