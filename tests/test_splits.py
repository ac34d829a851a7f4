"""Splits (patient-grouped, stratified, k-fold, CSV) and the leakage audit."""

from __future__ import annotations

import hashlib
import io
import random
from collections import Counter
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from engine.data.audit import audit_split, hamming, phash, popcount64, split_with_audit
from engine.data.catalog import Catalog, ImageRecord
from engine.data.splits import SPLITS, Split, check_split, kfold_splits, make_split, validate_ratios
from engine.errors import ConfigError, DataError
from engine.training.config import SplitConfig

RATIOS = [[0.7, 0.15, 0.15], [0.6, 0.2, 0.2], [0.8, 0.1, 0.1], [0.5, 0.25, 0.25],
          [0.8, 0.2, 0.0], [0.85, 0.0, 0.15]]


def synthetic_catalog(n_patients: int = 30, seed: int = 0, with_patients: bool = True) -> Catalog:
    """Imbalanced 3-class catalog: one label per patient, 1-8 images each."""
    rng = random.Random(seed)
    records = []
    for p in range(n_patients):
        label = "normal" if p % 6 == 0 else "benign" if p % 3 == 0 else "malignant"
        for j in range(rng.randint(1, 8)):
            records.append(ImageRecord(path=f"/data/p{p:02d}_{j}.png", label=label,
                                       patient=f"P{p:02d}" if with_patients else None, sha1=f"{p:02d}{j}"))
    return Catalog(root="/data", importer="test", records=records)


def breakhis_like_catalog() -> Catalog:
    """24 patients, 49 images, 2 classes, one patient with 14 images (as breakhis-sample)."""
    sizes = [1] * 16 + [2, 2, 2, 2, 3, 3, 5, 14]
    records = []
    for p, n in enumerate(sizes):
        label = "malignant" if p % 3 == 0 else "benign"
        records += [ImageRecord(path=f"/b/{p}_{j}.png", label=label, patient=f"S{p}") for j in range(n)]
    return Catalog(root="/b", importer="test", records=records)


def breakhis_sample_catalog(root: Path) -> Catalog:
    """The real breakhis-sample, parsed from its folder tree."""
    records = [ImageRecord(path=str(p), label="benign" if "/benign/" in p.as_posix() else "malignant",
                           patient=p.parent.parent.name) for p in sorted(root.rglob("*.png"))]
    return Catalog(root=str(root), importer="test", records=records)


CATALOGS = {"synthetic": synthetic_catalog, "breakhis-like": breakhis_like_catalog}
EMPTY_TEST = ("The test split is empty, so no test figures can be reported (training refuses such a split unless "
              "split.allow_no_test is set).")
EMPTY_VAL = ("The val split is empty: early stopping, plateau schedules and restoring the best epoch cannot "
             "watch a validation metric in this run.")


def assert_patient_disjoint(catalog: Catalog, split: Split) -> None:
    owners = {}
    for r in catalog.records:
        owners.setdefault(r.patient, set()).add(split.assignments[r.path])
    assert all(len(s) == 1 for s in owners.values())


@pytest.mark.parametrize("ratios", RATIOS, ids=lambda r: "-".join(map(str, r)))
@pytest.mark.parametrize("name", CATALOGS)
def test_patient_split_is_disjoint_stratified_and_near_ratios(name, ratios):
    catalog = CATALOGS[name]()
    split = make_split(catalog, SplitConfig(ratios=ratios, allow_no_test=ratios[2] == 0), seed=3)
    expected = ([] if ratios[2] else [EMPTY_TEST]) + ([] if ratios[1] else [EMPTY_VAL])
    assert split.mode == "patient" and split.notes == expected
    assert set(split.assignments) == {r.path for r in catalog.records}
    assert_patient_disjoint(catalog, split)
    counts = split.counts(catalog)
    n = len(catalog.records)
    for s, ratio in zip(SPLITS, ratios):
        size = sum(counts[s].values())
        if ratio == 0:
            assert size == 0
            continue
        assert all(counts[s][c] > 0 for c in catalog.classes), (s, counts)  # every class present
        assert abs(size / n - ratio) <= (0.12 if name == "synthetic" else 0.2), (s, size, n)


def test_stratification_follows_class_mix():
    catalog = synthetic_catalog(60, seed=1)
    split = make_split(catalog, SplitConfig(), seed=0)
    overall = Counter(r.label for r in catalog.records)
    for s in SPLITS:
        part = split.counts(catalog)[s]
        total = sum(part.values())
        for c, k in part.items():
            assert abs(k / total - overall[c] / len(catalog.records)) < 0.12, (s, c)


def test_real_breakhis_sample_split(shared_data):
    catalog = breakhis_sample_catalog(shared_data / "breakhis-sample")
    assert len(catalog.records) == 49
    split = make_split(catalog, SplitConfig(), seed=0)
    assert_patient_disjoint(catalog, split)
    counts = split.counts(catalog)
    assert all(v > 0 for s in SPLITS for v in counts[s].values())


@pytest.mark.parametrize("bad", [[0.7, 0.2, 0.2], [1.2, -0.1, -0.1], [0.5, 0.5], [0.0, 0.5, 0.5], "abc"])
def test_bad_ratios_raise(bad):
    with pytest.raises(ConfigError):
        validate_ratios(bad)
    with pytest.raises(ConfigError):
        make_split(synthetic_catalog(), SplitConfig(ratios=bad), seed=0)


def test_deterministic_per_seed_and_varies_between_seeds():
    catalog = synthetic_catalog()
    a = make_split(catalog, SplitConfig(), seed=7).assignments
    assert a == make_split(catalog, SplitConfig(), seed=7).assignments
    assert any(make_split(catalog, SplitConfig(), seed=s).assignments != a for s in (8, 9))


def test_kfold_partitions_patients():
    catalog = synthetic_catalog(40, seed=2)
    folds = kfold_splits(catalog, SplitConfig(k_folds=5), seed=1)
    assert len(folds) == 5
    tests = [{r.path for r in f.records(catalog, "test")} for f in folds]
    assert sum(len(t) for t in tests) == len(catalog.records)
    assert set().union(*tests) == {r.path for r in catalog.records}
    patients = [set(f.patients(catalog)["test"]) for f in folds]
    assert all(not (patients[i] & patients[j]) for i in range(5) for j in range(i + 1, 5))
    for f in folds:
        assert_patient_disjoint(catalog, f)
        assert f.k_folds == 5 and f.records(catalog, "val")
    assert make_split(catalog, SplitConfig(k_folds=5, fold=2), seed=1).assignments == folds[2].assignments
    with pytest.raises(ConfigError):
        make_split(catalog, SplitConfig(k_folds=5, fold=5), seed=1)
    with pytest.raises(ConfigError):
        kfold_splits(synthetic_catalog(3), SplitConfig(k_folds=5), seed=1)


def test_image_mode_and_auto_fallback():
    catalog = synthetic_catalog()
    split = make_split(catalog, SplitConfig(mode="image"), seed=0)
    assert split.mode == "image"
    assert split.patients(catalog)["train"]  # patient ids are still reported
    anonymous = synthetic_catalog(with_patients=False)
    auto = make_split(anonymous, SplitConfig(), seed=0)
    assert auto.mode == "image" and "image-level" in auto.notes[0]
    assert all(v > 0 for s in SPLITS for v in auto.counts(anonymous)[s].values())
    with pytest.raises(ConfigError, match="patient id"):
        make_split(anonymous, SplitConfig(mode="patient"), seed=0)
    with pytest.raises(ConfigError):
        make_split(catalog, SplitConfig(mode="slide"), seed=0)
    with pytest.raises(DataError):
        make_split(Catalog(root="/", importer="x"), SplitConfig(), seed=0)


def test_tiny_dataset_keeps_val_and_test_non_empty_and_says_why():
    catalog = Catalog(root="/", importer="x", records=[ImageRecord(path=f"/{c}.png", label=c) for c in "ABCDEFGHI"])
    split = make_split(catalog, SplitConfig(mode="image"), seed=0)
    assert all(split.records(catalog, s) for s in SPLITS)
    assert any(n.startswith("The val split has no images of") for n in split.notes)


def test_preassigned_csv_split_is_honoured():
    catalog = synthetic_catalog()
    given = {r.path: SPLITS[i % 3] for i, r in enumerate(catalog.records)}
    for r in catalog.records:
        r.split = {"val": "validation"}.get(given[r.path], given[r.path])
    split = make_split(catalog, SplitConfig(mode="dataset"), seed=0)
    assert split.assignments == given and split.mode == "image" and split.source == "dataset"  # patients shared
    assert "own train/val/test split" in split.notes[0] and "dataset's own" in split.describe()
    # auto: patient ids are known, so a patient-level split wins over the dataset's column, and says so
    auto = make_split(catalog, SplitConfig(), seed=0)
    assert auto.assignments != given and auto.mode == "patient" and auto.source == "made"
    assert "was not used" in auto.notes[0] and "'dataset'" in auto.notes[0]
    # without patient ids auto falls back to the dataset's own split
    anonymous = synthetic_catalog(with_patients=False)
    for r in anonymous.records:
        r.split = given[r.path]
    assert make_split(anonymous, SplitConfig(), seed=0).source == "dataset"
    # train/test only: val is carved out of train, test untouched
    for r in catalog.records:
        r.split = "test" if given[r.path] == "test" else "train"
    split = make_split(catalog, SplitConfig(mode="dataset"), seed=0)
    assert {p for p, s in split.assignments.items() if s == "test"} == {p for p, s in given.items() if s == "test"}
    assert split.records(catalog, "val") and any("validation" in n for n in split.notes)
    catalog.records[0].split = "holdout"
    with pytest.raises(ConfigError, match="split column"):
        make_split(catalog, SplitConfig(mode="dataset"), seed=0)
    with pytest.raises(ConfigError, match="has none"):
        make_split(synthetic_catalog(), SplitConfig(mode="dataset"), seed=0)


def test_save_load_round_trip(tmp_path):
    catalog = synthetic_catalog()
    split = make_split(catalog, SplitConfig(k_folds=3, fold=1), seed=5)
    split.audit = {"ok": True}
    split.save(tmp_path / "split.json")
    loaded = Split.load(tmp_path / "split.json")
    assert loaded == split
    assert make_split(catalog, SplitConfig(file=str(tmp_path / "split.json")), seed=0) == split
    with pytest.raises(ConfigError):
        make_split(catalog, SplitConfig(file=str(tmp_path / "missing.json")), seed=0)
    (tmp_path / "bad.json").write_text('{"nope": 1}')
    with pytest.raises(ConfigError):
        Split.load(tmp_path / "bad.json")
    with pytest.raises(ConfigError):
        split.records(catalog, "holdout")


# --- leakage audit -------------------------------------------------------------------------------
def _pattern(seed: int) -> np.ndarray:
    """A smooth random RGB picture with distinct low-frequency structure."""
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 256, (6, 6, 3)).astype(np.float32)
    return np.clip(cv2.resize(small, (96, 96), interpolation=cv2.INTER_CUBIC), 0, 255).astype(np.uint8)


def _write(path: Path, image: np.ndarray, fmt: str = "PNG", **kw) -> str:
    buf = io.BytesIO()
    Image.fromarray(image).save(buf, format=fmt, **kw)
    path.write_bytes(buf.getvalue())
    return hashlib.sha1(buf.getvalue()).hexdigest()


@pytest.fixture
def image_catalog(tmp_path) -> Catalog:
    """12 patients x 2 distinct images, two classes, real PNG files."""
    records = []
    for p in range(12):
        for j in range(2):
            path = tmp_path / f"p{p}_{j}.png"
            sha = _write(path, _pattern(100 * p + j))
            records.append(ImageRecord(path=str(path), label="a" if p % 2 else "b", patient=f"P{p}", sha1=sha))
    return Catalog(root=str(tmp_path), importer="test", records=records)


def test_phash_basics():
    a, b = _pattern(1), _pattern(2)
    assert hamming(phash(a), phash(a)) == 0
    assert hamming(phash(a), phash(np.clip(a.astype(int) + 1, 0, 255).astype(np.uint8))) <= 2
    assert hamming(phash(a), phash(b)) > 10
    x = np.array([0, 1, 3, 2**64 - 1], dtype=np.uint64)
    assert popcount64(x).tolist() == [0, 1, 2, 64]


def test_audit_clean_patient_split(image_catalog):
    events = []
    split = split_with_audit(image_catalog, SplitConfig(), seed=0, progress=events.append)
    audit = split.audit
    assert audit["ok"] and audit["mode"] == "patient"
    assert audit["patient_overlap"] == [] and audit["near_duplicates"] == [] and audit["exact_duplicates"] == []
    assert audit["images_checked"] == 24
    assert events and events[-1].stage == "audit" and events[-1].step == events[-1].total == 24


def test_audit_finds_planted_leaks(image_catalog, tmp_path):
    records = image_catalog.records
    source = records[0]
    original = np.asarray(Image.open(source.path).convert("RGB"))
    brighter = np.clip(original.astype(int) + 1, 0, 255).astype(np.uint8)
    planted = [("bright.png", _write(tmp_path / "bright.png", brighter)),
               ("recompressed.jpg", _write(tmp_path / "recompressed.jpg", original, "JPEG", quality=85)),
               ("copy.png", _write(tmp_path / "copy.png", original))]
    for name, sha in planted:
        records.append(ImageRecord(path=str(tmp_path / name), label=source.label, patient=f"X-{name}", sha1=sha))
    # image-level split by hand: patient P1 in train and test, the copies of p0_0 in val/test
    assignments = {r.path: "train" for r in records}
    assignments[records[3].path] = "test"                        # P1's second image
    assignments[str(tmp_path / "bright.png")] = "test"
    assignments[str(tmp_path / "recompressed.jpg")] = "val"
    assignments[str(tmp_path / "copy.png")] = "val"
    split = Split(assignments=assignments, mode="image")
    audit = audit_split(image_catalog, split)
    assert not audit["ok"]
    assert audit["patient_overlap"] == [{"patient": "P1", "splits": ["train", "test"]}]
    pairs = {frozenset((d["a"], d["b"])) for d in audit["near_duplicates"]}
    assert frozenset((source.path, str(tmp_path / "bright.png"))) in pairs
    assert frozenset((source.path, str(tmp_path / "recompressed.jpg"))) in pairs
    assert all(d["distance"] <= 6 for d in audit["near_duplicates"])
    copies = sorted([source.path, str(tmp_path / "copy.png")])
    assert audit["exact_duplicates"] == [{"sha1": source.sha1, "paths": copies, "splits": ["train", "val"]}]
    assert "Possible leakage" in audit["message"]


# --- grouping, dataset splits, degenerate splits ------------------------------------------------------
def test_breakhis_sample_groups_by_case_by_default(shared_data):
    """Slides 22549AB/22549CD and 16184/16184CD are one patient each: grouped by case they never straddle."""
    from engine.data.importers import scan
    from engine.data.importers.breakhis import breakhis_case

    catalog = scan(shared_data / "breakhis-sample", "breakhis")
    cases = {breakhis_case(r.path) for r in catalog.records}
    assert len({r.patient for r in catalog.records}) == 24 and len(cases) == 22 and "A-14-22549" in cases
    straddled = 0
    for seed in range(6):
        by_case = make_split(catalog, SplitConfig(seed=seed), seed=seed)
        assert by_case.group_by == "case" and "grouped by case" in by_case.describe()
        owners: dict = {}
        for r in catalog.records:
            owners.setdefault(breakhis_case(r.path), set()).add(by_case.assignments[r.path])
        assert all(len(s) == 1 for s in owners.values()) and not any("BreaKHis case" in n for n in by_case.notes)
        by_slide = make_split(catalog, SplitConfig(group_by="slide", seed=seed))
        assert by_slide.group_by == "slide"
        assert_patient_disjoint(catalog, by_slide)  # no slide in two splits...
        straddled += any("BreaKHis case(s) have slides in more than one split" in n for n in by_slide.notes)
    assert straddled  # ...but a patient's slides can be, and the split says so


def test_auto_prefers_patient_level_over_the_datasets_folders(shared_data, tmp_path):
    import shutil

    from engine.data.importers import scan

    files = sorted((shared_data / "breakhis-sample").rglob("*.png"))
    for i, f in enumerate(files):  # an image-level train/test folder split: slides on both sides
        (tmp_path / ("test" if i % 4 == 0 else "train")).mkdir(exist_ok=True)
        shutil.copy(f, tmp_path / ("test" if i % 4 == 0 else "train") / f.name)
    catalog = scan(tmp_path, "breakhis")
    assert {r.split for r in catalog.records} == {"train", "test"}
    auto = make_split(catalog, SplitConfig())
    assert auto.source == "made" and auto.mode == "patient" and auto.group_by == "case"
    assert any("was not used" in n for n in auto.notes)
    own = make_split(catalog, SplitConfig(mode="dataset"))
    assert own.source == "dataset" and own.mode == "image"  # the folders share slides
    assert {p for p, s in own.assignments.items() if s == "test"} == {r.path for r in catalog.records
                                                                       if r.split == "test"}
    assert own.records(catalog, "val") and "dataset's own" in own.describe()
    with pytest.raises(ConfigError, match="k-fold"):
        make_split(catalog, SplitConfig(mode="dataset", k_folds=3))


def test_split_seed_comes_from_the_split_config():
    catalog = synthetic_catalog()
    seeded_config = make_split(catalog, SplitConfig(seed=4)).assignments
    assert seeded_config == make_split(catalog, SplitConfig(), seed=4).assignments
    assert make_split(catalog, SplitConfig(seed=4)).seed == 4


def test_idc_sample_two_patients_cannot_have_a_test_split(shared_data):
    from engine.data.importers import scan

    catalog = scan(shared_data / "idc-sample")
    assert len({r.patient for r in catalog.records}) == 2
    with pytest.raises(DataError, match="no test images: 2 patients are too few") as err:
        make_split(catalog, SplitConfig())
    assert "allow_no_test" in str(err.value) and "\n" not in str(err.value)
    split = make_split(catalog, SplitConfig(allow_no_test=True))
    assert not split.records(catalog, "test") and any("test split is empty" in n for n in split.notes)
    with pytest.raises(DataError, match="test ratio is 0"):
        make_split(synthetic_catalog(), SplitConfig(ratios=[0.8, 0.2, 0.0]))


def test_single_class_splits_and_folds_are_noted():
    # two patients of class "rare": it cannot be in train, val and test at once
    records = [ImageRecord(path=f"/c/{p}_{j}.png", label="rare" if p < 2 else "common", patient=f"P{p}")
               for p in range(12) for j in range(2)]
    catalog = Catalog(root="/c", importer="test", records=records)
    split = make_split(catalog, SplitConfig())
    missing = [n for n in split.notes if "has no images of 'rare'" in n]
    assert missing and all(n.split()[1] in ("val", "test") for n in missing)
    # a split (e.g. a reused split.json) whose training part holds one class
    given = Split({r.path: "train" if r.label == "common" else "test" for r in records} | {records[-1].path: "val"})
    noted = check_split(given, catalog, SplitConfig())
    assert any(n.startswith("The train split holds only the class 'common'") for n in noted.notes)
    folds = kfold_splits(catalog, SplitConfig(k_folds=3))
    assert any(any("has no images of 'rare'" in n for n in f.notes) for f in folds)  # a fold without 'rare'
