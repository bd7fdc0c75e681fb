"""fetch and split: the synthetic generator, the three sources, the split arrays, bad input."""

from __future__ import annotations

import hashlib
import io
import zipfile
from pathlib import Path

import numpy as np
import pytest
from conftest import run, write_params
from PIL import Image

from ricecnn.data import archive, synthetic
from ricecnn.core.cli import main as cli
from ricecnn.core.errors import RiceError
from ricecnn.data.arrays import load_classes, load_split
from ricecnn.data import sources, splitting


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def fail_line(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert err, "expected an error line on stderr"
    assert "Traceback" not in "\n".join(err)
    return err[-1]


# --- synthetic generator ----------------------------------------------------------------------

def test_synthetic_is_byte_identical(tmp_path):
    a, b = tmp_path / "a.zip", tmp_path / "b.zip"
    sources.make_synthetic(a, per_class=3, seed=7, size=64)
    sources.make_synthetic(b, per_class=3, seed=7, size=64)
    assert sha(a) == sha(b)
    sources.make_synthetic(b, per_class=3, seed=8, size=64)
    assert sha(a) != sha(b)
    names = zipfile.ZipFile(a).namelist()
    assert names[0] == "Rice_Image_Dataset/Arborio/Arborio (1).jpg" and len(names) == 15


def test_synthetic_worker_split_does_not_change_bytes():
    whole = synthetic.jpeg_batch((2, 0, 4, 1, 80, 0.1))
    parts = synthetic.jpeg_batch((2, 0, 2, 1, 80, 0.1)) + synthetic.jpeg_batch((2, 2, 4, 1, 80, 0.1))
    assert whole == parts


def grain_size(img: np.ndarray) -> tuple[float, float]:
    """Length and width of the bright blob along its principal axes (percentile extent)."""
    ys, xs = np.nonzero(img.mean(axis=2) > 60)
    pts = np.stack([xs, ys], 1).astype(float)
    pts -= pts.mean(0)
    _, vecs = np.linalg.eigh(np.cov(pts.T))
    proj = pts @ vecs
    ext = proj.max(0) - proj.min(0)
    return float(ext[1]), float(ext[0])


@pytest.mark.parametrize("cls", synthetic.CLASSES)
def test_synthetic_morphology(cls):
    c = synthetic.CLASSES.index(cls)
    sizes = np.array([grain_size(synthetic.draw(c, i, seed=3)) for i in range(12)])
    length, width = sizes.mean(0)
    g = synthetic.GRAINS[cls]
    assert abs(length - g.length) / g.length < 0.1, (length, g.length)
    assert abs(width - g.width) / g.width < 0.15, (width, g.width)
    img = synthetic.draw(c, 0, seed=3)
    assert img.shape == (250, 250, 3) and img[:5, :5].max() < 10  # black background
    assert len(set(np.round(sizes[:, 0]))) > 3  # spread, not a stamp


@pytest.mark.parametrize("offset", [0.0, 0.048, 0.1, 0.5])
def test_synthetic_offset_bounds_the_grain_position_and_keeps_it_whole(offset):
    centres = []
    for c in range(len(synthetic.CLASSES)):
        for i in range(8):
            img = synthetic.draw(c, i, seed=5, size=250, offset=offset).mean(axis=2)
            ys, xs = np.nonzero(img > 60)
            centres.append(((xs.min() + xs.max()) / 2 - 124.5, (ys.min() + ys.max()) / 2 - 124.5))
            assert img[[0, -1], :].max() < 10 and img[:, [0, -1]].max() < 10  # nothing touches the border
    reach = np.abs(np.array(centres)).max()
    assert reach <= offset * 250 + 8  # the bounding-box centre, give or take the grain's skew and bend
    if offset >= 0.1:
        assert reach > 0.048 * 250  # beyond the old 12 px cap


# --- split ------------------------------------------------------------------------------------

def test_assign_is_stratified_and_disjoint():
    labels = ["a"] * 50 + ["b"] * 30 + ["c"] * 20
    which = splitting.assign(labels, 0.1, 0.2, seed=1)
    for cls, n in (("a", 50), ("b", 30), ("c", 20)):
        sel = which[np.array(labels) == cls]
        assert (sel == "test").sum() == round(n * 0.2) and (sel == "val").sum() == round(n * 0.1)
    assert set(which) == {"train", "val", "test"}
    assert list(which) == list(splitting.assign(labels, 0.1, 0.2, seed=1))
    assert list(which) != list(splitting.assign(labels, 0.1, 0.2, seed=2))


def test_split_arrays_and_manifest(tmp_path):
    raw = tmp_path / "raw.zip"
    sources.make_synthetic(raw, per_class=10, seed=0, size=64)
    out = tmp_path / "split"
    out.mkdir()
    stats = splitting.split(raw, out, img_size=32, val=0.2, test=0.2, seed=0)
    assert (stats["train"], stats["val"], stats["test"]) == (30, 10, 10)
    assert load_classes(out) == synthetic.CLASSES
    seen = set()
    for name, n in (("train", 30), ("val", 10), ("test", 10)):
        x, y = load_split(out, name)
        assert isinstance(x, np.memmap) and x.shape == (n, 32, 32, 3) and x.dtype == np.uint8
        assert np.bincount(y, minlength=5).tolist() == [n // 5] * 5
    lines = (out / "manifest.csv").read_text().splitlines()
    assert lines[0] == "file,label,split,index" and len(lines) == 51
    for line in lines[1:]:
        f = line.split(",")[0]
        assert f not in seen
        seen.add(f)
    # the decoded pixels are the archive's image, resized
    first = lines[1].split(",")
    x, _ = load_split(out, first[2])
    with zipfile.ZipFile(raw) as zf:
        ref = np.asarray(Image.open(io.BytesIO(zf.read(first[0]))).convert("RGB").resize((32, 32), Image.Resampling.BILINEAR))
    assert np.array_equal(x[int(first[3])], ref)


# --- sources ----------------------------------------------------------------------------------

def make_folder(root: Path, classes=("cats", "dogs", "owls"), n=4) -> Path:
    rng = np.random.default_rng(0)
    for i, cls in enumerate(classes):
        (root / cls).mkdir(parents=True)
        for k in range(n):
            if i == 1:  # grayscale PNGs of another size
                Image.fromarray(rng.integers(0, 255, (40, 30), dtype=np.uint8), "L").save(root / cls / f"{k}.png")
            else:
                Image.fromarray(rng.integers(0, 255, (50, 50, 3), dtype=np.uint8)).save(root / cls / f"{k}.jpeg")
    (root / "cats" / "notes.txt").write_text("not an image")
    return root


def test_path_source_folder_png_grayscale(tmp_path, capsys):
    folder = make_folder(tmp_path / "pets")
    params = write_params(tmp_path / "params.yaml", data={"source": "path", "path": str(folder), "img_size": 16},
                          split={"val": 0.25, "test": 0.25})
    assert cli(["fetch", "--params", str(params), "--out", str(tmp_path / "raw.zip")]) == 0
    assert "skipping non-image file cats/notes.txt" in capsys.readouterr().err
    assert cli(["split", "--replicate", "1", "--params", str(params), "--raw", str(tmp_path / "raw.zip"), "--out", str(tmp_path / "s")]) == 0
    assert load_classes(tmp_path / "s") == ["cats", "dogs", "owls"]
    x, y = load_split(tmp_path / "s", "train")
    assert x.shape == (6, 16, 16, 3) and sorted(set(y.tolist())) == [0, 1, 2]
    # the grayscale class decodes to three equal channels
    g = x[y == 1][0].astype(int)
    assert np.array_equal(g[..., 0], g[..., 1]) and np.array_equal(g[..., 0], g[..., 2])


def test_path_source_zip_is_copied(tmp_path):
    src = tmp_path / "mine.zip"
    sources.make_synthetic(src, per_class=2, seed=0, size=32)
    params = write_params(tmp_path / "params.yaml", data={"source": "path", "path": str(src)})
    assert cli(["fetch", "--params", str(params), "--out", str(tmp_path / "raw.zip")]) == 0
    assert sha(src) == sha(tmp_path / "raw.zip")


class FakeKaggle:
    """Stands in for KaggleApi: writes a tiny zip in Kaggle's layout (plus the citation file)."""

    calls: list = []

    def dataset_download_files(self, dataset, path, quiet, unzip):
        self.calls.append(dataset)
        with zipfile.ZipFile(Path(path) / "rice-image-dataset.zip", "w") as zf:
            zf.writestr("Rice_Citation_Request.txt", "cite")
            for cls in ("Arborio", "Basmati"):
                for k in range(3):
                    zf.writestr(f"Rice_Image_Dataset/{cls}/{cls} ({k + 1}).jpg", synthetic.jpeg(0, k, 0, 32))


def test_kaggle_source_with_fake_api(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("KAGGLE_USERNAME", "someone")
    monkeypatch.setenv("KAGGLE_KEY", "0123456789abcdef-secret")
    dest = tmp_path / "raw.zip"
    sources.download_kaggle("muratkokludataset/rice-image-dataset", dest, api_factory=FakeKaggle)
    assert FakeKaggle.calls == ["muratkokludataset/rice-image-dataset"]
    assert len(archive.scan(dest)) == 6
    assert "0123456789abcdef-secret" not in capsys.readouterr().err


def test_kaggle_without_credentials_is_one_line(tmp_path, monkeypatch, capsys):
    for var in ("KAGGLE_USERNAME", "KAGGLE_KEY", "KAGGLE_API_TOKEN"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("KAGGLE_CONFIG_DIR", str(tmp_path / "nowhere"))
    params = write_params(tmp_path / "params.yaml", data={"source": "kaggle"})
    out = tmp_path / "raw" / "dataset.zip"
    assert cli(["fetch", "--params", str(params), "--out", str(out)]) == 2
    line = fail_line(capsys)
    assert "no Kaggle credentials" in line and "KAGGLE_KEY" in line
    assert not out.exists() and not list((tmp_path / "raw").iterdir())


# --- bad input: one line, exit 2, nothing left behind --------------------------------------------

def zip_of(path: Path, entries: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in entries.items():
            zf.writestr(name, data)
    return path


GOOD = synthetic.jpeg(0, 0, 0, 32)
FOUR = {f"R/{c}/{k}.jpg": GOOD for c in "ab" for k in range(4)}  # 2 classes x 4: 2/1/1 at 0.25/0.25


@pytest.mark.parametrize(
    "entries, message",
    [
        ({**FOUR, "R/b/2.jpg": b"\xff\xd8 not a jpeg"}, "corrupt or unreadable image R/b/2.jpg"),
        ({**FOUR, "R/b/2.jpg": GOOD[: len(GOOD) // 3]}, "corrupt or unreadable image R/b/2.jpg"),
        ({"R/a/1.jpg": GOOD, "R/a/2.jpg": GOOD}, "only one class"),
        ({"R/a/1.jpg": GOOD, "R/b/": b""}, "class folder 'b' has no images"),
        ({"1.jpg": GOOD, "2.jpg": GOOD}, "wrong layout"),
        ({"R/a/1.jpg": GOOD, "S/b/1.jpg": GOOD}, "wrong layout"),
        ({"R/a/1.jpg": GOOD, "R/b/x/1.jpg": GOOD}, "wrong layout"),
    ],
)
def test_bad_archives(tmp_path, capsys, entries, message):
    src = zip_of(tmp_path / "in.zip", entries)
    params = write_params(tmp_path / "params.yaml", data={"source": "path", "path": str(src)}, split={"val": 0.25, "test": 0.25})
    out = tmp_path / "out"
    rc = cli(["fetch", "--params", str(params), "--out", str(out / "raw.zip")])
    if rc == 0:  # layout fine: the image itself is bad, found when decoding
        rc = cli(["split", "--replicate", "1", "--params", str(params), "--raw", str(out / "raw.zip"), "--out", str(out / "split")])
        assert not (out / "split").exists()
    assert rc == 2
    assert message in fail_line(capsys)
    assert out.is_dir() and not [p for p in out.iterdir() if p.name.endswith(".tmp")]  # fetch ran: nothing half-written


# Each stage validates the sections it reads (their schemas live with their code), before any work;
# a misspelt section is refused by every stage (core/settings.py's SECTIONS).
SPLIT = ["split", "--replicate", "1", "--raw", "no-raw.zip", "--out", "split"]
TRAIN = ["train", "cnn", "--seed", "1", "--split-dir", "no-split", "--out", "m.keras", "--metrics", "m.json", "--live-dir", "live"]


@pytest.mark.parametrize(
    "over, command, message",
    [
        ({"data": {"source": "path", "path": "/no/such/place"}}, None, "data.path /no/such/place does not exist"),
        ({"data": {"source": "path", "path": None}}, None, "data.path is not set"),
        ({"data": {"source": "flickr"}}, None, "data.source = 'flickr' must be 'synthetic', 'kaggle' or 'path'"),
        ({"data": {"img_sise": 32}}, None, "unknown key data.img_sise (did you mean 'img_size'?)"),
        ({"split": {"val": 0.5, "test": 0.5}}, SPLIT, "split.val + split.test must be < 1"),
        ({"data": {"synthetic": {"per_class": -3}}}, None, "data.synthetic.per_class = -3 must be greater than or equal to 1"),
        ({"data": {"img_size": "64"}}, TRAIN, "data.img_size = '64' must be a valid integer"),
        ({"trian": {}}, None, "unknown key trian (did you mean 'train'?)"),
        ({"trian": {}}, TRAIN, "unknown key trian (did you mean 'train'?)"),
        ({"train": {"devices": 0}}, TRAIN, "train.devices = 0 must be all or a device count >= 1"),
        ({"replicates": [1, 102]}, SPLIT, "replicates [102] were the pilot's (pilot.replicates): a confirmation runs only "
                                          "on data draws and training seeds the pilot never saw"),
        ({"pilot": {"running": True}}, SPLIT, "pilot.running is true but replicates [1] are not pilot.replicates"),
    ],
)
def test_bad_settings(tmp_path, capsys, monkeypatch, over, command, message):
    params = write_params(tmp_path / "params.yaml", **over)
    monkeypatch.chdir(tmp_path)
    command = command or ["fetch", "--out", "raw.zip"]
    assert cli([*command, "--params", str(params)]) == 2
    assert message in fail_line(capsys)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["params.yaml"]  # nothing written


def test_a_stage_does_not_validate_what_it_does_not_read(tmp_path, capsys):
    # fetch reads seed and data: a mistake in train is the train stage's to report, not fetch's
    params = write_params(tmp_path / "params.yaml", train={"devices": 0}, data={"synthetic": {"per_class": 2, "size": 32}})
    assert cli(["fetch", "--params", str(params), "--out", str(tmp_path / "raw.zip")]) == 0


def test_split_fraction_that_empties_a_split(tmp_path, capsys):
    params = write_params(tmp_path / "params.yaml", data={"synthetic": {"per_class": 4, "size": 32}}, split={"val": 0.1, "test": 0.1})
    assert cli(["fetch", "--params", str(params), "--out", str(tmp_path / "raw.zip")]) == 0
    assert cli(["split", "--replicate", "1", "--params", str(params), "--raw", str(tmp_path / "raw.zip"), "--out", str(tmp_path / "s")]) == 2
    assert "leave a split empty" in fail_line(capsys)
    assert not (tmp_path / "s").exists()


def test_unknown_stage_is_one_line(capsys):
    assert cli(["fecth"]) == 2
    assert "did you mean 'fetch'" in fail_line(capsys)


# --- end to end -------------------------------------------------------------------------------

def test_each_replicate_is_its_own_data_draw(tmp_path):
    # the stand-in: each replicate's split holds its own newly drawn images, none of another replicate's;
    # a real dataset (no draws in its names): each replicate partitions the same images by its own seed
    raw = tmp_path / "raw.zip"
    sources.make_synthetic(raw, per_class=10, seed=0, size=32, draws=(7, 8))
    pixels, files = {}, {}
    for r in (7, 8):
        out = tmp_path / str(r)
        out.mkdir()
        splitting.split(raw, out, img_size=16, val=0.2, test=0.2, seed=0, replicate=r, drawn=True)
        files[r] = {line.split(",")[0] for line in (out / "manifest.csv").read_text().splitlines()[1:]}
        pixels[r] = {load_split(out, part)[0][i].tobytes() for part in ("train", "val", "test")
                     for i in range(len(load_split(out, part)[1]))}
        assert len(files[r]) == 50 and all(synthetic.draw_of(f) == r for f in files[r])
    assert not files[7] & files[8] and not pixels[7] & pixels[8]
    with pytest.raises(RiceError, match="holds no images of draw 9"):
        splitting.split(raw, tmp_path, img_size=16, val=0.2, test=0.2, seed=0, replicate=9, drawn=True)
    tests = {}
    for r in (7, 8):
        out = tmp_path / f"all{r}"
        out.mkdir()
        splitting.split(raw, out, img_size=16, val=0.2, test=0.2, seed=0, replicate=r, drawn=False)
        tests[r] = {line.split(",")[0] for line in (out / "manifest.csv").read_text().splitlines()[1:] if ",test," in line}
        assert len(tests[r]) == 20
    assert tests[7] != tests[8]


@pytest.mark.slow
def test_dvc_repro_split_then_nothing(tiny_repo):
    out = run(["dvc", "repro", "split@1"], tiny_repo).stdout
    assert "Running stage 'fetch'" in out and "Running stage 'split@1'" in out
    x, _ = load_split(tiny_repo / "data" / "split" / "1", "train")
    assert x.shape == (30, 32, 32, 3)
    again = run(["dvc", "repro", "split@1"], tiny_repo).stdout
    assert "Running stage" not in again
    status = run(["dvc", "status", "fetch", "split@1"], tiny_repo).stdout
    assert "up to date" in status.lower() or status.strip() == ""
