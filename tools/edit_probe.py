"""What one edit costs a DVC user: for each package file, append one comment line and count the
stages `dvc status` then reports with changed code (deps), out of all the stages of dvc.yaml.

    python tools/edit_probe.py [--rev HEAD] [--json FILE --label after] [FILE ...]

Runs in a temporary clone of ``--rev`` (the workspace is never touched), whose dvc.lock must be
up to date with its code (a committed `make repro`): a stage whose code deps changed is one
`dvc repro` would rerun, before counting the stages downstream of its outputs. Prints a markdown
table (file, stages, which kinds) and the mean over the files; ``FILE`` arguments limit it to
those files (paths relative to the repository). Uses DVC's own `dvc status --json`, so that what
is counted is what DVC decides, not this script's reading of dvc.yaml. ``--json`` keeps the
record under ``--label`` in FILE (bench/edit-probe.json keeps "before" and "after" the package was cut
along the DAG's lines; docs/development.md shows them, tools/sync_docs.py).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = Path("src/ricecnn")


def dvc(repo: Path, *args: str) -> str:
    exe = Path(sys.executable).with_name("dvc")
    out = subprocess.run([str(exe) if exe.exists() else "dvc", *args], cwd=repo, capture_output=True, text=True)
    if out.returncode:
        sys.exit(f"dvc {' '.join(args)} failed in the probe's clone: {out.stderr.strip().splitlines()[-1:]}")
    return out.stdout


def code_changed(repo: Path) -> list[str]:
    """The stages whose deps under src/ changed (DVC's own status; outs absent from a clone are not counted)."""
    status = json.loads(dvc(repo, "status", "--json") or "{}")
    changed = []
    for stage, entries in status.items():
        deps = [change.get("changed deps", {}) for change in entries if isinstance(change, dict)]
        if any(path.startswith("src/") for d in deps for path in d):
            changed.append(stage.split(":")[-1])
    return sorted(changed)


def probe(repo: Path, files: list[str]) -> tuple[int, dict[str, list[str]]]:
    stages = dvc(repo, "stage", "list", "--name-only").split()
    assert code_changed(repo) == [], "the clone's dvc.lock is stale for its code: probe a committed `make repro`"
    result = {}
    for i, name in enumerate(files, 1):
        path = repo / name
        text = path.read_text()
        path.write_text(text + "# one comment line\n")
        try:
            result[name] = code_changed(repo)
        finally:
            path.write_text(text)
        print(f"[{i}/{len(files)}] {name}: {len(result[name])}", file=sys.stderr)
    return len(stages), result


def kinds(stages: list[str]) -> str:
    counts = Counter(s.split("@")[0] for s in stages)
    return ", ".join(f"{k} {n}" for k, n in counts.items())


def mean(record: dict) -> float:
    return sum(map(len, record["files"].values())) / len(record["files"])


def summary(record: dict) -> str:
    return (f"{mean(record):.1f} of {record['stages']} stages per one-line edit, mean over {len(record['files'])} files "
            f"(commit {record['rev']})")


def table(record: dict) -> str:
    """One row per file, the costliest first: the stages an edit of it reruns, by kind."""
    rows = sorted(record["files"].items(), key=lambda kv: (-len(kv[1]), kv[0]))
    return (f"| file | stages of {record['stages']} | which |\n|---|---:|---|\n"
            + "".join(f"| `{name}` | {len(stages)} | {kinds(stages)} |\n" for name, stages in rows))


# The files every stage, or every stage that reads a model, runs: what the mean holds whatever the rest does
SHARED = {"core/ (command line, settings, errors, atomic writes)": ("src/ricecnn/core/",),
          "the split's reader and model inference (data/arrays.py, inference/)": ("src/ricecnn/data/arrays.py",
                                                                                  "src/ricecnn/inference/")}


def parts(record: dict) -> str:
    """Where the mean comes from: what the shared files add to it, and what the other files add."""
    files, rest = record["files"], dict(record["files"])
    lines = []
    for label, prefixes in SHARED.items():
        mine = [name for name in files if name.startswith(prefixes)]
        lines.append(f"  - {label}: {len(mine)} files, {sum(len(files[n]) for n in mine) / len(files):.1f} of the mean")
        for name in mine:
            rest.pop(name)
    over = sum(len(v) > 18 for v in rest.values())
    lines.append(f"  - the other {len(rest)} files: {sum(map(len, rest.values())) / len(files):.1f} of the mean; "
                 f"{over} of them rerun more than 18 stages (one stage per model and replicate)")
    return "\n".join(lines)


def report(data: dict) -> str:
    """The docs' block: before and after in a line each, where the after's mean comes from, then its table."""
    lines = [f"- {label}: {summary(data[label])}" for label in ("before", "after") if label in data]
    return "\n".join(lines) + "\n" + parts(data["after"]) + "\n\n" + table(data["after"])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    ap.add_argument("--rev", default="HEAD", help="the commit to probe (default: HEAD)")
    ap.add_argument("--json", type=Path, help="also keep the record in this JSON file, under --label")
    ap.add_argument("--label", default="after", help="the record's key in the --json file (default: after)")
    ap.add_argument("files", nargs="*", help="package files to edit (default: every file of src/ricecnn)")
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        repo = Path(tmp) / "clone"
        subprocess.run(["git", "clone", "-q", "--no-checkout", str(ROOT), str(repo)], check=True)
        subprocess.run(["git", "checkout", "-q", args.rev], cwd=repo, check=True)
        rev = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=repo, capture_output=True, text=True).stdout.strip()
        files = args.files or sorted(str(p.relative_to(repo)) for p in (repo / PACKAGE).rglob("*.py"))
        total, result = probe(repo, files)
    record = {"rev": rev, "stages": total, "files": result}
    print(table(record) + "\n" + summary(record))
    if args.json:
        data = json.loads(args.json.read_text()) if args.json.exists() else {}
        data[args.label] = record
        args.json.write_text(json.dumps(data, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
