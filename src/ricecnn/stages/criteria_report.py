"""Stage criteria_report@<model>: one model's channel criteria over its replicates
(``ricecnn.study.criteria``): the curves of accuracy against FLOPs kept (``--curves``, and the figure
``--figure``), and in one record (``--metrics``) the thesis family's claims with their verdicts and
APoZ's cuts against each other rule's at every target."""

from __future__ import annotations

import numpy as np

from ..channels.settings import CriteriaLists
from ..core import settings
from ..core.cli import fill, parse
from ..core.io import read_json, write_csv, write_json
from ..core.settings import Design
from ..pictures import save_png
from ..study import criteria


class Section(CriteriaLists):
    rankings: list[str]
    margin: float


class Settings(Design):
    criteria: Section


def main(argv: list[str] | None = None) -> None:
    args = parse(argv, "criteria_report", __doc__, "curves", "figure", "metrics", model=True,
                 patterns=("records", "scores"))
    s = settings.load(args.params, Settings)
    cfg, name = s.criteria, args.model
    records = [read_json(fill(args.records, seed=r)) for r in s.replicates]
    correct = [criteria.load(rec, np.load(fill(args.scores, seed=r))) for rec, r in zip(records, s.replicates)]
    claims = len(cfg.models) * sum(1 for r in cfg.rules if r != "apoz")
    curves = criteria.curves(name, records, correct, cfg.rules, cfg.targets, cfg.rankings)
    thesis = criteria.thesis(name, correct, cfg.rules, cfg.targets, claims, cfg.margin)
    write_csv(curves, args.curves)
    save_png(criteria.figure(name, curves), args.figure)
    write_json(args.metrics, {"model": name, "replicates": s.replicates, "claims_in_family": claims,
                              "thesis": thesis.to_dict(orient="records"),
                              "comparisons": criteria.comparisons(name, correct, cfg.rules, cfg.targets,
                                                                  cfg.rankings).to_dict(orient="records")})
    if thesis.empty:
        print(f"criteria_report {name}: the curves of {len(records)} replicate(s); the thesis's verdicts need at least 2 "
              "replicates and the layer ranking")
    for r in thesis.itertuples():
        print(f"criteria_report {name}: APoZ minus {r.other}, right after the cut, mean over the targets: "
              f"{100 * r.diff:+.1f} points [{100 * r.lo:+.1f}, {100 * r.hi:+.1f}] at {100 * r.level:.2f} %: {r.verdict}")
