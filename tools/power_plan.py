"""The study's size, chosen from a pilot before the runs: the power each claim of params.yaml's
families (``compare.families``) would have at a grid of designs (training seeds k, test images n),
from the variance components and the estimate of the same claim in a committed pilot run, and the
full-size profile's seeds from its own families' power at its planning assumption.

    python tools/power_plan.py df2e7e0 --json bench/power-plan.json   # the pilot: the results committed at df2e7e0
    python tools/power_plan.py df2e7e0 --table                          # the markdown tables (docs/statistics.md)

The power is ``ricecnn.study.power.power``: simulated from the nested model's mean squares (between and
within replicates, each a data draw and a training seed) with their own degrees of freedom, at the claim's
family level (Bonferroni over the family's claims), the
probability of the verdict the pilot's estimate points to if that estimate were the truth. The
variance components of each claim are its own (pooling them over claims is not defensible: their
seed variances differ). A claim whose pilot estimate lies within ``stats.NEAR`` of the margin is
one no affordable design decides, and is named, not sized for.
"""

from __future__ import annotations

import argparse
import io
import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "tools"))

from profile_args import overrides  # noqa: E402  (sibling scripts, not a package)
from ricecnn.study import power, stats  # noqa: E402
from ricecnn.core import settings as settings_  # noqa: E402
from seed_spread import show  # noqa: E402

GRID = [(3, 1000), (3, 3000), (3, 3500), (3, 4000), (4, 1000), (4, 2000), (4, 4000)]  # (seeds, test images)
PROFILE = ROOT / "profiles" / "paper.yaml"
# the full-size profile's planning assumption (no full-size run exists to pilot from): a difference's
# replicate SD of 0.1 point, and 0.4 % of each replicate's test images discordant between the two models
# (image variance, which more replicates average away: each brings its own images); the true difference 0.
# (replicate, image): ``stats.components``
PAPER_PARTS = (0.001**2, 0.004)


AUGMENTED = "confirmatory, were the augmented set in it"
NAMED = "named undecidable (the level were it in confirmatory)"



def _current():
    """What the tool reads of the workspace's params.yaml: the plan, the split and the comparison settings."""
    from ricecnn.data.settings import Split
    from ricecnn.study.plan import Plan
    from ricecnn.study.settings import Compare

    class Current(Plan):
        split: Split
        compare: Compare

    return settings_.load(ROOT / "params.yaml", Current)

def pilot(rev: str) -> dict:
    """Every claim of the current families, the claims a family names undecidable (at the level they would
    have in it), and the augmented light-vs-full claims (whose leaving out the confirmatory family this
    justifies), in the pilot at ``rev``: estimate, components, power; and the confirmatory claims'
    power were the named ones in the family (``with_named``)."""
    from ricecnn.study.plan import evaluated  # the registry imports Keras: only where the pilot is computed
    from ricecnn.study.records import CONDITIONS, correctness
    from ricecnn.study.tables import claim_kind, family_of

    params = yaml.safe_load(show(rev, "params.yaml"))
    current = _current()
    families, margin = current.compare.families, current.compare.margin
    models = evaluated(list(params["models"]), params["prune"]["models"], params["trim"]["models"])
    seeds = params["replicates"]
    frames = {s: {m.name: pd.read_csv(io.StringIO(show(rev, f"reports/evaluate/{s}/predictions/{m.name}.csv")))
                  for m in models} for s in seeds}
    correct = correctness(frames, [m.name for m in models])
    claims = []
    for m in models:
        for other in m.against:
            for c in CONDITIONS:
                kind = claim_kind(m, other)
                family = family_of(families, kind, c)
                if family is not None and m.name in families[family].undecidable:
                    family = NAMED
                if family is None and not (kind == "light" and c == "augmented"):
                    continue
                y = correct[m.name][c].astype(float) - correct[other][c]
                claims.append({"variant": m.name, "against": other, "condition": c, "kind": kind,
                               "family": family or AUGMENTED, "estimate": float(y.mean()),
                               "parts": list(stats.components(y)),
                               "seed_sd": float(np.std(y.mean(axis=1), ddof=1))})
    sizes = {name: sum(c["family"] == name for c in claims) for name in families}
    named = sum(c["family"] == NAMED for c in claims)
    sizes[AUGMENTED] = sizes.get("confirmatory", 0) + named + sum(c["family"] == AUGMENTED for c in claims)
    sizes[NAMED] = sizes.get("confirmatory", 0) + named
    for c in claims:
        c["level"] = stats.family_level(sizes[c["family"]])
        c["decidable"] = abs(c["estimate"] + margin) >= stats.NEAR
        c["power"] = {f"{k},{n}": power.power(tuple(c["parts"]), c["estimate"], margin, k, n, c["level"]) for k, n in GRID}
    level = stats.family_level(sizes[NAMED])  # every light model in the confirmatory family
    with_named = [{"variant": c["variant"], "against": c["against"], "level": level,
                   "power": {f"{k},{n}": power.power(tuple(c["parts"]), c["estimate"], margin, k, n, level) for k, n in GRID}}
                  for c in claims if c["family"] == "confirmatory"]
    return {"pilot": rev, "seeds": seeds, "images": int(next(iter(correct.values()))["clean"].shape[1]), "margin": margin,
            "grid": [list(g) for g in GRID], "claims": claims, "with_named": with_named, "paper": paper_seeds()}


def paper_seeds() -> dict:
    """The full-size profile's families (its trim.models), their sizes, and the seeds each needs for 80 %
    power to show `not worse` at its margin under the planning assumption; the profile takes the most."""
    from ricecnn.study.plan import evaluated
    from ricecnn.study.tables import claim_kind

    over = dict(item.split("=", 1) for item in overrides(PROFILE))
    current = _current()
    trimmed = yaml.safe_load(over.get("trim.models", "null")) or current.trim.models
    margin = float(over.get("compare.margin", current.compare.margin))
    split_test = float(over.get("split.test", current.split.test))
    images = round(75_000 * split_test)
    models = evaluated(list(current.models), [], trimmed)
    out = {"margin": margin, "images": images, "parts": list(PAPER_PARTS), "families": {}}
    for name, spec in current.compare.families.items():
        named = yaml.safe_load(over.get(f"compare.families.{name}.undecidable", "null"))
        named = spec.undecidable if named is None else named
        size = sum(claim_kind(m, o) in spec.kinds and m.name not in named for m in models for o in m.against) * len(spec.conditions)
        if size:
            level = stats.family_level(size)
            out["families"][name] = {"claims": size, "level": level,
                                     "seeds": power.seeds_needed(PAPER_PARTS, 0.0, margin, images, level)}
    out["seeds"] = max(f["seeds"] for f in out["families"].values())
    return out


def tables(plan: dict) -> str:
    """The sizing table (power per claim and design) and the full-size profile's seeds, as markdown."""
    head = " | ".join(f"k={k}, n={n:,}" for k, n in plan["grid"])
    lines = [f"| claim | family (level) | pilot estimate (pts) | seed SD (pts) | {head} |",
             "|---|---|---:|---:|" + "---:|" * len(plan["grid"])]
    for c in plan["claims"]:
        mark = "" if c["decidable"] else " (within a point of the margin)"
        cells = " | ".join(f"{c['power'][f'{k},{n}']:.2f}" for k, n in plan["grid"])
        lines.append(f"| {c['variant']} vs {c['against']}, {c['condition']}{mark} | {c['family']} ({100 * c['level']:.4g} %) "
                     f"| {100 * c['estimate']:+.1f} | {100 * c['seed_sd']:.1f} | {cells} |")
    if plan.get("with_named"):
        lines += ["", "The confirmatory claims were the named ones in the family too:", "",
                  f"| claim | level | {head} |", "|---|---:|" + "---:|" * len(plan["grid"])]
        lines += [f"| {c['variant']} vs {c['against']}, clean | {100 * c['level']:.4g} % | "
                  + " | ".join(f"{c['power'][f'{k},{n}']:.2f}" for k, n in plan["grid"]) + " |" for c in plan["with_named"]]
    p = plan["paper"]
    lines += ["", "| full-size family | claims | level | seeds for 80 % power |", "|---|---:|---:|---:|"]
    lines += [f"| {name} | {f['claims']} | {100 * f['level']:.4g} % | {f['seeds']} |" for name, f in p["families"].items()]
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("rev", help="the commit whose committed results are the pilot")
    ap.add_argument("--json", type=Path, help="write the plan here")
    ap.add_argument("--table", action="store_true", help="print the markdown tables")
    args = ap.parse_args()
    plan = pilot(args.rev)
    if args.json:
        args.json.write_text(json.dumps(plan, indent=1) + "\n")
    print(tables(plan) if args.table or not args.json else f"wrote {args.json}")


if __name__ == "__main__":
    main()
