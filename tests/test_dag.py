"""The DAG cannot serve a stale result: every project source file a stage's command runs is listed
in that stage's deps (a listed directory covers its files), and nothing it does not run is.

How the code a stage runs is found: every stage command is `ricecnn <stage> ...`, the console
script `ricecnn.cli:main`, which runs the module that `cli.STAGES` names for the stage. From those
two modules the test follows import statements transitively through the package's AST, at any depth
(imports inside functions included). Why the AST and not a traced run: a run imports only what the
branches it takes reach (no Kaggle download, no fine-tuning, no data-parallel path on test data),
while a stage's deps must cover every path its code can take; the AST sees every import statement.
What it cannot see is a dynamic import (importlib): the package has one, the CLI's stage table, and
the test reads that table itself.
"""

from __future__ import annotations

import ast
import shlex
import shutil
from pathlib import Path

import pytest
import yaml
from conftest import ROOT, run

PACKAGE = "ricecnn"


def module_file(src: Path, module: str) -> Path | None:
    base = src.joinpath(*module.split("."))
    for path in (base.with_suffix(".py"), base / "__init__.py"):
        if path.is_file():
            return path
    return None


def imported_modules(src: Path, module: str) -> set[str]:
    """The package modules that ``module``'s own import statements name (not transitively)."""
    path = module_file(src, module)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[: len(parts) - node.level + 1])
                target = f"{base}.{node.module}" if node.module else base
            else:
                target = node.module
            found.add(target)
            found |= {f"{target}.{alias.name}" for alias in node.names}  # `from pkg import submodule`
    return {m for m in found if m.split(".")[0] == PACKAGE and module_file(src, m)}


def closure(src: Path, roots: list[str]) -> set[Path]:
    """Every project source file that importing ``roots`` may run, parent packages included."""
    seen: set[str] = set()
    todo = list(roots)
    while todo:
        module = todo.pop()
        parts = module.split(".")
        for i in range(1, len(parts) + 1):  # importing a.b.c runs a/__init__ and a/b/__init__ first
            parent = ".".join(parts[:i])
            if parent not in seen and module_file(src, parent):
                seen.add(parent)
                todo.extend(imported_modules(src, parent))
    return {module_file(src, m) for m in seen}


def stage_code(root: Path, cmd: str) -> set[str]:
    """The source files (relative to ``root``) that a `ricecnn <stage>` command runs."""
    import importlib

    argv = shlex.split(cmd)
    assert argv[0] == "ricecnn", f"a stage runs {argv[0]!r}: this test only knows the ricecnn CLI; extend it"
    stages = importlib.import_module(f"{PACKAGE}.cli").STAGES
    assert argv[1] in stages, f"`{cmd}` names no stage of ricecnn.cli.STAGES"
    src = root / "src"
    return {str(p.relative_to(root)) for p in closure(src, [f"{PACKAGE}.cli", stages[argv[1]][0]])}


def expanded_stages(root: Path) -> dict[str, dict]:
    """dvc.yaml's stages after `foreach` expansion, as DVC itself reads them: {name: {cmd, deps}}."""
    from dvc.dependency.param import ParamsDependency
    from dvc.repo import Repo

    with Repo(str(root)) as repo:
        return {
            stage.name: {"cmd": stage.cmd,
                               "deps": [d.def_path for d in stage.deps if not isinstance(d, ParamsDependency)]}
            for stage in repo.index.stages
        }


def covered(path: str, deps: list[str]) -> bool:
    return any(path == d or path.startswith(d.rstrip("/") + "/") for d in deps)


def dag_problems(root: Path) -> list[str]:
    """One line per source file a stage runs but does not list, and per listed source it does not run."""
    problems = []
    for name, stage in expanded_stages(root).items():
        code = stage_code(root, stage["cmd"])
        problems += [f"{name}: runs {path} but its deps do not list it" for path in sorted(code)
                     if not covered(path, stage["deps"])]
        problems += [f"{name}: lists {dep} but runs none of it" for dep in stage["deps"]
                     if dep.startswith("src/") and not any(covered(path, [dep]) for path in code)]
    return problems


def test_every_stage_lists_exactly_the_code_it_runs():
    assert dag_problems(ROOT) == []


def test_the_data_stages_run_no_model_code_and_training_no_plotting_code():
    stages = expanded_stages(ROOT)
    for name in ("fetch", "split"):
        assert not [p for p in stage_code(ROOT, stages[name]["cmd"]) if p.startswith("src/ricecnn/models/")], name
    for name in (n for n in stages if n.startswith(("train@", "fetch", "split", "flops@"))):
        assert "src/ricecnn/plots.py" not in stage_code(ROOT, stages[name]["cmd"]), name


def test_no_stage_module_imports_another():
    src = ROOT / "src"
    stage_modules = {f"{PACKAGE}.stages.{p.stem}" for p in (src / PACKAGE / "stages").glob("*.py") if p.stem != "__init__"}
    for module in sorted(stage_modules):
        assert not imported_modules(src, module) & stage_modules, module


@pytest.fixture
def project_copy(tmp_path) -> Path:
    """The pipeline's files in a scratch folder, to break on purpose."""
    for name in ("dvc.yaml", "params.yaml"):
        shutil.copy(ROOT / name, tmp_path / name)
    shutil.copytree(ROOT / ".dvc", tmp_path / ".dvc", ignore=shutil.ignore_patterns("cache", "tmp", "config.local"))
    shutil.copytree(ROOT / "src", tmp_path / "src", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    run(["git", "init", "-q"], tmp_path)  # DVC reads a repo inside git
    return tmp_path


def drop_dep(root: Path, stage: str, dep: str) -> None:
    dvc_yaml = yaml.safe_load((root / "dvc.yaml").read_text())
    deps = dvc_yaml["stages"][stage].get("do", dvc_yaml["stages"][stage])["deps"]
    deps.remove(dep)
    (root / "dvc.yaml").write_text(yaml.safe_dump(dvc_yaml, sort_keys=False))


@pytest.mark.parametrize("stage, dep, expected", [
    ("prune", "src/ricecnn/flops.py", "prune@cnn: runs src/ricecnn/flops.py but its deps do not list it"),
    ("prune", "src/ricecnn/models", "prune@vgg16: runs src/ricecnn/models/__init__.py but its deps do not list it"),
    ("split", "src/ricecnn/parallel.py", "split: runs src/ricecnn/parallel.py but its deps do not list it"),
    ("fetch", "src/ricecnn/settings.py", "fetch: runs src/ricecnn/settings.py but its deps do not list it"),
])
def test_a_dropped_dep_is_named(project_copy, stage, dep, expected):
    assert dag_problems(project_copy) == []
    drop_dep(project_copy, stage, dep)
    assert expected in dag_problems(project_copy)


def test_a_new_import_is_caught_and_a_listed_file_that_is_not_run_too(project_copy):
    split = project_copy / "src/ricecnn/stages/split.py"
    # a lazy import inside a function, as the old split's reach into stages/fetch.py was
    split.write_text(split.read_text() + "\n\ndef later():\n    from .. import plots\n")
    problems = dag_problems(project_copy)
    assert "split: runs src/ricecnn/plots.py but its deps do not list it" in problems
    dvc_yaml = yaml.safe_load((project_copy / "dvc.yaml").read_text())
    dvc_yaml["stages"]["fetch"]["deps"].append("src/ricecnn/flops.py")
    (project_copy / "dvc.yaml").write_text(yaml.safe_dump(dvc_yaml, sort_keys=False))
    assert "fetch: lists src/ricecnn/flops.py but runs none of it" in dag_problems(project_copy)
