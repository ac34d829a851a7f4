"""Help menu (issue 13.9): guide from its resource file, shortcuts read from the QActions, About with versions
(CUDA "checking..." until the background probe has imported torch)."""

from __future__ import annotations

import importlib.metadata

import pytest

pytest.importorskip("pytestqt")

from PySide6.QtCore import qVersion
from PySide6.QtGui import QAction, QKeySequence

from engine import __version__
from gui.help import HelpActions, guide
from gui.help.shortcuts import shortcut_rows
from gui.main_window import MainWindow
from gui.runtime_info import CHECKING, RuntimeInfo


@pytest.fixture
def window(qtbot):
    """A shown main window that opens no dataset."""
    win = MainWindow(autoload=False)
    qtbot.addWidget(win)
    win.show()
    yield win
    win.close()


def test_help_menu_lists_start_here_guide_shortcuts_about(window):
    help_menu = window.menu("&Help")
    texts = [a.text() for a in help_menu.actions() if not a.isSeparator()]
    assert texts == ["Start here", "HistoDesk guide", "Keyboard shortcuts", "About HistoDesk"]
    assert window.menuBar().actions()[-1].menu() is help_menu  # extension menus come before Help


def test_guide_shows_the_resource_text_or_one_line(window, monkeypatch):
    dialog = window.extension(HelpActions).open_guide()
    text = dialog.browser.toPlainText()
    assert "Open a dataset" in text and "Keyboard shortcuts" in text
    assert window.extension(HelpActions).open_guide() is dialog  # one at a time
    dialog.close()
    monkeypatch.setattr(guide, "GUIDE", ("help", "missing.md"))
    assert guide.guide_text().startswith("The guide could not be read (missing.md") and "\n" not in guide.guide_text()


def test_shortcuts_are_the_actions_shortcuts(window):
    rows = shortcut_rows(window)
    native = QKeySequence(QKeySequence.StandardKey.Open).toString(QKeySequence.SequenceFormat.NativeText)
    assert ("File", "Open dataset folder...", native) in rows
    assert ("View", "Refresh runs", "F5") in rows
    with_keys = [a for a in window.findChildren(QAction) if not a.shortcut().isEmpty() and a.text()]
    assert len(rows) == len(with_keys)
    window.add_action(window.menu("&View"), "Zoom to fit", lambda: None, "Ctrl+Shift+F")  # a new action shows
    dialog = window.extension(HelpActions).open_shortcuts()
    cells = [[dialog.table.item(r, c).text() for c in range(3)] for r in range(dialog.table.rowCount())]
    assert ["View", "Zoom to fit", QKeySequence("Ctrl+Shift+F").toString(QKeySequence.SequenceFormat.NativeText)] \
        in cells
    dialog.close()


def test_about_shows_versions_and_cuda_once_probed(window, qtbot):
    runtime = window.extension(RuntimeInfo)
    runtime.info = None  # as before the probe (the window's own probe may have run already)
    dialog = window.extension(HelpActions).open_about()
    assert dialog.text("HistoDesk") == __version__
    assert dialog.text("PyTorch") == importlib.metadata.version("torch")
    assert dialog.text("Qt") == qVersion()
    assert dialog.text("CUDA") == CHECKING and dialog.text("Training device") == CHECKING
    with qtbot.waitSignal(runtime.ready, timeout=60000):
        runtime._started = False  # probe again, with the dialog open
        runtime.start()
    import torch

    assert dialog.text("CUDA") != CHECKING and dialog.text("PyTorch") == torch.__version__
    assert ("not available" in dialog.text("CUDA")) == (not torch.cuda.is_available())
    assert window.device_label.text() == f"Device: {dialog.text('Training device')}"
    dialog.close()
