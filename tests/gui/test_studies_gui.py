"""The Study menu: New study... (presets, validation), a study run from the app to an exported PDF report,
study results (per-run table, mean +- std, skipped recipes, label-efficiency error bars), runs grouped by study."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

pytest.importorskip("PySide6")
pytest.importorskip("pytestqt")

from tests.fake_runs import fake_study
from tests.gui.stall_monitor import StallMonitor, warm_engine_imports
from gui.studies.actions import StudyActions

GRAB_DIR = os.environ.get("HISTODESK_GRAB_DIR", "/tmp")


def _grab(widget, name: str) -> None:
    widget.grab().save(os.path.join(GRAB_DIR, name))


def _menu_action(window, menu: str, text: str):
    found = window.menu(menu)
    return next(a for a in found.actions() if a.text() == text)


def test_new_study_dialog_follows_the_preset_and_validates(qtbot, tmp_path):
    from PySide6.QtCore import Qt

    from gui.studies.study_dialog import CUSTOM, NewStudyDialog

    d = NewStudyDialog(dataset="demo", runs_dir=str(tmp_path / "runs"))
    qtbot.addWidget(d)
    ok = d.buttons.button(d.buttons.StandardButton.Ok)
    d.set_preset("s1")
    names = [d.recipe_list.item(i).data(Qt.ItemDataRole.UserRole)["name"] for i in range(d.recipe_list.count())]
    assert names == ["basic-cnn", "resnet50-transfer", "simclr-probe"] and d.seeds_edit.text() == "0,1,2"
    assert "9 runs" in d.summary.text() and ok.isEnabled()
    d.recipe_list.item(1).setCheckState(Qt.CheckState.Unchecked)
    d.seeds_edit.setText("0")
    d.epochs_spin.setValue(1)
    cfg = d.config()
    assert [r.name for r in cfg.recipes] == ["basic-cnn", "simclr-probe"] and cfg.seeds == [0] and cfg.epochs == 1
    assert cfg.kind == "seeds" and cfg.runs_dir == str(tmp_path / "runs") and "2 runs" in d.summary.text()
    d.folds_spin.setValue(3)
    assert d.config().kind == "kfold" and "6 runs" in d.summary.text()
    d.set_preset("s1-labels")
    assert d.fractions_edit.text() == "0.1,0.25,1" and d.steps_spin.value() == 2000
    assert d.config().kind == "label_efficiency"
    d.seeds_edit.setText("zero")
    assert not ok.isEnabled() and "Seeds" in d.summary.text()
    d.set_preset(CUSTOM)
    assert not ok.isEnabled() and "at least one recipe" in d.summary.text()
    d.recipe_list.item(0).setCheckState(Qt.CheckState.Checked)
    d.folds_spin.setValue(1)
    assert not ok.isEnabled() and "2 folds" in d.summary.text()  # the engine's message, shown before anything runs
    d.folds_spin.setValue(0)
    assert ok.isEnabled()
    d.dataset_edit.set_path("")
    assert not ok.isEnabled()


def test_s1_study_runs_from_the_app_to_an_exported_pdf_report(qtbot, tmp_path):
    """The done-when: Study > New study..., preset S1 with tiny overrides, to a PDF report; the GUI never stalls."""
    from gui.main_window import MainWindow
    from gui.workers import DONE
    from tests.helpers import tiny_demo

    data = tiny_demo(tmp_path, patients_per_class=5, images=1)
    window = MainWindow(autoload=False, runs_dir=str(tmp_path / "runs"))
    qtbot.addWidget(window)
    window.confirm_close = lambda: True
    window.resize(1280, 800)
    window.show()
    window.tabs.setCurrentWidget(window.jobs_panel)  # the Jobs tab's own first paint is not the study's cost
    warm_engine_imports()  # nor are the engine's first imports (see stall_monitor.warm_engine_imports)
    qtbot.wait(300)
    _menu_action(window, "&Study", "New study...").trigger()
    dialog = window.extension(StudyActions).dialog
    dialog.set_preset("s1")
    dialog.dataset_edit.set_path(str(data))
    dialog.seeds_edit.setText("0")
    dialog.epochs_spin.setValue(1)
    dialog.size_spin.setValue(32)
    dialog.batch_spin.setValue(8)
    dialog.name_edit.setText("s1-tiny")
    assert "3 runs" in dialog.summary.text()
    _grab(dialog, "histodesk_study_dialog.png")
    monitor = StallMonitor(where=lambda: (window.queue.jobs[-1].title[:12], window.queue.jobs[-1].stage)
                           if window.queue.jobs else None).start()
    with qtbot.waitSignal(window.queue.job_finished, timeout=120000):
        dialog.buttons.button(dialog.buttons.StandardButton.Ok).click()
    job = window.queue.jobs[-1]
    assert job.kind == "study" and job.state == DONE, job.error
    assert job.history == [] and job.eta_s is not None  # study-wide progress with an ETA
    results = job.result
    assert results["status"] == "completed" and [r["recipe"] for r in results["rows"]] == ["basic-cnn"]
    skipped = {s["recipe"]: s["reason"] for s in results["skipped"]}
    assert set(skipped) == {"resnet50-transfer", "simclr-probe"}
    assert all("ImageNet weights" in reason for reason in skipped.values())
    # the results tab: per-run table, mean +- std, skipped recipes with their message
    view = window.extension(StudyActions).views[0]
    assert window.tabs.currentWidget() is view
    assert view.runs_table.rowCount() == 1 and view.runs_table.item(0, 6).text() == "completed"
    metrics = results["rows"][0]["metrics"]
    assert view.runs_table.item(0, 8).text().startswith(f"{metrics['accuracy']:.3f} [")
    assert view.aggregates.item(0, 0).text() == "basic-cnn" and "(n=1)" in view.aggregates.item(0, 3).text()
    assert any("resnet50-transfer skipped" in w and "ImageNet" in w for w in view.banner.warnings)
    monitor.pause()
    _grab(view, "histodesk_study_view.png")  # test work in the GUI thread: not measured
    monitor.resume()
    # its run is grouped under the study in the Runs tab
    view.runs_button.click()
    assert window.runs_list.visible_run_ids() == ["basic-cnn-s0"]
    qtbot.wait(100)  # user pace: each click is its own event-loop turn (and its own paint)
    # Export report... from the study view: a job with progress, then Open report / Open folder
    view.report_button.click()
    qtbot.wait(100)
    report = window.extension(StudyActions).dialog
    report.folder_edit.set_path(str(tmp_path / "reports"))
    assert not report.open_button.isEnabled()
    with qtbot.waitSignal(window.queue.job_finished, timeout=120000):
        report.export_button.click()
    worst = monitor.stop()
    assert window.queue.jobs[-1].state == DONE, window.queue.jobs[-1].error
    pdf = Path(report.report_file())
    assert pdf.parent == tmp_path / "reports" and pdf.read_bytes()[:4] == b"%PDF"
    assert Path(report.result["html"]).is_file() and report.open_button.isEnabled() and report.folder_button.isEnabled()
    assert "Written:" in report.status.text()
    _grab(report, "histodesk_report_dialog.png")
    print(f"\nEVENT-LOOP STALL (S1 study + report): max gap {worst:.1f} ms; over 50 ms: {monitor.slow}")
    assert worst < 100
    window.close()


def test_label_efficiency_study_view_draws_error_bars(qtbot, tmp_path):
    from engine.io_utils import write_json
    from engine.studies import error_bars
    from gui.studies.study_view import StudyResultsWidget

    rows = [{"key": f"cnn-f{f}-d{d}", "recipe": "cnn", "encoder": "cnn", "seed": 0, "fraction": f, "draw": d,
             "status": "completed", "accuracy": acc, "roc_auc": acc + 0.05, "n_train_images": int(40 * f),
             "metrics": {"accuracy": acc, "roc_auc": acc + 0.05}}
            for f, d, acc in ((0.1, 0, 0.6), (0.1, 1, 0.7), (0.1, 2, 0.65), (1.0, None, 0.9))]
    study = tmp_path / "studies" / "le"
    study.mkdir(parents=True)
    write_json(study / "config.json", {"kind": "label_efficiency"})
    write_json(study / "results.json", {"name": "le", "kind": "label_efficiency", "status": "completed",
                                        "rows": rows, "n_runs": 4, "summaries": [], "skipped": []})
    view = StudyResultsWidget()
    qtbot.addWidget(view)
    view.load(study)
    assert view.tabs.tabText(0) == "Label efficiency" and view.plot is not None
    xs, means = view.plot.curve_data("accuracy", "cnn")
    expected = error_bars(view.study)["cnn"]["accuracy"]
    assert xs == expected[0] and means == pytest.approx(expected[1])
    assert view.plot.error_bar("accuracy", "cnn") == pytest.approx([expected[2][0], 0.0])
    assert not view.resume_button.isEnabled()
    view.resize(1000, 700)
    _grab(view, "histodesk_study_label_efficiency.png")


def test_open_study_lists_its_runs_grouped_and_double_click_opens_one(qtbot, tmp_path):
    from gui.main_window import MainWindow

    runs = tmp_path / "runs"
    study = fake_study(runs, "20260101-000000-s2-seeds", [("cnn-s0", (0.8, 0.7), (0.75, 0.7)),
                                                          ("cnn-s1", (0.9, 0.8), (0.7, 0.6))])
    window = MainWindow(autoload=False, runs_dir=str(runs))
    qtbot.addWidget(window)
    view = window.extension(StudyActions).open_study(str(study))
    assert view.runs_table.rowCount() == 2 and "2 of 2 planned runs completed" in view.header.text()
    view.runs_table.cellDoubleClicked.emit(1, 0)
    assert window.tabs.currentWidget() is window.runs_tab
    assert [r.id for r in window.runs_tab.selected_runs()] == ["cnn-s1"]
    assert window.run_view.run.path == study / "runs" / "cnn-s1"
    view.runs_button.click()
    assert window.runs_list.visible_run_ids() == ["cnn-s1", "cnn-s0"]  # grouped, ranked by val AUC
    assert window.extension(StudyActions).open_study(str(study)) is view  # opened once
    assert not view.tabs.isTabEnabled(view.tabs.indexOf(view.pooled))  # a seeds study has no pooled figures


def test_kfold_study_view_shows_pooled_out_of_fold_figures_with_intervals(qtbot, tmp_path):
    import json

    from gui.studies.study_view import StudyResultsWidget
    from tests.fake_runs import headline

    study = fake_study(tmp_path, "kf", [(f"cnn-s0-f{i}", (0.8, 0.7), (0.75, 0.7)) for i in range(3)])
    results = json.loads((study / "results.json").read_text())
    pooled = {"recipe": "cnn", "seed": 0, "folds": 3, "n_images": 60, "n_patients": 12, "covers_all": True,
              "duplicates": 0, "missing": 0, "metrics": headline(0.83, 0.78)}
    results.update(kind="kfold", pooled=[pooled],
                   summaries=[{"recipe": "cnn", "n_runs": 3, "figures": {"accuracy": {"mean": 0.7, "std": 0.05,
                                                                                       "n": 3}}}])
    (study / "results.json").write_text(json.dumps(results))
    view = StudyResultsWidget()
    qtbot.addWidget(view)
    view.load(study)
    assert view.tabs.isTabEnabled(view.tabs.indexOf(view.pooled))
    assert [view.pooled.item(0, c).text() for c in (0, 3, 4)] == ["cnn", "60", "12"]
    assert view.pooled.item(0, 5).text() == "0.780 [0.730, 0.830]" and view.pooled.item(0, 7).text() == "yes"
    assert view.aggregates.item(0, 3).text() == "0.700 ± 0.050 (n=3)"
    assert not view.runs_table.isColumnHidden(3) and view.runs_table.isColumnHidden(4)  # folds shown, no fractions


def test_cancelled_study_shows_its_results_and_resumes_from_the_app(qtbot, tmp_path):
    from engine.studies import build_study_config
    from gui.main_window import MainWindow
    from gui.workers import CANCELLED, DONE
    from tests.helpers import tiny_demo

    data = tiny_demo(tmp_path, patients_per_class=5, images=1)
    window = MainWindow(autoload=False, runs_dir=str(tmp_path / "runs"))
    qtbot.addWidget(window)
    window.confirm_close = lambda: True
    config = build_study_config(None, {"dataset": str(data), "runs_dir": str(tmp_path / "runs"), "seeds": [0, 1],
                                       "epochs": 1, "image_size": 32, "batch_size": 8,
                                       "recipes": [{"name": "cnn", "preset": "s1-basic-cnn"}]})
    job = window.extension(StudyActions).start_study(config)
    qtbot.waitUntil(lambda: job.progress is not None and job.progress.message.startswith("run 2/2"), timeout=60000)
    with qtbot.waitSignal(window.queue.job_finished, timeout=60000):
        window.queue.cancel(job)
    assert job.state == CANCELLED
    view = window.extension(StudyActions).views[0]  # the partial results open at once
    assert view.study["status"] == "cancelled" and view.resume_button.isEnabled()
    with qtbot.waitSignal(window.queue.job_finished, timeout=60000):
        view.resume_button.click()
    resumed = window.queue.jobs[-1]
    assert resumed.title.startswith("Resume study") and resumed.state == DONE, resumed.error
    assert view.study["status"] == "completed" and view.runs_table.rowCount() == 2
    assert [view.runs_table.item(r, 6).text() for r in range(2)] == ["completed", "completed"]
    assert not view.resume_button.isEnabled() and len(window.extension(StudyActions).views) == 1


@pytest.mark.parametrize("module", ["gui.results.actions", "gui.studies.actions", "gui.report_action",
                                    "gui.results.run_view", "gui.results.runs_list"])
def test_the_new_gui_modules_load_without_torch(module):
    import subprocess
    import sys

    code = f"import {module}, sys; print(','.join(m for m in ('torch', 'timm', 'matplotlib') if m in sys.modules))"
    result = subprocess.run([sys.executable, "-c", code], cwd=Path(__file__).resolve().parents[2], capture_output=True,
                            text=True, timeout=120, env=dict(os.environ, QT_QPA_PLATFORM="offscreen"))
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "", f"importing {module} pulled in {result.stdout.strip()}"
