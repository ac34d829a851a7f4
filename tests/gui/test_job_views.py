"""The Jobs tab shows a view made for each job kind (issue 13.5): training curves, SSL loss and kNN accuracy,
classification counts and rows, scan counts; bookkeeping nested; new jobs scrolled to; no full bar on failure."""

from __future__ import annotations

import os
import shutil

import pytest

from engine.jobs import Progress
from gui.jobs.kinds import CLASSIFY, GENERIC, PRETRAIN, SCAN, TRAIN
from gui.jobs_panel import JobsPanelWidget
from gui.workers import DONE, FAILED, Job, JobQueue
from tests.helpers import tiny_config, tiny_demo

pytest.importorskip("pytestqt")
SHOTS = os.environ.get("HISTODESK_SCREENSHOTS")


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return tiny_demo(tmp_path_factory.mktemp("job-views"), patients_per_class=3, images=2)


@pytest.fixture
def panel(qtbot):
    queue = JobQueue()
    widget = JobsPanelWidget(queue)
    qtbot.addWidget(widget)
    widget.resize(1100, 640)
    widget.show()
    yield widget
    queue.cancel_all_and_wait(10000)


def _run(qtbot, panel, title, fn, *args, kind, **kwargs) -> Job:
    job = panel.queue.submit(title, fn, *args, kind=kind, **kwargs)
    qtbot.waitUntil(lambda: job.state in (DONE, FAILED, "cancelled"), timeout=120000)
    panel.select_job(job)
    return job


def _shot(panel, name: str) -> None:
    if SHOTS:
        panel.grab().save(os.path.join(SHOTS, f"jobs_{name}.png"))


def test_training_job_shows_training_curves(qtbot, panel, data, tmp_path):
    from engine.training.job import train

    job = _run(qtbot, panel, "Train tiny", train, tiny_config(data, tmp_path / "runs", epochs=2), kind="train")
    assert job.state == DONE, job.error
    assert panel.current_view() is panel.views[TRAIN] and panel.curves is panel.views[TRAIN]
    assert panel.curves.curves.titles() == ["Loss", "Accuracy", "Validation AUC"]
    assert len(panel.curves.points("train_loss")) == 2 and len(panel.curves.points("val_auc")) == 2
    assert "2 epochs" in panel.curves.note.text()
    _shot(panel, "train")


def test_pretraining_job_shows_ssl_loss_and_knn_accuracy(qtbot, panel, data, tmp_path):
    from engine.ssl.job import pretrain

    config = {"method": "deepcluster", "backbone": "basic_cnn", "epochs": 2, "batch_size": 8, "seed": 0,
              "hparams": {"augment": {"rotation": 0, "shift": 0, "zoom": 0, "blur_p": 0}},
              "runs_dir": str(tmp_path / "runs"), "val_fraction": 0.2, "knn_every": 1,
              "data": {"path": str(data), "image_size": 32, "normalize": "unit"},
              "deepcluster": {"k": 4, "kmeans_device": "cpu"}}
    job = _run(qtbot, panel, "Pretrain deepcluster", pretrain, config, kind="train")  # as the SSL actions queue it
    assert job.state == DONE, job.error
    assert panel.current_view() is panel.views[PRETRAIN] and panel.curves is panel.views[PRETRAIN]
    titles = panel.curves.curves.titles()
    assert titles == ["SSL loss", "kNN accuracy (val images)"] and "Accuracy" not in titles
    assert len(panel.curves.points("train_loss")) == 2 and len(panel.curves.points("knn_acc")) == 2
    assert panel.curves.points("val_acc") == []  # the kNN figure is not shown as a classifier's accuracy
    _shot(panel, "pretrain")


def test_classification_job_shows_counts_throughput_and_latest_rows(qtbot, panel, data, tmp_path):
    from engine.evaluation.predict import predict_folder
    from engine.training.job import train

    run = train(tiny_config(data, tmp_path / "runs", epochs=1))
    folder = tmp_path / "incoming"
    folder.mkdir()
    for i, src in enumerate(sorted(data.rglob("*.png"))[:4]):
        shutil.copy(src, folder / f"img{i}.png")
    (folder / "broken.png").write_bytes(b"not an image")
    job = _run(qtbot, panel, "Classify incoming", predict_folder, str(run.path), str(folder), kind="predict",
               out=str(tmp_path / "out"))
    assert job.state == DONE, job.error
    view = panel.current_view()
    assert view is panel.views[CLASSIFY]
    assert view.facts.text("Files") == "5" and view.facts.text("Classified") == "4"
    assert view.facts.text("Unreadable") == "1" and view.facts.text("Throughput").endswith("images/s")
    rows = view.rows()
    assert len(rows) == 5 and {r[0] for r in rows} == {"img0.png", "img1.png", "img2.png", "img3.png", "broken.png"}
    assert [r[1] for r in rows if r[0] == "broken.png"] == ["unreadable"]
    latest = job.progress.metrics["latest"]  # the live rows come with the progress events
    assert latest and job.progress.metrics["classified"] == 4
    _shot(panel, "classify")


def test_scan_job_shows_files_and_a_failed_scan_no_full_bar(qtbot, panel, data, tmp_path):
    from engine.data.importers import scan

    ok = _run(qtbot, panel, "Scan data", scan, str(data), kind="scan")
    assert ok.state == DONE, ok.error
    view = panel.current_view()
    assert view is panel.views[SCAN]
    n = len(ok.result.records)
    assert view.facts.text("Images") == f"{n:,}" and view.facts.text("Files found") == f"{n:,}"
    assert view.facts.text("Skipped") == "0"
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "notes.txt").write_text("no images here")
    bad = _run(qtbot, panel, "Scan empty", scan, str(tmp_path / "empty"), kind="scan")
    assert bad.state == FAILED and bad.progress.fraction == 1.0  # the scan went through every file, then failed
    bar = panel._bars[bad.id]
    assert bar.value() < bar.maximum() and bar.text() == FAILED
    assert panel.current_view() is panel.views[SCAN] and panel.error_label.text() == bad.error
    _shot(panel, "scan_failed")


def test_failed_job_never_shows_a_full_bar(qtbot, panel):
    def finishes_then_fails(*, progress, cancel):
        progress(Progress("work", 10, 10, "all steps done"))
        raise ValueError("the last step broke")

    job = _run(qtbot, panel, "Breaks at the end", finishes_then_fails, kind="export")
    bar = panel._bars[job.id]
    assert job.state == FAILED and bar.value() == 0 and bar.text() == FAILED
    assert panel.current_view() is panel.views[GENERIC]
    assert "the last step broke" in panel.views[GENERIC].facts.text("Message")


def test_bookkeeping_nests_under_its_job_and_new_jobs_are_scrolled_to(qtbot, panel):
    def quick(*, progress, cancel):
        return 1

    tree = panel.tree
    parent = panel.queue.submit("Generate demo dataset", quick, kind="demo")
    child = panel.queue.add(Job("Split dataset", quick, kind="split", parent=parent))
    assert tree.topLevelItemCount() == 1 and tree.topLevelItem(0).child(0).text(0) == "Split dataset"
    assert child.id in panel._items and panel._items[child.id].parent() is panel._items[parent.id]
    panel.resize(900, 400)
    last = None
    for i in range(40):
        last = panel.queue.submit(f"Job {i}", quick, kind="export")
    qtbot.waitUntil(panel.queue.is_idle, timeout=30000)
    rect = tree.visualItemRect(panel._items[last.id])
    assert rect.isValid() and tree.viewport().rect().intersects(rect)  # the newest job is in view
    assert panel.selected_job() is parent  # scrolling does not steal the selection
