"""The README's results and the docs' generated tables are the committed results, word for word
(tools/sync_docs.py), and the README's description of the default is params.yaml's."""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys

import yaml
from conftest import ROOT

spec = importlib.util.spec_from_file_location("sync_docs", ROOT / "tools" / "sync_docs.py")
sync = importlib.util.module_from_spec(spec)
spec.loader.exec_module(sync)


def test_the_generated_blocks_are_the_committed_results():
    p = subprocess.run([sys.executable, str(ROOT / "tools" / "sync_docs.py"), "--check"], capture_output=True, text=True)
    assert p.returncode == 0, p.stdout + p.stderr
    readme, findings = (ROOT / "README.md").read_text(), (ROOT / "reports" / "study" / "findings.md").read_text()
    start, end = sync.block(readme, "results")
    assert readme[start:end].strip() == sync.findings_body(findings).strip() != ""
    page = (ROOT / "docs" / "statistics.md").read_text()
    for name in ("pilot", "spread-before", "spread-after", "power"):
        start, end = sync.block(page, name)
        assert page[start:end].count("|") > 20, name  # a table, not an empty block


def test_a_changed_number_or_sentence_is_caught():
    readme = (ROOT / "README.md").read_text()
    start, end = sync.block(readme, "results")
    section = readme[start:end]
    digit = next(i for i, ch in enumerate(section) if ch.isdigit())
    edited = readme[:start] + section[:digit] + str((int(section[digit]) + 1) % 10) + section[digit + 1:] + readme[end:]
    blocks = sync.BLOCKS["README.md"]
    assert sync.synced(edited, blocks) != edited  # --check would fail
    claim = readme[:end] + "- cnn_light keeps its full model's accuracy.\n" + readme[end:]
    assert sync.synced(claim, blocks) == readme  # a hand-written line inside the block is not kept
    page = (ROOT / "docs" / "statistics.md").read_text()
    start, end = sync.block(page, "power")
    edited = page[:start] + page[start:end].replace("| 3 |", "| 4 |", 1) + page[end:]
    assert edited != page and sync.synced(edited, sync.BLOCKS["docs/statistics.md"]) == page


def test_the_split_the_readme_states_is_params_yaml_s():
    split = yaml.safe_load((ROOT / "params.yaml").read_text())["split"]
    shares = [100 * (1 - split["val"] - split["test"]), 100 * split["val"], 100 * split["test"]]
    stated = "/".join(f"{x:.3g}" for x in shares)  # 16.7/5.56/77.8 at the default
    assert f"(the default: {stated} %)" in (ROOT / "README.md").read_text()


def test_the_margin_the_readme_states_is_params_yaml_s():
    margin = yaml.safe_load((ROOT / "params.yaml").read_text())["compare"]["margin"]
    readme = " ".join((ROOT / "README.md").read_text().split())
    assert f'"does the cheaper model lose less than {100 * margin:g} points?"' in readme


def test_the_minutes_the_readme_states_are_the_committed_measurement():
    import json

    after = json.loads((ROOT / "bench/repro-stage-times.json").read_text())["after"]
    total = after["setup_seconds"] + after["make_repro_seconds"]
    readme = " ".join((ROOT / "README.md").read_text().split())
    assert f"`make repro` took {total // 60} min {total % 60} s" in readme


def test_the_stage_table_is_dvc_yaml_s_stages_in_order():
    import re

    readme = (ROOT / "README.md").read_text()
    rows = re.findall(r"^\| `([a-z_]+)(?:@[^`]*)?` \|", readme, re.M)
    assert rows == list(yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"])


def stage_table_mistakes(readme: str) -> list[str]:
    """Where the README's stage table's "writes" column is not what dvc.yaml's stage writes: each path it
    names (placeholders and braces as in the docs) one of the stage's outs, metrics or plots, or inside one of
    its folders; each of those named by a path (for a folder: a path in it). Code and pages a cell cites
    (``bench/latency.py``, ``docs/criteria.md``) are references, not outputs."""
    from test_docs import alternatives, matches, pipeline_outputs, repository_paths, under

    wrong = []
    for stage, writes in re.findall(r"^\| `([a-z_]+)(?:@[^`]*)?` \|[^|]*\|(.*)\|$", readme, re.M):
        named = [q for p in repository_paths(writes) if not p.endswith((".py", ".md")) for q in alternatives(p)]
        outs = {o.template: [] for o in pipeline_outputs() if o.stage == stage}
        for o in pipeline_outputs():
            if o.stage == stage:
                outs[o.template].append(o.path)
        every = [p for paths in outs.values() for p in paths]
        wrong += [f"{stage}: {p} is none of its outputs" for p in named if not (matches(p, every) or under(p, every))]
        wrong += [f"{stage}: its output {template} is not named" for template, paths in outs.items()
                  if not any(matches(p, paths) or under(p, paths) for p in named)]
    return wrong


def test_the_stage_table_writes_what_dvc_yaml_s_stages_write():
    readme = (ROOT / "README.md").read_text()
    assert stage_table_mistakes(readme) == []
    row = next(line for line in readme.splitlines() if line.startswith("| `trim@"))
    wrong_path = row.replace("`metrics/trim/<s>/<m>.json`", "`metrics/trim/<m>.json`")
    assert "trim: metrics/trim/<m>.json is none of its outputs" in stage_table_mistakes(readme.replace(row, wrong_path))
    left_out = row.replace(", `metrics/trim/<s>/<m>.json` (one row per round)", "")
    assert stage_table_mistakes(readme.replace(row, left_out)) == [
        "trim: its output metrics/trim/${item.seed}/${item.model}.json is not named"]


def stage_reads_mistakes(readme: str) -> list[str]:
    """Where the stage table's "reads" column names a setting (`train.*`, `models.<m>`, `export.formats`) or a
    path that the stage's params and deps in dvc.yaml do not hold."""
    from test_docs import interpolate, matches, pipeline_stages, repository_paths, under

    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    wrong = []
    for stage, reads in re.findall(r"^\| `([a-z_]+)(?:@[^`]*)?` \|([^|]*)\|", readme, re.M):
        keys, deps = set(), set()
        for _, _, ctx, body in (run_ for run_ in pipeline_stages() if run_[0] == stage):
            keys |= {re.sub(r"\$\{[^}]+\}", "<m>", p if isinstance(p, str) else next(iter(p))) for p in body.get("params", [])}
            deps |= {interpolate(d, ctx) for d in body.get("deps", [])}
        for key in re.findall(r"`([a-z_]+(?:\.(?:[a-z_]+|\*|<m>))*)`", reads):
            section = key.removesuffix(".*")
            if key.split(".")[0] in params and not any(k == section or k.startswith(f"{section}.") or section.startswith(f"{k}.")
                                                       for k in keys):
                wrong.append(f"{stage} reads {key}: its params are {sorted(keys)}")
        for path in repository_paths(reads):
            if not (matches(path, deps) or under(path, deps)):
                wrong.append(f"{stage} reads {path}: none of its deps")
    return wrong


def test_the_stage_table_reads_what_dvc_yaml_s_stages_read():
    readme = (ROOT / "README.md").read_text()
    assert stage_reads_mistakes(readme) == []
    row = next(line for line in readme.splitlines() if line.startswith("| `flops@"))
    assert stage_reads_mistakes(readme.replace(row, row.replace("`data.img_size`", "`data.img_size`, `train.*`"))) == [
        "flops reads train.*: its params are ['data.img_size']"]


def test_what_the_readme_s_example_experiment_costs_is_the_committed_measurement():
    import json

    example = json.loads((ROOT / "bench/repro-stage-times.json").read_text())["example"]
    seconds, ran = example["seconds"], example["stages_run"]
    line = next(ln for ln in (ROOT / "README.md").read_text().splitlines() if ln.startswith(example["command"] + " "))
    assert line.endswith(f": {seconds // 60} min {seconds % 60} s")
    # what the line says ran: cnn_light's chains (training, feature maps, scoring, export and its scoring) and summarize;
    # no other model's stage
    assert "cnn_light's chains (training, feature maps, scoring, export and its scoring) and summarize" in line
    kinds = {s.split("@")[0] for s in ran}
    assert kinds == {"check", "train", "featuremaps", "evaluate", "export", "score_exports", "summarize"}  # no flops@
    assert all(s.split("@")[1].startswith("cnn_light") for s in ran if "@" in s), ran
