"""Scaling out, for real: queue workers pinned to one GPU each, running two experiments at once (the
recipe of docs/scaling-out.md, run verbatim; a DVC queue sweep with real training: tests/test_share.py),
and three machines sharing one S3 remote (SeaweedFS on 127.0.0.1) so that the third trains nothing the
other two trained (the run-cache shared by `ricecnn push`; a plain `dvc push --run-cache` is not enough).

Runs stay tiny: 32 px, a few images per class, 1 epoch; cnn_light (and cnn for the S3 team).
"""

from __future__ import annotations

import json
import re
import subprocess
from datetime import datetime
from pathlib import Path

import pytest
from conftest import (
    BIN,
    ROOT,
    SEED,
    commit,
    digest,
    env,
    experiments,
    make_repo,
    only,
    param,
    path_without_ricecnn,
    run,
    stop_workers,
    wait_for_queue,
)
from servers import S3


def worker_runs(repo: Path) -> dict[str, list[tuple[datetime, datetime]]]:
    """For each queue worker's log (.dvc/tmp/exps/celery/dvc-exp-worker-<n>.out): the (received,
    finished) times of every experiment (celery task run_exp) that worker ran."""
    stamp = (r"^\[(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}): \w+/MainProcess\] "
             r"Task dvc\.repo\.experiments\.queue\.tasks\.run_exp\[([0-9a-f-]+)\] ")
    out: dict[str, list[tuple[datetime, datetime]]] = {}
    for log in sorted((repo / ".dvc/tmp/exps/celery").glob("dvc-exp-worker-*.out")):
        received, runs = {}, []
        for line in log.read_text(errors="replace").splitlines():
            if m := re.match(stamp + "received", line):
                received[m[2]] = datetime.strptime(m[1], "%Y-%m-%d %H:%M:%S,%f")
            elif (m := re.match(stamp + "(succeeded|raised)", line)) and m[2] in received:
                runs.append((received.pop(m[2]), datetime.strptime(m[1], "%Y-%m-%d %H:%M:%S,%f")))
        assert not received, f"{log.name}: a task never finished: {received}"
        out[log.stem] = runs
    return out


# --- one GPU per queue worker ----------------------------------------------------------------------

# The recipe of docs/scaling-out.md: tools/gpu_workers.sh starts one queue worker per GPU, each with its own
# CUDA_VISIBLE_DEVICES (a worker inherits the environment of the `dvc queue start` that spawned it).
GPU_WORKERS = ROOT / "tools" / "gpu_workers.sh"


# The probe stage: records the GPU its worker was pinned to, then waits (at most 90 s) until the
# other queued experiment has started too, so that neither worker can run both.
PROBE = """\
printf '{"gpu": "%s"}\\n' "$CUDA_VISIBLE_DEVICES" > gpu.json
mktemp "$BARRIER/started.XXXXXX" > /dev/null
i=0
while [ "$(ls "$BARRIER" | wc -l)" -lt 2 ]; do
  i=$((i + 1))
  if [ $i -gt 450 ]; then echo "no other experiment started alongside this one" >&2; exit 1; fi
  sleep 0.2
done
"""

PROBE_DVC_YAML = """\
stages:
  probe:
    cmd: sh probe.sh
    deps: [probe.sh]
    params: [variant]
    metrics:
      - gpu.json:
          cache: false
"""


def exp_ref(repo: Path, name: str) -> str:
    """The path under refs/exps/ of the experiment called ``name``."""
    refs = run(["git", "for-each-ref", "--format=%(refname)", "refs/exps/"], repo).stdout.split()
    found = [r.removeprefix("refs/exps/") for r in refs if r.rsplit("/", 1)[-1] == name]
    assert len(found) == 1, refs
    return found[0]


@pytest.mark.slow
def test_queue_workers_pinned_to_one_gpu_each(tmp_path):
    repo = tmp_path / "pinned"
    repo.mkdir()
    (repo / "probe.sh").write_text(PROBE)
    (repo / "dvc.yaml").write_text(PROBE_DVC_YAML)
    (repo / "params.yaml").write_text("variant: 0\n")
    run(["git", "init", "-q", "-b", "main"], repo)
    run(["dvc", "init", "-q"], repo, extra_env={"DVC_NO_ANALYTICS": "1"})
    for key in ("core.analytics", "core.check_update"):
        run(["dvc", "config", key, "false"], repo)
    commit(repo, "probe")
    for variant in (1, 2):
        run(["dvc", "exp", "run", "--queue", "-n", f"variant-{variant}", "-S", f"variant={variant}"], repo)
    barrier = tmp_path / "barrier"
    barrier.mkdir()
    try:
        pinned = subprocess.run(["bash", str(GPU_WORKERS), "0", "1"], cwd=repo, capture_output=True, text=True, timeout=120,
                                env={**env(), "BARRIER": str(barrier)})
        assert pinned.returncode == 0, pinned.stdout + pinned.stderr
        # Each start added exactly one worker: worker 1 was already up when `-j 2` ran.
        assert pinned.stdout.count("Started '1' new experiments task queue worker.") == 2, pinned.stdout
        wait_for_queue(repo, ["variant-1", "variant-2"], 180)
    finally:
        stop_workers(repo)

    exps = experiments(json.loads(run(["dvc", "exp", "show", "--json"], repo).stdout))
    gpus = {}
    for variant in (1, 2):
        data = exps[f"variant-{variant}"]
        assert param(data, "variant") == variant
        gpus[variant] = data["metrics"]["gpu.json"]["data"]["gpu"]
    assert sorted(gpus.values()) == ["0", "1"], gpus
    # The same values are committed in each experiment's ref (what `dvc exp apply` would bring back).
    for variant, gpu in gpus.items():
        shown = run(["git", "show", f"refs/exps/{exp_ref(repo, f'variant-{variant}')}:gpu.json"], repo).stdout
        assert json.loads(shown) == {"gpu": gpu}
    assert [len(r) for r in worker_runs(repo).values()] == [1, 1]


# --- three machines, one S3 remote -----------------------------------------------------------------

TEAM_MODELS = {"cnn": {"epochs": 1}, "cnn_light": {"epochs": 1}}


def trained(model: str) -> tuple[str, ...]:
    return (f"models/{SEED}/{model}/{model}.keras", f"metrics/train/{SEED}/{model}.json", f"reports/train/{SEED}/{model}")


@pytest.mark.slow
def test_three_machines_share_one_s3_remote(tmp_path, s3_server: S3):
    s3 = s3_server
    origin = make_repo(tmp_path / "origin", **only(TEAM_MODELS))
    run(["dvc", "remote", "add", "-d", "team", f"s3://{s3.bucket}/scaleout"], origin)
    run(["dvc", "remote", "modify", "team", "endpointurl", s3.endpoint], origin)
    run(["dvc", "repro", "check"], origin)  # the project's settings checked, as every commit of it records them
    commit(origin, "the team's S3 remote")  # in dvc.lock

    machines = {}
    for name in ("a", "b", "c"):
        machines[name] = tmp_path / f"machine-{name}"
        run(["git", "clone", "-q", str(origin), str(machines[name])], tmp_path)
        assert run(["dvc", "remote", "default"], machines[name]).stdout.strip() == "team"
    a, b, c = machines["a"], machines["b"], machines["c"]

    # A trains cnn, B trains cnn_light; each shares its run with `ricecnn push` (credentials: env only).
    for repo, model in ((a, "cnn"), (b, "cnn_light")):
        ran = run(["dvc", "repro", f"train@{model}-{SEED}"], repo).stdout
        assert f"Running stage 'train@{model}-{SEED}'" in ran, ran
        if repo == a:  # a plain `dvc push --run-cache` is not enough: the run-cache's cache: false outputs stay behind,
            run(["dvc", "push", "--run-cache"], a, extra_env=s3.env)  # so a teammate's training runs again
            d = tmp_path / "machine-d"
            run(["git", "clone", "-q", str(origin), str(d)], tmp_path)
            partial = run([str(BIN / "dvc"), "repro", "--pull", f"train@cnn-{SEED}"], d, check=False,
                          extra_env={**s3.env, "PATH": path_without_ricecnn()})  # a stage that runs fails at once
            assert f"Stage 'split@{SEED}' is cached - skipping run, checking out outputs" in partial.stdout, partial.stdout
            assert partial.returncode != 0 and f"Running stage 'train@cnn-{SEED}'" in partial.stdout, partial.stdout
        pushed = run(["ricecnn", "push"], repo, extra_env=s3.env).stdout
        assert re.search(r"push: [1-9]\d* run-cache entries", pushed), pushed
    keys = s3.keys("scaleout/")
    assert any(k.startswith("scaleout/runs/") for k in keys) and any(k.startswith("scaleout/files/md5/") for k in keys)
    assert not (tmp_path / "ricecnn-dvc-remote").exists()  # nothing went to the project's default directory remote

    # C: the stages that follow training. `--pull` brings the run-cache and, for each stage found
    # there, its outputs: the trained stages come back, the feature maps are computed here.
    assert not (c / ".dvc/cache/runs").exists()
    targets = [f"featuremaps@cnn-{SEED}", f"featuremaps@cnn_light-{SEED}"]
    repro = run(["dvc", "repro", "--pull", *targets], c, extra_env=s3.env).stdout
    for stage in ("fetch", f"split@{SEED}", f"train@cnn-{SEED}", f"train@cnn_light-{SEED}"):
        assert f"Stage '{stage}' is cached - skipping run, checking out outputs" in repro, repro
        assert f"Running stage '{stage}'" not in repro, repro
    assert "Running stage 'train@" not in repro, repro
    for stage in targets:
        assert f"Running stage '{stage}'" in repro, repro
    assert digest(c, trained("cnn")) == digest(a, trained("cnn"))
    assert digest(c, trained("cnn_light")) == digest(b, trained("cnn_light"))
    assert digest(c, ("data/split",)) == digest(a, ("data/split",)) == digest(b, ("data/split",))
    assert json.loads(run(["dvc", "status", *targets, "--json"], c).stdout) == {}
