"""MainWindow: first launch opens the demo, reopening, training -> runs, errors, closing while a job runs."""

from __future__ import annotations

import functools

import pytest

pytest.importorskip("pytestqt")

from engine.runs import Run
from gui import errors, settings
from gui.main_window import MainWindow
from gui.workers import CANCELLED, DONE, FAILED


@pytest.fixture
def tiny_demo(monkeypatch, tmp_path):
    """Make the app's demo dataset tiny (the real one takes seconds to paint)."""
    from engine.data import demo

    dest = tmp_path / "demo"
    monkeypatch.setattr(demo, "generate_demo", functools.partial(
        demo.generate_demo, dest, patients_per_class=3, images_per_patient_mag=3, size=(64, 48)))
    return dest


@pytest.fixture
def shown_errors(monkeypatch):
    """Record error dialogs instead of showing them."""
    shown = []
    monkeypatch.setattr(errors, "show_error", lambda parent, title, message, details=None:
                        shown.append((title, message, details)))
    return shown


def _window(qtbot, **kw) -> MainWindow:
    window = MainWindow(**kw)
    qtbot.addWidget(window)
    window.show()
    return window


def test_first_launch_opens_demo_then_reopens_last_dataset(qtbot, tiny_demo):
    assert settings.is_first_launch()
    window = _window(qtbot)
    qtbot.waitUntil(lambda: window.split is not None, timeout=30000)
    assert window.dataset_path == str(tiny_demo)
    assert window.catalog is not None and len(window.catalog.records) == 36
    assert [j.kind for j in window.queue.jobs] == ["demo", "scan", "split"]
    assert all(j.state == DONE for j in window.queue.jobs)
    if window.browser is not None:
        assert window.browser.catalog() is window.catalog
    assert settings.recent_datasets() == [str(tiny_demo)]
    window.resize(1111, 666)
    window.close()

    again = _window(qtbot)  # second launch: last dataset, no demo job
    qtbot.waitUntil(lambda: again.split is not None, timeout=30000)
    assert [j.kind for j in again.queue.jobs] == ["scan", "split"]
    assert again.height() == 666  # restored (the offscreen screen may clamp the width)
    assert again.recent_menu.actions()[0].text() == str(tiny_demo)
    again.close()


def test_recent_list_is_capped():
    for i in range(12):
        settings.add_recent_dataset(f"/data/set{i}")
    recent = settings.recent_datasets()
    assert len(recent) == settings.MAX_RECENT and recent[0] == "/data/set11"
    assert settings.last_dataset() == "/data/set11"


def test_training_job_shows_curves_and_selects_new_run(qtbot, tiny_config, shown_errors):
    window = _window(qtbot, autoload=False, runs_dir=tiny_config.runs_dir)
    job = window.start_training(tiny_config)
    assert window.tabs.currentWidget() is window.jobs_panel
    with qtbot.waitSignal(window.queue.job_finished, timeout=60000):
        pass
    assert job.state == DONE and shown_errors == []
    panel = window.jobs_panel
    assert panel.selected_job() is job
    assert len(panel.curves.points("train_loss")) == 2 and len(panel.curves.points("val_auc")) == 2
    assert "Run completed" in panel.log_view.toPlainText()
    if window.runs_list is not None:
        assert [r.path for r in window.runs_list.selected_runs()] == [job.result.path]
    window.close()


def test_failed_job_shows_error_and_app_keeps_working(qtbot, shown_errors):
    window = _window(qtbot, autoload=False)
    bad = window.open_dataset("/no/such/folder")
    qtbot.waitUntil(lambda: bad.state == FAILED, timeout=10000)
    assert shown_errors and "failed" in shown_errors[0][0]
    assert "/no/such/folder" in shown_errors[0][1] and shown_errors[0][2] is None  # user error: no traceback
    ok = window.queue.submit("after", lambda *, progress, cancel: 7)
    qtbot.waitUntil(lambda: ok.state == DONE, timeout=10000)
    assert window.isVisible()
    window.close()


def test_close_while_training_asks_then_cancels_cleanly(qtbot, tiny_config):
    tiny_config.epochs = 50
    window = _window(qtbot, autoload=False, runs_dir=tiny_config.runs_dir)
    asked = []
    window.confirm_close = lambda: asked.append(1) or len(asked) > 1  # "No" first, then "Yes"
    job = window.start_training(tiny_config)
    qtbot.waitUntil(lambda: job.progress is not None and job.progress.stage == "train", timeout=30000)
    assert window.close() is False and window.isVisible()  # refused: keeps running
    assert job.state == "running"
    assert window.close() is True
    assert len(asked) == 2
    qtbot.waitUntil(lambda: job.state == CANCELLED, timeout=10000)
    assert isinstance(job.result, Run) and job.result.summary["status"] == "cancelled"


def test_jobs_panel_cancel_button_stops_training(qtbot, tiny_config):
    from PySide6.QtCore import Qt

    tiny_config.epochs = 50
    window = _window(qtbot, autoload=False, runs_dir=tiny_config.runs_dir)
    job = window.start_training(tiny_config)
    panel = window.jobs_panel
    qtbot.waitUntil(lambda: job.progress is not None and panel.cancel_button.isEnabled(), timeout=30000)
    assert panel.selected_job() is job
    qtbot.mouseClick(panel.cancel_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: window.queue.is_idle(), timeout=30000)
    assert job.state == CANCELLED and job.result.summary["status"] == "cancelled"
    assert panel.tree.topLevelItem(0).text(3) == CANCELLED
    window.close()


def test_wizard_end_to_end_trains_and_shows_results(qtbot, tiny_data, tmp_path, shown_errors):
    """New training... -> every wizard page -> Finish -> the job runs -> its run is selected."""
    from PySide6.QtWidgets import QWizard

    window = _window(qtbot, autoload=False, runs_dir=str(tmp_path / "runs"))
    window.dataset_path = str(tiny_data)
    window._on_new_training()
    wizard = window.wizard
    assert wizard is not None and wizard.isVisible()
    wizard.dataset_page.size_spin.setValue(32)
    wizard.dataset_page.normalize_combo.setCurrentText("unit")
    wizard.next()
    wizard.next()  # split: defaults (patient-level, 70/15/15)
    wizard.model_page.model_combo.setCurrentText("basic_cnn")
    wizard.model_page.radio_none.setChecked(True)
    wizard.model_page.hidden_spin.setValue(16)
    wizard.next()
    wizard.recipe_page.epochs_spin.setValue(2)
    wizard.next()
    assert wizard.currentPage() is wizard.review_page
    cfg = wizard.config()
    cfg.runs_dir = str(tmp_path / "runs")
    wizard.config = lambda: cfg  # keep the test's runs folder
    with qtbot.waitSignal(window.queue.job_finished, timeout=120000) as blocker:
        wizard.button(QWizard.WizardButton.FinishButton).click()
    job = blocker.args[0]
    assert job.state == DONE and shown_errors == []
    run = Run(job.result.path)
    assert run.summary["status"] == "completed" and run.summary["split_mode"] == "patient"
    assert len(window.jobs_panel.curves.points("train_loss")) == 2
