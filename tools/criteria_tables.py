"""docs/criteria.md's generated blocks (tools/sync_docs.py), from the committed criteria results: the
answer in plain sentences and the thesis family's table (results/criteria/, `make criteria`), the
curves' numbers, and the pilot that sized the run (results/criteria-pilot/, bench/criteria-budget.json).
A module, not a script: sync_docs imports it."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
NAMES = {"l1": "L1's", "random": "random's"}


def _reports(folder: Path) -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted((folder / "metrics" / "criteria_report").glob("*.json"))]


def _pts(v: float) -> str:
    return f"{100 * v:+.1f}"


def answer(folder: Path = ROOT / "results" / "criteria") -> str:
    """One sentence per model: APoZ's cut against each other rule's, on live channels, with its interval."""
    out = []
    for r in _reports(folder):
        parts = [f"{_pts(t['diff'])} points against {NAMES.get(t['other'], t['other'])} cut [{_pts(t['lo'])}, {_pts(t['hi'])}]"
                 f" ({t['verdict']})" for t in r["thesis"]]
        if parts:
            out.append(f"- **{r['model']}** ({len(r['replicates'])} replicates): APoZ's cut kept " + "; ".join(parts) + ".")
    return "\n".join(out) + "\n"


def thesis_table(folder: Path = ROOT / "results" / "criteria") -> str:
    rows = ["| model | APoZ minus | difference, points | interval, points | level | verdict | per replicate |",
            "|---|---|---:|---|---:|---|---|"]
    for r in _reports(folder):
        for t in r["thesis"]:
            rows.append(f"| {r['model']} | {t['other']} | {_pts(t['diff'])} | [{_pts(t['lo'])}, {_pts(t['hi'])}] | "
                        f"{100 * t['level']:.2f} % | {t['verdict']} | {t['per_seed']} |")
    return "\n".join(rows) + "\n"


def curves_table(folder: Path = ROOT / "results" / "criteria") -> str:
    """Per model and target, the layer ranking's mean test accuracy (%) of every rule right after the cut
    and fine-tuned, the scratch control, and the global ranking's cut."""
    rows = []
    for path in sorted((folder / "reports" / "criteria_report").glob("*/curves.csv")):
        c = pd.read_csv(path)
        for target, g in c.groupby("target", sort=False):
            def acc(ranking, rule, stage):
                v = g[(g.ranking == ranking) & (g.rule == rule) & (g.stage == stage)].accuracy
                return f"{100 * v.iloc[0]:.1f}" if len(v) else "-"
            layer = g[g.ranking == "layer"]
            rows.append([path.parent.name, f"{100 * target:g} %", f"{100 * layer.flops_share_224.iloc[0]:.1f} %",
                         *(acc("layer", r, "cut") for r in ("apoz", "l1", "random")),
                         *(acc("layer", r, "tuned") for r in ("apoz", "l1", "random")), acc("layer", "scratch", "scratch"),
                         *(acc("global", r, "cut") for r in ("apoz", "l1", "random"))])
    head = ["model", "target", "FLOPs kept", "apoz cut", "l1 cut", "random cut", "apoz tuned", "l1 tuned",
            "random tuned", "scratch", "apoz global", "l1 global", "random global"]
    lines = ["| " + " | ".join(head) + " |", "|---|---:|---:|" + "---:|" * (len(head) - 3)]
    return "\n".join(lines + ["| " + " | ".join(r) + " |" for r in rows]) + "\n"


def pilot_table(folder: Path = ROOT / "results" / "criteria-pilot", budget: Path = ROOT / "bench" / "criteria-budget.json") -> str:
    rows = ["| model | APoZ minus | pilot estimate, points | interval, points | planned effect, points | replicates for 80 % power |",
            "|---|---|---:|---|---:|---:|"]
    for r in _reports(folder):
        for t in r["thesis"]:
            planned = "withheld" if t["planned_effect"] is None else _pts(t["planned_effect"])
            rows.append(f"| {r['model']} | {t['other']} | {_pts(t['diff'])} | [{_pts(t['lo'])}, {_pts(t['hi'])}] | {planned} | "
                        f"{t['replicates_needed'] if t['replicates_needed'] is not None else '-'} |")
    b = json.loads(budget.read_text())
    rows += ["", f"| model | fine-tuned cuts | mean at {b['E']} epochs | mean at {b['2E']} epochs | doubling moves, points (95 %) |",
             "|---|---:|---:|---:|---|"]
    for model, m in b["models"].items():
        rows.append(f"| {model} | {m['pairs']} | {100 * m['at_E']:.1f} % | {100 * m['at_2E']:.1f} % | "
                    f"{_pts(m['mean_diff'])} [{_pts(m['lo'])}, {_pts(m['hi'])}] |")
    rows.append("")
    rows.append(f"Chosen budget: **{b['choice']} epochs** (the rule: doubling moves no model's mean by a point or more).")
    return "\n".join(rows) + "\n"
