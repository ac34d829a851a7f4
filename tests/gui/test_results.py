"""Runs list, run results and comparison views on two real tiny runs."""

from __future__ import annotations

import os

import pytest

pytest.importorskip("PySide6")
pytest.importorskip("pyqtgraph")

from engine.runs import Run

GRAB_DIR = os.environ.get("HISTODESK_GRAB_DIR", "/tmp")


def _grab(widget, name: str) -> None:
    widget.grab().save(os.path.join(GRAB_DIR, name))


def test_runs_list_shows_and_filters(qtbot, two_runs):
    from gui.results import RunsListWidget

    runs_dir, runs = two_runs
    w = RunsListWidget()
    qtbot.addWidget(w)
    w.refresh(runs_dir)
    assert sorted(w.visible_run_ids()) == sorted(r.id for r in runs)
    assert w.table.item(0, 1).text() == "completed"
    w.filter_edit.setText("simple")
    assert w.visible_run_ids() == [runs[1].id]
    w.filter_edit.setText("")
    w.status_combo.setCurrentText("failed")
    assert w.visible_run_ids() == []
    w.status_combo.setCurrentText("all")
    with qtbot.waitSignal(w.run_selected) as sig:
        w.select_run(runs[0].path)
    assert sig.args[0].id == runs[0].id
    w.table.selectAll()
    assert {r.id for r in w.selected_runs()} == {r.id for r in runs}
    w.resize(1000, 260)
    _grab(w, "histodesk_runs_list.png")


def test_runs_list_picks_up_new_cli_run(qtbot, two_runs, tmp_path):
    from gui.results import RunsListWidget

    runs_dir, runs = two_runs
    w = RunsListWidget()
    qtbot.addWidget(w)
    w.refresh(tmp_path)
    assert w.visible_run_ids() == []
    fake = Run.create("from-cli", tmp_path)
    fake.write("config.json", {"model": {"name": "resnet18"}})
    fake.update_summary(status="failed", error="boom")
    w.refresh()
    assert w.visible_run_ids() == [fake.id]
    assert w.table.item(0, 1).text() == "failed"


def test_runs_list_marks_interrupted_and_unreadable_runs(qtbot, tmp_path):
    """A run whose summary says running but whose process died (no live lock) shows as interrupted."""
    import json

    from gui.results import RunsListWidget
    from gui.results.runs_list import STATUS_COLOURS

    dead = Run.create("killed", tmp_path)
    dead.write("config.json", {"model": {"name": "basic_cnn"}})
    dead.update_summary(status="running", pid=2 ** 22 + 7)
    (dead.path / "run.lock").write_text(json.dumps({"pid": 2 ** 22 + 7, "host": __import__("socket").gethostname(),
                                                    "started_ts": 0, "command": "train"}))
    live = Run.create("live", tmp_path)
    live.write("config.json", {"model": {"name": "resnet18"}})
    live.update_summary(status="running")
    (live.path / "run.lock").write_text(json.dumps({"pid": os.getpid(), "host": __import__("socket").gethostname(),
                                                    "started_ts": __import__("time").time(), "command": "train"}))
    broken = Run.create("broken", tmp_path)
    broken.write("config.json", {"model": {"name": "resnet18"}})
    broken.file("summary.json").write_text("{not json")
    w = RunsListWidget(runs_dir=tmp_path)
    qtbot.addWidget(w)
    status = {w.table.item(r, 0).text(): w.table.item(r, 1) for r in range(w.table.rowCount())}
    assert status[dead.id].text() == "interrupted" and status[live.id].text() == "running"
    assert status[broken.id].text() == "unreadable"
    assert status[dead.id].background().color().name() == STATUS_COLOURS["interrupted"]
    w.status_combo.setCurrentText("interrupted")
    assert w.visible_run_ids() == [dead.id]
    w.status_combo.setCurrentText("running")
    assert w.visible_run_ids() == [live.id]
    w.status_combo.setCurrentText("all")
    w.resize(900, 200)
    _grab(w, "histodesk_runs_list_interrupted.png")


def test_results_view_matches_evaluation(qtbot, two_runs):
    from gui.results import RunResultsWidget

    _, runs = two_runs
    w = RunResultsWidget()
    qtbot.addWidget(w)
    w.resize(1000, 640)
    w.set_run(runs[0])
    evaluation = runs[0].read("evaluation.json")
    assert w.split_combo.currentText() == "test"
    w.render_all()  # the view draws a tab when it is shown; draw them all for the checks and the grabs
    cm = evaluation["test"]["confusion_matrix"]
    shown = [[int(w.confusion.table.item(i, j).text()) for j in range(len(cm))] for i in range(len(cm))]
    assert shown == cm
    assert w.confusion.table.horizontalHeaderItem(1).text().endswith(evaluation["test"]["classes"][1])
    w.confusion.normalized_check.setChecked(True)
    assert float(w.confusion.table.item(0, 0).text()) == pytest.approx(
        evaluation["test"]["confusion_matrix_normalized"][0][0], abs=0.005)
    acc_row = [w.metrics_table.item(r, 0).text() for r in range(w.metrics_table.rowCount())].index("accuracy")
    assert float(w.metrics_table.item(acc_row, 1).text().split()[0]) == pytest.approx(evaluation["test"]["accuracy"],
                                                                                       abs=1e-4)
    assert len(w.roc.curves) == 1 and len(w.pr.curves) == 1
    assert "precision" in w.report.toPlainText()
    assert w.patients.rowCount() == evaluation["test"]["patient"]["n_patients"]
    w.training.log_check.setChecked(True)
    for i, name in enumerate(["metrics", "calibration", "confusion", "curves", "training", "report", "patients",
                              "magnifications", "data"]):
        w.tabs.setCurrentIndex(i)
        _grab(w, f"histodesk_results_{name}.png")


def test_results_view_failed_and_running(qtbot, tmp_path):
    from gui.results import RunResultsWidget

    w = RunResultsWidget()
    qtbot.addWidget(w)
    failed = Run.create("bad", tmp_path)
    failed.write("config.json", {"model": {"name": "resnet50"}})
    failed.update_summary(status="failed", error="CUDA out of memory")
    w.set_run(failed)
    assert "CUDA out of memory" in w.header.text() and "failed" in w.header.text()
    assert w.split_combo.count() == 0
    running = Run.create("live", tmp_path)
    running.write("config.json", {"model": {"name": "resnet18"}})
    running.update_summary(status="running")
    running.append_metrics({"epoch": 1, "train_loss": 0.7, "val_loss": 0.6, "val_acc": 0.5})
    w.set_run(running)
    assert "Still running" in w.header.text()
    w.set_run(None)
    assert "No run" in w.header.text()


def test_compare_has_one_roc_per_run(qtbot, two_runs):
    from gui.results import CompareRunsWidget

    _, runs = two_runs
    w = CompareRunsWidget(runs)
    qtbot.addWidget(w)
    w.resize(1000, 480)
    assert len(w.roc.curves) == 2
    assert w.table.columnCount() == 3
    assert [w.table.horizontalHeaderItem(i).text() for i in (1, 2)] == [r.id for r in runs]
    _grab(w, "histodesk_compare.png")


def test_model_label_names_supervised_and_ssl_runs():
    from gui.results.runs_list import model_label

    assert model_label({"model": {"name": "resnet18"}}) == "resnet18"
    assert model_label({"kind": "ssl", "method": "simclr", "backbone": "resnet50"}) == "simclr · resnet50"
    assert model_label({}) == ""


def test_ssl_run_shows_only_its_training_curves(qtbot, tmp_path):
    from engine.io_utils import write_json
    from engine.runs import Run
    from gui.results.run_view import RunResultsWidget

    run_dir = tmp_path / "ssl-run"
    run_dir.mkdir()
    write_json(run_dir / "config.json", {"kind": "ssl", "method": "simclr", "backbone": "basic_cnn"})
    write_json(run_dir / "summary.json", {"status": "completed", "kind": "ssl"})
    view = RunResultsWidget()
    qtbot.addWidget(view)
    view.set_run(Run.open(run_dir))
    assert view.tabs.currentWidget() is view.training and "simclr · basic_cnn" in view.header.text()
    assert [view.tabs.isTabEnabled(i) for i in range(view.tabs.count())].count(True) == 1
    view.set_run(None)
    assert all(view.tabs.isTabEnabled(i) for i in range(view.tabs.count()))
