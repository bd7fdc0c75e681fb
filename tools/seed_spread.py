"""How much of the seed-to-seed spread is the training recipe's: at a commit of the committed results,
each model's clean and augmented test accuracy per training seed, their standard deviation, and the
Spearman correlation, within models, between a run's epoch and its accuracy.

    python tools/seed_spread.py 12c3890                   # before: early stopping (patience 3)
    python tools/seed_spread.py . --epoch lowest_val_loss_epoch   # the work tree's results

``--epoch``: which epoch of each run (metrics/train/<seed>/<model>.json): ``best_epoch``, the one
whose weights were kept (with early stopping, where it stopped), or ``lowest_val_loss_epoch``
(under a fixed budget every run keeps its last epoch, so the kept one says nothing). The
correlation pools the runs of all models, each model's epochs and accuracies taken relative to
its own mean (the models differ in both). docs/statistics.md shows its output before and after.
"""

from __future__ import annotations

import argparse
import io
import json
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import yaml
from scipy import stats


def show(rev: str, path: str) -> str:
    """A file of the results at commit ``rev``, or in the work tree when ``rev`` is '.'."""
    if rev == ".":
        return Path(path).read_text()
    p = subprocess.run(["git", "show", f"{rev}:{path}"], capture_output=True, text=True)
    if p.returncode:
        raise SystemExit(f"seed_spread: {rev}:{path}: {p.stderr.strip()}")
    return p.stdout


def exists(rev: str, path: str) -> bool:
    """Whether ``path`` is in the results at commit ``rev``, or in the work tree when ``rev`` is '.'."""
    if rev == ".":
        return Path(path).is_file()
    return subprocess.run(["git", "cat-file", "-e", f"{rev}:{path}"], capture_output=True).returncode == 0


def predictions(rev: str, seed: int, model: str) -> str:
    """Evaluate's predictions of a trained model: in its line's folder (reports/evaluate/<seed>/<model>/predictions/),
    or, in commits from before there was one evaluate stage per line, in the seed's folder."""
    line = f"reports/evaluate/{seed}/{model}/predictions/{model}.csv"
    return show(rev, line if exists(rev, line) else f"reports/evaluate/{seed}/predictions/{model}.csv")


def report(rev: str, epoch: str) -> str:
    """The table and the correlations, as markdown."""
    params = yaml.safe_load(show(rev, "params.yaml"))
    seeds, models = params.get("replicates") or params["training_seeds"], list(params["models"])  # the key before replicates
    lines = [f"| model | {epoch} per seed | clean per seed | clean SD (pts) | augmented per seed | augmented SD (pts) |",
             "|---|---|---|---:|---|---:|"]
    pooled: dict[str, list[float]] = {"epoch": [], "clean": [], "augmented": []}
    for m in models:
        epochs, acc = [], {"clean": [], "augmented": []}
        for s in seeds:
            run = json.loads(show(rev, f"metrics/train/{s}/{m}.json"))
            epochs.append(run.get(epoch, run["best_epoch"]))
            p = pd.read_csv(io.StringIO(predictions(rev, s, m)))
            for c in acc:
                acc[c].append(float((p[c] == p.actual).mean()))
        e = np.asarray(epochs, dtype=float)
        pooled["epoch"] += list(e - e.mean())
        for c in acc:
            a = np.asarray(acc[c])
            pooled[c] += list(a - a.mean())
        lines.append(f"| {m} | {', '.join(map(str, epochs))} | {' / '.join(f'{v:.3f}' for v in acc['clean'])} | "
                     f"{100 * np.std(acc['clean'], ddof=1):.1f} | {' / '.join(f'{v:.3f}' for v in acc['augmented'])} | "
                     f"{100 * np.std(acc['augmented'], ddof=1):.1f} |")
    lines.append("")
    for c in ("clean", "augmented"):
        if np.ptp(pooled["epoch"]) == 0:
            lines.append(f"{epoch} is the same in every run: no correlation to compute.")
            break
        r = stats.spearmanr(pooled["epoch"], pooled[c])
        p = "p < 0.001" if r.pvalue < 0.001 else f"p = {r.pvalue:.3f}"
        lines.append(f"{epoch} vs {c} accuracy, within models, {len(pooled[c])} runs: Spearman {r.statistic:+.2f} ({p}).")
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("rev", help="a commit holding results (metrics/ and reports/), or . for the work tree")
    ap.add_argument("--epoch", default="best_epoch", help="best_epoch | lowest_val_loss_epoch")
    args = ap.parse_args()
    print(report(args.rev, args.epoch), end="")


if __name__ == "__main__":
    main()
