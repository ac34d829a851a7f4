"""Importers (registry kind "importer"), auto-detection and the dataset scan."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import tifffile
from PIL import Image

from engine.data.importers import detect_importer, parse_breakhis_name, scan, walk_files
from engine.errors import CancelledError, DataError
from engine.jobs import CancelToken
from engine.registry import create, names
from tests.test_imageio import truncate, write_png_bomb

SAMPLES = {  # sample -> (auto importer, images, classes, patients)
    "breakhis-sample": ("breakhis", 49, {"benign": 33, "malignant": 16}, 24),
    "breakhis-224-flat": ("breakhis", 78, {"benign": 30, "malignant": 48}, 13),
    "idc-sample": ("folder", 909, None, 2),
    "crc-he-sample": ("prefix", 9, {c: 1 for c in "ADI BACK DEB LYM MUC MUS NORM STR TUM".split()}, 0),
}
SCAN_MODULE = sys.modules["engine.data.importers.scan"]


@pytest.fixture(scope="module")
def catalogs(shared_data):
    """Every sample scanned once with auto-detection, with its wall time."""
    out = {}
    for sample in SAMPLES:
        start = time.perf_counter()
        catalog = scan(shared_data / sample)
        out[sample] = (catalog, time.perf_counter() - start)
    return out


def png(path: Path, value: int = 128, size: tuple[int, int] = (20, 16)) -> Path:
    """A small valid RGB PNG (at the minimum side of 16 px)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((size[1], size[0], 3), value, np.uint8)).save(path)
    return path


# --- BreaKHis names -----------------------------------------------------------
def test_parse_breakhis_original_name():
    meta = parse_breakhis_name("SOB_B_A-14-22549AB-100-001.png")
    assert meta["label"] == "benign" and meta["subtype"] == "adenosis"
    assert meta["patient"] == "22549AB" and meta["magnification"] == "100X"
    assert meta["year"] == "14" and meta["number"] == 1
    meta = parse_breakhis_name("SOB_M_PC-15-190EF-400-014.png")
    assert (meta["label"], meta["subtype"], meta["patient"], meta["magnification"]) == (
        "malignant", "papillary_carcinoma", "190EF", "400X")


def test_parse_breakhis_resized_name():
    meta = parse_breakhis_name("SOB_B_A_14-22549AB_0.png")
    assert (meta["label"], meta["subtype"], meta["patient"], meta["magnification"]) == (
        "benign", "adenosis", "22549AB", None)
    assert parse_breakhis_name("SOB_M_DC_14-12312_5.png")["subtype"] == "ductal_carcinoma"


@pytest.mark.parametrize("name", ["ADI-AAQEFMRI.tif", "14082_idx5_x1001_y1051_class0.png", "SOB_X_A-14-1-40-1.png"])
def test_parse_breakhis_rejects_other_names(name):
    assert parse_breakhis_name(name) is None


# --- registry and auto-detection ------------------------------------------------
def test_every_importer_is_registered():
    assert {"breakhis", "csv", "folder", "prefix"} <= set(names("importer"))


@pytest.mark.parametrize("name", names("importer"))
def test_importer_interface(shared_data, name):
    importer = create("importer", name)
    assert importer.name == name and importer.__doc__
    for sample in SAMPLES:
        confidence = importer.detect(shared_data / sample)
        assert 0.0 <= confidence <= 1.0
    if name != "csv":
        items = list(importer.collect(shared_data / "crc-he-sample"))
        assert len(items) == 9 and all(isinstance(p, Path) and isinstance(m, dict) for p, m in items)


@pytest.mark.parametrize("sample", sorted(SAMPLES))
def test_auto_detection_picks_expected_importer(shared_data, sample):
    assert detect_importer(shared_data / sample) == SAMPLES[sample][0]


def test_detect_importer_errors(tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        detect_importer(tmp_path / "nope")
    (tmp_path / "a.txt").write_text("x")
    with pytest.raises(DataError, match="is a file"):
        detect_importer(tmp_path / "a.txt")


# --- the shared samples -----------------------------------------------------------
@pytest.mark.parametrize("sample", sorted(SAMPLES))
def test_sample_counts(catalogs, sample):
    catalog, seconds = catalogs[sample]
    importer, count, per_class, patients = SAMPLES[sample]
    summary = catalog.summary()
    assert catalog.importer == importer and summary["images"] == count and not catalog.skipped
    if per_class:
        assert summary["per_class"] == per_class
    assert summary["patients"] == patients
    assert [r.path for r in catalog.records] == sorted(r.path for r in catalog.records)
    assert all(r.sha1 and r.width > 0 and r.height > 0 for r in catalog.records)
    assert seconds < 5.0


def test_breakhis_sample_details(catalogs):
    catalog = catalogs["breakhis-sample"][0]
    assert catalog.summary()["magnifications"] == ["100X", "200X", "400X", "40X"]
    assert len({r.subtype for r in catalog.records}) == 8
    assert {(r.width, r.height) for r in catalog.records} == {(700, 460)}
    assert catalogs["breakhis-224-flat"][0].summary()["magnifications"] == []


def test_idc_labels_and_patients(catalogs):
    catalog = catalogs["idc-sample"][0]
    assert catalog.classes == ["0", "1"] and catalog.has_patients
    assert {r.patient for r in catalog.records} == {"14082", "14306"}
    record = next(r for r in catalog.records if "/14306/1/" in r.path)
    assert (record.label, record.patient) == ("1", "14306")


def test_breakhis_importer_reports_other_files(tmp_path):
    png(tmp_path / "40X" / "SOB_B_A_14-1234_0.png")
    png(tmp_path / "40X" / "holiday.png")
    (tmp_path / "40X" / "README.txt").write_text("notes")
    catalog = scan(tmp_path, "breakhis")
    assert [(r.patient, r.magnification) for r in catalog.records] == [("1234", "40X")]
    reasons = {Path(s.path).name: s.reason for s in catalog.skipped}
    assert reasons["holiday.png"].startswith("file name does not follow the BreaKHis pattern")
    assert reasons["README.txt"] == "not an image file (.txt)"


def test_unreadable_folder_is_reported(tmp_path, monkeypatch):
    png(tmp_path / "a" / "1.png")
    png(tmp_path / "b" / "2.png")
    (tmp_path / "c").mkdir()
    real_scandir = os.scandir

    def scandir(path="."):  # chmod 000 does not stop root, so refuse "c" here
        if Path(path).name == "c":
            raise PermissionError(13, "Permission denied", str(path))
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", scandir)
    catalog = scan(tmp_path, "folder")
    assert len(catalog.records) == 2 and len(catalog.skipped) == 1
    assert catalog.skipped[0].reason == "cannot open folder: Permission denied"


def test_folder_importer_on_class_folders(shared_data):
    catalog = scan(shared_data / "breakhis-224-flat", "folder")
    assert catalog.summary()["per_class"] == {"benign": 30, "malignant": 48}
    assert not any(r.patient for r in catalog.records)


def test_folder_importer_hints(tmp_path):
    png(tmp_path / "train" / "a" / "1.png")
    png(tmp_path / "test" / "b" / "2.png")
    png(tmp_path / "wrapper" / "P7" / "40X" / "b" / "3.png")
    records = {Path(r.path).name: r for r in scan(tmp_path, "folder").records}
    assert (records["1.png"].split, records["1.png"].patient) == ("train", None)
    assert (records["2.png"].split, records["2.png"].label) == ("test", "b")
    assert (records["3.png"].patient, records["3.png"].magnification) == ("P7", "40X")


def test_folder_importer_drops_constant_container(tmp_path):
    png(tmp_path / "mydata" / "a" / "1.png")
    png(tmp_path / "mydata" / "b" / "2.png")
    assert not any(r.patient for r in scan(tmp_path, "folder").records)


# --- CSV ------------------------------------------------------------------------
@pytest.mark.parametrize("delimiter", [",", "\t", ";"])
def test_csv_importer(tmp_path, shared_data, delimiter):
    idc = sorted((shared_data / "idc-sample" / "14306" / "1").iterdir())[:2]
    png(tmp_path / "imgs" / "x.png")
    rows = [["Path", "Class", "patient", "split"], ["imgs/x.png", "tumour", "P1", "train"],
            [str(idc[0]), "idc", "14306", "test"], [str(idc[1]), "idc", "", ""],
            ["imgs/missing.png", "tumour", "P2", ""], ["imgs/x.png", "other", "", ""]]
    suffix = ".tsv" if delimiter == "\t" else ".csv"
    listing = tmp_path / f"labels{suffix}"
    listing.write_text("\n".join(delimiter.join(r) for r in rows) + "\n", encoding="utf-8")
    assert detect_importer(listing) == "csv" and detect_importer(tmp_path) == "csv"
    outside = scan(listing)  # the idc rows are absolute paths outside the list's folder
    reasons = {Path(s.path).name: s.reason for s in outside.skipped}
    assert len(outside.records) == 1 and reasons[idc[0].name].startswith("outside the list's folder")
    for root in (listing, tmp_path):
        catalog = scan(root, allow_outside=True)
        by_name = {Path(r.path).name: r for r in catalog.records}
        assert len(catalog.records) == 3
        assert (by_name["x.png"].label, by_name["x.png"].patient, by_name["x.png"].split) == ("tumour", "P1", "train")
        assert by_name[idc[0].name].split == "test" and by_name[idc[1].name].patient is None
        reasons = {Path(s.path).name: s.reason for s in catalog.skipped}
        assert reasons == {"missing.png": "listed in CSV but missing", "x.png": reasons["x.png"]}
        assert "more than once" in reasons["x.png"]


def test_csv_without_required_columns(tmp_path):
    (tmp_path / "bad.csv").write_text("name,kind\na.png,b\n")
    with pytest.raises(DataError, match="label column"):
        scan(tmp_path / "bad.csv")


# --- bad files, loops, cancel ------------------------------------------------------
def make_messy_dataset(root: Path) -> Path:
    """Two class folders with good images and every kind of bad file."""
    for i in range(3):
        png(root / "a" / f"good{i}.png", 40 * i)
        png(root / "b" / f"good{i}.png", 200 - 40 * i)
    (root / "a" / "empty.png").write_bytes(b"")
    truncate(_noisy_png(root / "a" / "trunc.png"))
    (root / "b" / "random.png").write_bytes(np.random.default_rng(0).bytes(2000))
    (root / "b" / "notes.txt").write_text("hello")
    write_png_bomb(root / "b" / "bomb.png")
    with tifffile.TiffWriter(root / "b" / "multi.tif") as tw:
        for value in (10, 90):
            tw.write(np.full((18, 20, 3), value, np.uint8), photometric="rgb")
    os.symlink(root / "a", root / "a" / "loop")
    os.symlink(root, root / "b" / "up")
    return root


def _noisy_png(path: Path) -> Path:
    Image.fromarray(np.random.default_rng(3).integers(0, 256, (200, 300, 3), dtype=np.uint8)).save(path)
    return path


def test_messy_dataset_scan(tmp_path):
    root = make_messy_dataset(tmp_path / "messy")
    start = time.perf_counter()
    catalog = scan(root, progress=(events := []).append)
    assert time.perf_counter() - start < 5.0
    assert catalog.importer == "folder"
    names_ = sorted(Path(r.path).name + f"#{r.page}" for r in catalog.records)
    assert names_ == sorted([f"good{i}.png#0" for i in range(3)] * 2 + ["multi.tif#0", "multi.tif#1"])
    reasons = {Path(s.path).name: s.reason for s in catalog.skipped}
    assert reasons["empty.png"] == "empty file (0 bytes)"
    assert reasons["trunc.png"].startswith("truncated or corrupt")
    assert reasons["random.png"].startswith("not an image")
    assert reasons["notes.txt"] == "not an image file (.txt)"
    assert "50000 x 50000" in reasons["bomb.png"] and "budget" in reasons["bomb.png"]
    assert all(e.stage == "scan" for e in events) and events[-1].step == events[-1].total == 12


def test_walk_visits_each_directory_once(tmp_path):
    root = make_messy_dataset(tmp_path / "messy")
    files = [p.relative_to(root).as_posix() for p in walk_files(root)]
    assert len(files) == len(set(files)) == 12 and not any("loop" in f or "up/" in f for f in files)


def test_one_unreadable_file_never_aborts(tmp_path, monkeypatch):
    for i in range(3):
        png(tmp_path / "a" / f"{i}.png", 10 * i)
        png(tmp_path / "b" / f"{i}.png", 100 + 10 * i)
    real = SCAN_MODULE.file_sha1

    def flaky(path, *a, **k):
        if Path(path).name == "1.png" and Path(path).parent.name == "a":
            raise PermissionError(13, "Permission denied", str(path))
        return real(path, *a, **k)

    monkeypatch.setattr(SCAN_MODULE, "file_sha1", flaky)
    catalog = scan(tmp_path, "folder")
    assert len(catalog.records) == 5
    assert len(catalog.skipped) == 1 and "Permission denied" in catalog.skipped[0].reason


def test_no_usable_images(tmp_path):
    with pytest.raises(DataError, match="No images found"):
        scan(tmp_path, "folder")
    (tmp_path / "c").mkdir()
    (tmp_path / "c" / "x.png").write_bytes(b"")
    with pytest.raises(DataError, match="No usable images") as err:
        scan(tmp_path)
    assert err.value.catalog.skipped[0].reason == "empty file (0 bytes)"


def test_cancel(tmp_path, shared_data):
    token = CancelToken()

    def progress(event):
        if event.step >= 1:
            token.cancel()

    with pytest.raises(CancelledError):
        scan(shared_data / "idc-sample", progress=progress, cancel=token)
    token = CancelToken()
    token.cancel()
    with pytest.raises(CancelledError):
        scan(shared_data / "crc-he-sample", cancel=token)


def test_catalog_roundtrip(catalogs, tmp_path):
    catalog = catalogs["crc-he-sample"][0]
    catalog.save(tmp_path / "c.json")
    from engine.data.catalog import Catalog

    assert Catalog.load(tmp_path / "c.json").to_dict() == catalog.to_dict()
