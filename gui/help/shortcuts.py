"""Help > Keyboard shortcuts: the list is read from the window's actual QActions, so it is never out of date."""

from __future__ import annotations

from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QDialog, QHeaderView, QMainWindow, QMenu, QTableWidget, QTableWidgetItem, QWidget

from gui.help.guide import lay_out_with_close


def _keys(action: QAction) -> str:
    return ", ".join(s.toString(QKeySequence.SequenceFormat.NativeText) for s in action.shortcuts() if not s.isEmpty())


def _menu_rows(menu: QMenu, path: str, seen: set[int]) -> list[tuple[str, str, str]]:
    rows = []
    for action in menu.actions():
        seen.add(id(action))
        text = action.text().replace("&", "")
        if action.menu() is not None:
            rows += _menu_rows(action.menu(), f"{path} > {text}", seen)
        elif _keys(action):
            rows.append((path, text, _keys(action)))
    return rows


def shortcut_rows(window: QMainWindow) -> list[tuple[str, str, str]]:
    """``(where, action, keys)`` for every action of ``window`` that has a shortcut: menu actions first, by menu,
    then actions of the window's views ("where" is the view's kind)."""
    seen: set[int] = set()
    rows = []
    for top in window.menuBar().actions():
        if top.menu() is not None:
            rows += _menu_rows(top.menu(), top.text().replace("&", ""), seen)
    for action in window.findChildren(QAction):
        if id(action) not in seen and _keys(action) and action.text():
            owner = action.parent()
            rows.append((type(owner).__name__ if owner is not None else "Window", action.text().replace("&", ""),
                         _keys(action)))
    return rows


class ShortcutsDialog(QDialog):
    """A table of :func:`shortcut_rows` (Menu, Action, Keys)."""

    def __init__(self, window: QMainWindow, parent: QWidget | None = None):
        super().__init__(parent or window)
        self.setWindowTitle("Keyboard shortcuts")
        rows = shortcut_rows(window)
        self.table = QTableWidget(len(rows), 3)
        self.table.setHorizontalHeaderLabels(["Menu", "Action", "Keys"])
        self.table.verticalHeader().hide()
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        for r, row in enumerate(rows):
            for c, value in enumerate(row):
                self.table.setItem(r, c, QTableWidgetItem(value))
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.table.horizontalHeader().setStretchLastSection(True)
        lay_out_with_close(self, self.table, (560, 420))
