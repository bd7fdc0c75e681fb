"""The criteria's fine-tuning budget, chosen by a pilot as training's was: the budget E where doubling it
moves the mean fine-tuned accuracy by less than a point (docs/criteria.md, "The pilot").

The pilot runs criteria@ on the pilot's replicates (never a confirmation's) twice, at E and at 2E
fine-tuning epochs, with everything else the same (profiles/criteria-pilot.yaml lists the settings),
and keeps each run's records (metrics/criteria/<replicate>/<model>.json). This pairs their fine-tuned
cuts (model, replicate, target, rule) and prints, per model and over all, the mean test accuracy at E
and at 2E, the mean of the paired differences with its 95 % t interval (scipy.stats), and the choice:

    python tools/criteria_budget.py RUN_E RUN_2E [--jsonl bench/criteria-budget.jsonl]   # appends one line per pair
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
from scipy import stats

MOVE = 0.01  # doubling the budget must move the mean by less than this (one point)


def tuned(run: Path) -> tuple[int, dict[tuple, float]]:
    """The run's fine-tuning epochs and its fine-tuned cuts' test accuracy, by (model, replicate, target, rule)."""
    out, epochs = {}, set()
    for path in sorted(run.rglob("*.json")):
        record = json.loads(path.read_text())
        epochs.add(record["finetune_epochs"])
        for c in record["cuts"]:
            if "test_tuned" in c:
                out[record["model"], record["seed"], c["target"], c["rule"]] = c["test_tuned"]
    if len(epochs) != 1:
        raise SystemExit(f"{run}: records of {len(epochs)} fine-tuning budgets; one run per budget")
    return epochs.pop(), out


def summary(diffs: np.ndarray) -> dict:
    mean = float(diffs.mean())
    half = float(stats.t.ppf(0.975, len(diffs) - 1) * diffs.std(ddof=1) / np.sqrt(len(diffs))) if len(diffs) > 1 else float("nan")
    return {"pairs": len(diffs), "mean_diff": mean, "lo": mean - half, "hi": mean + half}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("short", type=Path, help="the run at E epochs: its metrics/criteria folder (or one replicate's)")
    ap.add_argument("long", type=Path, help="the run at 2E epochs")
    ap.add_argument("--jsonl", type=Path, help="append the pair's line here (bench/criteria-budget.jsonl)")
    args = ap.parse_args()
    (e, a), (e2, b) = tuned(args.short), tuned(args.long)
    keys = sorted(set(a) & set(b))
    if e2 != 2 * e or not keys:
        raise SystemExit(f"need runs at E and 2E epochs with the same cuts (got {e} and {e2}, {len(keys)} shared cuts)")
    rows = {}
    models = sorted({k[0] for k in keys})
    for model in models + (["all"] if len(models) > 1 else []):
        ks = [k for k in keys if model in ("all", k[0])]
        rows[model] = {"at_E": float(np.mean([a[k] for k in ks])), "at_2E": float(np.mean([b[k] for k in ks])),
                       **summary(np.array([b[k] - a[k] for k in ks]))}
        r = rows[model]
        print(f"{model:10s} {len(ks):3d} cuts: {100 * r['at_E']:.1f} % at {e} epochs, {100 * r['at_2E']:.1f} % at {e2}; "
              f"doubling moves the mean {100 * r['mean_diff']:+.1f} points [{100 * r['lo']:+.1f}, {100 * r['hi']:+.1f}]")
    moved = max(abs(r["mean_diff"]) for r in rows.values())
    choice = e if moved < MOVE else None  # else the budget is at least 2E: the next pilot pair is 2E against 4E
    verdict = f"{e} epochs" if choice else f"not reached: at least {e2} epochs; run {e2} against {2 * e2} next"
    print(f"budget: {verdict} (doubling {e} moves a model's mean by up to {100 * moved:.1f} points; "
          f"the rule: < {100 * MOVE:.0f})")
    if args.jsonl:
        with args.jsonl.open("a") as f:
            f.write(json.dumps({"E": e, "2E": e2, "move": MOVE, "models": rows, "choice": choice}) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
