"""The runs table: every run folder in the runs directory, filterable, multi-selectable."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView, QComboBox, QHBoxLayout, QHeaderView, QLabel, QLineEdit, QPushButton, QTableWidget,
    QTableWidgetItem, QVBoxLayout, QWidget,
)

from engine.errors import HistoDeskError
from engine.runs import Run, effective_status, list_runs

COLUMNS = ["id", "status", "model", "preset", "split", "test acc", "AUC", "F1", "epochs", "date"]
PATH_ROLE = Qt.ItemDataRole.UserRole + 1
STATUS_COLOURS = {"completed": "#1b5e20", "running": "#0d47a1", "preparing": "#0d47a1", "failed": "#b00020",
                  "cancelled": "#e65100", "interrupted": "#6a1b9a", "unreadable": "#616161"}
#: Entries of the status filter ("interrupted": its process died while it was running, resumable).
STATUS_FILTERS = ["all", "completed", "running", "interrupted", "cancelled", "failed"]


class _NumberItem(QTableWidgetItem):
    """A cell that sorts by its number (empty cells last)."""

    def __init__(self, value: float | None, text: str):
        super().__init__(text)
        self.number = value

    def __lt__(self, other: QTableWidgetItem) -> bool:
        a = self.number if self.number is not None else float("-inf")
        b = getattr(other, "number", None)
        return a < (b if b is not None else float("-inf"))


def model_label(cfg: dict) -> str:
    """The model a run trained: ``model.name``, or "<method> · <backbone>" for a self-supervised run."""
    if cfg.get("kind") == "ssl" or (cfg.get("method") and cfg.get("backbone")):
        return f"{cfg.get('method', 'ssl')} · {cfg.get('backbone', '?')}"
    return (cfg.get("model") or {}).get("name", "")


def run_row(run: Run) -> list:
    """The table values of ``run``: strings, or (number, text) pairs for numeric columns."""
    status = effective_status(run)
    try:
        cfg, summary = run.config, run.summary
    except HistoDeskError:  # a corrupt config.json / summary.json: listed, marked unreadable
        cfg, summary = {}, {}
    cfg, summary = (cfg if isinstance(cfg, dict) else {}), (summary if isinstance(summary, dict) else {})
    test = (summary.get("metrics") or {}).get("test") or {}

    def num(key: str) -> tuple:
        value = test.get(key)
        return (value, f"{value:.3f}" if isinstance(value, (int, float)) else "")

    epochs = summary.get("epochs_run")
    total = cfg.get("epochs") if not cfg.get("phases") else sum(p.get("epochs", 0) for p in cfg["phases"])
    return [run.id, status, model_label(cfg),
            cfg.get("preset") or "custom", summary.get("split_mode", (cfg.get("split") or {}).get("mode", "")),
            num("accuracy"), num("roc_auc"), num("f1"),
            (epochs, f"{epochs if epochs is not None else '-'} / {total}"),
            summary.get("started") or summary.get("finished") or ""]


class RunsListWidget(QWidget):
    """Table of the runs in a folder (from the app or the CLI) with text and status filters."""

    run_selected = Signal(object)

    def __init__(self, parent: QWidget | None = None, runs_dir: str | Path | None = None):
        super().__init__(parent)
        self._runs_dir = runs_dir
        self._runs: dict[str, Run] = {}
        self.filter_edit = QLineEdit()
        self.filter_edit.setPlaceholderText("Filter runs (id, model, preset…)")
        self.filter_edit.setClearButtonEnabled(True)
        self.status_combo = QComboBox()
        self.status_combo.addItems(STATUS_FILTERS)
        refresh = QPushButton("Refresh")
        refresh.clicked.connect(self._on_refresh_clicked)
        top = QHBoxLayout()
        top.addWidget(self.filter_edit, 1)
        top.addWidget(QLabel("Status:"))
        top.addWidget(self.status_combo)
        top.addWidget(refresh)
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().setVisible(False)
        self.table.setAlternatingRowColors(True)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setStretchLastSection(True)
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(self.table, 1)
        self.filter_edit.textChanged.connect(self._on_filter_changed)
        self.status_combo.currentTextChanged.connect(self._on_filter_changed)
        self.table.itemSelectionChanged.connect(self._on_selection_changed)
        self.refresh(runs_dir)

    def refresh(self, runs_dir: str | Path | None = None) -> None:
        """Re-read the runs folder (``runs_dir`` replaces the folder when given); keeps the selection."""
        if runs_dir is not None:
            self._runs_dir = runs_dir
        keep = {r.id for r in self.selected_runs()}
        runs = list_runs(self._runs_dir)
        self._runs = {r.id: r for r in runs}
        self.table.blockSignals(True)
        self.table.setSortingEnabled(False)
        self.table.setRowCount(len(runs))
        for row, run in enumerate(runs):
            for col, value in enumerate(run_row(run)):
                item = _NumberItem(*value) if isinstance(value, tuple) else QTableWidgetItem(str(value))
                item.setData(PATH_ROLE, str(run.path))
                if col == 1 and str(value) in STATUS_COLOURS:
                    item.setForeground(Qt.GlobalColor.white)
                    item.setBackground(_colour(STATUS_COLOURS[str(value)]))
                self.table.setItem(row, col, item)
        self.table.setSortingEnabled(True)
        for row in range(self.table.rowCount()):
            if self.table.item(row, 0).text() in keep:
                self.table.selectRow(row)
        self.table.blockSignals(False)
        self._on_filter_changed()

    def runs(self) -> list[Run]:
        """All runs listed (including hidden ones)."""
        return list(self._runs.values())

    def visible_run_ids(self) -> list[str]:
        """Ids of the rows that pass the filters, in table order."""
        return [self.table.item(r, 0).text() for r in range(self.table.rowCount()) if not self.table.isRowHidden(r)]

    def selected_runs(self) -> list[Run]:
        """The selected runs, in table order."""
        rows = sorted({i.row() for i in self.table.selectedItems()})
        return [self._runs[self.table.item(r, 0).text()] for r in rows if self.table.item(r, 0).text() in self._runs]

    def select_run(self, path: str | Path) -> None:
        """Select the run in folder ``path`` (refreshing first when it is not listed yet)."""
        name = Path(path).name
        if name not in self._runs:
            self.refresh()
        for row in range(self.table.rowCount()):
            if self.table.item(row, 0).text() == name:
                self.table.setRowHidden(row, False)
                self.table.selectRow(row)
                self.table.scrollToItem(self.table.item(row, 0))
                return

    def _on_refresh_clicked(self) -> None:
        self.refresh()

    def _on_filter_changed(self, *_args) -> None:
        text = self.filter_edit.text().strip().lower()
        status = self.status_combo.currentText()
        for row in range(self.table.rowCount()):
            cells = [self.table.item(row, c).text().lower() for c in range(self.table.columnCount())]
            hidden = (bool(text) and not any(text in c for c in cells)) or (status != "all" and cells[1] != status)
            self.table.setRowHidden(row, hidden)

    def _on_selection_changed(self) -> None:
        row = self.table.currentRow()
        item = self.table.item(row, 0) if row >= 0 else None
        if item is not None and item.isSelected() and item.text() in self._runs:
            self.run_selected.emit(self._runs[item.text()])
        elif self.selected_runs():
            self.run_selected.emit(self.selected_runs()[0])


def _colour(hex_code: str):
    from PySide6.QtGui import QColor

    return QColor(hex_code)
