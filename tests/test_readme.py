"""The README's results are the committed reports, word for word (tools/sync_readme.py), and its
description of the default is params.yaml's."""

from __future__ import annotations

import importlib.util
import subprocess
import sys

import yaml
from conftest import ROOT

spec = importlib.util.spec_from_file_location("sync_readme", ROOT / "tools" / "sync_readme.py")
sync = importlib.util.module_from_spec(spec)
spec.loader.exec_module(sync)


def test_readme_results_are_the_committed_findings():
    p = subprocess.run([sys.executable, str(ROOT / "tools" / "sync_readme.py"), "--check"], capture_output=True, text=True)
    assert p.returncode == 0, p.stdout + p.stderr
    readme, findings = (ROOT / "README.md").read_text(), (ROOT / "reports" / "findings.md").read_text()
    start, end = sync.section(readme)
    assert readme[start:end].strip() == sync.findings_body(findings).strip() != ""


def test_a_changed_number_or_sentence_is_caught():
    readme, findings = (ROOT / "README.md").read_text(), (ROOT / "reports" / "findings.md").read_text()
    start, end = sync.section(readme)
    block = readme[start:end]
    digit = next(i for i, ch in enumerate(block) if ch.isdigit())
    edited = readme[:start] + block[:digit] + str((int(block[digit]) + 1) % 10) + block[digit + 1:] + readme[end:]
    assert sync.synced(edited, findings) != edited  # --check would fail
    claim = readme[:end] + "- cnn_light keeps its full model's accuracy.\n" + readme[end:]
    assert sync.synced(claim, findings) == readme  # a hand-written line inside the section is not kept


def test_the_split_the_readme_states_is_params_yaml_s():
    split = yaml.safe_load((ROOT / "params.yaml").read_text())["split"]
    shares = [100 * (1 - split["val"] - split["test"]), 100 * split["val"], 100 * split["test"]]
    stated = "/".join(f"{x:g}" for x in shares)  # 62.5/12.5/25
    assert f"(the default: {stated} %)" in (ROOT / "README.md").read_text()
