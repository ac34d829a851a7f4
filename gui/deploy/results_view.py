"""One batch's results in the Classifications tab: a row per image (page), with preview and filters.

The table is a model over the result rows (cells are formatted when painted,
so a batch of 20,000 images opens as fast as one of 20), and the preview (a
zoomable :class:`~gui.canvas.ImageCanvas`, with the row's saved heatmap as an
overlay at an adjustable opacity) is decoded at the image's own size by a
:class:`~gui.tasks.TaskRunner` (:func:`gui.canvas.load_native_qimage`), never in the GUI thread.
"""

from __future__ import annotations

import os
from functools import partial
from pathlib import Path

from PySide6.QtCore import QAbstractTableModel, QModelIndex, Qt, QUrl, Slot
from PySide6.QtGui import QBrush, QColor, QDesktopServices, QImage
from PySide6.QtWidgets import (QAbstractItemView, QComboBox, QHBoxLayout, QLabel, QPushButton, QSlider,
                               QSplitter, QTableView, QVBoxLayout, QWidget)

from gui.canvas import ImageCanvas, load_native_qimage
from gui.tasks import TaskRunner

PREVIEW_PX = 360  # the preview side's starting width
ERRORS_ONLY = "__errors__"
ERROR_BRUSH = QBrush(QColor("#fde2e2"))


class ResultRowsModel(QAbstractTableModel):
    """The rows of a ``predict_folder`` result as a table: file, status, class, probability, p_<class>..., reason."""

    def __init__(self, rows: list[dict], classes: list[str], folder: str = "", parent=None):
        super().__init__(parent)
        self.rows, self.classes = rows, classes
        self.prefix = os.path.join(os.path.normpath(folder), "") if folder else ""  # "<folder>/"
        self.headers = ["file", "status", "class", "probability"] + [f"p_{c}" for c in classes] + ["reason"]

    def rowCount(self, parent: QModelIndex = QModelIndex()) -> int:
        """One row per result row."""
        return 0 if parent.isValid() else len(self.rows)

    def columnCount(self, parent: QModelIndex = QModelIndex()) -> int:
        """The :attr:`headers`."""
        return 0 if parent.isValid() else len(self.headers)

    def headerData(self, section: int, orientation, role=Qt.ItemDataRole.DisplayRole):
        """Column titles."""
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return self.headers[section]
        return None

    def data(self, index: QModelIndex, role=Qt.ItemDataRole.DisplayRole):
        """Cell text (and the tooltip of the file and reason columns); failed rows on a red background."""
        row = self.rows[index.row()]
        if role == Qt.ItemDataRole.BackgroundRole:
            return ERROR_BRUSH if row["status"] != "ok" else None
        last = len(self.headers) - 1
        if role == Qt.ItemDataRole.DisplayRole or (role == Qt.ItemDataRole.ToolTipRole and index.column() in (0, last)):
            return self.cell(row, index.column())
        return None

    def cell(self, row: dict, column: int) -> str:
        """The text of ``row``'s cell in ``column``."""
        n = len(self.classes)
        if column == 0:
            return self._file(row)
        if column <= 2:
            return (row["status"], row.get("class") or "")[column - 1]
        if column <= 3 + n:
            return _fmt(row.get("prob") if column == 3 else row.get(f"p_{self.classes[column - 4]}"))
        return row.get("reason") or ""

    def _file(self, row: dict) -> str:
        """The row's file relative to the folder, printable (odd bytes escaped), with its page when it has pages."""
        from engine.io_utils import display_path

        path = row["path"]
        if self.prefix and path.startswith(self.prefix):
            path = path[len(self.prefix):]
        return display_path(path) + (f" [page {row['page']}]" if row.get("page") else "")


class ClassifyResultsWidget(QWidget):
    """Table (file, status, class, probability, p_<class>..., reason), filter, preview and CSV buttons.

    ``result`` is the dict returned by :func:`engine.evaluation.predict.predict_folder`.
    """

    def __init__(self, result: dict, *, model: str = "", folder: str = "", parent: QWidget | None = None):
        super().__init__(parent)
        self.result, self.model, self.folder = result, model, folder
        self.rows: list[dict] = list(result["rows"])
        self.classes: list[str] = list(result["classes"])
        self.summary_label = QLabel(self.summary_text())
        self.summary_label.setWordWrap(True)
        self.filter_combo = QComboBox()
        self.filter_combo.addItem("All images", None)
        self.filter_combo.addItem("Errors only", ERRORS_ONLY)
        for name in self.classes:
            self.filter_combo.addItem(f"Class: {name}", name)
        self.filter_combo.currentIndexChanged.connect(self._on_filter_changed)
        self.open_csv_button = QPushButton("Open CSV")
        self.open_csv_button.clicked.connect(self._on_open_csv)
        self.show_folder_button = QPushButton("Show folder")
        self.show_folder_button.clicked.connect(self._on_show_folder)
        top = QHBoxLayout()
        top.addWidget(self.summary_label, 1)
        top.addWidget(QLabel("Show:"))
        top.addWidget(self.filter_combo)
        top.addWidget(self.open_csv_button)
        top.addWidget(self.show_folder_button)

        self.model_ = ResultRowsModel(self.rows, self.classes, folder, self)
        self.table = QTableView()
        self.table.setModel(self.model_)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().hide()
        self.table.verticalHeader().setDefaultSectionSize(self.fontMetrics().height() + 8)
        self.table.setWordWrap(False)
        self.table.selectionModel().selectionChanged.connect(lambda *_: self._on_selection_changed())
        self._runner = TaskRunner(self, threads=1, name="histodesk-results-preview")
        self.image_label = ImageCanvas("Select a row to preview its image.")  # the image canvas
        self.image_label.setMinimumSize(PREVIEW_PX // 2, PREVIEW_PX // 2)
        self.heatmap_slider = QSlider(Qt.Orientation.Horizontal)  # the saved heatmap's opacity over the image
        self.heatmap_slider.setRange(0, 100)
        self.heatmap_slider.setValue(100)
        self.heatmap_slider.setToolTip("Opacity of the saved heatmap over the image")
        self.heatmap_slider.valueChanged.connect(lambda v: self.image_label.set_overlay_opacity(v / 100))
        self.heatmap_row = QWidget()
        heat_lay = QHBoxLayout(self.heatmap_row)
        heat_lay.setContentsMargins(0, 0, 0, 0)
        heat_lay.addWidget(QLabel("Heatmap"))
        heat_lay.addWidget(self.heatmap_slider, 1)
        self.heatmap_row.setVisible(False)
        self.detail_label = QLabel()
        self.detail_label.setWordWrap(True)
        self.detail_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        side = QWidget()
        side_lay = QVBoxLayout(side)
        side_lay.addWidget(self.image_label, 1)
        side_lay.addWidget(self.heatmap_row)
        side_lay.addWidget(self.detail_label)
        split = QSplitter(Qt.Orientation.Horizontal)
        split.addWidget(self.table)
        split.addWidget(side)
        split.setStretchFactor(0, 1)
        split.setSizes([760, PREVIEW_PX + 40])
        lay = QVBoxLayout(self)
        lay.addLayout(top)
        lay.addWidget(split, 1)
        self.table.horizontalHeader().setStretchLastSection(True)
        self._fit_columns()

    # --- public API ---------------------------------------------------------
    def columns(self) -> list[str]:
        """Column titles: file, status, class, probability, p_<class>..., reason."""
        return list(self.model_.headers)

    def summary_text(self) -> str:
        """"N classified, M failed, backend ..." plus the model and where the CSV is."""
        from html import escape

        from engine.io_utils import display_path

        r = self.result
        text = f"<b>{r['n_ok']} classified, {r['n_failed']} failed</b>, backend {r['backend']}"
        if r.get("device"):
            text += f" on {r['device']}"
        if self.model:
            text += f" &middot; model {escape(display_path(Path(self.model).name))}"
        return text + f"<br><small>{escape(display_path(r['csv']))}</small>"

    def visible_rows(self) -> list[dict]:
        """The result rows the current filter shows, in table order."""
        return [self.rows[i] for i in range(len(self.rows)) if not self.table.isRowHidden(i)]

    def select_row(self, index: int) -> None:
        """Select table row ``index`` (shows its preview)."""
        self.table.selectRow(index)

    def set_filter(self, value: str | None) -> None:
        """None (all rows), :data:`ERRORS_ONLY` or a class name."""
        self.filter_combo.setCurrentIndex(max(0, self.filter_combo.findData(value)))

    # --- internals ------------------------------------------------------------
    def _fit_columns(self, sample: int = 200) -> None:
        """Column widths from the titles and the first ``sample`` rows (Qt's ResizeToContents would format
        every cell of up to 1000 rows, several times, in the GUI thread); the file column is 260 px."""
        metrics = self.table.fontMetrics()
        rows = self.rows[:sample]
        for j, title in enumerate(self.model_.headers[1:-1], start=1):
            widest = max(metrics.horizontalAdvance(text) for text in [title] + [self.model_.cell(r, j) for r in rows])
            self.table.setColumnWidth(j, widest + 24)
        self.table.setColumnWidth(0, 260)

    @Slot()
    def _on_filter_changed(self) -> None:
        value = self.filter_combo.currentData()
        for i, row in enumerate(self.rows):
            shown = value is None or (row["status"] == "error" if value == ERRORS_ONLY else row.get("class") == value)
            self.table.setRowHidden(i, not shown)

    def _on_selection_changed(self) -> None:
        selected = self.table.selectionModel().selectedRows()
        if not selected:
            return
        index = selected[0].row()
        row = self.rows[index]
        self._runner.clear()  # previews of a row no longer selected: not started, or dropped
        heatmap = row.get("heatmap") if row["status"] == "ok" else None
        self.heatmap_row.setVisible(bool(heatmap))
        if row["status"] == "ok":
            self.image_label.set_message("Loading...")
            self._runner.submit(load_native_qimage, row["path"], row.get("page") or 0,
                                on_done=partial(self._on_image_loaded, heatmap),
                                on_error=lambda reason: self.image_label.set_message(f"Cannot display this file: "
                                                                                     f"{reason}"))
        else:
            self.image_label.set_message("Cannot display this file.")
        from html import escape

        from engine.io_utils import display_path

        where = escape(display_path(row["path"])) + (f" (page {row['page']})" if row.get("page") else "")
        if row["status"] == "ok":
            self.detail_label.setText(f"<b>{escape(row['class'])}</b> ({row['prob']:.1%})<br>{where}")
        else:
            self.detail_label.setText(f"<b>Error</b>: {escape(str(row.get('reason')))}<br>{where}")

    def _on_image_loaded(self, heatmap: str | None, image: QImage) -> None:
        """Show the decoded image, then decode its saved heatmap (if any) as the overlay."""
        self.image_label.set_image(image, keep_view=True)
        if heatmap:
            self._runner.submit(load_native_qimage, heatmap, 0, on_done=self._on_heatmap_loaded)

    def _on_heatmap_loaded(self, image: QImage) -> None:
        self.image_label.set_overlay(image, self.heatmap_slider.value() / 100)

    def shutdown(self, wait_ms: int = 2000) -> None:
        """Drop queued previews and wait up to ``wait_ms`` for the one being decoded."""
        self._runner.shutdown(wait_ms)

    @Slot()
    def _on_open_csv(self) -> None:
        QDesktopServices.openUrl(QUrl.fromLocalFile(self.result["csv"]))

    @Slot()
    def _on_show_folder(self) -> None:
        QDesktopServices.openUrl(QUrl.fromLocalFile(str(Path(self.result["csv"]).parent)))


def _fmt(value) -> str:
    return "" if value is None else f"{float(value):.4f}"

