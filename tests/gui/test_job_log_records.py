"""The Jobs tab's log shows what the engine logs for a job (engine/logs.py), the lines the run's train.log gets."""

from __future__ import annotations

import logging
import os

import pytest

from engine.data.cache import map_with_progress
from engine.training.job import train
from gui.jobs_panel import JobsPanelWidget
from gui.workers import DONE, JobQueue, JobWorker

pytest.importorskip("pytestqt")


def test_worker_sends_engine_records_of_its_job_as_log_events(qtbot):
    def job(*, progress, cancel):
        logging.getLogger("engine.data.cache").warning("a damaged entry")
        map_with_progress(lambda i: logging.getLogger("engine.models.weights_io").info("helper %d", i), [1],
                          stage="cache")
        return 1

    worker = JobWorker(job)
    got = []
    worker.progress.connect(got.append)
    logging.getLogger("engine.data.cache").warning("not this job's")
    worker.run()

    def logs():
        return [e.message for e in got if e.stage == "log"]

    qtbot.waitUntil(lambda: len(logs()) >= 2, timeout=5000)  # the helper thread's event is queued
    assert logs() == ["WARNING: a damaged entry", "helper 1"]


def test_jobs_tab_log_holds_the_weights_report_train_log_holds(qtbot, tiny_config, tmp_path):
    from engine.models import create_model
    from engine.training.checkpoint import save_weights

    weights = tmp_path / "init.safetensors"
    save_weights(create_model("basic_cnn", 2, head_hidden=16, image_size=32), weights)
    tiny_config.epochs, tiny_config.model.pretrained = 1, str(weights)
    queue = JobQueue()
    panel = JobsPanelWidget(queue)
    qtbot.addWidget(panel)
    with qtbot.waitSignal(queue.job_finished, timeout=60000):
        job = queue.submit("train tiny", train, tiny_config, kind="train")
    assert job.state == DONE
    report = [line for line in job.log if line.startswith("loaded ") and str(weights) in line]
    assert len(report) == 1
    assert f"] {report[0]}\n" in job.result.file("train.log").read_text()
    panel.tree.setCurrentItem(panel.tree.topLevelItem(0))
    assert report[0] in panel.log_view.toPlainText()
    if os.environ.get("HISTODESK_SCREENSHOTS"):
        panel.resize(1000, 600)
        panel.grab().save(os.path.join(os.environ["HISTODESK_SCREENSHOTS"], "jobs_log_records.png"))
    qtbot.waitUntil(queue.is_idle, timeout=30000)
