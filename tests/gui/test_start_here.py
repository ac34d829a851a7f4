"""Start here panel (issue 13.9): shown on first launch with the demo's progress; its buttons call the window's
actions; Open a slide only with a slide extension; not shown when the last dataset reopens."""

from __future__ import annotations

import functools

import pytest

pytest.importorskip("pytestqt")

from PySide6.QtWidgets import QFileDialog

from gui import settings
from gui.deploy.actions import DeployActions
from gui.help import HelpActions
from gui.main_window import MainWindow
from gui.start_here import StartHerePanel


@pytest.fixture
def small_demo(monkeypatch, tmp_path):
    """The app's demo dataset, at its usual place under a fresh HISTODESK_HOME, but tiny."""
    from engine.data import demo

    monkeypatch.setenv("HISTODESK_HOME", str(tmp_path / "home"))
    dest = demo.demo_path()
    monkeypatch.setattr(demo, "generate_demo", functools.partial(
        demo.generate_demo, dest, patients_per_class=3, images_per_patient_mag=3, size=(64, 48)))
    return dest


def _window(qtbot, **kw) -> MainWindow:
    window = MainWindow(runs_dir=kw.pop("runs_dir", None), **kw)
    qtbot.addWidget(window)
    window.show()
    return window


def _close(qtbot, window: MainWindow) -> None:
    qtbot.waitUntil(window.queue.is_idle, timeout=60000)  # a split preview may still run after the scan
    window.close()


def _panel(window: MainWindow) -> StartHerePanel | None:
    return next((w for w in map(window.tabs.widget, range(window.tabs.count())) if isinstance(w, StartHerePanel)),
                None)


def test_first_launch_shows_start_here_with_demo_progress(qtbot, small_demo):
    assert settings.is_first_launch()
    window = _window(qtbot)
    panel = _panel(window)
    assert panel is not None and window.tabs.indexOf(panel) == 0 and window.tabs.currentWidget() is panel
    assert window.queue.jobs == []  # the demo waits for the first paint
    seen = []
    window.queue.job_progress.connect(lambda job, _e: seen.append((job.kind, panel.bar.isVisible(),
                                                                   panel.status.text())))
    qtbot.waitUntil(lambda: window.split is not None, timeout=60000)
    assert any(kind == "demo" and shown and text.startswith("Preparing the demo dataset") for kind, shown, text in seen)
    assert panel.bar.isHidden() and panel.status.text() == f"Open now: {small_demo.name}."
    assert panel.classify_button.isVisibleTo(panel) and not panel.slide_button.isVisibleTo(panel)
    _close(qtbot, window)


def test_train_on_demo_opens_wizard_with_demo_preset_once_demo_is_open(qtbot, small_demo):
    window = _window(qtbot, autoload=False)
    assert _panel(window) is None  # autoload=False (tests): no Start here unless asked for
    panel = window.extension(HelpActions).open_start_here() or _panel(window)
    panel.demo_button.click()
    assert window.wizard is None and "Opening the demo dataset" in panel.status.text()
    panel.demo_button.click()  # a second click does not queue a second demo
    qtbot.waitUntil(lambda: window.wizard is not None, timeout=60000)
    assert [j.kind for j in window.queue.jobs].count("demo") == 1
    assert window.wizard.preset_box.name() == "demo" and window.dataset_path == str(small_demo)
    window.wizard.reject()
    window.wizard = None
    panel.demo_button.click()  # the demo is open now: the wizard opens at once
    assert window.wizard is not None and window.wizard.preset_box.name() == "demo"
    window.wizard.reject()
    _close(qtbot, window)


def test_open_dataset_and_classify_buttons_call_the_window_actions(qtbot, tiny_data, monkeypatch):
    window = _window(qtbot, autoload=False)
    window.extension(HelpActions).open_start_here()
    panel = _panel(window)
    monkeypatch.setattr(QFileDialog, "getExistingDirectory", lambda *a, **k: str(tiny_data))
    panel.open_button.click()
    qtbot.waitUntil(lambda: window.dataset_path == str(tiny_data), timeout=60000)
    assert panel.status.text() == f"Open now: {tiny_data.name}."
    deploy = window.extension(DeployActions)
    before = len(deploy.dialogs)
    panel.classify_button.click()
    assert len(deploy.dialogs) == before + 1 and deploy.dialogs[-1].isVisible()
    deploy.dialogs[-1].reject()
    _close(qtbot, window)


class SlideViewerActions:
    """A stand-in slide extension: what a slide viewer registers (an ``open_slide`` method)."""

    def __init__(self):
        self.opened = 0

    def open_slide(self):
        """Count the calls."""
        self.opened += 1


def test_open_a_slide_is_shown_only_with_a_slide_extension(qtbot):
    window = _window(qtbot, autoload=False)
    window.extension(HelpActions).open_start_here()
    panel = _panel(window)
    assert not panel.slide_button.isVisibleTo(panel)
    viewer = window.register(SlideViewerActions())
    window.extension(HelpActions).open_start_here()  # Help > Start here again: the same tab, refreshed
    assert _panel(window) is panel and window.tabs.count() == 4
    assert panel.slide_button.isVisibleTo(panel)
    panel.slide_button.click()
    assert viewer.opened == 1
    _close(qtbot, window)


def test_start_here_only_when_nothing_would_open(qtbot, tiny_data, tmp_path):
    settings.add_recent_dataset(str(tiny_data))
    window = _window(qtbot)  # the last dataset reopens: no Start here
    assert _panel(window) is None
    _close(qtbot, window)
    settings.add_recent_dataset(str(tmp_path / "gone"))
    window = _window(qtbot)  # the last dataset is gone: Start here, and nothing is queued
    assert _panel(window) is not None
    qtbot.wait(200)
    assert window.queue.jobs == [] and _panel(window).status.text() == "No dataset is open yet."
    _close(qtbot, window)
