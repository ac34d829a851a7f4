"""A study folder follows the run lifecycle's shape (engine.lifecycle.FolderLifecycle): one writer at a time, a
failure recorded as one line in results.json, the lock released in every case."""

from __future__ import annotations

import json
import shutil

import pytest

from engine.errors import CorruptFileError, RunLockedError, RunVanishedError
from engine.run_lock import LOCK_NAME, RunLock
from engine.studies.config import StudyConfig
from engine.studies.runner import resume_study
from tests.helpers import tiny_demo


def _study_folder(tmp_path, dataset=None, damaged: bool = True):
    """A study folder (not started); with ``damaged`` its catalog.json is damaged: resuming it fails while
    preparing."""
    folder = tmp_path / "studies" / "s"
    folder.mkdir(parents=True)
    config = StudyConfig.from_dict({"dataset": str(dataset or tmp_path / "data"), "runs_dir": str(tmp_path),
                                    "recipes": [{"name": "cnn", "preset": "s1-basic-cnn"}], "epochs": 1})
    (folder / "config.json").write_text(json.dumps(config.to_dict()))
    if damaged:
        (folder / "catalog.json").write_text("{ damaged")
    return folder


def test_a_failing_study_records_one_line_and_releases_its_lock(tmp_path):
    folder = _study_folder(tmp_path)
    with pytest.raises(CorruptFileError):
        resume_study(folder)
    results = json.loads((folder / "results.json").read_text())
    assert results["status"] == "failed" and "catalog.json" in results["error"]
    assert "\n" not in results["error"] and results["resumes"] == 1
    assert not (folder / LOCK_NAME).exists()


def test_a_study_written_by_another_job_is_refused_untouched(tmp_path):
    folder = _study_folder(tmp_path)
    holder = RunLock(folder, "test holder")
    holder.acquire()
    try:
        with pytest.raises(RunLockedError, match="'test holder'"):
            resume_study(folder)
        assert not (folder / "results.json").exists()
    finally:
        holder.release()


def test_a_study_whose_folder_is_deleted_stops_without_recreating_it(tmp_path):
    folder = _study_folder(tmp_path, tiny_demo(tmp_path, patients_per_class=2, images=1), damaged=False)

    def delete_folder(_event):
        shutil.rmtree(folder, ignore_errors=True)

    with pytest.raises(RunVanishedError, match="deleted or moved"):
        resume_study(folder, progress=delete_folder)  # deleted while the dataset is scanned
    assert not folder.exists()
