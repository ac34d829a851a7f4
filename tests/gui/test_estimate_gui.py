"""Issue 13.2 in the GUI: the wizard's review page measures speed in a pool thread before it shows an estimate;
the Jobs training view names the stage with its own bar, and an evaluation never shows the training's ETA."""

from __future__ import annotations

import time

import pytest

pytest.importorskip("PySide6")

from engine.jobs import Progress
from tests.helpers import tiny_demo


def test_review_page_measures_before_it_estimates(qtbot, tmp_path):
    from engine.training.data_setup import load_catalog
    from engine.training.config import DataConfig
    from gui.wizard import TrainWizard

    data = tiny_demo(tmp_path)
    catalog = load_catalog(DataConfig(path=str(data)))
    w = TrainWizard(str(data), catalog=catalog)
    qtbot.addWidget(w)
    w.show()
    w.dataset_page.preset_box.combo.setCurrentText("demo")
    w.dataset_page.size_spin.setValue(32)
    while w.nextId() != w.pageIds()[-1]:
        w.next()
    started = time.monotonic()
    w.next()  # the review page: initializePage starts the measuring in a pool thread and returns
    assert w.currentPage() is w.review_page and time.monotonic() - started < 0.5
    label = w.review_page.estimate_label
    assert label.text().startswith("Measuring speed") and f"{len(catalog.records)} images" in label.text()
    qtbot.waitUntil(lambda: label.text().startswith("about"), timeout=90000)
    assert "measured on a few batches" in label.text() and "basic_cnn at 32 px" in label.text()
    w.grab().save("/tmp/h13_review.png")


def test_jobs_view_shows_each_stage_with_its_own_bar(qtbot):
    from gui.jobs.views import CurvesJobView
    from gui.jobs_panel import progress_text
    from gui.workers import RUNNING, Job

    job = Job("Train demo", print, kind="train")
    job.state, job.started_at = RUNNING, time.monotonic()
    view = CurvesJobView()
    qtbot.addWidget(view)
    for event in (Progress("train", 30, 40, "epoch 3/4 batch 10/10", eta_s=2480.0),
                  Progress("epoch", 3, 4, "epoch 3 done", eta_s=2400.0)):
        job.record(event)
        view.on_progress(job, event)
    assert view.stage.label.text() == "training: epoch 3/4 done, validated" and "40m" in view.stage.left.text()
    event = Progress("evaluate test", 4, 4, "evaluating the test set, batch 4/4")  # no estimate of its own
    job.record(event)
    view.on_progress(job, event)
    assert job.eta_s is None and progress_text(job.progress, job.eta_s) == "100%"  # never "100% - ETA 40m"
    assert view.stage.label.text() == "evaluating the test set" and view.stage.left.text() == ""
    assert view.stage.bar.value() == 1000
    event = Progress("evaluate test", 1, 4, "evaluating the test set, batch 1/4", eta_s=3.0)
    job.record(event)
    view.on_progress(job, event)
    assert view.stage.bar.value() == 250 and view.stage.left.text() == "about 3s left"
    train = Progress("train", 5, 40, "epoch 1/4 batch 5/10", eta_s=70.0)
    job.record(train)
    view.on_progress(job, train)
    assert view.stage.label.text() == "training epoch 1/4 (batch 5/10)"
