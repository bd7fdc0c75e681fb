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
    README.md          shipping      the light models' LiteRT int8 rows of reports/study/deployment.csv
    docs/deployment.md deployment    reports/study/deployment.csv (the export stage's models, paired with Keras)
    docs/deployment.md deployment-findings  the export sentences of reports/study/findings.md
    docs/criteria.md   criteria-pilot   results/criteria-pilot/ and bench/criteria-budget.jsonl (tools/criteria_tables.py)
    docs/criteria.md   criteria-answer  results/criteria/ and the dead channels of reports/study/findings.md
    docs/criteria.md   criteria-minutes bench/criteria-runs.json (timed `make criteria` runs)
    docs/development.md edit-probe   bench/edit-probe.json (tools/edit_probe.py: what a one-line edit reruns)
    docs/development.md make-test    bench/make-test.json (tools/test_times.py: clean clones' `bash .ci/run`, timed)

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

from ricecnn.deploy.formats import RUNTIME_NAMES  # the runtimes' names as the reports print them

ROOT = Path(__file__).resolve().parents[1]
BEFORE = "12c3890"  # the last commit of the early-stopping recipe (docs/statistics.md, "Training that converges")


def tool(name: str):
    """A sibling script as a module (tools/ is not a package)."""
    spec = importlib.util.spec_from_file_location(name, ROOT / "tools" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def findings_body(findings: str, folder: str = "reports/study") -> str:
    """reports/study/findings.md without its title line, up to its first '## ' heading, its relative links
    (written for ``folder``) made relative to the repository's root."""
    lines = findings.splitlines(keepends=True)
    body = lines[1:] if lines and lines[0].startswith("# ") else lines
    front = next((i for i, line in enumerate(body) if line.startswith("## ")), len(body))
    text = "".join(body[:front]).strip("\n") + "\n"
    return re.sub(r"\]\((?![a-z]+:|/|#)([^)]+)\)", lambda m: f"]({folder}/{m.group(1)})", text)


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




def _interval(value: float, lo: float, hi: float) -> str:
    return f"{100 * value:.1f} [{100 * lo:.1f}, {100 * hi:.1f}]"


def _difference(diff: float, lo: float, hi: float) -> str:
    return f"{diff:+.1f} [{lo:+.1f}, {hi:+.1f}]"


DEPLOYMENT = ROOT / "reports" / "study" / "deployment.csv"


def _deployment_rows() -> list[dict]:
    with open(DEPLOYMENT, newline="") as f:
        return list(csv.DictReader(f))


def _latency(r: dict) -> str:
    """The median of the bench's rounds [the fastest and slowest round], "wide" when they spread over a quarter."""
    if not r["latency_ms"]:
        return "not measured"
    wide = " (wide)" if r["latency_wide"] == "True" else ""
    return f"{float(r['latency_ms']):.3f} [{float(r['latency_low_ms']):.3f}, {float(r['latency_high_ms']):.3f}]{wide}"


def _vs_keras(r: dict, condition: str) -> str:
    """The converted model's accuracy minus Keras' on ``condition``, with its paired interval (none for Keras)."""
    if r["runtime"] in ("keras", "keras_compiled"):
        return ""
    if not r[f"{condition}_diff_pp"]:
        return "not scored"  # export.augmented_formats
    return _difference(*(float(r[f"{condition}_{k}_pp"]) for k in ("diff", "lo", "hi")))


def _share(value: str, scale: float, spec: str, unit: str = "") -> str:
    """A number of the deployment table's CSV, or "not scored" where it is empty (export.augmented_formats)."""
    return f"{scale * float(value):{spec}}{unit}" if value else "not scored"


def deployment_table() -> str:
    """Every exported model and format: size, latency, accuracy, agreement and difference with Keras."""
    head = ["model", "runtime", "precision", "file", "bytes", "latency ms, median of rounds [fastest, slowest round]", "clean acc.", "augmented acc.",
            "agreement with Keras, clean / augmented", "vs Keras, clean (pts)", "vs Keras, augmented (pts)"]
    out = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in _deployment_rows():
        if r["error"]:
            out.append(f"| {r['model']} | {RUNTIME_NAMES[r['runtime']]} | {r['precision']} | not converted: {r['error']} |"
                       + " |" * (len(head) - 4))
            continue
        out.append(f"| {r['model']} | {RUNTIME_NAMES[r['runtime']]} | {r['precision']} | {r['file'] or '(.keras)'} | "
                   f"{int(float(r['bytes'])):,} | {_latency(r)} | {float(r['clean_accuracy']):.4f} | "
                   f"{_share(r['augmented_accuracy'], 1, '.4f')} | "
                   f"{100 * float(r['clean_agreement']):.1f} % / {_share(r['augmented_agreement'], 100, '.1f', ' %')} | "
                   f"{_vs_keras(r, 'clean')} | {_vs_keras(r, 'augmented')} |")
    return "\n".join(out) + "\n"


def deployment_findings() -> str:
    """The findings' sentences about the exported models, as summarize wrote them."""
    lines = (ROOT / "reports" / "study" / "findings.md").read_text().splitlines()
    starts = ("- Latency of ", "- LiteRT ", "- ONNX Runtime ", "- Every latency includes ")
    return "\n".join(line for line in lines if line.startswith(starts) or " was not converted to " in line) + "\n"


def shipping() -> str:
    """The light models as shipped in LiteRT int8: file, size, latency, accuracy (README)."""
    rows = [r for r in _deployment_rows() if r["variant"] == "light" and r["runtime"] == "litert" and r["precision"] == "int8"
            and not r["error"]]
    seed = rows[0]["seed"] if rows else "?"
    out = ["| model | file | bytes | batch-1 latency, 1 thread (ms): median [fastest, slowest round] | clean accuracy | agreement with Keras |", "|---|---|---|---|---|---|"]
    # a light model is a trained one: its line's folder, exports/<seed>/<model>/, is its own
    out += [f"| {r['model']} | `exports/{seed}/{r['model']}/{r['file']}` | {int(float(r['bytes'])):,} | {_latency(r)} | "
            f"{float(r['clean_accuracy']):.4f} | {100 * float(r['clean_agreement']):.1f} % |" for r in rows]
    return "\n".join(out) + "\n"


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
    "README.md": {"results": lambda: findings_body((ROOT / "reports" / "study" / "findings.md").read_text()),
                  "shipping": shipping},
    "docs/deployment.md": {"deployment": deployment_table, "deployment-findings": deployment_findings},
    "docs/statistics.md": {
        "pilot": lambda: tool("recipe_pilot").table(
            [json.loads(line) for line in (ROOT / "bench" / "recipe-pilot.jsonl").read_text().splitlines() if line]) + "\n",
        "pilot-budgets": lambda: tool("recipe_pilot").table(
            [json.loads(line) for line in (ROOT / "bench" / "recipe-pilot-budgets.jsonl").read_text().splitlines() if line]) + "\n",
        "spread-before": in_root(lambda: tool("seed_spread").report(BEFORE, "best_epoch")),
        "spread-after": in_root(lambda: tool("seed_spread").report(".", "lowest_val_loss_epoch")),
        "sizing": lambda: tool("power_plan").tables(json.loads((ROOT / "bench" / "power-plan.json").read_text())),
        "plan": lambda: tool("power_plan").choice(json.loads((ROOT / "bench" / "power-plan.json").read_text())),
        "power": lambda: csv_markdown((ROOT / "reports" / "study" / "power.csv").read_text()),
        "coverage": lambda: tool("coverage").table(json.loads((ROOT / "bench" / "coverage.json").read_text())),
        "minutes": minutes_table,
    },
    "docs/criteria.md": {
        "criteria-pilot": lambda: tool("criteria_tables").pilot_table(),
        "criteria-answer": lambda: tool("criteria_tables").results(),
        "criteria-minutes": lambda: tool("criteria_tables").minutes(),
    },
    "docs/development.md": {
        "edit-probe": lambda: tool("edit_probe").report(json.loads((ROOT / "bench" / "edit-probe.json").read_text())),
        "make-test": lambda: tool("test_times").report(json.loads((ROOT / "bench" / "make-test.json").read_text())),
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
