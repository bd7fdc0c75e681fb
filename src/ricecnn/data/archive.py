"""The raw dataset as one zip: `<prefix>/<Class>/<image>` (Kaggle's `Rice_Image_Dataset/...`).

`scan` reads only the zip's directory, so checking the layout is instant even at 75,000 images.
"""

from __future__ import annotations

import os
import sys
import zipfile
from collections import Counter
from pathlib import Path, PurePosixPath

from ..core.errors import RiceError

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")
ROOT = "Rice_Image_Dataset"  # the folder Kaggle's zip holds; also used when we pack one
FIXED_DATE = (1980, 1, 1, 0, 0, 0)  # zip entries carry no wall-clock time: same bytes every run


def warn(msg: str) -> None:
    print(f"ricecnn: warning: {msg}", file=sys.stderr)


def scan_names(names: list[str], where: str) -> list[tuple[str, str]]:
    """(member, class) for every image in ``names``, checking the `<prefix>/<Class>/<file>` layout.

    Non-image files are skipped with a warning; a wrong layout, an empty class or a single class
    raise RiceError.
    """
    files = [n for n in names if not n.endswith("/") and not PurePosixPath(n).name.startswith(".")]
    images = [n for n in files if PurePosixPath(n).suffix.lower() in IMAGE_SUFFIXES]
    others = [n for n in files if PurePosixPath(n).suffix.lower() not in IMAGE_SUFFIXES]
    if not images:
        raise RiceError(f"{where}: no .jpg/.jpeg/.png images found; expected <Class>/<image> folders")
    depths = Counter(len(PurePosixPath(n).parts) for n in images)
    if len(depths) > 1 or min(depths) < 2:
        raise RiceError(
            f"{where}: wrong layout: images must all sit one level inside a class folder "
            f"(<Class>/<image>, optionally under one common root such as {ROOT}/)"
        )
    parents = {str(PurePosixPath(n).parent.parent) for n in images}
    if len(parents) > 1:
        raise RiceError(f"{where}: wrong layout: class folders found under several roots ({', '.join(sorted(parents)[:3])})")
    prefix = parents.pop()
    # folders that hold no image at all (empty classes) are reported, not silently dropped
    dirs = {n.rstrip("/") if n.endswith("/") else str(PurePosixPath(n).parent) for n in names}
    class_dirs = {d for d in dirs if str(PurePosixPath(d).parent) == prefix and d != prefix}
    found = Counter(PurePosixPath(n).parent.name for n in images)
    empty = sorted(PurePosixPath(d).name for d in class_dirs if PurePosixPath(d).name not in found)
    if empty:
        raise RiceError(f"{where}: class folder {empty[0]!r} has no images; remove it or add images")
    if len(found) < 2:
        raise RiceError(f"{where}: only one class ({next(iter(found))}) found; a classifier needs at least 2 class folders")
    for n in others:
        warn(f"{where}: skipping non-image file {n}")
    return sorted((n, PurePosixPath(n).parent.name) for n in images)


def scan(zip_path: str | os.PathLike) -> list[tuple[str, str]]:
    zip_path = Path(zip_path)
    if not zip_path.exists():
        raise RiceError(f"{zip_path} not found")
    try:
        with zipfile.ZipFile(zip_path) as zf:
            names = zf.namelist()
    except zipfile.BadZipFile:
        raise RiceError(f"{zip_path} is not a valid zip file (truncated download?)") from None
    return scan_names(names, str(zip_path))


def class_counts(zip_path: str | os.PathLike) -> dict[str, int]:
    """Images per class in the zip, classes in index order (sorted names)."""
    return dict(sorted(Counter(label for _, label in scan(zip_path)).items()))


def add(zf: zipfile.ZipFile, name: str, data: bytes) -> None:
    """Add one stored (uncompressed: JPEGs don't shrink) entry with fixed metadata."""
    info = zipfile.ZipInfo(name, date_time=FIXED_DATE)
    info.external_attr = 0o644 << 16
    zf.writestr(info, data, compress_type=zipfile.ZIP_STORED)
