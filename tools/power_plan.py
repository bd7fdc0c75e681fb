"""The confirmation's plan, made from the committed pilot before the confirmation runs: which claims of
each family of ``compare.families`` get a verdict and which the plan withholds, how many replicates
(a data draw and a training seed each) and test images per replicate the confirmation takes, and each
claim's power there; and the full-size profile's replicates from its own families' power under stated
assumptions.

    make pilot                                                      # runs the pilot into results/pilot/, then:
    python tools/power_plan.py results/pilot --json bench/power-plan.json
    python tools/power_plan.py results/pilot --table                # the markdown tables (docs/statistics.md)

The pilot is a run of the same pipeline on its own replicates (``pilot.replicates``: data draws and
training seeds no confirmation uses; params.yaml's check refuses a confirmation replicate that shares
one). From its ``reports/study/comparisons.csv`` each claim of a family's kinds and test sets gives its
estimate, its variance components (between replicates, within a replicate's images) and, from them, its
95 % interval (one level for every claim, whatever family the pilot's own params put it in).

The effect a claim is sized for is conservative, not the pilot's point estimate: the end of the pilot's
interval nearest the margin. A claim whose pilot interval holds the margin is one the pilot cannot
place on either side: at the margin no design reaches its power, and the plan withholds it (reported
with its interval, no verdict). The power is ``ricecnn.study.power.power`` (the nested model's two mean
squares, simulated with their own degrees of freedom) at the family's Bonferroni level over the claims
it keeps. The design is the cheapest of ``GRID`` at which every kept claim has 80 % power, else the
largest affordable one (``AFFORDABLE`` replicates: what the quick default's 20 minutes hold).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import pandas as pd
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "tools"))

from profile_args import overrides  # noqa: E402  (sibling scripts, not a package)
from ricecnn.core import settings as settings_  # noqa: E402
from ricecnn.study import power, stats  # noqa: E402

AFFORDABLE = 3  # replicates the quick default's make repro holds in 20 minutes on 2 cores (README)
GRID = [(2, 1000), (2, 3500), (3, 1000), (3, 2000), (3, 3500)]  # (replicates, test images per replicate), cheapest first
PROFILE = ROOT / "profiles" / "paper.yaml"
# the full-size profile's planning assumptions (no full-size pilot exists): a difference's replicate SD
# (data draw and seed) and the share of a replicate's test images on which the two models disagree
PAPER_SDS = (0.001, 0.002, 0.003)
PAPER_DISCORDANCE = (0.004, 0.007, 0.01)
PAPER_EFFECTS = {"non-inferiority": 0.0, "superiority": 0.005}  # the true difference each kind is sized for


def _current():
    """What the tool reads of the workspace's params.yaml: the replicates, the split and the comparison
    settings."""
    from ricecnn.data.settings import Split
    from ricecnn.evaluation.plan import Plan
    from ricecnn.study.settings import Compare

    class Current(Plan):
        split: Split
        compare: Compare

    return settings_.load(ROOT / "params.yaml", Current)


def planned_effect(lo: float, hi: float, margin: float) -> float | None:
    """The effect a claim is sized for: the end of the pilot's interval (lo, hi) nearest -margin, or None
    when the interval holds -margin (the pilot cannot tell the side: the plan withholds the claim)."""
    if lo > -margin:
        return lo
    if hi < -margin:
        return hi
    return None


def pilot_interval(r, images: int) -> tuple[float, float]:
    """A claim's 95 % interval in the pilot, whatever the level its family gave it there: one rule for every
    claim, built as ``stats.architecture_effect`` builds it (``power.half_width``) from the pilot's mean squares:
    between replicates n x the variance of the replicates' differences, within them the image component."""
    k = len(str(r.per_seed_pp).split(";"))
    ms_between, ms_within = images * (r.seed_sd_pp / 100) ** 2, float(r.var_image)
    half = float(power.half_width(ms_between, ms_within, k, images, stats.LEVEL))
    return r.diff_pp / 100 - half, r.diff_pp / 100 + half


def plan(folder: Path) -> dict:
    """The plan from the pilot's results in ``folder`` (results/pilot: its params.yaml and reports/study)."""
    pilot_params = yaml.safe_load((folder / "params.yaml").read_text())
    comps = pd.read_csv(folder / "reports" / "study" / "comparisons.csv")
    images = int(round(pilot_params["data"]["synthetic"]["per_class"] * 5 * pilot_params["split"]["test"]))
    current = _current()
    if sorted(pilot_params["replicates"]) != sorted(current.pilot.replicates):
        raise SystemExit(f"{folder}: its replicates {pilot_params['replicates']} are not params.yaml's "
                         f"pilot.replicates {current.pilot.replicates}")
    families = {}
    for name, spec in current.compare.families.items():
        margin = current.compare.margin if spec.margin is None else spec.margin
        rows = comps[comps.claim_kind.isin(spec.kinds) & comps.condition.isin(spec.conditions)]
        claims = []
        for r in rows.itertuples():
            lo, hi = pilot_interval(r, images)
            claims.append({"variant": r.variant, "against": r.against, "condition": r.condition,
                           "estimate": r.diff_pp / 100, "lo": lo, "hi": hi, "replicate_sd": r.seed_sd_pp / 100,
                           "parts": [float(r.var_replicate), float(r.var_image)],
                           "planned_effect": planned_effect(lo, hi, margin)})
        kept = [c for c in claims if c["planned_effect"] is not None]
        level = stats.family_level(len(kept))
        for c in kept:  # at the effect sized for, and (for reference) at the pilot's point estimate
            c["power"] = {f"{k},{n}": power.power(tuple(c["parts"]), c["planned_effect"], margin, k, n, level)
                          for k, n in GRID}
            c["power_at_estimate"] = {f"{k},{n}": power.power(tuple(c["parts"]), c["estimate"], margin, k, n, level)
                                      for k, n in GRID}
        families[name] = {"margin": margin, "level": level, "claims": claims,
                          "withheld": sorted({c["variant"] for c in claims if c["planned_effect"] is None})}
    kept = [c for f in families.values() for c in f["claims"] if c["planned_effect"] is not None]
    design = next(((k, n) for k, n in GRID if k <= AFFORDABLE and all(c["power"][f"{k},{n}"] >= power.POWER for c in kept)),
                  max((g for g in GRID if g[0] <= AFFORDABLE), key=lambda g: (g[0], g[1])))
    return {"pilot": str(folder.relative_to(ROOT) if folder.is_absolute() else folder),
            "pilot_replicates": pilot_params["replicates"],
            "pilot_images": images, "pilot_level": stats.LEVEL,
            "grid": [list(g) for g in GRID], "affordable": AFFORDABLE,
            "design": {"replicates": design[0], "images": design[1]}, "families": families, "paper": paper_replicates()}


def paper_replicates() -> dict:
    """The full-size profile's families (its own overrides of the current ones), their sizes, and the
    replicates each needs for 80 % power under every pair of planning assumptions (replicate SD,
    discordance): non-inferiority at a true difference of 0, superiority (a margin of 0, the thesis) at
    a true advantage of half a point. The profile takes the most at the middle assumptions."""
    from ricecnn.evaluation.plan import evaluated
    from ricecnn.study.tables import claim_kind

    over = dict(item.split("=", 1) for item in overrides(PROFILE))
    current = _current()
    trimmed = yaml.safe_load(over.get("trim.models", "null")) or current.trim.models
    margin = float(over.get("compare.margin", current.compare.margin))
    images = round(75_000 * float(over.get("split.test", current.split.test)))
    models = evaluated(list(current.models), [], trimmed)
    out = {"margin": margin, "images": images, "sds": list(PAPER_SDS), "discordance": list(PAPER_DISCORDANCE),
           "effects": PAPER_EFFECTS, "families": {}}
    for name, spec in current.compare.families.items():
        named = yaml.safe_load(over.get(f"compare.families.{name}.undecidable", "null"))
        named = spec.undecidable if named is None else named
        size = sum(claim_kind(m, o) in spec.kinds and m.name not in named for m in models for o in m.against) * len(spec.conditions)
        if not size:
            continue
        m_ = margin if spec.margin is None else spec.margin
        effect = PAPER_EFFECTS["superiority" if m_ == 0 else "non-inferiority"]
        level = stats.family_level(size)
        needed = {f"{sd},{q}": power.seeds_needed((sd**2, q), effect, m_, images, level)
                  for sd in PAPER_SDS for q in PAPER_DISCORDANCE}
        out["families"][name] = {"claims": size, "level": level, "margin": m_, "effect": effect, "replicates": needed}
    middle = f"{PAPER_SDS[1]},{PAPER_DISCORDANCE[1]}"
    out["replicates"] = max((f["replicates"][middle] or power.MOST_SEEDS) for f in out["families"].values())
    return out


def tables(p: dict) -> str:
    """The sizing tables (power per claim and design, the withheld claims) and the full-size profile's, as markdown."""
    head = " | ".join(f"k={k}, n={n:,}" for k, n in p["grid"])
    lines = [f"| claim | family (level) | pilot: estimate [95 % interval] (pts) | sized for (pts) | replicate SD (pts) | {head} |",
             "|---|---|---|---:|---:|" + "---:|" * len(p["grid"])]
    for name, f in p["families"].items():
        for c in f["claims"]:
            interval = f"{100 * c['estimate']:+.1f} [{100 * c['lo']:+.1f}, {100 * c['hi']:+.1f}]"
            if c["planned_effect"] is None:
                cells = " | ".join("-" for _ in p["grid"])
                lines.append(f"| {c['variant']} vs {c['against']}, {c['condition']} | {name}: withheld by the plan | {interval} "
                             f"| holds the margin | {100 * c['replicate_sd']:.1f} | {cells} |")
                continue
            cells = " | ".join(f"{c['power'][f'{k},{n}']:.2f}" for k, n in p["grid"])
            lines.append(f"| {c['variant']} vs {c['against']}, {c['condition']} | {name} ({100 * f['level']:.4g} %) | {interval} "
                         f"| {100 * c['planned_effect']:+.1f} | {100 * c['replicate_sd']:.1f} | {cells} |")
    pp = p["paper"]
    cols = [(sd, q) for sd in pp["sds"] for q in pp["discordance"]]
    lines += ["", "| full-size family | claims | level | sized for | " + " | ".join(f"SD {100 * sd:g} pt, {100 * q:g} % discordant"
                                                                          for sd, q in cols) + " |",
              "|---|---:|---:|---|" + "---:|" * len(cols)]
    for name, f in pp["families"].items():
        sized = "not worse at 0" if f["margin"] else f"better at +{100 * f['effect']:g} pt"
        cells = " | ".join(str(f["replicates"][f"{sd},{q}"] or f"> {power.MOST_SEEDS}") for sd, q in cols)
        lines.append(f"| {name} | {f['claims']} | {100 * f['level']:.4g} % | {sized} | {cells} |")
    return "\n".join(lines) + "\n"


def choice(p: dict) -> str:
    """The plan's choice in words: what the pilot was, what each family keeps and withholds, the design."""
    k, n = p["design"]["replicates"], p["design"]["images"]
    reps = ", ".join(map(str, p["pilot_replicates"]))
    out = [f"**The pilot** is `make pilot`'s run, committed in `{p['pilot']}/`: the quick default's pipeline on its own "
           f"replicates {reps} (`pilot.replicates`: data draws and training seeds no confirmation uses), "
           f"{p['pilot_images']:,} test images each."]
    for name, f in p["families"].items():
        kept = [c for c in f["claims"] if c["planned_effect"] is not None]
        gone = [c for c in f["claims"] if c["planned_effect"] is None]
        if not f["claims"]:
            out.append(f"`{name}`: the pilot ran none of its claims.")
            continue
        said = f"`{name}` keeps {len(kept)} of its {len(f['claims'])} claims"
        if gone:
            said += (" and withholds " + ", ".join(f"{c['variant']} vs {c['against']} ({c['condition']}; pilot "
                                                   f"{100 * c['estimate']:+.1f} [{100 * c['lo']:+.1f}, {100 * c['hi']:+.1f}])"
                                                   for c in gone)
                     + ", whose pilot interval holds the margin")
        if kept:
            said += "; at the design its kept claims have power " + ", ".join(
                f"{c['power'][f'{k},{n}']:.2f} ({c['variant']} vs {c['against']}; "
                f"{c['power_at_estimate'][f'{k},{n}']:.2f} were the pilot's estimate the truth)" for c in kept)
        out.append(said + ".")
    reached = all(c["power"][f"{k},{n}"] >= power.POWER for f in p["families"].values() for c in f["claims"]
                  if c["planned_effect"] is not None)
    out.append(f"The confirmation takes **{k} replicates of {n:,} test images**: "
               + ("the cheapest design of the grid at which every kept claim has 80 % power."
                  if reached else f"the largest affordable design ({p['affordable']} replicates fit the quick default's "
                  "20 minutes); not every kept claim reaches 80 % power there, and the table says which."))
    return " ".join(out) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("pilot", type=Path, help="the pilot's committed results (results/pilot)")
    ap.add_argument("--json", type=Path, help="write the plan here")
    ap.add_argument("--table", action="store_true", help="print the markdown tables")
    args = ap.parse_args()
    p = plan(args.pilot)
    if args.json:
        args.json.write_text(json.dumps(p, indent=1) + "\n")
    print(tables(p) if args.table or not args.json else f"wrote {args.json}: {p['design']}, withheld "
          + "; ".join(f"{n}: {f['withheld'] or 'none'}" for n, f in p["families"].items()))


if __name__ == "__main__":
    main()
