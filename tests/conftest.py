"""Shared fixtures: tiny params files and a temporary git+DVC copy of the project."""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import sys
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

pytest_plugins = ["servers"]  # the s3_server and ssh_server fixtures

# The test files that take longest (`python tools/test_times.py --files .pytest-report.xml`), handed to the
# workers first (`make test`: --dist loadfile --no-loadscope-reorder), so that the run does not end on one
# of them alone while the other worker is idle: pytest-xdist's own order puts the files with the most tests
# first, which started the paper rehearsal (3 tests, 2 minutes) last.
LONGEST_FIRST = ("test_pipeline.py", "test_rehearsal.py", "test_scaleout.py", "test_distribute.py", "test_share.py")


def pytest_collection_modifyitems(items) -> None:
    rank = {name: i for i, name in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))  # stable: each file keeps its own order

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent  # the venv's bin: ricecnn and dvc live here

# Settings small enough for seconds-long runs: 32 px, a few images per class, 1 epoch, one training seed.
SEED = 1
TINY = {
    "replicates": [SEED],
    "data": {"synthetic": {"per_class": 10, "size": 64}, "img_size": 32},
    "split": {"val": 0.2, "test": 0.2},
    "pretrain": {"classes": 3, "per_class": 6, "epochs": 1},
    "featuremaps": {"samples": 8, "per_layer_max": 8},  # of the 10 val images
    "trim": {"samples": 16, "max_rounds": 1, "finetune_epochs": 1},  # of the 30 train images
    "export": {"calibration_images": 8},
}


def merge(base: dict, over: dict) -> dict:
    out = dict(base)
    for k, v in over.items():
        out[k] = merge(base[k], v) if isinstance(v, dict) and isinstance(base.get(k), dict) else v
    return out


def model_lists(params: dict, models) -> dict[str, list[str]]:
    """prune.models, trim.models and criteria.models of ``params`` keeping only ``models``: the rule of
    tools/model_subset.py, which tools/rehearse_paper.py and bench/gpu_study.sh use too."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("model_subset", ROOT / "tools" / "model_subset.py")
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    return tool.model_lists(params, models)


def write_params(path: Path, models: dict | None = None, **over) -> Path:
    """A copy of the project's params.yaml with TINY and ``over`` applied (``models`` replaced whole)."""
    params = merge(merge(yaml.safe_load((ROOT / "params.yaml").read_text()), TINY), over)
    if models is not None:
        params["models"] = models
        for section, kept in model_lists(params, models).items():  # pruning, trimming and criteria only of the models kept
            if "models" not in over.get(section, {}):
                params[section]["models"] = kept
    path.write_text(yaml.safe_dump(params, sort_keys=False))
    return path


def write_split(split_dir: Path, sizes: dict[str, int], classes: list[str], size: int = 32) -> Path:
    """A tiny split folder as the `split` stage writes it: random uint8 images, labels cycling classes."""
    import json

    import numpy as np

    split_dir.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for part, n in sizes.items():
        np.save(split_dir / f"{part}_x.npy", rng.integers(0, 256, (n, size, size, 3), dtype=np.uint8))
        np.save(split_dir / f"{part}_y.npy", np.arange(n, dtype=np.int64) % len(classes))
    (split_dir / "classes.json").write_text(json.dumps(classes))
    return split_dir


def synthetic_split(d: Path) -> Path:
    """``d``/split: the split stage's arrays of a synthetic zip (8 images per class, 32 px, a quarter
    each for validation and test), made by the real code."""
    from ricecnn.data import sources, splitting

    sources.make_synthetic(d / "raw.zip", per_class=8, seed=0, size=64)
    (d / "split").mkdir()
    splitting.split(d / "raw.zip", d / "split", img_size=32, val=0.25, test=0.25, seed=0)
    return d / "split"


def env() -> dict:
    e = dict(os.environ)
    e["PATH"] = f"{BIN}{os.pathsep}{e['PATH']}"
    e.setdefault("GIT_AUTHOR_NAME", "test")
    e.setdefault("GIT_AUTHOR_EMAIL", "test@example.invalid")
    e.setdefault("GIT_COMMITTER_NAME", "test")
    e.setdefault("GIT_COMMITTER_EMAIL", "test@example.invalid")
    return e


RUN_TIMEOUT = 900  # seconds: the longest command of the suite (the paper rehearsal) takes about 2 minutes


def run(cmd: list[str], cwd: Path, *, check: bool = True, extra_env: dict | None = None) -> subprocess.CompletedProcess:
    """Run a command; on an unexpected failure, or a command that never ends (a server that stopped
    answering: SeaweedFS on a nearly full disk takes uploads and never stores them), fail the test with
    its output."""
    try:
        p = subprocess.run(cmd, cwd=cwd, env={**env(), **(extra_env or {})}, capture_output=True, text=True,
                           timeout=RUN_TIMEOUT)
    except subprocess.TimeoutExpired as e:
        out, err = (v.decode(errors="replace") if isinstance(v, bytes) else v or "" for v in (e.stdout, e.stderr))
        pytest.fail(f"{' '.join(cmd)} still running after {RUN_TIMEOUT} s\n--- stdout\n{out[-4000:]}\n--- stderr\n{err[-4000:]}")
    if check and p.returncode != 0:
        pytest.fail(f"{' '.join(cmd)} exited {p.returncode}\n--- stdout\n{p.stdout[-4000:]}\n--- stderr\n{p.stderr[-4000:]}")
    return p


def make_repo(dest: Path, models: dict | None = None, **over) -> Path:
    """A fresh git+DVC repo holding the project's pipeline files, with tiny params."""
    dest.mkdir(parents=True, exist_ok=True)
    for name in ("dvc.yaml", ".dvcignore", ".gitignore"):
        shutil.copy(ROOT / name, dest / name)
    shutil.copytree(ROOT / "src", dest / "src", ignore=shutil.ignore_patterns("__pycache__"))
    (dest / ".dvc").mkdir()
    shutil.copy(ROOT / ".dvc" / "config", dest / ".dvc" / "config")
    shutil.copy(ROOT / ".dvc" / ".gitignore", dest / ".dvc" / ".gitignore")
    shutil.copytree(ROOT / ".dvc" / "plots", dest / ".dvc" / "plots")  # dvc.yaml's plot templates
    (dest / "dvc_plots").mkdir()
    shutil.copy(ROOT / "dvc_plots" / "offline.html", dest / "dvc_plots")  # the config's default page template
    (dest / "bench").mkdir()
    shutil.copy(ROOT / "bench" / "latency.json", dest / "bench")  # summarize's latency record (its models' files differ: unused)
    write_params(dest / "params.yaml", models, **over)
    run(["git", "init", "-q", "-b", "main"], dest)
    run(["git", "add", "-A"], dest)
    run(["git", "commit", "-qm", "init"], dest)
    return dest


# --- helpers of the tests that share results between repos and run DVC's queue -------------------

DATA = ("data/raw/dataset.zip", "data/split")


def only(models: dict) -> dict:
    """make_repo settings for a repo holding only ``models`` (lists of model names keep only those)."""
    over: dict = {"models": models}
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    over.update({section: {"models": kept} for section, kept in model_lists(params, models).items()})
    return over


def digest(repo: Path, paths=DATA) -> dict[str, str]:
    """sha256 of every file under ``paths`` (files or folders), keyed by path relative to the repo; not the
    .gitignore files DVC writes beside its outputs (git's, not DVC's data: a pull does not bring them)."""
    out = {}
    for p in paths:
        p = repo / p
        for f in sorted([p] if p.is_file() else (x for x in p.rglob("*") if x.is_file() and x.name != ".gitignore")):
            out[str(f.relative_to(repo))] = hashlib.sha256(f.read_bytes()).hexdigest()
    assert out, f"nothing under {paths} in {repo}"
    return out


def path_without_ricecnn() -> str:
    """PATH minus every folder holding a `ricecnn` executable: any stage command that runs fails."""
    dirs = [d for d in os.environ["PATH"].split(os.pathsep) if d and not (Path(d) / "ricecnn").exists()]
    path = os.pathsep.join(dirs or ["/usr/bin", "/bin"])
    assert shutil.which("ricecnn", path=path) is None and shutil.which("git", path=path)
    return path


def commit(repo: Path, message: str) -> None:
    run(["git", "add", "-A"], repo)
    run(["git", "commit", "-qm", message], repo)


def experiments(show: list) -> dict[str, dict]:
    """`dvc exp show --json` -> {experiment name: its data (params, metrics)}."""
    found = {}

    def walk(node):
        if isinstance(node, dict):
            if node.get("name") and isinstance(node.get("data"), dict) and "params" in node["data"]:
                found[node["name"]] = node["data"]
            for v in node.values():
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)

    walk(show)
    return found


def param(data: dict, dotted: str):
    node = data["params"]["params.yaml"]["data"]
    for k in dotted.split("."):
        node = node[k]
    return node


def queue_status(repo: Path) -> str:
    return run(["dvc", "queue", "status"], repo).stdout


def wait_for_queue(repo: Path, names, timeout: float = 300) -> None:
    """Poll `dvc queue status` until nothing is Queued or Running, then check that every one of the
    experiments ``names`` succeeded."""
    deadline = time.monotonic() + timeout
    while re.search(r"\b(Queued|Running)\b", status := queue_status(repo)):
        assert time.monotonic() < deadline, f"queue not done after {timeout:.0f} s:\n{status}"
        time.sleep(1)
    for name in names:
        assert re.search(rf"{name}\s+.*\bSuccess\b", status), status


def stop_workers(repo: Path, timeout: float = 60) -> None:
    """Stop this repo's queue workers (they would leave on their own a little after the queue empties)."""

    def dvc(*args):
        return subprocess.run(["dvc", *args], cwd=repo, env=env(), capture_output=True, text=True, timeout=120).stdout

    dvc("queue", "stop")
    deadline = time.monotonic() + timeout
    while "0 active, 0 idle" not in dvc("queue", "status"):
        if time.monotonic() > deadline:
            dvc("queue", "stop", "--kill")
            break
        time.sleep(1)


# --- one tiny project, built once per session --------------------------------------------------------

# The pipeline repo: two models of one family (every kind of stage runs: prune and trim of cnn, the
# scratch control), 1 epoch each. Its data is what a user who downloaded Kaggle's zip by hand has: a
# zip in Kaggle's layout (`Rice_Image_Dataset/<Class>/*.jpg` and the citation file), read with
# `data.source: path`; 10 images per class. featuremaps.samples stays at the default (256), above
# the 10 validation images: the stage takes them all and says so (a setting that depends on the
# data's size never fails late, after the training).
BUILT_MODELS = {"cnn": {"epochs": 1}, "cnn_light": {"epochs": 1}}
BUILT_SETTINGS = {"featuremaps": {"samples": 256, "per_layer_max": 8}, "evaluate": {"batch_size": 8},
                  "prune": {"batch_size": 8},
                  # one LiteRT format and one ONNX (each format is the same code: tests/test_export.py writes all five)
                  "export": {"formats": ["litert_int8", "onnx_float32"], "augmented_formats": ["litert_int8"]},
                  "trim": {"samples": 16, "max_rounds": 1, "finetune_epochs": 1, "budget": 1.0, "batch_size": 8},
                  "criteria": {"models": ["cnn"], "rules": ["apoz", "random"], "targets": [0.5], "rankings": ["layer"],
                               "draws": 1, "finetune_epochs": 1, "samples": 16, "batch_size": 8}}


@dataclass(frozen=True)
class Built:
    repo: Path
    stdout: str  # what the first `dvc repro` printed
    stderr: str
    params_read: Path  # each stage's settings read, one <stage>.json each ($RICECNN_PARAMS_TRACE)


@pytest.fixture(scope="session")
def built(tmp_path_factory) -> Built:
    """A tiny project after one real `dvc repro` of the whole DAG, committed. Built once per session
    (DVC's own tests build their repos once too); a test that changes it works on ``clone_built``."""
    from ricecnn.data import sources

    base = tmp_path_factory.mktemp("built")
    kaggle_zip = base / "rice-image-dataset.zip"
    sources.make_synthetic(kaggle_zip, per_class=10, seed=0, size=64)
    with zipfile.ZipFile(kaggle_zip, "a") as zf:
        zf.writestr("Rice_Citation_Request.txt", "Koklu, M., Cinar, I., Taspinar, Y. S. (2021)")
    repo = make_repo(base / "repo", models=BUILT_MODELS, data={"source": "path", "path": str(kaggle_zip)},
                     **BUILT_SETTINGS)
    trace = base / "params-read"
    trace.mkdir()
    first = run(["dvc", "repro"], repo, extra_env={"RICECNN_PARAMS_TRACE": str(trace),  # tests/params_trace
                                            "PYTHONPATH": str(ROOT / "tests" / "params_trace")})
    commit(repo, "results")
    return Built(repo, first.stdout, first.stderr, trace)


def clone_built(built: Built, dest: Path) -> Path:
    """A copy of the built project (work tree, git history, DVC cache and run-cache) to change."""
    shutil.copytree(built.repo, dest, symlinks=True)
    return dest


@pytest.fixture
def tiny_repo(tmp_path: Path) -> Path:
    return make_repo(tmp_path / "repo")
