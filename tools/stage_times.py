"""Wall time per DVC stage, from `dvc repro`'s own output: `dvc repro 2>&1 | python tools/stage_times.py`.

Passes every line through, notes when each "Running stage '<name>'" line arrives, and at the end
prints a markdown table: each stage's seconds (until the next stage starts, or the output ends),
the total per kind of stage (train@, featuremaps@, ...) and the whole run. `--json FILE` also
writes the per-stage seconds.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from collections import defaultdict

RUNNING = re.compile(r"^Running stage '([^']+)'")


class StageClock:
    """When each "Running stage '<name>'" line of DVC's output arrived: a stage's seconds run until the
    next stage starts, or the output ends (tools/rehearse_paper.py times its stages with it too)."""

    def __init__(self) -> None:
        self.starts: list[tuple[str, float]] = []

    def feed(self, line: str) -> None:
        if m := RUNNING.match(line):
            self.starts.append((m[1], time.monotonic()))

    def seconds(self, end: float) -> dict[str, float]:
        s = self.starts
        return {name: (s[i + 1][1] if i + 1 < len(s) else end) - t for i, (name, t) in enumerate(s)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--json", help="also write {stage: seconds} here")
    args = ap.parse_args()
    start, clock = time.monotonic(), StageClock()
    for line in sys.stdin:
        sys.stdout.write(line)
        sys.stdout.flush()
        clock.feed(line)
    end = time.monotonic()
    seconds = clock.seconds(end)
    kinds: dict[str, list[float]] = defaultdict(list)
    for name, s in seconds.items():
        kinds[name.split("@")[0]].append(s)
    print("\n| stage | runs | seconds | per run |\n|---|---:|---:|---:|")
    for kind, values in sorted(kinds.items(), key=lambda kv: -sum(kv[1])):
        print(f"| {kind} | {len(values)} | {sum(values):.0f} | {sum(values) / len(values):.1f} |")
    print(f"| **all** | {len(seconds)} | {end - start:.0f} | |")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({k: round(v, 1) for k, v in seconds.items()}, f, indent=2)


if __name__ == "__main__":
    main()
