"""The stratified, seeded train/val/test split, decoded once into memory-mapped uint8 arrays
(stage `split`; the layout it writes: ``ricecnn.data.arrays``). Decoding runs on every core, with a
bounded number of chunks in flight (``ricecnn.data.parallel``).
"""

from __future__ import annotations

import csv
import io
import json
import time
import zipfile
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError
from tqdm import tqdm

from ..core.errors import RiceError
from .images import as_input
from . import archive, synthetic
from .arrays import SPLITS
from .parallel import ordered_map, pool

CHUNK = 128


def assign(labels: list[str], val: float, test: float, seed: int) -> np.ndarray:
    """Split name per item: per class, a seeded shuffle, then round(n*test) test, round(n*val) val."""
    rng = np.random.default_rng(seed)
    out = np.empty(len(labels), dtype=object)
    labels_arr = np.asarray(labels)
    for cls in sorted(set(labels)):
        idx = np.flatnonzero(labels_arr == cls)
        idx = idx[rng.permutation(len(idx))]
        n_test, n_val = round(len(idx) * test), round(len(idx) * val)
        if n_test == 0 or n_val == 0 or len(idx) - n_test - n_val <= 0:
            raise RiceError(
                f"class {cls!r} has {len(idx)} images: split.val={val} / split.test={test} leave a split empty; "
                "use more images per class or larger fractions"
            )
        out[idx[:n_test]] = "test"
        out[idx[n_test:n_test + n_val]] = "val"
        out[idx[n_test + n_val:]] = "train"
    return out


_zip: zipfile.ZipFile | None = None  # one open handle per worker process


def _open(zip_path: str) -> None:
    global _zip
    _zip = zipfile.ZipFile(zip_path)


def decode(member: str, size: int) -> np.ndarray:
    """One archive member as an RGB (size, size, 3) uint8 array (grayscale/RGBA converted)."""
    try:
        with Image.open(io.BytesIO(_zip.read(member))) as im:
            return as_input(im, size)
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as e:
        raise RiceError(f"corrupt or unreadable image {member} in the raw archive ({e}); remove or replace it") from None


def _decode_batch(job: tuple[list[str], int]) -> np.ndarray:
    members, size = job
    return np.stack([decode(m, size) for m in members])


def decode_all(zip_path: Path, members: list[str], size: int, out: np.ndarray, desc: str) -> None:
    """Decode ``members`` into ``out`` (a memmap) in parallel, in order."""
    jobs = [(members[i:i + CHUNK], size) for i in range(0, len(members), CHUNK)]
    with pool(len(jobs), _open, (str(zip_path),)) as workers, tqdm(total=len(members), desc=desc, unit="img") as bar:
        pos = 0
        for batch in ordered_map(workers, _decode_batch, jobs):
            out[pos:pos + len(batch)] = batch
            pos += len(batch)
            bar.update(len(batch))


def replicate_items(items: list[tuple[str, str]], replicate: int, drawn: bool) -> list[tuple[str, str]]:
    """The archive's (member, label) items that replicate ``replicate`` partitions: with ``drawn`` (the
    synthetic stand-in, whose archive holds one draw of new images per replicate) its own draw's
    images, else all of them (a real dataset: the replicate's draw is its own partition of them)."""
    if not drawn:
        return items
    own = [(m, lab) for m, lab in items if synthetic.draw_of(m) == replicate]
    if not own:
        draws = sorted({d for m, _ in items if (d := synthetic.draw_of(m)) is not None})
        raise RiceError(f"the raw archive holds no images of draw {replicate} (it holds draws {draws}): "
                        "rerun `dvc repro fetch`, which draws one set of images per replicate")
    return own


def split(zip_path: Path, out_dir: Path, img_size: int, val: float, test: float, seed: int,
          replicate: int | None = None, drawn: bool = False) -> dict:
    """Write classes.json, manifest.csv and the per-split arrays into ``out_dir``; return stats.
    ``replicate``: a replicate's split: its own images (``replicate_items``), partitioned by its own seed."""
    items = archive.scan(zip_path)
    if replicate is not None:
        items, seed = replicate_items(items, replicate, drawn), replicate
    members = [m for m, _ in items]
    labels = [lab for _, lab in items]
    classes = sorted(set(labels))
    which = assign(labels, val, test, seed)
    (out_dir / "classes.json").write_text(json.dumps(classes, indent=2) + "\n")
    rows = []
    start = time.perf_counter()
    for name in SPLITS:
        idx = np.flatnonzero(which == name)
        sel = [members[i] for i in idx]
        y = np.array([classes.index(labels[i]) for i in idx], dtype=np.int64)
        x = np.lib.format.open_memmap(out_dir / f"{name}_x.npy", mode="w+", dtype=np.uint8, shape=(len(sel), img_size, img_size, 3))
        decode_all(zip_path, sel, img_size, x, desc=f"decode {name}")
        x.flush()
        del x
        np.save(out_dir / f"{name}_y.npy", y)
        rows += [(m, labels[i], name, k) for k, (m, i) in enumerate(zip(sel, idx))]
    seconds = time.perf_counter() - start
    with open(out_dir / "manifest.csv", "w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(["file", "label", "split", "index"])
        w.writerows(rows)
    counts = {s: int((which == s).sum()) for s in SPLITS}
    per_class = {c: labels.count(c) for c in classes}
    return {"classes": len(classes), "per_class": per_class, **counts, "decode_seconds": seconds, "decode_rate": len(members) / seconds}

