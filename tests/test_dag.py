"""The DAG cannot serve a stale result: every project source file a stage's command runs is listed
in that stage's deps (a listed directory covers its files), and nothing it does not run is.

How the code a stage runs is found: every stage command is `ricecnn <stage> ...`, the console
script `ricecnn.core.cli:main`, which runs the stage's module by its file, `ricecnn.stages.<stage>`
(src/ricecnn/stages/<stage>.py of the tree under test, not of the installed package); a stage that builds a model
(it runs `ricecnn.networks.build`) also runs the builder of the model its command names,
`ricecnn.networks.<model>`, which `build` imports by name. From those modules the test
follows import statements transitively through the package's AST, at any depth (imports inside
functions included). Why the AST and not a traced run: a run imports only what the branches it takes
reach (no Kaggle download, no fine-tuning, no data-parallel path on test data), while a stage's deps
must cover every path its code can take; the AST sees every import statement. What import statements
do not show, the test refuses in any module a stage runs: a dynamic import (importlib, __import__,
runpy, exec/eval; cli.py may have one, of the stage's module, and build.py one, of the model's
builder) and a started process (subprocess,
os.system/popen/exec*/spawn*, asyncio). A module that reads files beside it (__file__,
importlib.resources, pkgutil.get_data) needs every non-Python file of its package folder in the deps.
"""

from __future__ import annotations

import ast
import functools
import re
import shlex
import shutil
from pathlib import Path

import pytest
import yaml
from conftest import ROOT, run

PACKAGE = "ricecnn"
CLI = f"src/{PACKAGE}/core/cli.py"
BUILD = f"src/{PACKAGE}/networks/build.py"  # imports the builder of the model it builds by name
BY_NAME = {CLI, BUILD}  # the modules allowed one import by name, which the test follows itself
SPLIT = f"src/{PACKAGE}/stages/split.py"  # the stage module the tests below break
REPLICATES = yaml.safe_load((ROOT / "params.yaml").read_text())["replicates"]
SPLITS = [f"split@{r}" for r in REPLICATES]  # one split stage per replicate (its data draw)
# calls, by the name their module's imports give them, that run code no import statement names
DYNAMIC = re.compile(r"((importlib|builtins)\.)?(import_module|__import__|exec|eval)|(runpy\.)?run_(module|path)")
PROCESS = re.compile(r"subprocess\.(run|call|check_call|check_output|getoutput|getstatusoutput|Popen)"
                     r"|os\.(system|popen|exec\w*|spawn\w*|posix_spawnp?)|asyncio\.create_subprocess_(exec|shell)")
READS = ("importlib.resources", "pkgutil.get_data")  # besides __file__


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
    return {m for m in named_imports(path.read_text(), package) if m.split(".")[0] == PACKAGE and module_file(src, m)}


@functools.cache  # by source text: every stage's closure parses the same modules
def named_imports(source: str, package: str) -> frozenset[str]:
    """The modules the import statements of ``source`` (a module of ``package``) name, relative ones resolved."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
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
    return frozenset(found)


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


def stage_module(root: Path, stage: str) -> str:
    """The module `ricecnn <stage>` runs in the tree under test: ``cli.module_of``'s rule, a stage is
    the module of its file in src/ricecnn/stages/."""
    path = root / "src" / PACKAGE / "stages" / f"{stage}.py"
    assert path.is_file(), f"`ricecnn {stage}` runs no stage: {path.relative_to(root)} does not exist"
    return f"{PACKAGE}.stages.{stage}"


def stage_code(root: Path, cmd: str) -> set[str]:
    """The source files (relative to ``root``) that a `ricecnn <stage>` command runs."""
    argv = shlex.split(cmd)
    assert argv[0] == "ricecnn", f"a stage runs {argv[0]!r}: this test only knows the ricecnn CLI; extend it"
    src = root / "src"
    code = {str(p.relative_to(root)) for p in closure(src, [f"{PACKAGE}.core.cli", stage_module(root, argv[1])])}
    if BUILD in code:  # the builder of the model the command names (its first argument)
        model = argv[2] if len(argv) > 2 and not argv[2].startswith("-") else None
        assert model, f"`{cmd}` runs {BUILD} but names no model: the test cannot tell which builder it runs"
        code |= {str(p.relative_to(root)) for p in closure(src, [f"{PACKAGE}.networks.{model}"])}
    return code


def dotted(node: ast.expr, aliases: dict[str, str]) -> str | None:
    """``a.b.c`` named as the module's imports say (`import subprocess as sp`: sp.run is subprocess.run)."""
    attrs = []
    while isinstance(node, ast.Attribute):
        attrs.insert(0, node.attr)
        node = node.value
    return ".".join([aliases.get(node.id, node.id), *attrs]) if isinstance(node, ast.Name) else None


@functools.cache  # by source text: each stage's closure shares most modules
def unfollowed(source: str) -> tuple[list[tuple[int, str]], list[tuple[int, str]], str | None]:
    """What import statements do not show in one module: its dynamic imports and its process starts,
    as (line, call), and how it reads files beside it (None if it does not)."""
    nodes = list(ast.walk(ast.parse(source)))
    aliases = {}
    for node in nodes:
        if isinstance(node, ast.Import):
            aliases |= {a.asname: a.name for a in node.names if a.asname}
        elif isinstance(node, ast.ImportFrom):
            aliases |= {a.asname or a.name: f"{'.' * node.level}{node.module or ''}.{a.name}" for a in node.names}
    calls = sorted((n.lineno, dotted(n.func, aliases) or "") for n in nodes if isinstance(n, ast.Call))
    names = {dotted(n, aliases) or "" for n in nodes if isinstance(n, (ast.Name, ast.Attribute))}
    reads = next((how for how in ("__file__", *READS) if any(n == how or n.startswith(how + ".") for n in names)), None)
    return [c for c in calls if DYNAMIC.fullmatch(c[1])], [c for c in calls if PROCESS.fullmatch(c[1])], reads


def package_data(module: Path) -> set[Path]:
    """The non-Python files of a module's package folder, at any depth (no caches, no egg-info)."""
    return {p for p in module.parent.rglob("*") if p.is_file() and p.suffix != ".py" and not any(
        part == "__pycache__" or part.endswith(".egg-info") for part in p.relative_to(module.parent).parts)}


def expanded_stages(root: Path) -> dict[str, dict]:
    """dvc.yaml's stages after `foreach` expansion, as DVC itself reads them: {name: {cmd, deps, params, outs}}."""
    from dvc.dependency.param import ParamsDependency
    from dvc.repo import Repo

    with Repo(str(root)) as repo:
        return {
            stage.name: {"cmd": stage.cmd,
                         "deps": [d.def_path for d in stage.deps if not isinstance(d, ParamsDependency)],
                         "params": [k for d in stage.deps if isinstance(d, ParamsDependency) for k in d.params],
                         "outs": [o.def_path for o in stage.outs]}
            for stage in repo.index.stages
        }


def covered(path: str, deps: list[str]) -> bool:
    return any(path == d or path.startswith(d.rstrip("/") + "/") for d in deps)


def dag_problems(root: Path) -> list[str]:
    """One line per source file a stage runs but does not list, per listed source it does not run, per
    dynamic import or process start in its code, and per package file its code reads but does not list."""
    problems = []
    for name, stage in expanded_stages(root).items():
        code, deps = stage_code(root, stage["cmd"]), stage["deps"]
        used = set(code)
        for path in sorted(code):
            dynamic, processes, reads = unfollowed((root / path).read_text())
            if path in BY_NAME and len(dynamic) == 1:
                dynamic = []  # the stage module STAGES names, or the model's builder: followed by stage_code
            problems += [f"{name}: {path}:{line} {what} ({call}): the deps cannot follow it" for what, calls in
                         (("imports dynamically", dynamic), ("starts a process", processes)) for line, call in calls]
            data = {str(p.relative_to(root)) for p in package_data(root / path)} if reads else set()
            used |= data
            problems += [f"{name}: {path} reads package files through {reads} and its deps do not list {file}"
                         for file in sorted(data) if not covered(file, deps)]
        problems += [f"{name}: runs {path} but its deps do not list it" for path in sorted(code)
                     if not covered(path, deps)]
        problems += [f"{name}: lists {dep} but runs none of it" for dep in deps
                     if dep.startswith("src/") and not any(covered(path, [dep]) for path in used)]
    return problems


def test_every_stage_lists_exactly_the_code_it_runs():
    assert dag_problems(ROOT) == []


def test_the_data_stages_run_no_model_code_and_training_no_plotting_code():
    stages = expanded_stages(ROOT)
    for name in ("fetch", *SPLITS):
        assert not [p for p in stage_code(ROOT, stages[name]["cmd"]) if p.startswith("src/ricecnn/networks/")], name
    for name in (n for n in stages if n.startswith(("train@", "fetch", "split", "flops@"))):
        assert "src/ricecnn/pictures.py" not in stage_code(ROOT, stages[name]["cmd"]), name


def test_the_stages_that_only_read_models_run_no_training_and_each_stage_draws_only_its_pictures():
    # so that an edit of the training code reruns no stage that only loads and runs models, an edit of the
    # study's pages none that the study reads, and an edit of one stage's figures no other stage
    stages = expanded_stages(ROOT)
    for name, stage in stages.items():
        kind, code = name.split("@")[0], stage_code(ROOT, stage["cmd"])
        if kind in ("featuremaps", "evaluate", "export", "score_exports"):
            assert not [p for p in code if p.startswith(("src/ricecnn/training/", "src/ricecnn/study/"))], name
        for picture, drawer in (("channels/pictures.py", "featuremaps"), ("evaluation/pictures.py", "evaluate")):
            assert kind == drawer or f"src/ricecnn/{picture}" not in code, name


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


def edit_deps(root: Path, stage: str, drop: str | None = None, add: str | None = None) -> None:
    dvc_yaml = yaml.safe_load((root / "dvc.yaml").read_text())
    deps = dvc_yaml["stages"][stage].get("do", dvc_yaml["stages"][stage])["deps"]
    if drop:
        deps.remove(drop)
    deps += [add] if add else []
    (root / "dvc.yaml").write_text(yaml.safe_dump(dvc_yaml, sort_keys=False))


def add_to_split(root: Path, body: str) -> int:
    """Append ``def later(): <body>`` (a lazy use, inside a function) to split.py; return its line."""
    lines = [*(root / SPLIT).read_text().splitlines(), "", "", "def later():", f"    {body}"]
    (root / SPLIT).write_text("\n".join(lines) + "\n")
    return len(lines)


@pytest.fixture(scope="module")
def clean() -> set[str]:
    """The problems of the tree under test (none, once it is consistent): breaking a copy adds to them."""
    return set(dag_problems(ROOT))


@pytest.mark.parametrize("stage, dep, expected", [
    ("prune", "src/ricecnn/networks/flops.py", f"prune@cnn-{REPLICATES[0]}: runs src/ricecnn/networks/flops.py but its deps do not list it"),
    ("train", "src/ricecnn/networks/${item.model}.py",
     f"train@vgg16-{REPLICATES[-1]}: runs src/ricecnn/networks/vgg16.py but its deps do not list it"),
    ("split", "src/ricecnn/data/parallel.py", f"{SPLITS[0]}: runs src/ricecnn/data/parallel.py but its deps do not list it"),
    ("fetch", "src/ricecnn/core", "fetch: runs src/ricecnn/core/cli.py but its deps do not list it"),
])
def test_a_dropped_dep_is_named(project_copy, stage, dep, expected):
    # the copy starts as the tree under test, which test_every_stage_lists_exactly_the_code_it_runs finds clean
    edit_deps(project_copy, stage, drop=dep)
    assert expected in dag_problems(project_copy)


def test_a_new_import_is_caught_and_a_listed_file_that_is_not_run_too(project_copy):
    add_to_split(project_copy, "from .. import pictures")  # lazy, as the old split's reach into stages/fetch.py was
    problems = dag_problems(project_copy)
    assert f"{SPLITS[0]}: runs src/ricecnn/pictures.py but its deps do not list it" in problems
    edit_deps(project_copy, "fetch", add="src/ricecnn/networks/flops.py")
    assert "fetch: lists src/ricecnn/networks/flops.py but runs none of it" in dag_problems(project_copy)


@pytest.mark.parametrize("body, problem", [
    ("import importlib; importlib.import_module('ricecnn.pictures')", "imports dynamically (importlib.import_module)"),
    ("from importlib import import_module; import_module('ricecnn.pictures')", "imports dynamically (importlib.import_module)"),
    ("__import__('ricecnn.pictures')", "imports dynamically (__import__)"),
    ("import runpy; runpy.run_module('ricecnn.pictures')", "imports dynamically (runpy.run_module)"),
    ("import subprocess, sys; subprocess.run([sys.executable, 'tools/x.py'])", "starts a process (subprocess.run)"),
])
def test_code_that_the_deps_cannot_follow_is_refused(project_copy, clean, body, problem):
    line = add_to_split(project_copy, body)
    assert set(dag_problems(project_copy)) - clean == {f"{name}: {SPLIT}:{line} {problem}: the deps cannot follow it" for name in SPLITS}


def test_a_package_file_that_the_code_reads_must_be_listed(project_copy, clean):
    table = "src/ricecnn/stages/split_table.json"
    (project_copy / table).write_text('{"val": 0.2}\n')
    assert set(dag_problems(project_copy)) == clean  # a file no code reads need not be listed
    add_to_split(project_copy, "from pathlib import Path; return Path(__file__).with_name('split_table.json').read_text()")
    assert set(dag_problems(project_copy)) - clean == {
        f"{name}: {SPLIT} reads package files through __file__ and its deps do not list {table}" for name in SPLITS}
    edit_deps(project_copy, "split", add=table)
    assert set(dag_problems(project_copy)) == clean


@pytest.mark.parametrize("source, expected", [
    ("import subprocess as sp, importlib as il\nfrom os import system\nimport os, asyncio\nsp.Popen(['x'])\n"
     "system('x')\nos.execv('x', [])\nasyncio.create_subprocess_shell('x')\nil.__import__('x')\nexec('1')",
     ([(8, "importlib.__import__"), (9, "exec")],
      [(4, "subprocess.Popen"), (5, "os.system"), (6, "os.execv"), (7, "asyncio.create_subprocess_shell")], None)),
    ("from importlib import resources\nresources.read_text(__package__, 't')", ([], [], "importlib.resources")),
    ("import pkgutil\npkgutil.get_data(__name__, 't')", ([], [], "pkgutil.get_data")),
    ("from multiprocessing import Pool\nPool(2).map(f, [])\nmodel.eval()\nrun(['x'])", ([], [], None)),  # fine
])
def test_what_import_statements_do_not_show_is_found(source, expected):
    assert unfollowed(source) == expected


def test_the_stage_modules_are_read_from_the_tree_under_test(project_copy):
    module = project_copy / SPLIT
    module.write_text("from .fetch import main  # noqa: F401\n")
    problems = dag_problems(project_copy)
    assert f"{SPLITS[0]}: runs src/ricecnn/stages/fetch.py but its deps do not list it" in problems
    assert f"{SPLITS[0]}: lists src/ricecnn/data/splitting.py but runs none of it" in problems
    assert "src/ricecnn/data/splitting.py" in stage_code(ROOT, "ricecnn split")  # ROOT's cli.py (and the installed package) untouched
    module.unlink()
    with pytest.raises(AssertionError, match="runs no stage"):
        stage_code(project_copy, "ricecnn split")


def test_the_model_names_python_makes_are_the_files_dvc_yaml_writes():
    # a derived model's name (<m>_pruned, <m>_trim, <m>_trim_scratch) and its stage are made in
    # ricecnn.networks.registry; dvc.yaml writes the same names: every evaluated model is an out of its stage
    from ricecnn.core import settings
    from ricecnn.evaluation.plan import Plan, evaluated_for, line_for

    s = settings.load(ROOT / "params.yaml", Plan)
    stages = expanded_stages(ROOT)
    for seed in s.replicates:
        for m in evaluated_for(s):
            stage = m.stage_for(seed)
            assert stage in stages, f"{m.name}: no stage {stage} in dvc.yaml"
            assert f"models/{seed}/{m.line}/{m.name}.keras" in stages[stage]["outs"], (stage, stages[stage]["outs"])
        for line in {m.line for m in evaluated_for(s)}:  # one folder per line, and the stages that cover it
            assert f"models/{seed}/{line}" in stages[f"evaluate@{line}-{seed}"]["deps"]
            assert [m.name for m in line_for(s, line)] == [m.name for m in evaluated_for(s) if m.line == line]
    for line in s.models:
        assert f"models/{s.replicates[0]}/{line}" in stages[f"export@{line}"]["deps"]
        assert f"exports/{s.replicates[0]}/{line}" in stages[f"score_exports@{line}"]["deps"]


def test_the_stage_commands_without_dvc_are_dvc_s_own():
    # bench/gpu_study.sh runs the stages from tools/stage_commands.py on a box without DVC
    import importlib.util

    spec = importlib.util.spec_from_file_location("stage_commands", ROOT / "tools" / "stage_commands.py")
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    ours = tool.expand(yaml.safe_load((ROOT / "dvc.yaml").read_text()), yaml.safe_load((ROOT / "params.yaml").read_text()))
    dvc = {name: " ".join(shlex.split(stage["cmd"])) for name, stage in expanded_stages(ROOT).items()}
    assert [name for name, _ in ours] == list(dvc) and len(ours) > 20
    assert {name: " ".join(shlex.split(cmd)) for name, cmd in ours} == dvc
