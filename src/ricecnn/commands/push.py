"""`ricecnn push`: share a run with the team, so a teammate's `dvc repro --pull` trains nothing.

`dvc push --run-cache` uploads the outputs of the checked-out dvc.lock and the run-cache entries,
but of the outputs those entries record, only the DVC-cached ones: never the `cache: false`
records, DVCLive curves and reports that train@ and the later stages keep in git. And `dvc repro`
writes no run-cache entry at all for a stage with a `cache: false` output that is not a metric or
a plot. Without both a teammate's DVC cannot restore those stages from the run-cache and reruns
them (seen with DVC 3.67). This writes the entries of the workspace's up-to-date stages and uploads
them with every output they record, through DVC's own API (DVC has no command for it).
"""

from __future__ import annotations

import argparse

from ..core.errors import RiceError


def save_run_cache(repo) -> int:
    """Write the run-cache entry of every stage ``repo``'s workspace holds up to date; return how many.
    DVC writes no run-cache entry for a stage with a `cache: false` output that is not a metric or a
    plot (dvc/stage/__init__.py, `no_cache_outs`): every per-stage record here. Its own
    StageCache.save writes them."""
    saved = 0
    with repo.lock:
        for stage in repo.index.stages:
            if stage.cmd and not stage.changed():
                repo.stage_cache.save(stage)
                saved += 1
    return saved


def push(remote: str | None = None) -> tuple[int, int, int]:
    """Push the workspace's outputs, the run-cache and every output it records; return counts."""
    from dvc.exceptions import DvcException
    from dvc.repo import Repo

    try:
        with Repo() as repo:
            save_run_cache(repo)
            repo.push(remote=remote)  # what `dvc push` sends: the checked-out dvc.lock's outputs
            entries = repo.stage_cache.push(remote)  # the run-cache entries themselves
            objs = set().union(*repo.stage_cache.get_used_objs(entries).values()) if entries else set()
            result = repo.cloud.push(objs, remote=remote)
    except DvcException as e:
        raise RiceError(f"dvc push failed: {e}") from None
    if result.failed:
        raise RiceError(f"{len(result.failed)} outputs could not be uploaded to the remote")
    return len(entries), len(objs), len(result.transferred)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="ricecnn push", description=__doc__.splitlines()[0])
    ap.add_argument("-r", "--remote", help="DVC remote name (default: the default remote)")
    args = ap.parse_args(argv)
    entries, outputs, sent = push(args.remote)
    print(f"push: {entries} run-cache entries and the {outputs} outputs they record ({sent} uploaded)")
