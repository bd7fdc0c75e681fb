"""Copy a profile experiment's results out of its experiment into the repository, to commit them
beside the quick default's (which stay where they are): `make criteria` runs the criteria profile as
the experiment ``criteria`` in a temporary copy (``dvc exp run --temp``), then

    python tools/profile_results.py criteria results/criteria

writes into ``results/criteria/`` the files of that experiment's commit (DVC commits every
``cache: false`` output with it) that differ from the quick default's (``KEPT``): for the pilot the
study folder ``reports/study/``, evaluate's metrics and ``metrics/study.json``; for the criteria their
records and reports; for both the ``params.yaml`` and ``dvc.lock`` it ran with (the other stages'
metrics are the default's, committed in ``metrics/``). The experiment is
the one of that name on top of the current commit (DVC's ref
``refs/exps/<commit[:2]>/<commit[2:]>/<name>``). The folder is replaced whole. Read with git's own
commands: an experiment is a git commit."""

from __future__ import annotations

import io
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

KEPT = {"pilot": ("reports/study", "metrics/evaluate", "metrics/study.json", "params.yaml", "dvc.lock"),
        "criteria": ("metrics/criteria_report", "reports/criteria_report", "params.yaml", "dvc.lock")}


def git(*args: str) -> bytes:
    return subprocess.run(["git", *args], check=True, capture_output=True).stdout


def experiment_ref(name: str) -> str:
    head = git("rev-parse", "HEAD").decode().strip()
    ref = f"refs/exps/{head[:2]}/{head[2:]}/{name}"
    if subprocess.run(["git", "rev-parse", "--verify", "--quiet", ref], capture_output=True, check=False).returncode:
        sys.exit(f"no experiment {name!r} on top of {head[:7]}: run it first (make pilot, make criteria) on this commit")
    return ref


def main(name: str, out: Path) -> None:
    ref = experiment_ref(name)
    kept = KEPT[name.split("-")[0]]  # criteria-pilot: what criteria keeps
    archive = git("archive", "--format=tar", ref, *kept)
    with tempfile.TemporaryDirectory(dir=out.parent if out.parent.exists() else None) as tmp:
        with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
            tar.extractall(tmp, filter="data")
        if out.exists():
            shutil.rmtree(out)
        shutil.copytree(tmp, out)
    print(f"{ref}: {', '.join(kept)} -> {out}/")


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit("usage: python tools/profile_results.py EXPERIMENT OUT_DIR")
    Path(sys.argv[2]).parent.mkdir(parents=True, exist_ok=True)
    main(sys.argv[1], Path(sys.argv[2]))
