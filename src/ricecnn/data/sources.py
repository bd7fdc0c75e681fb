"""Where the dataset comes from, written as one zip in Kaggle's layout (`Rice_Image_Dataset/<Class>/*.jpg`):
the synthetic stand-in drawn in parallel, Kaggle's download through its official client, or a local
zip or folder of class folders (stage `fetch`).
"""

from __future__ import annotations

import os
import shutil
import tempfile
import zipfile
from pathlib import Path

from tqdm import tqdm

from ..core.errors import RiceError
from . import archive, synthetic
from .parallel import ordered_map, pool
from .settings import Data

CHUNK = 64  # images per worker task: big enough to amortise IPC, small enough for a smooth bar


def make_synthetic(dest: Path, per_class: int, seed: int, size: int, offset: float = synthetic.OFFSET,
                   draws: tuple[int | None, ...] = (None,)) -> None:
    """Draw per_class images of every class, for each of ``draws`` (one per replicate: its own images;
    None: one set belonging to no replicate), into the zip ``dest``, in parallel, in a fixed order."""
    jobs = [
        (c, start, min(start + CHUNK, per_class), seed, size, offset, d)
        for d in draws
        for c in range(len(synthetic.CLASSES))
        for start in range(0, per_class, CHUNK)
    ]
    total = per_class * len(synthetic.CLASSES) * len(draws)
    with zipfile.ZipFile(dest, "w") as zf, tqdm(total=total, desc="draw", unit="img") as bar:
        with pool(len(jobs)) as workers:
            for (c, start, *_, d), blobs in zip(jobs, ordered_map(workers, synthetic.jpeg_batch, jobs)):
                name = synthetic.CLASSES[c]
                for i, data in enumerate(blobs, start):
                    archive.add(zf, f"{archive.ROOT}/{name}/{synthetic.member_name(name, i, d)}", data)
                bar.update(len(blobs))


def pack_folder(folder: Path, dest: Path) -> None:
    """Pack a folder-per-class directory into the zip ``dest`` (checked like a zip first)."""
    names = sorted(p.relative_to(folder).as_posix() + ("/" if p.is_dir() else "") for p in folder.rglob("*"))
    members = archive.scan_names(names, str(folder))
    with zipfile.ZipFile(dest, "w") as zf:
        for member, label in tqdm(members, desc="pack", unit="img"):
            archive.add(zf, f"{archive.ROOT}/{label}/{Path(member).name}", (folder / member).read_bytes())


def kaggle_credentials_present() -> bool:
    """True if the Kaggle client will find a token (we only look; values are never read or printed)."""
    if os.environ.get("KAGGLE_API_TOKEN") or (os.environ.get("KAGGLE_USERNAME") and os.environ.get("KAGGLE_KEY")):
        return True
    config_dir = Path(os.environ.get("KAGGLE_CONFIG_DIR") or Path.home() / ".kaggle")
    return (config_dir / "kaggle.json").is_file() or (config_dir / "access_token").is_file()


def _kaggle_api():
    # Imported only when credentials exist: importing `kaggle` authenticates at import time.
    from kaggle.api.kaggle_api_extended import KaggleApi

    api = KaggleApi()
    api.authenticate()
    return api


def download_kaggle(dataset: str, dest: Path, api_factory=_kaggle_api) -> None:
    """Download Kaggle's zip of ``dataset`` to ``dest`` through the official API client."""
    if not kaggle_credentials_present():
        raise RiceError(
            "no Kaggle credentials: set KAGGLE_USERNAME and KAGGLE_KEY (or KAGGLE_API_TOKEN), or put your "
            "token in ~/.kaggle/kaggle.json (kaggle.com > Settings > API > Create New Token)"
        )
    with tempfile.TemporaryDirectory(dir=dest.parent) as tmp:
        try:
            api = api_factory()
            api.dataset_download_files(dataset, path=tmp, quiet=False, unzip=False)
        except SystemExit:
            raise RiceError("Kaggle rejected the credentials: check KAGGLE_USERNAME/KAGGLE_KEY or ~/.kaggle/kaggle.json") from None
        except Exception as e:  # network errors come from several libraries (requests, urllib3, socket)
            kind = type(e).__name__
            raise RiceError(f"could not download Kaggle dataset {dataset!r} ({kind}: no network or no access?); "
                            "or download the zip yourself and set data.source: path, data.path: <zip>") from None
        zips = sorted(Path(tmp).glob("*.zip"))
        if not zips:
            raise RiceError(f"the Kaggle download of {dataset!r} produced no zip file")
        archive.scan(zips[0])
        shutil.move(zips[0], dest)


def fetch(data: Data, seed: int, dest: Path, draws: tuple[int | None, ...] = (None,)) -> None:
    """Write the dataset selected by the ``data`` section to the zip ``dest``: for the synthetic stand-in
    ``per_class`` images of every class for each of ``draws`` (one per replicate)."""
    if data.source == "synthetic":
        make_synthetic(dest, data.synthetic.per_class, seed, data.synthetic.size, data.synthetic.offset, draws)
    elif data.source == "kaggle":
        download_kaggle(data.kaggle_dataset, dest)
    else:  # path
        if not data.path:
            raise RiceError("data.source is 'path' but data.path is not set: point it at a zip or a folder of class folders")
        src = Path(data.path).expanduser()
        if not src.exists():
            raise RiceError(f"data.path {src} does not exist")
        if src.is_dir():
            pack_folder(src, dest)
        else:
            archive.scan(src)
            shutil.copyfile(src, dest)

