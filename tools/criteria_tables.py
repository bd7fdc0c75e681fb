"""docs/criteria.md's generated blocks (tools/sync_docs.py), from the committed criteria results: the
answer in plain sentences and the thesis family's table (results/criteria/, `make criteria`), the
curves' numbers, and the pilot that sized the run (results/criteria-pilot/, bench/criteria-budget.jsonl).
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


def answer(folder: Path = ROOT / "results" / "criteria", findings: Path = ROOT / "reports" / "study" / "findings.md") -> str:
    """The thesis's two parts: the dead channels (the study's own bullet, reports/study/findings.md), then
    one line per model: APoZ's cut of live channels against each other rule's, with its interval."""
    if not _reports(folder):
        return ("**None committed.** The confirmation of this design (`make criteria`: googlenet, vgg16 and cnn on the "
                "confirmation's replicates, at the pilot's budget) has not been run yet: no verdict on live channels exists. "
                "The previous design's results are withdrawn: they cut dead and live channels together, and its vgg16 "
                "verdicts measured layers frozen at their random initialisation.\n")
    dead = next(line for line in findings.read_text().splitlines() if line.startswith("- **Dead channels.**"))
    out = [dead.replace("- **Dead channels.**", "- **Dead channels are free** (the quick default's study, 3 replicates)."),
           "- **Live channels**, after the dead ones are gone (the thesis family: layer ranking, right after the cut, "
           "mean over the targets; each interval at its family's level):"]
    for r in _reports(folder):
        parts = [f"{_pts(t['diff'])} points against {NAMES.get(t['other'], t['other'])} cut [{_pts(t['lo'])}, {_pts(t['hi'])}]"
                 f" ({t['verdict']})" for t in r["thesis"]]
        if parts:
            out.append(f"  - **{r['model']}** ({len(r['replicates'])} replicates): APoZ's cut kept " + "; ".join(parts) + ".")
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
    head = ["model", "target", "FLOPs kept (layer)", "apoz cut", "l1 cut", "random cut", "apoz tuned", "l1 tuned",
            "random tuned", "scratch", "apoz global", "l1 global", "random global"]
    shown = [i for i in range(len(head)) if any(r[i] != "-" for r in rows)]  # no column of a stage the run left out
    lines = ["| " + " | ".join(head[i] for i in shown) + " |", "|---|---:|---:|" + "---:|" * (len(shown) - 3)]
    return "\n".join(lines + ["| " + " | ".join(r[i] for i in shown) + " |" for r in rows]) + "\n"


def pilot_table(folder: Path = ROOT / "results" / "criteria-pilot", budget: Path = ROOT / "bench" / "criteria-budget.jsonl") -> str:
    """The pilot: each thesis claim's estimate over the pilot's replicates, its interval at the family's
    level, and the replicates 80 % power takes at the interval's end nearest the margin and at the estimate;
    then the fine-tuning budget's runs at E and 2E and the budget chosen."""
    def k(v):  # None: no advantage to size for
        return "-" if v is None else str(v)

    rows = ["| model | APoZ minus | per replicate, points | estimate, points | interval, points (level) | "
            "replicates for 80 % power: at the interval's end | at the estimate |", "|---|---|---|---:|---|---:|---:|"]
    for r in _reports(folder):
        for t in r["thesis"]:
            rows.append(f"| {r['model']} | {t['other']} | {t['per_seed']} | {_pts(t['diff'])} | [{_pts(t['lo'])}, "
                        f"{_pts(t['hi'])}] ({100 * t['level']:.2f} %) | {k(t['replicates_needed'])} | "
                        f"{k(t['replicates_needed_at_estimate'])} |")
    pairs = [json.loads(line) for line in budget.read_text().splitlines() if line]
    rows += ["", "| model | budget pair, epochs | fine-tuned cuts | mean at E | mean at 2E | doubling moves, points (95 %) |",
             "|---|---|---:|---:|---:|---|"]
    for b in pairs:
        for model, m in b["models"].items():
            rows.append(f"| {model} | {b['E']} against {b['2E']} | {m['pairs']} | {100 * m['at_E']:.1f} % | "
                        f"{100 * m['at_2E']:.1f} % | {_pts(m['mean_diff'])} [{_pts(m['lo'])}, {_pts(m['hi'])}] |")
    last = pairs[-1]
    rows.append("")
    if last["choice"]:
        # a model whose mean moved less than a point at one pair is not run at the next: each model's last pair
        final = {m: (b, r) for b in pairs for m, r in b["models"].items() if m != "all"}
        said = "; ".join(f"{m}'s {b['E']} against {b['2E']}: {_pts(r['mean_diff'])} [{_pts(r['lo'])}, {_pts(r['hi'])}]"
                         for m, (b, r) in final.items())
        rows.append(f"Chosen budget: **{last['choice']} epochs**: each model's last pair moved its mean by less than a "
                    f"point ({said}). A model under a point at one pair is not run at the next, whose longer runs "
                    "only the others need.")
    else:
        rows.append(f"**No budget chosen yet:** doubling {last['E']} epochs still moved a model's mean by a point or more, "
                    f"so the budget is at least {last['2E']} epochs; the next pilot pair is {last['2E']} against "
                    f"{2 * last['2E']}.")
    return "\n".join(rows) + "\n"


def results(folder: Path = ROOT / "results" / "criteria") -> str:
    """The Results block: the answer, then (once a run is committed) the thesis table and the curves' numbers."""
    if not _reports(folder):
        return answer(folder)
    pictures = " ".join(f"![{p.parent.name}](../{p.relative_to(ROOT).as_posix()})"
                        for p in sorted((folder / "reports" / "criteria_report").glob("*/curves.png")))
    return "\n".join([answer(folder), thesis_table(folder), curves_table(folder), pictures + "\n"])


def minutes(path: Path = ROOT / "bench" / "criteria-runs.json") -> str:
    """The timed `make criteria` runs (2 cores): seconds, and which stages ran where a run restored the rest."""
    rows = ["| commit | run | wall time | stages that ran | what |", "|---|---:|---:|---|---|"]
    for r in json.loads(path.read_text()):
        ran = "every stage the run needed" if r["stages_run"] is None else (
            f"{len(r['stages_run'])}: " + ", ".join(f"`{s}`" for s in r["stages_run"]) if r["stages_run"] else "none")
        rows.append(f"| {r['commit']} | {r['run']} | {r['seconds'] // 60} min {r['seconds'] % 60} s | {ran} | {r['note']} |")
    return "\n".join(rows) + "\n"
