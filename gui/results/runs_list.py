"""The runs table: every run folder (and the runs of every study), ranked by a validation figure.

Rows come from :mod:`engine.run_table` (the same rows ``python main.py runs``
prints). The default order is val AUC, best first; the held-out test figures
sit apart in their own shaded columns with their intervals and never decide
the default order. A "Study" column and filter group the runs of a study; the
"external" column lists the run's external evaluations.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QColor, QFont
from PySide6.QtWidgets import (
    QAbstractItemView, QComboBox, QHBoxLayout, QHeaderView, QLabel, QLineEdit, QPushButton, QTableWidget,
    QTableWidgetItem, QVBoxLayout, QWidget,
)

from engine.run_table import RunRow, ci_text, model_label, run_rows  # noqa: F401  (model_label re-exported)
from engine.runs import Run
from gui.results.intervals import ci_item, html_escape

COLUMNS = ["id", "status", "val AUC", "val acc", "held-out test AUC", "held-out test acc", "study", "model",
           "preset", "split", "external", "epochs", "date"]
VAL_COLUMNS = (COLUMNS.index("val AUC"), COLUMNS.index("val acc"))
TEST_COLUMNS = (COLUMNS.index("held-out test AUC"), COLUMNS.index("held-out test acc"))
STUDY_COL, EXTERNAL_COL = COLUMNS.index("study"), COLUMNS.index("external")
PATH_ROLE = Qt.ItemDataRole.UserRole + 1
STATUS_COLOURS = {"completed": "#1b5e20", "running": "#0d47a1", "preparing": "#0d47a1", "failed": "#b00020",
                  "cancelled": "#e65100", "interrupted": "#6a1b9a", "unreadable": "#616161"}
#: Entries of the status filter ("interrupted": its process died while it was running, resumable).
STATUS_FILTERS = ["all", "completed", "running", "interrupted", "cancelled", "failed"]
ALL_STUDIES, NO_STUDY = "all runs", "outside studies"
TEST_SHADE = "#eef1f5"
HEADER_TIPS = {
    "val AUC": "Validation ROC AUC: the figure runs are ranked by (the default order, best first).",
    "val acc": "Validation accuracy (the tie-break of the default order).",
    "held-out test AUC": "Held-out test ROC AUC with its patient-bootstrap interval. Shown apart: test figures "
                         "are never used to rank or select runs.",
    "held-out test acc": "Held-out test accuracy with its patient-bootstrap interval; never used for ranking.",
    "study": "The study the run belongs to (Study menu); empty for a run trained on its own.",
    "external": "External evaluations of the run (Evaluate on another dataset...).",
}


def _external_cell(row: RunRow) -> tuple[str, str]:
    """(text, tooltip) of the external-evaluations cell."""
    if not row.external:
        return "", ""
    text = ", ".join(e["name"] for e in row.external)
    tip = "<br>".join(f"<b>{html_escape(e['name'])}</b>: {e.get('n_images') or '?'} images of "
                      f"{html_escape(e.get('dataset') or '?')}; AUC {ci_text(e.get('roc_auc'), e.get('roc_auc_ci'))},"
                      f" acc {ci_text(e.get('accuracy'), e.get('accuracy_ci'))}" for e in row.external)
    return text, tip


def row_items(row: RunRow) -> list[QTableWidgetItem]:
    """The table cells of one run, in :data:`COLUMNS` order (numbers sort as numbers; test cells shaded and
    carrying their interval)."""
    cells = {name: QTableWidgetItem(str(text)) for name, text in (
        ("id", row.run.id), ("status", row.status), ("study", row.study), ("model", row.model),
        ("preset", row.preset), ("split", row.split), ("date", row.date))}
    cells["val AUC"], cells["val acc"] = ci_item(row.val.get("roc_auc")), ci_item(row.val.get("accuracy"))
    for name, key in (("held-out test AUC", "roc_auc"), ("held-out test acc", "accuracy")):
        cells[name] = ci_item(row.test.get(key), row.test.get(f"{key}_ci"))
        cells[name].setBackground(QColor(TEST_SHADE))
    text, tip = _external_cell(row)
    cells["external"] = QTableWidgetItem(text)
    cells["external"].setToolTip(tip)
    cells["epochs"] = ci_item(row.epochs_run)
    cells["epochs"].setText(f"{row.epochs_run if row.epochs_run is not None else '-'} / "
                            f"{row.epochs_total if row.epochs_total else '?'}")
    cells["id"].setToolTip(str(row.run.path))
    if row.study:
        cells["study"].setToolTip(row.study_path)
    return [cells[name] for name in COLUMNS]


class RunsListWidget(QWidget):
    """Table of the runs in a folder (from the app or the CLI) with text, status and study filters."""

    run_selected = Signal(object)

    def __init__(self, parent: QWidget | None = None, runs_dir: str | Path | None = None):
        super().__init__(parent)
        self._runs_dir = runs_dir
        self._runs: dict[str, Run] = {}  # keyed by folder path: study runs may share an id
        self.rows: list[RunRow] = []
        self.filter_edit = QLineEdit()
        self.filter_edit.setPlaceholderText("Filter runs (id, model, preset…)")
        self.filter_edit.setClearButtonEnabled(True)
        self.status_combo = QComboBox()
        self.status_combo.addItems(STATUS_FILTERS)
        self.study_combo = QComboBox()
        self.study_combo.addItems([ALL_STUDIES, NO_STUDY])
        self.study_combo.setToolTip("Show the runs of one study")
        refresh = QPushButton("Refresh")
        refresh.clicked.connect(self._on_refresh_clicked)
        top = QHBoxLayout()
        top.addWidget(self.filter_edit, 1)
        top.addWidget(refresh)
        filters = QHBoxLayout()
        filters.addWidget(QLabel("Status:"))
        filters.addWidget(self.status_combo)
        filters.addWidget(QLabel("Study:"))
        filters.addWidget(self.study_combo, 1)
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(COLUMNS)
        for col, name in enumerate(COLUMNS):
            header_item = self.table.horizontalHeaderItem(col)
            header_item.setToolTip(HEADER_TIPS.get(name, ""))
            if col in TEST_COLUMNS:
                font = QFont(header_item.font())
                font.setItalic(True)
                header_item.setFont(font)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().setVisible(False)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setStretchLastSection(True)
        header.setSortIndicator(VAL_COLUMNS[0], Qt.SortOrder.DescendingOrder)  # ranked by val AUC, best first
        self.rank_note = QLabel("Ranked by validation AUC (best first). Shaded columns: held-out test figures with "
                                "their 95% intervals, never used to rank runs.")
        self.rank_note.setStyleSheet("color: #555;")
        self.rank_note.setWordWrap(True)
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addLayout(filters)
        layout.addWidget(self.table, 1)
        layout.addWidget(self.rank_note)
        self.filter_edit.textChanged.connect(self._on_filter_changed)
        self.status_combo.currentTextChanged.connect(self._on_filter_changed)
        self.study_combo.currentTextChanged.connect(self._on_filter_changed)
        self.table.itemSelectionChanged.connect(self._on_selection_changed)
        self.refresh(runs_dir)

    def refresh(self, runs_dir: str | Path | None = None) -> None:
        """Re-read the runs folder (``runs_dir`` replaces the folder when given); keeps the selection."""
        if runs_dir is not None:
            self._runs_dir = runs_dir
        keep = {str(r.path) for r in self.selected_runs()}
        self.rows = run_rows(self._runs_dir)
        self._runs = {str(r.run.path): r.run for r in self.rows}
        self.table.blockSignals(True)
        self.table.setSortingEnabled(False)
        self.table.setRowCount(len(self.rows))
        for r, row in enumerate(self.rows):
            for col, item in enumerate(row_items(row)):
                item.setData(PATH_ROLE, str(row.run.path))
                if col == 1 and row.status in STATUS_COLOURS:
                    item.setForeground(Qt.GlobalColor.white)
                    item.setBackground(QColor(STATUS_COLOURS[row.status]))
                self.table.setItem(r, col, item)
        self.table.setSortingEnabled(True)  # re-sorts by the header's indicator (val AUC unless the user chose)
        for r in range(self.table.rowCount()):
            if self._path(r) in keep:
                self.table.selectRow(r)
        self.table.blockSignals(False)
        self._fill_study_combo()
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
        return [self._runs[self._path(r)] for r in rows if self._path(r) in self._runs]

    def select_run(self, path: str | Path) -> None:
        """Select the run in folder ``path`` (refreshing first when it is not listed yet)."""
        key = self._key(path)
        if key not in self._runs:
            self.refresh()
        for r in range(self.table.rowCount()):
            if self._path(r) == key:
                self.table.setRowHidden(r, False)
                self.table.selectRow(r)
                self.table.scrollToItem(self.table.item(r, 0))
                return

    def show_study(self, name: str) -> None:
        """Show only the runs of study ``name`` (refreshing first when it is not listed yet)."""
        if self.study_combo.findText(name) < 0:
            self.refresh()
        if self.study_combo.findText(name) >= 0:
            self.study_combo.setCurrentText(name)
        shown = [r for r in range(self.table.rowCount()) if not self.table.isRowHidden(r)]
        if shown and not any(self.table.item(r, 0).isSelected() for r in shown):
            self.table.selectRow(shown[0])  # show the study's best run (by val) rather than a hidden one

    # --- helpers ----------------------------------------------------------
    def _path(self, row: int) -> str:
        item = self.table.item(row, 0)
        return item.data(PATH_ROLE) if item is not None else ""

    def _key(self, path: str | Path) -> str:
        """The listed key of ``path`` (the same folder written another way maps to its listed key)."""
        text = str(Path(path))
        if text in self._runs:
            return text
        resolved = Path(path).resolve()
        return next((k for k in self._runs if Path(k).resolve() == resolved), text)

    def _fill_study_combo(self) -> None:
        studies = sorted({row.study for row in self.rows if row.study}, reverse=True)
        current = self.study_combo.currentText()
        self.study_combo.blockSignals(True)
        self.study_combo.clear()
        self.study_combo.addItems([ALL_STUDIES, NO_STUDY] + studies)
        self.study_combo.setCurrentText(current if current in [ALL_STUDIES, NO_STUDY] + studies else ALL_STUDIES)
        self.study_combo.blockSignals(False)

    def _on_refresh_clicked(self) -> None:
        self.refresh()

    def _on_filter_changed(self, *_args) -> None:
        text = self.filter_edit.text().strip().lower()
        status, study = self.status_combo.currentText(), self.study_combo.currentText()
        for r in range(self.table.rowCount()):
            cells = [self.table.item(r, c).text().lower() for c in range(self.table.columnCount())]
            in_study = self.table.item(r, STUDY_COL).text()
            hidden = ((bool(text) and not any(text in c for c in cells)) or (status != "all" and cells[1] != status)
                      or (study == NO_STUDY and bool(in_study))
                      or (study not in (ALL_STUDIES, NO_STUDY) and in_study != study))
            self.table.setRowHidden(r, hidden)

    def _on_selection_changed(self) -> None:
        row = self.table.currentRow()
        item = self.table.item(row, 0) if row >= 0 else None
        if item is not None and item.isSelected() and self._path(row) in self._runs:
            self.run_selected.emit(self._runs[self._path(row)])
        elif self.selected_runs():
            self.run_selected.emit(self.selected_runs()[0])
