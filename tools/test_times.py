"""What `make test` costs from a clean clone: the record of runs of `bash .ci/run`, kept in
bench/make-test.json, and the markdown docs/development.md shows from it (tools/sync_docs.py).

    rm -rf /tmp/ct && git clone -q . /tmp/ct && (cd /tmp/ct && time bash .ci/run | tee /tmp/ci.log)
    python tools/test_times.py --run COMMIT:SECONDS:/tmp/ci.log [--run ...] --json bench/make-test.json
    python tools/test_times.py --files /tmp/ct/.pytest-report.xml   # seconds per test file, most first

SECONDS is the wall time of the whole `bash .ci/run` (venv setup from pip's cache, make test-deps and
the suite); from each log come the tests passed, the suite's own seconds and pytest's 15 slowest
tests (`--durations=15`); the table shows the first run's. Runs are kept in the order given.
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

SLOW = re.compile(r"^([\d.]+)s (setup|call|teardown)\s+tests/(\S+)$", re.M)
GOAL = 9 * 60  # seconds: make test from a clean clone
SUMMARY = re.compile(r"=+ (\d+) passed.* in ([\d.]+)s")
NOTES = {  # what a reader needs to know of a slow test beyond its name
    "test_rehearsal.py::test_the_paper_profile_runs_every_stage_at_224_px": "every stage at 224 px, cnn alone, "
                                                                            "LiteRT int8 the one export format",
    "test_pipeline.py::test_every_stage_runs_and_writes_its_outputs": "setup: the tiny project's one real `dvc repro`",
    "test_pipeline.py::test_a_fresh_clone_reproduces_every_output_s_bytes": "the tiny project's cached stages again, in a "
                                                                           "clone without DVC's cache",
}


def parse(commit: str, seconds: int, log: str) -> dict:
    summary = SUMMARY.search(log)
    if summary is None:
        raise SystemExit(f"test_times: no pytest summary line in the log of {commit}")
    return {"commit": commit, "seconds": seconds, "passed": int(summary.group(1)), "suite_seconds": float(summary.group(2)),
            "slowest": [[float(s), when, test] for s, when, test in SLOW.findall(log)]}


def minutes(seconds: float) -> str:
    return f"{int(seconds) // 60} min {int(seconds) % 60} s"


def report(record: dict) -> str:
    runs = record["runs"]
    first = runs[0]
    said = ", ".join(f"{minutes(r['seconds'])} ({r['commit']})" for r in runs)
    goal = "within" if all(r["seconds"] <= GOAL for r in runs) else "not all within"
    text = (f"`bash .ci/run` from a clean clone on this machine (2 cores), "
            f"{'one run' if len(runs) == 1 else f'{len(runs)} runs, the newest first'}: {said} in all, `make setup` from pip's "
            f"cache included: {goal} the {GOAL // 60} minutes `make test` should take.")
    if len(runs) > 1:  # the same tests in every run: how much of a difference is the machine's speed
        same = "; ".join(f"`{test.split('::')[1]}` " + " / ".join(
            next((f"{s:.0f}" for s, _, t in r["slowest"] if t == test), "?") for r in runs) + " s"
            for _, _, test in first["slowest"][:2])
        text += f" The two slowest tests, run by run: {same}."
    text += (f" At {first['commit']} {first['passed']} tests passed in {minutes(first['suite_seconds'])}; "
             "its 15 slowest tests, in seconds:")
    lines = [text, "", "| seconds | test |", "|---:|---|"]
    for s, when, test in first["slowest"]:
        note = NOTES.get(test) or ("setup" if when == "setup" else "")
        lines.append(f"| {s:.0f} | `{test}`{f' ({note})' if note else ''} |")
    return "\n".join(lines) + "\n"


def per_file(report: Path) -> list[tuple[str, int, float]]:
    """(test file, tests, seconds) from the JUnit XML `make test` writes, most seconds first: under
    ``--dist loadfile`` a file runs whole on one worker, so these are the pieces the workers share."""
    import xml.etree.ElementTree as ET  # the standard library's reader of pytest's --junitxml

    sums: dict[str, list] = {}
    for case in ET.parse(report).getroot().iter("testcase"):
        name = next(part for part in case.get("classname", "").split(".") if part.startswith("test_")) + ".py"
        entry = sums.setdefault(name, [0, 0.0])
        entry[0] += 1
        entry[1] += float(case.get("time", 0))
    return sorted(((f, n, t) for f, (n, t) in sums.items()), key=lambda row: -row[2])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--run", action="append", help="COMMIT:SECONDS:LOG of one `bash .ci/run`")
    ap.add_argument("--json", type=Path)
    ap.add_argument("--files", type=Path, help="print the seconds per test file of this JUnit XML report instead")
    args = ap.parse_args()
    if args.files:
        rows = per_file(args.files)
        for name, n, t in rows:
            print(f"{t:8.1f} s  {n:4d} tests  {name}")
        print(f"{sum(t for *_, t in rows):8.1f} s  {sum(n for _, n, _ in rows):4d} tests  in all")
        return
    if not (args.run and args.json):
        ap.error("--run and --json, or --files")
    runs = []
    for spec in args.run:
        commit, seconds, log = spec.split(":", 2)
        runs.append(parse(commit, int(seconds), Path(log).read_text()))
    args.json.write_text(json.dumps({"machine": "2 cores, 24 GiB, no GPU", "runs": runs}, indent=1) + "\n")
    print(report({"runs": runs}), end="")


if __name__ == "__main__":
    main()
