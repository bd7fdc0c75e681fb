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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--json", help="also write {stage: seconds} here")
    args = ap.parse_args()
    start = time.monotonic()
    starts: list[tuple[str, float]] = []
    for line in sys.stdin:
        sys.stdout.write(line)
        sys.stdout.flush()
        if m := RUNNING.match(line):
            starts.append((m[1], time.monotonic()))
    end = time.monotonic()
    seconds = {name: (starts[i + 1][1] if i + 1 < len(starts) else end) - t for i, (name, t) in enumerate(starts)}
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
