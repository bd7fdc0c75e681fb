"""Small file helpers: atomic writes so that no stage ever leaves a half-written output."""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from .errors import RiceError


def _check_writable(parent: Path) -> None:
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise RiceError(f"cannot create output directory {parent}: {e.strerror}") from None
    if not os.access(parent, os.W_OK):
        raise RiceError(f"output directory {parent} is not writable: fix its permissions")


_RENAME_EXCHANGE = 2  # linux/fs.h


def _exchange(a: Path, b: Path) -> bool:
    """Swap two directories in one atomic step (Linux renameat2 RENAME_EXCHANGE); False where the
    system cannot. Hand-written because Python's os module has no exchanging rename, and
    ``os.replace`` cannot replace a non-empty directory."""
    libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
    renameat2 = getattr(libc, "renameat2", None)
    if renameat2 is None:
        return False
    at_fdcwd = -100
    if renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), _RENAME_EXCHANGE) == 0:
        return True
    err = ctypes.get_errno()
    if err in (22, 38, 95):  # EINVAL, ENOSYS, EOPNOTSUPP: not supported by this kernel or filesystem
        return False
    raise OSError(err, os.strerror(err), str(b))


def _replace_directory(tmp: Path, path: Path) -> None:
    """Put the folder ``tmp`` at ``path`` so that a complete version is in place at every moment.

    Where the old folder exists it is swapped with the new one atomically, then deleted from its
    temporary name; a kill in between leaves the new folder in place (and the old one in a hidden
    ``.<name>.*.tmp`` sibling). Without an atomic exchange: the old folder is renamed aside first,
    so that a kill between the two renames still leaves both complete versions on disk.
    """
    if not path.exists():
        os.replace(tmp, path)
    elif _exchange(tmp, path):
        shutil.rmtree(tmp)  # now the old version
    else:
        old = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".old", dir=path.parent))
        os.replace(path, old / path.name)
        os.replace(tmp, path)
        shutil.rmtree(old)


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, *, directory: bool = False) -> Iterator[Path]:
    """Yield a temporary sibling of ``path``; on success it replaces ``path`` in one step.

    On any exception the temporary file/folder is removed and ``path`` is left untouched; while
    a folder is replaced, some complete version of it is in place at every moment.
    """
    path = Path(path)
    _check_writable(path.parent)
    if directory:
        tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent))
    else:
        fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        os.close(fd)
        tmp = Path(name)
    try:
        yield tmp
        # mkstemp/mkdtemp make owner-only entries; give the output the usual umask'd mode
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, (0o777 if directory else 0o666) & ~umask)
        if directory:
            _replace_directory(tmp, path)
        else:
            os.replace(tmp, path)
    except BaseException:
        if not tmp.exists():
            pass
        elif tmp.is_dir():
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            tmp.unlink(missing_ok=True)
        raise


def _to_jsonable(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {str(k): _to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_to_jsonable(v) for v in obj]
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return _to_jsonable(obj.tolist())
    if isinstance(obj, float):
        return float(f"{obj:.6g}")  # stable, diff-friendly metrics; 6 significant digits keep 2.4e-07
    return obj


def write_csv(frame, path: str | os.PathLike) -> None:
    """A pandas table as CSV at ``path``, atomically: no index, "\\n" line ends, floats to 6 significant
    digits (the tables summarize and criteria_report commit)."""
    with atomic_path(Path(path)) as tmp:
        frame.to_csv(tmp, index=False, lineterminator="\n", float_format="%.6g")


def write_json(path: str | os.PathLike, data: Any) -> None:
    """Write ``data`` as indented JSON atomically (floats to 6 significant digits)."""
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(_to_jsonable(data), indent=2) + "\n")


def read_json(path: str | os.PathLike) -> Any:
    path = Path(path)
    if not path.exists():
        raise RiceError(f"{path} not found: run the stage that makes it first (`dvc repro`)")
    return json.loads(path.read_text())

