"""Sweep prune.apoz_threshold as DVC experiments and plot augmented accuracy against FLOPs.

    PATH=$PWD/.venv/bin:$PATH python tools/prune_sweep.py 1.0 0.99 0.95 0.9

Queues one `dvc exp run` per threshold (target: summarize; the prune@ and evaluate@ stages rerun,
everything else comes from the cache), runs the queue with one worker, then reads
`dvc exp show --json` and writes reports/prune_sweep.csv (one row per threshold, pruned model and
training seed) and reports/prune_sweep.png (means over the seeds). The
queue's workers are separate processes started through PATH: the venv's `dvc` and `ricecnn` must
be on it.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

TARGETS = ["summarize"]


def dvc(*args: str) -> str:
    return subprocess.run(["dvc", *args], check=True, capture_output=True, text=True).stdout


def queue(thresholds: list[str]) -> list[str]:
    names = [f"apoz-{t}" for t in thresholds]
    for name, t in zip(names, thresholds):
        dvc("exp", "run", "--queue", "-n", name, "-S", f"prune.apoz_threshold={t}", *TARGETS)
    dvc("queue", "start", "-j", "1")
    while True:  # poll until every task has left the queue
        status = dvc("queue", "status")
        if not any(s in status for s in ("Queued", "Running")):
            return names
        time.sleep(10)


def collect(names: list[str]) -> list[dict]:
    """Each experiment's prune and evaluate records, read from its commit with DVC's file system (they
    are committed outs, not DVC metrics: `dvc exp show` lists only the study's numbers)."""
    from dvc.api import DVCFileSystem

    rows = []
    for rev in json.loads(dvc("exp", "show", "--json")):
        for exp in rev.get("experiments") or []:
            for run in exp.get("revs", []):
                if run.get("name") not in names or not run.get("data"):
                    continue
                t = run["data"]["params"]["params.yaml"]["data"]["prune"]["apoz_threshold"]
                fs = DVCFileSystem(".", rev=run["rev"])
                for path in fs.glob("metrics/prune/*/*.json"):  # metrics/prune/<seed>/<model>.json
                    m = json.loads(fs.read_text(path))
                    family, seed = m["model"], path.split("/")[2]
                    evaluate = json.loads(fs.read_text(f"metrics/evaluate/{seed}/{family}.json"))  # the model's line
                    rows.append({"threshold": t, "seed": int(seed), "model": f"{family}_pruned", "family": family,
                                 "flops": m["flops_after"], "params": m["params_after"],
                                 "channels_removed": m["channels_removed"],
                                 "augmented_accuracy": evaluate[f"{family}_pruned"]["augmented_accuracy"],
                                 "full_augmented_accuracy": evaluate[family]["augmented_accuracy"],
                                 "full_flops": m["flops_before"]})
    return sorted(rows, key=lambda r: (r["family"], -r["threshold"], r["seed"]))


def means(rows: list[dict]) -> list[dict]:
    """One row per (family, threshold): the mean over the training seeds of every number."""
    import pandas as pd

    keys = ["flops", "augmented_accuracy", "full_augmented_accuracy", "full_flops"]
    df = pd.DataFrame(rows).groupby(["family", "threshold"], sort=False)[keys].mean().reset_index()
    return df.to_dict("records")


def plot(rows: list[dict], out: Path) -> None:
    rows = means(rows)
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for i, family in enumerate(sorted({r["family"] for r in rows})):
        fam = [r for r in rows if r["family"] == family]
        color = f"C{i}"
        ax.plot([r["flops"] for r in fam], [r["augmented_accuracy"] for r in fam], "o-", color=color, label=f"{family}_pruned")
        ax.plot([fam[0]["full_flops"]], [fam[0]["full_augmented_accuracy"]], "s", color=color, mfc="none", label=f"{family} (full)")
        for r in fam:
            ax.annotate(f"{r['threshold']:g}", (r["flops"], r["augmented_accuracy"]), fontsize=7, xytext=(3, 3),
                        textcoords="offset points")
    ax.set_xscale("log")
    ax.set_xlabel("FLOPs per image (log scale)")
    ax.set_ylabel("accuracy on the augmented test set")
    ax.set_title("auto-pruning: APoZ threshold sweep (labels), no fine-tuning")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(out, dpi=90)


def main() -> None:
    thresholds = sys.argv[1:] or ["1.0", "0.99", "0.95", "0.9"]
    rows = collect(queue(thresholds))
    if not rows:
        sys.exit("prune_sweep: no finished experiments found (see `dvc queue logs <name>`)")
    import csv

    with open("reports/prune_sweep.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]), lineterminator="\n")
        w.writeheader()
        w.writerows(rows)
    plot(rows, Path("reports/prune_sweep.png"))
    for r in rows:
        print(r)


if __name__ == "__main__":
    main()
