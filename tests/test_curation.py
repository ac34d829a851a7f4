"""Dataset curation: exclusions and relabels, read and checked with the catalog, applied by split."""

from __future__ import annotations

import os

import pytest


@pytest.fixture
def data(tmp_path):
    from tests.helpers import tiny_demo

    return tiny_demo(tmp_path, patients_per_class=2, images=1)


def _catalog(data, apply_curation: bool = True):
    from engine.training.config import DataConfig
    from engine.training.data_setup import load_catalog

    return load_catalog(DataConfig(path=str(data)), apply_curation=apply_curation)


def test_exclude_relabel_applied_in_load_catalog_and_cleared(data):
    from engine.data import curation

    before = _catalog(data)
    paths = [r.path for r in before.records]
    n = len(paths)
    gone, moved = paths[0], paths[-1]
    old_label = before.records[-1].label
    new_label = "benign" if old_label == "malignant" else "malignant"
    curation.add_exclusions(data, [gone])
    cur = curation.set_labels(data, {moved: new_label})
    assert cur == {"exclude": [gone], "relabel": {moved: new_label}}
    assert (data / ".histodesk" / "curation.json").exists()  # next to the (writable) dataset
    assert "1 excluded, 1 relabelled" in curation.curation_summary(data)
    after = _catalog(data)
    by_path = {r.path: r for r in after.records}
    assert len(after.records) == n - 1 and gone not in by_path
    assert by_path[moved].label == new_label
    assert [r.label for r in before.records if r.path == moved] == [old_label]  # the scan itself is untouched
    # for training the curation is only read (and checked): the split is made on the images as scanned
    kept = _catalog(data, apply_curation=False)
    assert [r.path for r in kept.records] == paths and kept.curation["exclude"] and kept.curation["relabel"]
    assert kept.curation["file"] == str(data / ".histodesk" / "curation.json") and len(kept.curation["sha1"]) == 40
    curation.remove_exclusions(data, [gone])
    assert len(_catalog(data).records) == n
    curation.set_labels(data, {moved: ""})
    assert curation.load_curation(data) == {"exclude": [], "relabel": {}}
    curation.add_exclusions(data, [gone])
    curation.clear(data)
    assert len(_catalog(data).records) == n and curation.curation_summary(data) == ""


def test_read_only_dataset_keeps_curation_in_home(data, monkeypatch):
    from engine.data import curation

    path = _catalog(data).records[0].path
    monkeypatch.setattr(curation.os, "access", lambda *_a, **_k: False)  # as if the dataset were read-only
    curation.add_exclusions(data, [path])
    where = curation.curation_file(data)
    assert str(where).startswith(os.environ["HISTODESK_HOME"]) and where.exists()
    assert not (data / ".histodesk").exists()
    assert path not in {r.path for r in _catalog(data).records}
