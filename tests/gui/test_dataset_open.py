"""Opening a dataset is transactional (issue 13.4): the current dataset, title and wizard defaults stay as they
were until the new dataset has loaded; a failure leaves everything as before and says why."""

from __future__ import annotations

import os

import pytest

from gui import errors, settings
from gui.workers import DONE, FAILED
from tests.helpers import tiny_demo

pytest.importorskip("pytestqt")


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return tiny_demo(tmp_path_factory.mktemp("open"), patients_per_class=3, images=2)


@pytest.fixture
def window(qtbot, monkeypatch):
    from gui.main_window import MainWindow

    shown = []
    monkeypatch.setattr(errors, "show_error", lambda parent, title, message, details=None:
                        shown.append((title, message)))
    win = MainWindow(autoload=False)
    win.shown_errors = shown
    qtbot.addWidget(win)
    win.show()
    yield win
    win.queue.cancel_all_and_wait(10000)


def test_failed_open_leaves_dataset_title_and_wizard_as_before(qtbot, window, data, tmp_path):
    first = window.open_dataset(str(data))
    qtbot.waitUntil(lambda: window.split is not None, timeout=30000)
    assert first.state == DONE and window.windowTitle() == f"HistoDesk - {data.name}"
    catalog, split = window.catalog, window.split
    empty = tmp_path / "empty"
    empty.mkdir()
    bad = window.open_dataset(str(empty))
    assert window.windowTitle() == f"HistoDesk - {data.name}"  # nothing changes while it loads
    assert window.dataset_path == str(data) and "Opening empty" in window.browser.notice()
    qtbot.waitUntil(lambda: bad.state == FAILED, timeout=30000)
    assert window.windowTitle() == f"HistoDesk - {data.name}" and window.dataset_path == str(data)
    assert window.catalog is catalog and window.split is split and window.browser.catalog() is catalog
    assert settings.recent_datasets() == [str(data)]
    notice = window.browser.notice()
    assert notice.startswith("Could not open empty: ") and bad.error in notice and "Still showing" in notice
    assert "\n" not in notice and window.shown_errors and bad.error == window.shown_errors[-1][1]
    assert [j.kind for j in window.queue.jobs] == ["scan", "split", "scan"]  # no split for the failed open
    window._on_new_training()
    assert window.wizard.dataset_page.path_edit.text() == str(data)  # the wizard pre-fills the shown dataset
    window.wizard.reject()
    if os.environ.get("HISTODESK_SCREENSHOTS"):
        window.tabs.setCurrentWidget(window.browser)
        window.grab().save(os.path.join(os.environ["HISTODESK_SCREENSHOTS"], "open_failed.png"))


def test_successful_open_switches_everything_and_nests_the_split(qtbot, window, data, tmp_path):
    empty = tmp_path / "nothing"
    empty.mkdir()
    bad = window.open_dataset(str(empty))
    qtbot.waitUntil(lambda: bad.state == FAILED, timeout=30000)
    assert window.dataset_path is None and window.windowTitle() == "HistoDesk" and window.catalog is None
    assert settings.recent_datasets() == []
    scan = window.open_dataset(str(data))
    qtbot.waitUntil(lambda: window.split is not None, timeout=30000)
    assert window.dataset_path == str(data) and window.windowTitle() == f"HistoDesk - {data.name}"
    assert window.browser.notice() == "" and window.browser.catalog() is window.catalog is scan.result
    split_job = window.queue.jobs[-1]
    assert split_job.kind == "split" and split_job.parent is scan
    panel = window.jobs_panel
    assert panel._items[split_job.id].parent() is panel._items[scan.id]  # nested under the scan that caused it


def test_a_split_of_a_replaced_dataset_is_dropped(qtbot, window, data, tmp_path):
    other = tiny_demo(tmp_path / "other", patients_per_class=3, images=1)
    window.open_dataset(str(data))
    window.open_dataset(str(other))  # queued before the first dataset's split
    qtbot.waitUntil(lambda: window.queue.is_idle() and window.split is not None, timeout=60000)
    assert window.dataset_path == str(other)
    assert set(window.split.assignments) == {r.path for r in window.catalog.records}
