"""The study's coverage at a design, simulated: how often every interval of a family holds its claim's true
difference (the family-wise coverage, 0.95 by Bonferroni's bound) and how often each one does, with k
replicates (a data draw and a training seed each) of n test images each, interval by interval as
``ricecnn.study.stats.architecture_effect`` builds them at the family's level.

    python tools/coverage.py --replicates 3 --images 3500 --families 2,2 --var-replicate 2e-5 --out bench/coverage.json
    python tools/coverage.py --plan bench/power-plan.json --out bench/coverage.json   # at the plan's design
    python tools/coverage.py --replicates 3 --images 3500 --families 2,2 --var-replicate 1e-4

A simulated study scores two models per claim on each replicate's own test images: per image, both right,
the variant only, the baseline only, or neither (the baseline right on 90-95 % of them, 1-5 % of them
discordant, or as many as the image component says), and per replicate a normal effect on the
difference (variance: the replicate component, x1 and x3) that stands for the data draw and the seed,
split between the two discordant cells (each at least 0; the true difference is the expectation of
what is left, in closed form). The interval needs only each replicate's counts, so the studies are
drawn as multinomial counts (the same law as image-by-image draws) and the interval is built from
them in closed form (``interval``; ``tests/test_stats.py`` checks it against ``architecture_effect``).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
from scipy import stats as st

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from ricecnn.study import stats  # noqa: E402

SCALES = (1.0, 3.0)  # the replicate component as given, and three times it
DRAWS = 20_000  # simulated studies per scale: a binomial SE of at most 0.0035 on a coverage near 0.95


def interval(b: np.ndarray, c: np.ndarray, images: int, level: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``architecture_effect``'s (diff, lo, hi) from each replicate's discordant counts ``b`` (variant only
    right) and ``c`` (baseline only right), shape (studies, replicates), of ``images`` images each: the
    replicate means' t interval with k - 1 df, at least Tango's over the k n images, within [-1, 1]."""
    k, n = b.shape[-1], images
    d = (b - c) / n
    grand = d.mean(axis=-1)
    se = d.std(axis=-1, ddof=1) / np.sqrt(k)  # sqrt(MS_between / (k n))
    t = float(st.t.ppf(1 - (1 - level) / 2, k - 1))
    floor_lo, floor_hi = stats.tango_interval(b.sum(axis=-1), c.sum(axis=-1), k * n, z=float(st.norm.ppf(1 - (1 - level) / 2)))
    return grand, np.maximum(np.minimum(grand - t * se, floor_lo), -1.0), np.minimum(np.maximum(grand + t * se, floor_hi), 1.0)


def positive_mean(mu: float, sd: float) -> float:
    """E[max(X, 0)] for X ~ N(mu, sd^2): what is left of a discordant cell's probability on average."""
    return mu if sd == 0 else float(mu * st.norm.cdf(mu / sd) + sd * st.norm.pdf(mu / sd))


def claims_of(families: list[int], parts: list[tuple[float, float | None]], rng: np.random.Generator) -> list[dict]:
    """Each claim's population: the baseline's accuracy, the discordant cells' probabilities (variant only,
    baseline only) and the components, ``parts`` cycled over the claims; a claim without an image
    component gets 1-5 % of its images discordant."""
    out = []
    for f, size in enumerate(families):
        for _ in range(size):
            replicate, image = parts[len(out) % len(parts)]
            share = float(rng.uniform(0.35, 0.65))  # of the discordant images, the variant's
            if image is None:
                q = float(rng.uniform(0.01, 0.05))
            else:  # image = q - theta^2 with theta = q (2 share - 1): the smaller root
                a = (2 * share - 1) ** 2
                q = image if a == 0 else (1 - np.sqrt(max(1 - 4 * a * image, 0.0))) / (2 * a)
            out.append({"family": f, "level": stats.family_level(size), "accuracy": float(rng.uniform(0.90, 0.95)),
                        "variant_only": q * share, "baseline_only": q * (1 - share), "var_replicate": replicate})
    return out


def simulate(claims: list[dict], replicates: int, images: int, draws: int, scale: float,
             rng: np.random.Generator) -> dict:
    """``draws`` whole studies at the replicate component times ``scale``: each claim's coverage and each
    family's family-wise coverage (every interval of the family holds its true difference)."""
    k, n = replicates, images
    held = []
    out = []
    for cl in claims:
        sd = float(np.sqrt(scale * cl["var_replicate"]))
        effect = rng.normal(0.0, sd, (draws, k))  # the data draw's and the seed's shift of the difference
        p_b = np.maximum(cl["variant_only"] + effect / 2, 0.0)
        p_c = np.maximum(cl["baseline_only"] - effect / 2, 0.0)
        p_both = np.clip(cl["accuracy"] - p_c, 0.0, 1.0 - p_b - p_c)
        cells = rng.multinomial(n, np.stack([p_both, p_b, p_c, np.maximum(1.0 - p_both - p_b - p_c, 0.0)], axis=-1))
        truth = positive_mean(cl["variant_only"], sd / 2) - positive_mean(cl["baseline_only"], sd / 2)
        _, lo, hi = interval(cells[..., 1], cells[..., 2], n, cl["level"])
        held.append((lo <= truth) & (truth <= hi))
        out.append({"family": cl["family"], "level": cl["level"], "true_difference": truth,
                    "baseline_accuracy": cl["accuracy"], "discordant": cl["variant_only"] + cl["baseline_only"],
                    "var_replicate": scale * cl["var_replicate"], "coverage": float(held[-1].mean()),
                    "mean_half_width": float(np.mean(hi - lo) / 2)})
    held = np.array(held)
    families = sorted({cl["family"] for cl in claims})
    by_family = {str(f): float(np.all(held[[c["family"] == f for c in claims]], axis=0).mean()) for f in families}
    return {"scale": scale, "family_wise": by_family, "all_families": float(np.all(held, axis=0).mean()), "claims": out}


def components(path: Path | None, var_replicate: float | None, var_image: float | None) -> list[tuple[float, float | None]]:
    """The components to simulate at, (replicate, image) per claim: from the command line, or from a
    JSON of pilot components: {"replicate": v, "image": w}, or a list of claims each with "parts"
    (``tools/power_plan.py``'s plan), (replicate, image) or a crossed pilot's (seed, image, residual),
    whose image and residual together are the image component of the nested model."""
    if path is None:
        if var_replicate is None:
            raise SystemExit("coverage: give --var-replicate (and --var-image) or --components")
        return [(var_replicate, var_image)]
    data = json.loads(path.read_text())
    if isinstance(data, dict) and "replicate" in data:
        return [(float(data["replicate"]), data.get("image"))]
    if isinstance(data, dict) and "families" in data:  # the plan: the claims each family keeps, in order
        claims = [c for f in data["families"].values() for c in f["claims"] if c.get("planned_effect") is not None]
    else:
        claims = data["claims"] if isinstance(data, dict) else data
    return [(float(c["parts"][0]), float(sum(c["parts"][1:]))) for c in claims]


def plan_design(path: Path) -> tuple[int, int, list[int]]:
    """The plan's design (replicates, images) and the sizes of its families, counting the claims each keeps."""
    data = json.loads(path.read_text())
    sizes = [sum(c.get("planned_effect") is not None for c in f["claims"]) for f in data["families"].values()]
    return data["design"]["replicates"], data["design"]["images"], [n for n in sizes if n]


def table(out: dict) -> str:
    """Markdown: per scale of the replicate component, each family's family-wise coverage and each claim's."""
    d = out["design"]
    names = list(out.get("family_names") or map(str, range(len(d["families"]))))
    lines = [f"{d['draws']:,} simulated studies per row: {d['replicates']} replicates of {d['images']:,} test images, "
             f"families of {', '.join(map(str, d['families']))} claims, each at its Bonferroni level.", "",
             "| replicate component | " + " | ".join(f"{n}: family-wise" for n in names) + " | each claim |",
             "|---|" + "---:|" * len(names) + "---|"]
    for r in out["results"]:
        fam = " | ".join(f"{r['family_wise'][str(i)]:.3f}" for i in range(len(names)))
        each = ", ".join(f"{c['coverage']:.3f}" for c in r["claims"])
        lines.append(f"| x{r['scale']:g} | {fam} | {each} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--plan", type=Path, help="the plan (bench/power-plan.json): its design, families and components")
    ap.add_argument("--replicates", type=int, help="k: replicates, a data draw and a training seed each")
    ap.add_argument("--images", type=int, help="n: test images per replicate")
    ap.add_argument("--families", default="2,2", help="the families' sizes, comma-separated")
    ap.add_argument("--draws", type=int, default=DRAWS, help="simulated studies per scale")
    ap.add_argument("--components", type=Path, help="a JSON of pilot components")
    ap.add_argument("--var-replicate", type=float, help="the replicate component of a difference")
    ap.add_argument("--var-image", type=float, help="the image component (default: 1-5 %% of the images discordant)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, help="write the JSON here (e.g. bench/coverage.json)")
    args = ap.parse_args(argv)
    if args.plan:
        args.replicates, args.images, sizes = plan_design(args.plan)
        args.families, args.components = ",".join(map(str, sizes)), args.plan
    if args.replicates is None or args.images is None:
        raise SystemExit("coverage: give --plan, or --replicates and --images")
    if args.replicates < 2 or args.images < 1:
        raise SystemExit("coverage: --replicates must be at least 2 and --images at least 1")
    families = [int(x) for x in args.families.split(",")]
    rng = np.random.default_rng(args.seed)
    claims = claims_of(families, components(args.components, args.var_replicate, args.var_image), rng)
    start = time.perf_counter()
    results = [simulate(claims, args.replicates, args.images, args.draws, s, rng) for s in SCALES]
    names = list(json.loads(args.plan.read_text())["families"]) if args.plan else None
    if names:  # the families that keep a claim, in the plan's order
        plan = json.loads(args.plan.read_text())
        names = [n for n in names if any(c.get("planned_effect") is not None for c in plan["families"][n]["claims"])]
    out = {"family_names": names, "design": {"replicates": args.replicates, "images": args.images, "families": families, "draws": args.draws,
                      "seed": args.seed, "components": str(args.components) if args.components else
                      {"replicate": args.var_replicate, "image": args.var_image}},
           "nominal": stats.LEVEL, "results": results}
    print(f"{time.perf_counter() - start:.1f} s")
    if args.out:
        args.out.write_text(json.dumps(out, indent=1) + "\n")
    for r in results:
        print(f"x{r['scale']:g}: family-wise " + ", ".join(f"{v:.4f}" for v in r["family_wise"].values())
              + "; each claim " + ", ".join(f"{c['coverage']:.4f}" for c in r["claims"]))
    return out


if __name__ == "__main__":
    main()
