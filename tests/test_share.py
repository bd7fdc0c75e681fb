"""Sharing results, for real: remotes (the default local directory, S3 on SeaweedFS, SSH on sshd,
each server started on 127.0.0.1 by a fixture), each round trip with the run-cache, a queued sweep
of experiments, the full-size profile, and offline plot pages. (Comparing runs with DVC's diff
commands and `dvc exp run -S`: test_pipeline.py; a teammate who trains nothing through a shared
run-cache: test_scaleout.py.)

Pipeline runs stay tiny: `fetch` + `split`, no training.
"""

from __future__ import annotations

import json
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from conftest import (
    DATA,
    ROOT,
    SEED,
    commit,
    digest,
    experiments,
    make_repo,
    only,
    param,
    queue_status,
    run,
    stop_workers,
    wait_for_queue,
)
from servers import S3, SSH

CNN_LIGHT = {"cnn_light": {"epochs": 1}}
TEMPLATE = ROOT / "dvc_plots" / "offline.html"


# --- helpers ---------------------------------------------------------------------------------------

def wipe(repo: Path, paths=DATA) -> None:
    """Forget everything DVC holds locally: the cache (run-cache included) and the outputs."""
    shutil.rmtree(repo / ".dvc" / "cache")
    for p in paths:
        p = repo / p
        shutil.rmtree(p) if p.is_dir() else p.unlink()


def files_under(path: Path) -> list[Path]:
    return [f for f in path.rglob("*") if f.is_file()] if path.is_dir() else []


def round_trip(repo: Path, remote: str | None, extra_env: dict | None = None) -> str:
    """Push everything with the run-cache, wipe cache and outputs, pull: the data comes back byte-identical."""
    r = ["-r", remote] if remote else []
    before = digest(repo)
    pushed = run(["dvc", "push", *r, "--run-cache"], repo, extra_env=extra_env).stdout
    assert json.loads(run(["dvc", "status", "--cloud", *r, "--json"], repo, extra_env=extra_env).stdout) == {}
    wipe(repo)
    assert not (repo / "data/split").exists()
    # --allow-missing: dvc.yaml also has the train@/flops@... stages, which this tiny run never ran
    run(["dvc", "pull", *r, "--run-cache", "--allow-missing"], repo, extra_env=extra_env)
    assert digest(repo) == before
    assert files_under(repo / ".dvc/cache/runs"), "the run-cache did not come back"
    assert json.loads(run(["dvc", "status", f"split@{SEED}", "--json"], repo).stdout) == {}
    return pushed


# --- the default remote ----------------------------------------------------------------------------

def test_default_remote_is_a_directory_beside_the_repo(tmp_path):
    repo = make_repo(tmp_path / "repo")  # carries the project's .dvc/config
    assert run(["dvc", "remote", "default"], repo).stdout.strip() == "local"
    url = run(["dvc", "config", "remote.local.url"], repo).stdout.strip()
    assert "://" not in url
    path = (repo / ".dvc" / url).resolve()  # relative urls in .dvc/config are relative to .dvc/
    assert path == tmp_path / "ricecnn-dvc-remote"
    assert not path.is_relative_to(repo)


@pytest.fixture(scope="module")
def split_repo(tmp_path_factory) -> Path:
    repo = make_repo(tmp_path_factory.mktemp("remotes") / "repo", **only(CNN_LIGHT))
    run(["dvc", "repro", f"split@{SEED}"], repo)
    commit(repo, "split")
    return repo


@pytest.mark.slow
def test_default_local_remote_round_trip(split_repo):
    remote = split_repo.parent / "ricecnn-dvc-remote"
    round_trip(split_repo, None)
    assert files_under(remote / "files" / "md5") and files_under(remote / "runs")


# --- S3 (SeaweedFS) --------------------------------------------------------------------------------

@pytest.mark.slow
def test_s3_round_trip(split_repo, s3_server: S3):
    s3 = s3_server
    run(["dvc", "remote", "add", "s3test", f"s3://{s3.bucket}/ricecnn"], split_repo)
    run(["dvc", "remote", "modify", "s3test", "endpointurl", s3.endpoint], split_repo)
    round_trip(split_repo, "s3test", s3.env)  # credentials only in the environment
    keys = s3.keys("ricecnn/")
    assert any(k.startswith("ricecnn/files/md5/") for k in keys), keys
    assert any(k.startswith("ricecnn/runs/") for k in keys), keys
    for name in (".dvc/config", ".dvc/config.local"):
        f = split_repo / name
        assert not f.exists() or s3.secret not in f.read_text()
    # The server checks SigV4 signatures: a wrong secret is refused.
    bad = run(["dvc", "status", "--cloud", "-r", "s3test"], split_repo, check=False,
              extra_env={**s3.env, "AWS_SECRET_ACCESS_KEY": "not-the-secret"})
    assert bad.returncode != 0, bad.stdout


# --- SSH (OpenSSH sshd) ----------------------------------------------------------------------------

@pytest.mark.slow
def test_ssh_round_trip(split_repo, ssh_server: SSH, tmp_path):
    store = tmp_path / "ssh-store"
    run(["dvc", "remote", "add", "sshtest", ssh_server.url(store)], split_repo)
    run(["dvc", "remote", "modify", "--local", "sshtest", "keyfile", str(ssh_server.keyfile)], split_repo)
    assert "keyfile" not in (split_repo / ".dvc/config").read_text()  # the key path stays out of git
    assert str(ssh_server.keyfile) in (split_repo / ".dvc/config.local").read_text()
    round_trip(split_repo, "sshtest")
    assert files_under(store / "files" / "md5") and files_under(store / "runs")
    assert "Accepted publickey for" in ssh_server.server.log.read_text()


# --- a queued sweep --------------------------------------------------------------------------------

@pytest.mark.slow
def test_exp_queue_runs_a_sweep(tmp_path):
    repo = make_repo(tmp_path / "sweep", **only(CNN_LIGHT))
    run(["dvc", "repro", f"split@{SEED}"], repo)
    commit(repo, "split")
    sweep = {"val-10": 0.1, "val-30": 0.3}
    for name, val in sweep.items():
        run(["dvc", "exp", "run", "--queue", "-n", name, "-S", f"split.val={val}", f"split@{SEED}"], repo)
    assert all(name in queue_status(repo) for name in sweep)
    try:
        # Workers are separate `dvc exp queue-worker` processes: the venv's dvc must be on their PATH
        # (conftest's env puts it first, as `make` does).
        run(["dvc", "queue", "start", "-j", "1"], repo)
        wait_for_queue(repo, sweep, 240)
    finally:
        stop_workers(repo)
    exps = experiments(json.loads(run(["dvc", "exp", "show", "--json"], repo).stdout))
    for name, val in sweep.items():
        assert param(exps[name], "split.val") == val
    assert yaml.safe_load((repo / "params.yaml").read_text())["split"]["val"] == 0.2  # the workspace kept its value


# --- the full-size study profile -------------------------------------------------------------------

def paper_command() -> list[str]:
    """What `make repro-paper` runs, as `make -n` prints it (nothing is executed)."""
    shown = run(["make", "--no-print-directory", "-n", "repro-paper"], ROOT).stdout.splitlines()
    lines = [ln for ln in shown if ln.startswith("dvc exp run ")]
    assert len(lines) == 1, shown
    return shlex.split(lines[0])


def test_paper_profile_is_every_override_of_an_existing_setting():
    profile = yaml.safe_load((ROOT / "profiles/paper.yaml").read_text())
    cmd = paper_command()
    assert cmd[:4] == ["dvc", "exp", "run", "--temp"]
    assert [cmd[i + 1] for i, a in enumerate(cmd) if a == "-S"] == profile
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    for override in profile:
        key, _ = override.split("=", 1)
        node = params
        for k in key.split("."):
            assert isinstance(node, dict) and k in node, f"profiles/paper.yaml: {key} is not in params.yaml"
            node = node[k]
    for expected in ("data.source=kaggle", "data.img_size=224", "models.vgg16.weights=imagenet",
                     "models.vgg16_light.weights=imagenet", "compare.margin=0.005"):
        assert expected in profile


def test_repro_paper_reads_a_hand_downloaded_zip_without_credentials(tmp_path):
    shown = run(["make", "--no-print-directory", "-n", "repro-paper", "PAPER_DATA=downloads/archive.zip"],
                ROOT).stdout.splitlines()
    cmd = shlex.split(next(ln for ln in shown if ln.startswith("dvc exp run ")))
    sets = [cmd[i + 1] for i, a in enumerate(cmd) if a == "-S"]
    assert sets[-2:] == ["data.source=path", f"data.path={ROOT / 'downloads/archive.zip'}"]  # after the profile's kaggle


def test_a_profile_that_is_not_a_list_of_settings_is_one_clear_line(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("data.img_size: 224\n")
    p = run([sys.executable, "tools/profile_args.py", str(bad)], ROOT, check=False)
    assert p.returncode == 1 and p.stderr.strip() == f"{bad}: expected a YAML list of key=value strings"


def paper_runner(repo: Path) -> list[str]:
    """`make repro-paper` itself, run in ``repo`` with the project's Makefile and venv, when that venv
    is up to date (so make has nothing to install); otherwise the command it would run."""
    if run(["make", "-q", "setup"], ROOT, check=False).returncode != 0:
        return paper_command()
    for name in ("Makefile", "requirements.txt", "pyproject.toml"):
        shutil.copy2(ROOT / name, repo / name)  # mtimes kept: the venv's stamp stays newer
    shutil.copytree(ROOT / "profiles", repo / "profiles")
    shutil.copytree(ROOT / "tools", repo / "tools", ignore=shutil.ignore_patterns("__pycache__"))
    (repo / ".venv").symlink_to(ROOT / ".venv")
    if run(["make", "-q", "setup"], repo, check=False).returncode != 0:
        return paper_command()
    return ["make", "--no-print-directory", "repro-paper"]


@pytest.mark.slow
def test_repro_paper_fails_fast_without_kaggle_and_changes_nothing(tmp_path):
    repo = make_repo(tmp_path / "repo")
    run(["dvc", "repro", "fetch"], repo)
    commit(repo, "fetch")
    cmd = paper_runner(repo)

    def state():
        files = [f.relative_to(repo) for f in repo.rglob("*")
                 if f.is_file() and f.relative_to(repo).parts[0] not in (".git", ".dvc", ".venv")]
        return digest(repo, files), run(["git", "status", "--porcelain"], repo).stdout

    before = state()
    assert "data/raw/dataset.zip" in before[0]
    no_kaggle = {"KAGGLE_USERNAME": "", "KAGGLE_KEY": "", "KAGGLE_API_TOKEN": "",
                 "KAGGLE_CONFIG_DIR": str(tmp_path / "no-kaggle")}
    p = run(cmd, repo, check=False, extra_env=no_kaggle)
    out = p.stdout + p.stderr
    assert p.returncode != 0, out
    assert "no Kaggle credentials" in out, out
    if cmd[0] == "make":
        assert "dvc exp run --temp -n paper -S data.source=kaggle" in out  # make echoes what it runs
    # fast: it stops at the first stage, before any other runs (no timing: a loaded machine is slow)
    assert re.findall(r"^Running stage '([^']+)'", out, re.M) == ["check", "fetch"], out  # check: params.yaml first
    assert state() == before
    assert "paper" not in run(["dvc", "exp", "list", "--name-only"], repo).stdout


# --- offline plot pages ----------------------------------------------------------------------------

def assert_offline(html: str) -> None:
    assert not re.search(r"<script[^>]*\bsrc\s*=", html), "a script is loaded from somewhere"
    assert "cdn.jsdelivr.net" not in html and "https://cdn" not in html
    for lib in ("vega@5.", "vega-lite@5.", "vega-embed@6."):
        assert f'<script data-vendored="{lib}' in html, lib
    assert "vegaEmbed('#" in html


NODE_RENDER = r"""
// node render.js page.html: run the page's inline scripts in a bare VM (no DOM, no fetch, no
// network), with vegaEmbed replaced by a headless Vega render of each spec to SVG.
const fs = require("fs"), vm = require("vm");
const html = fs.readFileSync(process.argv[2], "utf8");
const scripts = [...html.matchAll(/<script([^>]*)>([\s\S]*?)<\/script>/g)].map(m => ({attrs: m[1], code: m[2]}));
const ctx = {console, setTimeout, clearTimeout, setInterval, clearInterval, queueMicrotask, structuredClone,
             URL, URLSearchParams, TextEncoder, TextDecoder, atob, btoa, performance};
ctx.self = ctx;
vm.createContext(ctx);
const renders = [];
let embedLoaded = null;
for (const s of scripts) {
  if (/\bsrc\s*=/.test(s.attrs)) throw new Error("external script " + s.attrs);
  if (s.attrs.includes("data-vendored")) { vm.runInContext(s.code, ctx); continue; }
  if (embedLoaded === null) embedLoaded = typeof ctx.vegaEmbed;
  ctx.vegaEmbed = (el, spec) => {
    const vg = String(spec.$schema || "").includes("vega-lite") ? ctx.vegaLite.compile(spec).spec : spec;
    const view = new ctx.vega.View(ctx.vega.parse(vg), {renderer: "none"});
    renders.push(view.toSVG().then(svg => ({el, marks: (svg.match(/<(path|rect|circle|line)\b/g) || []).length})));
  };
  vm.runInContext(s.code, ctx);
}
Promise.all(renders).then(r => console.log(JSON.stringify(
  {vega: ctx.vega.version, vegaLite: ctx.vegaLite.version, embed: embedLoaded, renders: r})));
"""


def node_render(page: Path, tmp_path: Path) -> dict:
    """Render every plot of ``page`` headless with the inlined libraries (node: `make test-deps`)."""
    node = shutil.which("node")
    assert node, "node is not installed: `make test-deps` installs it"
    script = tmp_path / "render.js"
    script.write_text(NODE_RENDER)
    p = subprocess.run([node, str(script), str(page)], capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr[-3000:]
    out = json.loads(p.stdout.strip().splitlines()[-1])
    assert out["vega"].startswith("5.") and out["vegaLite"].startswith("5.") and out["embed"] == "function"
    return out


def test_offline_plot_template_renders_without_network(tmp_path):
    text = TEMPLATE.read_text()
    assert TEMPLATE.stat().st_size < 2_000_000
    assert "{plot_divs}" in text and "{scripts}" not in text  # no CDN script tags can be put in
    assert "BSD-3-Clause" in text and "University of Washington Interactive Data Lab" in text
    repo = tmp_path / "plots"
    repo.mkdir()
    (repo / "acc.csv").write_text("step,acc\n0,0.2\n1,0.55\n2,0.7\n")
    (repo / "dvc.yaml").write_text("plots:\n  - acc.csv:\n      x: step\n      y: acc\n")
    run(["dvc", "init", "-q", "--no-scm"], repo, extra_env={"DVC_NO_ANALYTICS": "1"})
    run(["dvc", "plots", "show", "--html-template", str(TEMPLATE), "-o", "out"], repo)
    page = (repo / "out" / "index.html").read_text()
    assert_offline(page)
    default = run(["dvc", "plots", "show", "-o", "cdn"], repo)  # the contrast: DVC's own page
    assert "cdn.jsdelivr.net" in (repo / "cdn" / "index.html").read_text(), default.stdout
    renders = node_render(repo / "out" / "index.html", tmp_path)
    assert [r["el"] for r in renders["renders"]] == ["#acc_csv"] and renders["renders"][0]["marks"] > 0
