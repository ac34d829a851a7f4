"""A batch classification folder follows the run lifecycle's shape (engine.evaluation.batch_output.BatchLifecycle):
one writer at a time, never recreated once deleted, no lock left behind."""

from __future__ import annotations

import shutil

import cv2
import numpy as np
import pytest

from engine.errors import RunLockedError, RunVanishedError
from engine.evaluation.predict import predict_folder
from engine.run_lock import LOCK_NAME, RunLock
from tests.helpers import tree_digest
from tests.test_deploy_predict import fake_run


@pytest.fixture(scope="module")
def model_and_images(tmp_path_factory):
    """A fake run (random weights) and a folder of four small images."""
    root = tmp_path_factory.mktemp("batch-lifecycle")
    run = fake_run(root / "runs")
    images = root / "images"
    images.mkdir()
    rng = np.random.default_rng(0)
    for i in range(4):
        cv2.imwrite(str(images / f"img{i}.png"), rng.integers(0, 256, (40, 48, 3), dtype=np.uint8))
    return run.path, images


def test_a_batch_written_by_another_job_is_refused_untouched(model_and_images, tmp_path):
    model, images = model_and_images
    out = tmp_path / "out"
    assert predict_folder(model, images, out=out)["n_ok"] == 4
    assert not (out / LOCK_NAME).exists()
    holder = RunLock(out, "test holder")
    holder.acquire()
    try:
        before = tree_digest(out)
        with pytest.raises(RunLockedError, match="'test holder'"):
            predict_folder(model, images, out=out, resume=True)
        assert tree_digest(out) == before  # neither batch.json nor the CSV touched
    finally:
        holder.release()
    assert predict_folder(model, images, out=out, resume=True)["n_resumed"] == 4


def test_a_batch_folder_deleted_while_classifying_is_not_recreated(model_and_images, tmp_path):
    model, images = model_and_images
    out = tmp_path / "out"

    def delete_after_first_batch(event):
        if event.stage == "predict" and event.step >= 1:
            shutil.rmtree(out, ignore_errors=True)

    with pytest.raises(RunVanishedError, match="deleted or moved"):
        predict_folder(model, images, out=out, batch_size=1, progress=delete_after_first_batch)
    assert not out.exists()
