"""dvc.yaml's stage commands for a params file, without DVC: one line per stage, `<name><TAB><cmd>`,
in the order dvc.yaml lists its stages (an order its dependencies allow).

    python tools/stage_commands.py --params params.yaml [--only train,evaluate]

bench/gpu_study.sh runs the pipeline from this list on a GPU box that has no DVC (nor network to get
it), so that it never carries a hand-copied command. Why written here and not taken from DVC: DVC is
not there. It expands only what dvc.yaml uses, as DVC does: `foreach` over a list (`stage@<item>`) or
a mapping (`stage@<key>`), `matrix` (`stage@<v1>-<v2>`), and `${...}` references to `item`, `key`
and the params (dotted, list indices included). `tests/test_dag.py` checks that its expansion is
DVC's own for the project's dvc.yaml and params.yaml.
"""

from __future__ import annotations

import argparse
import itertools
import re
import sys
from pathlib import Path

import yaml

REF = re.compile(r"\$\{\s*([\w.]+)\s*\}")


def lookup(context: dict, dotted: str):
    node = context
    for part in dotted.split("."):
        node = node[int(part)] if isinstance(node, list) else node[part]
    return node


def resolve(value, context: dict):
    """``${...}`` references in ``value`` filled from ``context``: a whole-string reference keeps its type."""
    if not isinstance(value, str):
        return value
    whole = REF.fullmatch(value.strip())
    if whole:
        return lookup(context, whole[1])
    return REF.sub(lambda m: str(lookup(context, m[1])), value)


def expand(dvc_yaml: dict, params: dict) -> list[tuple[str, str]]:
    """(stage name, command) of every stage, in dvc.yaml's order."""
    out = []
    for name, stage in dvc_yaml["stages"].items():
        if "foreach" in stage:
            items = resolve(stage["foreach"], params)
            pairs = items.items() if isinstance(items, dict) else ((item, item) for item in items)
            for key, item in pairs:
                context = {**params, "item": item, "key": key}
                out.append((f"{name}@{key}", resolve(stage["do"]["cmd"], context)))
        elif "matrix" in stage:
            axes = {axis: resolve(values, params) for axis, values in stage["matrix"].items()}
            for combo in itertools.product(*axes.values()):
                context = {**params, "item": dict(zip(axes, combo))}
                out.append((f"{name}@{'-'.join(str(v) for v in combo)}", resolve(stage["cmd"], context)))
        else:
            out.append((name, resolve(stage["cmd"], params)))
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dvc-yaml", type=Path, default=Path(__file__).resolve().parents[1] / "dvc.yaml")
    ap.add_argument("--params", type=Path, default=Path("params.yaml"))
    ap.add_argument("--only", default="", help="comma-separated stage groups to keep (default: all)")
    args = ap.parse_args()
    keep = set(filter(None, args.only.split(",")))
    for name, cmd in expand(yaml.safe_load(args.dvc_yaml.read_text()), yaml.safe_load(args.params.read_text())):
        if not keep or name.split("@")[0] in keep:
            print(f"{name}\t{cmd}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
