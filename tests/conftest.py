"""Shared fixtures: tiny params files and a temporary git+DVC copy of the project."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent  # the venv's bin: ricecnn and dvc live here

# Settings small enough for seconds-long runs: 32 px, a few images per class, 1 epoch.
TINY = {
    "data": {"synthetic": {"per_class": 10, "size": 64}, "img_size": 32},
    "split": {"val": 0.2, "test": 0.2},
}


def merge(base: dict, over: dict) -> dict:
    out = dict(base)
    for k, v in over.items():
        out[k] = merge(base[k], v) if isinstance(v, dict) and isinstance(base.get(k), dict) else v
    return out


def write_params(path: Path, models: dict | None = None, **over) -> Path:
    """A copy of the project's params.yaml with TINY and ``over`` applied (``models`` replaced whole)."""
    params = merge(merge(yaml.safe_load((ROOT / "params.yaml").read_text()), TINY), over)
    if models is not None:
        params["models"] = models
        if "prune" not in over:  # auto-pruning only of the models kept
            params["prune"]["models"] = [m for m in params["prune"]["models"] if m in models]
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


def env() -> dict:
    e = dict(os.environ)
    e["PATH"] = f"{BIN}{os.pathsep}{e['PATH']}"
    e.setdefault("GIT_AUTHOR_NAME", "test")
    e.setdefault("GIT_AUTHOR_EMAIL", "test@example.invalid")
    e.setdefault("GIT_COMMITTER_NAME", "test")
    e.setdefault("GIT_COMMITTER_EMAIL", "test@example.invalid")
    return e


def run(cmd: list[str], cwd: Path, *, check: bool = True, extra_env: dict | None = None) -> subprocess.CompletedProcess:
    """Run a command; on an unexpected failure, fail the test with its output."""
    p = subprocess.run(cmd, cwd=cwd, env={**env(), **(extra_env or {})}, capture_output=True, text=True)
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
    write_params(dest / "params.yaml", models, **over)
    run(["git", "init", "-q", "-b", "main"], dest)
    run(["git", "add", "-A"], dest)
    run(["git", "commit", "-qm", "init"], dest)
    return dest


@pytest.fixture
def tiny_params(tmp_path: Path) -> Path:
    return write_params(tmp_path / "params.yaml")


@pytest.fixture
def tiny_repo(tmp_path: Path) -> Path:
    return make_repo(tmp_path / "repo")
