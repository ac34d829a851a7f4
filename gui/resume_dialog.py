"""Train > Resume run...: the runs that can be resumed (cancelled or interrupted), with status and epochs done."""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (QAbstractItemView, QDialog, QDialogButtonBox, QFileDialog, QHeaderView, QLabel,
                               QPushButton, QTableWidget, QTableWidgetItem, QVBoxLayout, QWidget)

from engine.run_table import RunRow
from gui.run_lists import is_ssl_run

COLUMNS = ("run", "kind", "status", "epochs done", "started")


class ResumeRunDialog(QDialog):
    """Lists ``rows`` (resumable runs); Resume emits ``chosen(row)``, "Other folder..." ``other_folder(path)``."""

    chosen = Signal(object)
    other_folder = Signal(str)

    def __init__(self, rows: list[RunRow], parent: QWidget | None = None, runs_dir: str | None = None):
        from gui.resume import epochs_done

        super().__init__(parent)
        self.setWindowTitle("Resume run")
        self.resize(640, 320)
        self.rows, self.runs_dir = rows, runs_dir
        note = QLabel("Cancelled and interrupted runs go on from their last finished epoch; their curves keep "
                      "the earlier epochs." if rows else "No cancelled or interrupted run to resume in the runs "
                      "folder. Completed and failed runs cannot be resumed.")
        note.setWordWrap(True)
        self.table = QTableWidget(len(rows), len(COLUMNS))
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().setVisible(False)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.table.horizontalHeader().setStretchLastSection(True)
        for r, row in enumerate(rows):
            total = f" / {row.epochs_total}" if row.epochs_total else ""
            cells = (row.run.id, "self-supervised" if is_ssl_run(row.run) else "training", row.status,
                     f"{epochs_done(row)}{total}", row.date)
            for c, text in enumerate(cells):
                item = QTableWidgetItem(str(text))
                item.setToolTip(str(row.run.path) if c == 0 else "")
                self.table.setItem(r, c, item)
        self.table.itemSelectionChanged.connect(self._on_selection)
        self.table.itemDoubleClicked.connect(lambda _item: self._on_resume())
        buttons = QDialogButtonBox()
        self.resume_button = buttons.addButton("Resume", QDialogButtonBox.ButtonRole.AcceptRole)
        self.resume_button.setEnabled(False)
        self.resume_button.setDefault(True)  # Enter resumes the selected run
        self.other_button = QPushButton("Other folder...")
        self.other_button.setToolTip("Resume a run folder outside this list (another runs folder)")
        buttons.addButton(self.other_button, QDialogButtonBox.ButtonRole.ActionRole)
        buttons.addButton(QDialogButtonBox.StandardButton.Cancel)
        self.resume_button.clicked.connect(self._on_resume)
        self.other_button.clicked.connect(self._on_other)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(note)
        layout.addWidget(self.table, 1)
        layout.addWidget(buttons)
        if rows:
            self.table.selectRow(0)

    def selected_row(self) -> RunRow | None:
        """The run chosen in the list, or None."""
        rows = self.table.selectionModel().selectedRows()
        return self.rows[rows[0].row()] if rows else None

    def _on_selection(self) -> None:
        self.resume_button.setEnabled(self.selected_row() is not None)

    def _on_resume(self) -> None:
        row = self.selected_row()
        if row is not None:
            self.accept()
            self.chosen.emit(row)

    def _on_other(self) -> None:
        from engine.paths import runs_dir

        path = QFileDialog.getExistingDirectory(self, "Resume which run folder?", str(self.runs_dir or runs_dir()))
        if path:
            self.accept()
            self.other_folder.emit(path)
