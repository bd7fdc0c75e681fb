"""The overrides of a profile (``profiles/paper.yaml``: a YAML list of ``key=value`` strings) as
``dvc exp run`` arguments: ``-S 'key=value' ...``, shell-quoted on one line (`make repro-paper`
runs ``dvc exp run --temp -n paper`` with them).

    python tools/profile_args.py profiles/paper.yaml
"""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

import yaml


def overrides(path: str | Path) -> list[str]:
    """The profile's ``key=value`` strings, in order; one clear line (SystemExit) if it is not a
    non-empty YAML list of them."""
    try:
        items = yaml.safe_load(Path(path).read_text())
    except (OSError, yaml.YAMLError) as e:
        sys.exit(f"{path}: cannot read the profile ({type(e).__name__}: {e})")
    if not (isinstance(items, list) and items and all(isinstance(x, str) and "=" in x for x in items)):
        sys.exit(f"{path}: expected a YAML list of key=value strings")
    return items


def dvc_args(items: list[str]) -> list[str]:
    """``-S key=value`` for each override."""
    return [arg for item in items for arg in ("-S", item)]


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python tools/profile_args.py PROFILE.yaml")
    print(shlex.join(dvc_args(overrides(sys.argv[1]))))
