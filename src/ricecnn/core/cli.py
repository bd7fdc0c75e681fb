"""`ricecnn <stage> [args]`: one entry point for every pipeline stage.

Before a stage module is imported, ``train.backend`` of its params file becomes Keras' backend
(``select_backend``): every stage that loads Keras runs on the same backend, and none can import
Keras first with another. Stage modules are imported lazily, so `ricecnn fetch` never pays for
importing Keras.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import os
import re
import signal
import sys
import tempfile
from pathlib import Path

# Keep TensorFlow's start-up INFO lines (oneDNN notices, CPU feature flags) out of stage logs.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# What TensorFlow's C++ prints on import although TF_CPP_MIN_LOG_LEVEL asks for warnings only: absl
# writes every message logged before absl::InitializeLog() to stderr whatever its level, with a notice
# saying so (abseil/abseil-cpp#1718), so no setting can silence it (``quiet_native_start``).
NATIVE_BANNER = re.compile(r"^(WARNING: All log messages before absl::InitializeLog\(\) is called are written to STDERR"
                           r"|I\d{4} [\d:.]+ +\d+ \S+:\d+\] )")

# the stages that run Keras on TensorFlow whatever train.backend says: export (TensorFlow's LiteRT converter)
TENSORFLOW_STAGES = ("export",)

# What `ricecnn <name>` runs, found by its file, never by a table here: src/ricecnn/stages/<name>.py is a
# pipeline stage (dvc.yaml runs each), src/ricecnn/commands/<name>.py a command for people (push,
# classify). So a new stage or command touches no file of core/, which every stage depends on: adding
# one reruns nothing.
PACKAGES = ("stages", "commands")


def module_of(name: str) -> str | None:
    """The module `ricecnn <name>` runs (``ricecnn.stages.<name>`` or ``ricecnn.commands.<name>``), or None."""
    if not name.isidentifier() or name.startswith("_"):
        return None
    root = Path(__file__).resolve().parent.parent
    for package in PACKAGES:
        if (root / package / f"{name}.py").is_file():
            return f"ricecnn.{package}.{name}"
    return None


def _listed() -> dict[str, dict[str, str]]:
    """{package: {name: the first line of the module's docstring}}, read from the source (no import: a
    stage module imports Keras)."""
    import ast

    root = Path(__file__).resolve().parent.parent
    out: dict[str, dict[str, str]] = {}
    for package in PACKAGES:
        for path in sorted((root / package).glob("[!_]*.py")):
            doc = ast.get_docstring(ast.parse(path.read_text())) or ""
            first = doc.strip().splitlines()[0] if doc.strip() else ""
            out.setdefault(package, {})[path.stem] = re.sub(r"^(Stage\s+)?`?[\w@<>\- ]+`?:\s*", "", first)
    return out


def _usage() -> str:
    lines = ["usage: ricecnn <stage or command> [--help] [args...]"]
    for package, names in _listed().items():
        lines += ["", f"{package} (src/ricecnn/{package}/):"]
        lines += [f"  {name:<13} {desc if len(desc) <= 90 else desc[:89] + '…'}" for name, desc in names.items()]
    return "\n".join(lines)


def parse(argv: list[str] | None, stage: str, doc: str, *paths: str, model: bool = False, seed: bool = False,
          pictures: bool = False, patterns: tuple[str, ...] = (), optional: tuple[str, ...] = (),
          options: dict[str, type] | None = None) -> argparse.Namespace:
    """A stage's arguments: the model name if it takes one, ``--seed`` (the training seed, one of
    ``replicates``) if it works on one seed's models, ``--params``, and ``paths``, each a required
    ``--<path>`` option: every path comes from dvc.yaml's command, none has a default (an
    ``optional`` path is None when not given). A ``pattern`` is a path with ``{seed}``, ``{model}`` or
    ``{line}`` in it, for a stage that reads one file per seed or model (``fill``).

    ``pictures``: the stage draws pictures (and measures what only pictures need) for one training
    seed's models, the one dvc.yaml gives as ``--pictures-seed``; ``args.pictures`` says whether
    this run is that seed's. The one place the choice is made: dvc.yaml."""
    ap = argparse.ArgumentParser(prog=f"ricecnn {stage}", description=doc.strip().splitlines()[0])
    if model:
        ap.add_argument("model", help="a model of the registry, e.g. cnn_light")
    if seed:
        ap.add_argument("--seed", required=True, type=int,
                        help="the replicate: its training seed (initialisation, shuffling, dropout) and its data draw")
    if pictures:
        ap.add_argument("--pictures-seed", required=True, type=int,
                        help="the replicate whose models get pictures (dvc.yaml: the first of replicates)")
    ap.add_argument("--params", default="params.yaml", help="the settings (DVC's default params file)")
    for name in paths:
        ap.add_argument(f"--{name}", required=True, type=Path)
    for name in patterns:
        ap.add_argument(f"--{name}", required=True, help="a path with {seed}, {model} or {line} in it")
    for name in optional:
        ap.add_argument(f"--{name}", type=Path)
    for name, kind in (options or {}).items():  # a matrix axis of the stage (dvc.yaml), e.g. --rule apoz
        ap.add_argument(f"--{name}", required=True, type=kind)
    args = ap.parse_args(argv)
    if pictures:
        args.pictures = args.seed == args.pictures_seed
    return args


def stage_name(kind: str, model: str | int, seed: int | None = None) -> str:
    """The DVC stage of ``kind`` (train, featuremaps, prune, ...) for model ``model`` under training seed
    ``seed``: dvc.yaml's matrix names (``kind@model-seed``); without a seed the group's name
    (``kind@model``). For messages that name the stage to rerun."""
    return f"{kind}@{model}" if seed is None else f"{kind}@{model}-{seed}"


TIMING = "timing "  # what starts a timing line (tools/rehearse_paper.py reads them from the run's output)


def print_timing(stage: str, record: dict) -> None:
    """A stage's seconds and rates, printed as one line (``timing {"stage": ..., ...}``) and never written
    into its outputs: they differ on every run, so a committed file that held them would be changed by
    every `dvc repro` although no result moved, and a clean clone could not reproduce the lock."""
    import json

    print(TIMING + json.dumps({"stage": stage, **record}), flush=True)


def fill(pattern: str, **values) -> Path:
    """A path ``pattern`` of dvc.yaml (``metrics/train/{seed}/{model}.json``) for one seed and model (a key
    the pattern does not hold is left out)."""
    return Path(pattern.format(**values))


def select_backend(argv: list[str]) -> None:
    """Make ``train.backend`` of the stage's ``--params`` file Keras' backend (``env``: whatever
    $KERAS_BACKEND says). It only sets $KERAS_BACKEND, which Keras reads when it is first imported.
    A value that is not a backend is left to the stages that read ``train`` to report."""
    from . import settings
    from .errors import RiceError

    pre = argparse.ArgumentParser(add_help=False)
    pre.add_argument("--params", default="params.yaml")
    train = settings.read(pre.parse_known_args(argv)[0].params).get("train")
    backend = train.get("backend") if isinstance(train, dict) else None
    if backend not in settings.BACKENDS or backend == "env":
        return
    if "keras" in sys.modules and os.environ.get("KERAS_BACKEND", "tensorflow") != backend:
        raise RiceError(f"train.backend is {backend} but Keras was already loaded with another backend")
    os.environ["KERAS_BACKEND"] = backend


def without_unused_jax() -> None:
    """In a stage's own process on TensorFlow, mark jax absent: importing TensorFlow imports jax
    whenever it is installed (its lite converter probes for it): 1.5 s of the start-up of every stage
    of a `make repro`. On TensorFlow neither ricecnn nor Keras uses it. Only in a process
    that runs one stage and ends (``main`` without arguments): an importer that wants jax later
    would get an ImportError."""
    if os.environ.get("KERAS_BACKEND") == "tensorflow" and "jax" not in sys.modules:
        sys.modules["jax"] = None  # `import jax` now raises ImportError, which TensorFlow's probe expects


@contextlib.contextmanager
def quiet_native_start():
    """While the block runs (a stage module's import, which starts TensorFlow), what native code
    writes to stderr goes to a file; afterwards every line of it but ``NATIVE_BANNER``'s comes out.
    Warnings and errors of C++ (``W…``, ``E…``) still show, and nothing is lost if the import fails.
    Done at the file descriptor: the lines come from C++, below Python's sys.stderr."""
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as held:
        os.dup2(held.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            held.seek(0)
            lines = held.read().decode(errors="replace").splitlines(keepends=True)
            asked = os.environ.get("TF_CPP_MIN_LOG_LEVEL", "0") not in ("", "0")  # 0: the user wants them all
            kept = [ln for ln in lines if not (asked and NATIVE_BANNER.match(ln))]
            sys.stderr.write("".join(kept))
            sys.stderr.flush()


def run_stage(main, argv: list[str], stage: str, standalone: bool = False) -> int:
    """Run a stage's main(); user errors become one line on stderr and exit status 2.

    ``main``: the stage's main function, or its module's name (imported here, after the backend
    is chosen). ``standalone``: this process runs this one stage (see ``without_unused_jax``)."""
    from .errors import RiceError

    try:
        if isinstance(main, str):
            if not {"-h", "--help"} & set(argv):
                if stage in TENSORFLOW_STAGES:
                    os.environ["KERAS_BACKEND"] = "tensorflow"
                elif main.startswith("ricecnn.stages."):  # a command needs no params file (classify runs anywhere)
                    select_backend(argv)
                if standalone:
                    without_unused_jax()
                    # Ctrl-C ends the stage at once. Python would raise KeyboardInterrupt only when
                    # the main thread next returns from a TensorFlow call, which under load did not
                    # happen within a minute; every output is written atomically, so a stage killed
                    # anywhere leaves nothing half-written (tests/test_pipeline.py)
                    signal.signal(signal.SIGINT, signal.SIG_DFL)
            with quiet_native_start() if standalone else contextlib.nullcontext():
                main = importlib.import_module(main).main
        main(argv)
    except ImportError as e:
        backend = os.environ.get("KERAS_BACKEND", "tensorflow")
        if e.name not in (backend, "tensorflow", "jax", "torch"):
            raise
        print(f"ricecnn {stage}: error: Keras backend {backend!r} is not installed ({e}); set train.backend "
              "to tensorflow, jax or torch (whichever is installed)", file=sys.stderr)
        return 2
    except RiceError as e:
        print(f"ricecnn {stage}: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"ricecnn {stage}: interrupted", file=sys.stderr)
        return 130
    return 0


def main(argv: list[str] | None = None) -> int:
    standalone, argv = argv is None, sys.argv[1:] if argv is None else argv
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(_usage())
        return 0
    stage, rest = argv[0], argv[1:]
    module = module_of(stage)
    if module is None:
        import difflib

        known = [n for names in _listed().values() for n in names]
        near = difflib.get_close_matches(stage, known, n=1)
        hint = f" (did you mean {near[0]!r}?)" if near else ""
        print(f"ricecnn: error: unknown stage or command {stage!r}{hint}; known: {', '.join(known)}", file=sys.stderr)
        return 2
    return run_stage(module, rest, stage, standalone)


if __name__ == "__main__":
    sys.exit(main())
