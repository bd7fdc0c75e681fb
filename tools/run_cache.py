"""Write the run-cache entries of an experiment's stages, so that running it again restores them instead
of running them: `make criteria` runs its experiment in a temporary copy (``dvc exp run --temp``), and
DVC writes no run-cache entry for a stage with a `cache: false` output that is not a metric or a plot
(train@, featuremaps@ and prune@ keep their records in git), so a second `make criteria` would train the
replicates the default lacks again. This checks the experiment's commit out in a temporary git worktree
that shares this repository's DVC cache, and saves the entry of every stage that is up to date there,
through DVC's own API, as ``ricecnn push`` does for the workspace (``ricecnn.commands.push``):

    python tools/run_cache.py criteria        # the experiment `criteria` on top of the current commit
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))

from profile_results import experiment_ref  # noqa: E402  (a sibling script)
from ricecnn.commands.push import save_run_cache  # noqa: E402


def save(name: str) -> int:
    from dvc.repo import Repo

    ref = experiment_ref(name)
    with Repo(str(ROOT)) as repo:
        cache = repo.cache.local_cache_dir  # this repository's DVC cache, shared with the worktree
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp) / "exp"
        subprocess.run(["git", "worktree", "add", "--detach", "-q", str(work), ref], cwd=ROOT, check=True)
        try:
            subprocess.run(["dvc", "config", "--local", "cache.dir", str(cache)], cwd=work, check=True)
            os.chdir(work)  # DVC places a stage by the working directory: it must be inside the repository
            with Repo(str(work)) as repo:
                repo.checkout(allow_missing=True)  # the cached outputs its dvc.lock records; git holds the rest
                saved = save_run_cache(repo)
        finally:
            os.chdir(ROOT)
            subprocess.run(["git", "worktree", "remove", "--force", str(work)], cwd=ROOT, check=False)
    print(f"{ref}: run-cache entries of {saved} up-to-date stages written")
    return saved


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python tools/run_cache.py EXPERIMENT")
    save(sys.argv[1])
