"""Rewrite the generated blocks of the README and docs from the committed results, so that every
number they show is what the results say. A block sits between `<!-- NAME:begin ... -->` and
`<!-- NAME:end -->`; what fills it:

    README.md          results       the front of reports/study/findings.md (written by `summarize`: the
                                     headline, the setup and the family, the verdicts: everything
                                     above its first `## ` heading)
    docs/statistics.md pilot         tools/recipe_pilot.py --table bench/recipe-pilot.jsonl
    docs/statistics.md pilot-budgets tools/recipe_pilot.py --table bench/recipe-pilot-budgets.jsonl
    docs/statistics.md spread-before tools/seed_spread.py 12c3890 (the early-stopping recipe)
    docs/statistics.md spread-after  tools/seed_spread.py . --epoch lowest_val_loss_epoch
    docs/statistics.md sizing        bench/power-plan.json (tools/power_plan.py: the pilot's power calculation)
    docs/statistics.md power         reports/study/power.csv
    docs/statistics.md minutes       bench/repro-stage-times.json (a clean clone's make repro, timed)
    docs/criteria.md   criteria      reports/criteria.csv and comparisons.csv as committed at df2e7e0
    docs/development.md edit-probe   bench/edit-probe.json (tools/edit_probe.py: what a one-line edit reruns)

    python tools/sync_docs.py           # rewrite the blocks (make repro runs this after dvc repro)
    python tools/sync_docs.py --check   # exit 1 if a block differs from what its source gives
"""

from __future__ import annotations

import argparse
import csv
import importlib.util
import io
import json
import os
import re
import sys
from pathlib import Path
from typing import Callable

ROOT = Path(__file__).resolve().parents[1]
BEFORE = "12c3890"  # the last commit of the early-stopping recipe (docs/statistics.md, "Training that converges")


def tool(name: str):
    """A sibling script as a module (tools/ is not a package)."""
    spec = importlib.util.spec_from_file_location(name, ROOT / "tools" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def findings_body(findings: str) -> str:
    """reports/study/findings.md without its title line, up to its first '## ' heading."""
    lines = findings.splitlines(keepends=True)
    body = lines[1:] if lines and lines[0].startswith("# ") else lines
    front = next((i for i, line in enumerate(body) if line.startswith("## ")), len(body))
    return "".join(body[:front]).strip("\n") + "\n"


def csv_markdown(text: str) -> str:
    rows = list(csv.reader(io.StringIO(text)))
    return "".join("| " + " | ".join(r) + " |\n" + ("|" + "---|" * len(r) + "\n" if i == 0 else "")
                   for i, r in enumerate(rows))


def minutes_table() -> str:
    """Seconds per kind of stage before and after, from bench/repro-stage-times.json."""
    times = json.loads((ROOT / "bench" / "repro-stage-times.json").read_text())
    kinds: dict[str, dict[str, list[float]]] = {}
    for when in ("before", "after"):
        for stage, seconds in times[when]["stages"].items():
            kinds.setdefault(stage.split("@")[0], {"before": [], "after": []})[when].append(seconds)
    lines = ["| stage | runs before | runs after | seconds before | seconds after |", "|---|---:|---:|---:|---:|"]
    for kind, t in kinds.items():
        lines.append(f"| {kind} | {len(t['before'])} | {len(t['after'])} | {sum(t['before']):.0f} | {sum(t['after']):.0f} |")
    total = {w: times[w]["setup_seconds"] + times[w]["make_repro_seconds"] for w in ("before", "after")}
    lines.append(f"| **all stages** | {sum(len(t['before']) for t in kinds.values())} | {sum(len(t['after']) for t in kinds.values())} "
                 f"| {sum(sum(t['before']) for t in kinds.values()):.0f} | {sum(sum(t['after']) for t in kinds.values()):.0f} |")
    lines.append("| **`make setup` + `make repro`** | | | " + " | ".join(f"{total[w] // 60:.0f} min {total[w] % 60:.0f} s"
                                                                    for w in ("before", "after")) + " |")
    return "\n".join(lines) + "\n"


CRITERIA_REV = "df2e7e0"  # the last commit whose quick default ran the channel criteria (docs/criteria.md)


def criteria_table() -> str:
    """Each criterion model's accuracy at its FLOPs and its difference from APoZ's model (95 % interval),
    from the results committed at ``CRITERIA_REV``."""
    import pandas as pd

    show = tool("seed_spread").show
    crit = pd.read_csv(io.StringIO(show(CRITERIA_REV, "reports/criteria.csv")))
    comps = pd.read_csv(io.StringIO(show(CRITERIA_REV, "reports/comparisons.csv")))
    diff = {(r.variant, r.condition): f"{r.diff_pp:+.1f} [{r.lo_pp:+.1f}, {r.hi_pp:+.1f}]" for r in comps.itertuples()}
    lines = ["| model | rule | target | FLOPs reached (224 px) | clean accuracy [95% CI] | augmented accuracy [95% CI] "
             "| minus APoZ's, points: clean | augmented |", "|---|---|---:|---:|---|---|---|---|"]
    for r in crit.itertuples():
        acc = [f"{getattr(r, c + '_accuracy'):.3f} [{getattr(r, c + '_accuracy_lo'):.3f}, {getattr(r, c + '_accuracy_hi'):.3f}]"
               for c in ("clean", "augmented")]
        vs = [diff.get((r.model, c), "-") for c in ("clean", "augmented")]
        lines.append(f"| {r.model} | {r.rule} | {100 * r.target:g} % | {100 * r.flops_share_224:.1f} % | {acc[0]} | {acc[1]} "
                     f"| {vs[0]} | {vs[1]} |")
    return "\n".join(lines) + "\n"


def in_root(fn: Callable[[], str]) -> Callable[[], str]:
    def run() -> str:
        here = os.getcwd()
        os.chdir(ROOT)
        try:
            return fn()
        finally:
            os.chdir(here)
    return run


BLOCKS: dict[str, dict[str, Callable[[], str]]] = {
    "README.md": {"results": lambda: findings_body((ROOT / "reports" / "study" / "findings.md").read_text())},
    "docs/statistics.md": {
        "pilot": lambda: tool("recipe_pilot").table(
            [json.loads(line) for line in (ROOT / "bench" / "recipe-pilot.jsonl").read_text().splitlines() if line]) + "\n",
        "pilot-budgets": lambda: tool("recipe_pilot").table(
            [json.loads(line) for line in (ROOT / "bench" / "recipe-pilot-budgets.jsonl").read_text().splitlines() if line]) + "\n",
        "spread-before": in_root(lambda: tool("seed_spread").report(BEFORE, "best_epoch")),
        "spread-after": in_root(lambda: tool("seed_spread").report(".", "lowest_val_loss_epoch")),
        "sizing": lambda: tool("power_plan").tables(json.loads((ROOT / "bench" / "power-plan.json").read_text())),
        "power": lambda: csv_markdown((ROOT / "reports" / "study" / "power.csv").read_text()),
        "minutes": minutes_table,
    },
    "docs/criteria.md": {"criteria": in_root(criteria_table)},
    "docs/development.md": {
        "edit-probe": lambda: tool("edit_probe").report(json.loads((ROOT / "bench" / "edit-probe.json").read_text())),
    },
}


def block(text: str, name: str) -> tuple[int, int]:
    """Where the block ``name`` of ``text`` starts and ends (its content, between its markers)."""
    begin = re.search(rf"<!-- {re.escape(name)}:begin[^>]*-->\n", text)
    end = text.find(f"<!-- {name}:end -->", begin.end() if begin else 0)
    if not begin or end < 0:
        sys.exit(f"sync_docs: no block <!-- {name}:begin ... --> ... <!-- {name}:end -->")
    return begin.end(), end


def synced(text: str, blocks: dict[str, Callable[[], str]]) -> str:
    for name, make in blocks.items():
        start, end = block(text, name)
        text = text[:start] + make() + text[end:]
    return text


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true", help="only compare; exit 1 on a difference")
    args = ap.parse_args()
    stale = []
    for page, blocks in BLOCKS.items():
        path = ROOT / page
        text = path.read_text()
        want = synced(text, blocks)
        if want != text:
            stale.append(page)
            if not args.check:
                path.write_text(want)
                print(f"{page}: generated blocks updated ({', '.join(blocks)})")
    if args.check and stale:
        print(f"generated blocks differ from their sources in {', '.join(stale)}: run `python tools/sync_docs.py`")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
