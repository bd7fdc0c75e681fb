"""The test suite's own machinery (tests/conftest.py): the order the files go to the workers in, and a
command that never ends failing its test instead of holding the run."""

from __future__ import annotations

import subprocess
import sys

import pytest

import conftest


def test_the_longest_test_files_go_to_the_workers_first():
    assert all((conftest.ROOT / "tests" / name).is_file() for name in conftest.LONGEST_FIRST)  # a renamed file would fall out silently
    make_test = next(ln for ln in (conftest.ROOT / "Makefile").read_text().splitlines() if "--junitxml" in ln)
    assert "--dist loadfile --no-loadscope-reorder" in make_test  # xdist's own reorder would undo the order
    shown = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider",
                            "tests/test_docs.py", "tests/test_rehearsal.py"], cwd=conftest.ROOT, capture_output=True, text=True).stdout
    files = [ln.split("::")[0] for ln in shown.splitlines() if "::" in ln]
    assert files[0] == "tests/test_rehearsal.py" and files[-1] == "tests/test_docs.py", files


def test_a_command_that_never_ends_fails_its_test_with_its_output(monkeypatch, tmp_path):
    monkeypatch.setattr(conftest, "RUN_TIMEOUT", 1)
    with pytest.raises(pytest.fail.Exception, match=r"(?s)still running after 1 s.*--- stdout\nstarted"):
        conftest.run([sys.executable, "-c", "import time; print('started', flush=True); time.sleep(30)"], tmp_path)
