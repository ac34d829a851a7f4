"""The "Classifications" tab: every batch classification (GUI or CLI) and the results of the selected one.

Batches are read from HistoDesk's outputs folder (and the other folders
batches were written to) by :func:`engine.evaluation.batch_output.list_batches`;
"Open folder" shows a batch's folder in the file manager and "Continue"
resumes an interrupted, cancelled or failed batch where it stopped.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Callable

from PySide6.QtCore import Qt, QUrl, Slot
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import (QAbstractItemView, QHBoxLayout, QHeaderView, QLabel, QPushButton, QSplitter,
                               QTableWidget, QTableWidgetItem, QVBoxLayout, QWidget)

from gui.deploy.results_view import ClassifyResultsWidget

COLUMNS = ("started", "model", "folder", "status", "images", "results folder")
UNFINISHED = ("interrupted", "cancelled", "failed")


class ClassificationsWidget(QWidget):
    """Batch list (top) with Open folder / Continue / Refresh, and the selected batch's results (bottom).

    ``on_continue(batch)`` is called with a batch's record (its batch.json plus ``out``) to resume it.
    """

    def __init__(self, on_continue: Callable[[dict], None] | None = None, parent: QWidget | None = None):
        super().__init__(parent)
        self.on_continue = on_continue
        self.batches: list[dict] = []
        self.results: ClassifyResultsWidget | None = None
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(list(COLUMNS))
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().hide()
        self.table.setWordWrap(False)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.itemSelectionChanged.connect(self._on_selection_changed)
        self.open_folder_button = QPushButton("Open folder")
        self.open_folder_button.setToolTip("Show the selected batch's results folder")
        self.open_folder_button.clicked.connect(self._on_open_folder)
        self.continue_button = QPushButton("Continue")
        self.continue_button.setToolTip("Classify the images this batch did not reach (same model and settings)")
        self.continue_button.clicked.connect(self._on_continue)
        self.refresh_button = QPushButton("Refresh")
        self.refresh_button.clicked.connect(lambda: self.refresh())
        self.message = QLabel()
        self.message.setWordWrap(True)
        buttons = QHBoxLayout()
        buttons.addWidget(QLabel("<b>Batches</b> (newest first)"))
        buttons.addStretch(1)
        for button in (self.open_folder_button, self.continue_button, self.refresh_button):
            buttons.addWidget(button)
        top = QWidget()
        top_lay = QVBoxLayout(top)
        top_lay.setContentsMargins(0, 0, 0, 0)
        top_lay.addLayout(buttons)
        top_lay.addWidget(self.table)
        self.results_holder = QWidget()
        self.results_lay = QVBoxLayout(self.results_holder)
        self.results_lay.setContentsMargins(0, 0, 0, 0)
        self.results_lay.addWidget(self.message)
        split = QSplitter(Qt.Orientation.Vertical)
        split.addWidget(top)
        split.addWidget(self.results_holder)
        split.setSizes([180, 560])
        lay = QVBoxLayout(self)
        lay.addWidget(split)
        self.refresh()

    # --- public API ---------------------------------------------------------
    def refresh(self, select: str | None = None) -> None:
        """Re-read the batch list; select the batch in folder ``select`` (else keep the selection)."""
        from engine.evaluation.batch_output import list_batches

        keep = select or (self.selected() or {}).get("out")
        self.batches = list_batches()
        self.table.blockSignals(True)
        self.table.setRowCount(len(self.batches))
        for i, batch in enumerate(self.batches):
            for j, value in enumerate(_cells(batch)):
                item = QTableWidgetItem(value)
                item.setToolTip(value)
                self.table.setItem(i, j, item)
        self.table.blockSignals(False)
        index = next((i for i, b in enumerate(self.batches) if keep and _same(b["out"], keep)), None)
        if index is not None:
            self.table.selectRow(index)
        self._update_buttons()

    def selected(self) -> dict | None:
        """The selected batch's record (batch.json plus ``out``), or None."""
        rows = self.table.selectionModel().selectedRows()
        return self.batches[rows[0].row()] if rows and rows[0].row() < len(self.batches) else None

    def show_result(self, result: dict, *, model: str = "", folder: str = "") -> ClassifyResultsWidget:
        """List the batch of ``result`` (a ``predict_folder`` result), select it and show its rows."""
        self.refresh(select=result["out"])
        if self.results is None or self.results.result is not result:
            self._show(result, model, folder)
        return self.results

    # --- internals ------------------------------------------------------------
    def _show(self, result: dict, model: str, folder: str) -> None:
        if self.results is not None:
            self.results_lay.removeWidget(self.results)
            self.results.deleteLater()
        self.results = ClassifyResultsWidget(result, model=model, folder=folder)
        self.results_lay.addWidget(self.results, 1)
        self.message.hide()

    @Slot()
    def _on_selection_changed(self) -> None:
        from engine.errors import HistoDeskError
        from engine.evaluation.batch_output import load_batch

        self._update_buttons()
        batch = self.selected()
        if batch is None or (self.results is not None and _same(self.results.result.get("out", ""), batch["out"])):
            return
        try:
            result = load_batch(batch["out"])
        except HistoDeskError as exc:
            self.message.setText(str(exc))
            self.message.show()
            return
        self._show(result, result.get("model") or "", result.get("folder") or "")

    def _update_buttons(self) -> None:
        batch = self.selected()
        self.open_folder_button.setEnabled(batch is not None)
        self.continue_button.setEnabled(batch is not None and batch.get("status") in UNFINISHED
                                        and self.on_continue is not None)

    @Slot()
    def _on_open_folder(self) -> None:
        batch = self.selected()
        if batch is not None:
            QDesktopServices.openUrl(QUrl.fromLocalFile(batch["out"]))

    @Slot()
    def _on_continue(self) -> None:
        batch = self.selected()
        if batch is not None and self.on_continue is not None:
            self.on_continue(batch)


def _same(a: str, b: str) -> bool:
    return os.path.realpath(a) == os.path.realpath(b)


def _cells(batch: dict) -> list[str]:
    """Table cells of one batch record."""
    from engine.io_utils import display_path

    counts = batch.get("counts") or {}
    images = f"{counts.get('ok', 0)} ok, {counts.get('error', 0)} failed"
    if batch.get("status") != "completed" and counts.get("files"):
        images += f" ({counts.get('files_done', 0)}/{counts['files']} files)"
    started = str(batch.get("started") or "")[:19].replace("T", " ")
    return [started, Path(str(batch.get("model") or "?")).name, display_path(batch.get("folder") or "?"),
            str(batch.get("status") or "?"), images, display_path(batch["out"])]
