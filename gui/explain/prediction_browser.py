"""Prediction browser: a finished run's per-image predictions, filters, and CAM heatmaps.

The table lists ``predictions.csv`` (sortable; misclassified rows are pink);
filters narrow it to, e.g., the misclassified test images of one patient.
Selecting a row explains that image in the :class:`HeatmapPanelWidget` beside
it; Up/Down (or N/P) step through the filtered rows. The run's model is
loaded once, off the GUI thread, by the browser's :class:`ExplainService`.
"""

from __future__ import annotations

import os
from pathlib import Path

from PySide6.QtCore import QItemSelectionModel, QModelIndex, Qt, Slot
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QAbstractItemView, QCheckBox, QComboBox, QDoubleSpinBox, QGridLayout, QHeaderView, QLabel, QSplitter,
    QTableView, QVBoxLayout, QWidget,
)

from engine.errors import DataError
from gui.explain.heatmap_panel import HeatmapPanelWidget
from gui.explain.predictions_model import ANY, PredictionFilterModel, PredictionTableModel
from gui.explain.worker import ExplainService
from gui.tasks import TaskRunner

ALL_PATIENTS = "All patients"
SPLIT_ORDER = ("test", "val", "train")
FIT_SAMPLE = 50  # rows measured to fit the columns (each costs ~0.3 ms)
INLINE_BYTES = 256 * 1024  # a larger predictions.csv (over ~1000 images) is read in a pool thread


def load_predictions(run_dir: str | os.PathLike) -> list[dict]:
    """Rows of the run's ``predictions.csv``; DataError with advice when there is none."""
    from engine.evaluation.predictions import read_predictions_csv

    return read_predictions_csv(predictions_path(run_dir))


def predictions_path(run_dir: str | os.PathLike) -> Path:
    """The run's ``predictions.csv``; DataError with advice when there is none."""
    path = Path(run_dir) / "predictions.csv"
    if not path.exists():
        raise DataError(f"The run {Path(run_dir).name} has no predictions.csv: it has not finished or its "
                        "evaluation failed. Open a completed run.")
    return path


def _spin(value: float) -> QDoubleSpinBox:
    spin = QDoubleSpinBox()
    spin.setRange(0.0, 1.0)
    spin.setSingleStep(0.05)
    spin.setDecimals(3)
    spin.setValue(value)
    return spin


class PredictionBrowserWidget(QWidget):
    """Browse one run's predictions and their heatmaps (see the module docstring)."""

    def __init__(self, run_dir: str | os.PathLike, parent: QWidget | None = None, *, device: str = "auto"):
        super().__init__(parent)
        from engine.evaluation.predictions import prediction_classes

        self.run_dir = str(run_dir)
        inline = predictions_path(run_dir).stat().st_size <= INLINE_BYTES
        rows = load_predictions(run_dir) if inline else []
        self.classes = prediction_classes(rows)
        self.service = ExplainService(self.run_dir, self, device=device)
        self.source_model = PredictionTableModel(rows, self)
        self.proxy = PredictionFilterModel(self)
        self.proxy.setSourceModel(self.source_model)
        self._build_filters(rows)
        self.table = QTableView()
        self.table.setModel(self.proxy)
        # file order until a header is clicked (enabling sorting would first sort by the indicator's column)
        self.table.horizontalHeader().setSortIndicator(-1, Qt.SortOrder.AscendingOrder)
        self.table.setSortingEnabled(True)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().setVisible(False)
        self.table.setWordWrap(False)
        self.table.setTextElideMode(Qt.TextElideMode.ElideMiddle)  # keep "...-100-001.png" visible
        self.table.verticalHeader().setDefaultSectionSize(22)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)  # fitted once: ResizeToContents would
        header.setResizeContentsPrecision(FIT_SAMPLE)  # measure every row on each filter change (seconds)
        header.setStretchLastSection(True)
        self.table.resizeColumnsToContents()
        self.table.selectionModel().currentRowChanged.connect(self._on_current_changed)
        self.count_label = QLabel()
        self.panel = HeatmapPanelWidget(self.service)
        self.panel.set_classes(self.classes)
        self._layout_views()
        for keys, step in (("N", 1), ("P", -1)):
            shortcut = QShortcut(QKeySequence(keys), self)
            shortcut.setContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
            shortcut.activated.connect(lambda s=step: self.step(s))
        self._update_count()
        # After a click on a filter or a method, Up/Down step through images again (not through combo items).
        for combo in (self.split_combo, self.class_combo, self.panel.method_combo, self.panel.target_combo,
                      self.panel.cmap_combo):
            combo.activated.connect(self._on_control_used)
        self.misclassified_check.clicked.connect(self._on_control_used)
        self.table.setFocus()
        self.select_row(0)  # show a heatmap at once; the model loads in the background
        if not inline:
            self.count_label.setText("Loading predictions...")
            self._loader = TaskRunner(self, threads=1, name="histodesk-predictions")
            self._loader.submit(load_predictions, self.run_dir, on_done=self.set_rows,
                                on_error=lambda message: self.count_label.setText(f"Cannot read the predictions: "
                                                                                  f"{message}"))

    # --- construction -------------------------------------------------------
    def _build_filters(self, rows: list[dict]) -> None:
        self.misclassified_check = QCheckBox("Misclassified only")
        self.split_combo, self.class_combo, self.patient_combo = QComboBox(), QComboBox(), QComboBox()
        self.patient_combo.setEditable(True)
        self.patient_combo.setInsertPolicy(QComboBox.InsertPolicy.NoInsert)
        self.patient_combo.lineEdit().setPlaceholderText("patient id")
        self._fill_filters(rows)
        self.min_spin, self.max_spin = _spin(0.0), _spin(1.0)
        self.misclassified_check.toggled.connect(self._on_filters_changed)
        for combo in (self.split_combo, self.class_combo):
            combo.currentIndexChanged.connect(self._on_filters_changed)
        self.patient_combo.currentTextChanged.connect(self._on_filters_changed)
        for spin in (self.min_spin, self.max_spin):
            spin.valueChanged.connect(self._on_filters_changed)

    def _title(self) -> str:
        if not self.classes:  # still reading predictions.csv
            return f"<b>{Path(self.run_dir).name}</b> · loading its predictions..."
        return (f"<b>{Path(self.run_dir).name}</b> · {len(self.classes)} classes · "
                "Up/Down or N/P step through the images")

    def _layout_views(self) -> None:
        filters = QGridLayout()
        filters.addWidget(self.misclassified_check, 0, 0, 1, 2)
        filters.addWidget(QLabel("Split"), 0, 2)
        filters.addWidget(self.split_combo, 0, 3)
        filters.addWidget(QLabel("Class"), 0, 4)
        filters.addWidget(self.class_combo, 0, 5)
        filters.addWidget(QLabel("Confidence"), 1, 0)
        conf = QGridLayout()
        conf.addWidget(self.min_spin, 0, 0)
        conf.addWidget(QLabel("to"), 0, 1)
        conf.addWidget(self.max_spin, 0, 2)
        filters.addLayout(conf, 1, 1, 1, 2)
        filters.addWidget(QLabel("Patient"), 1, 4)
        filters.addWidget(self.patient_combo, 1, 5)
        filters.setColumnStretch(5, 1)
        self.title = title = QLabel(self._title())
        title.setWordWrap(True)
        left = QWidget()
        lay = QVBoxLayout(left)
        lay.setContentsMargins(4, 4, 4, 4)
        lay.addWidget(title)
        lay.addLayout(filters)
        lay.addWidget(self.table, 1)
        lay.addWidget(self.count_label)
        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.addWidget(left)
        splitter.addWidget(self.panel)
        splitter.setStretchFactor(0, 1)
        splitter.setStretchFactor(1, 1)
        splitter.setSizes([560, 640])
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.addWidget(splitter)

    def _fill_filters(self, rows: list[dict]) -> None:
        """The split, class and patient choices present in ``rows``."""
        for combo in (self.split_combo, self.class_combo, self.patient_combo):
            combo.blockSignals(True)
            combo.clear()
        self.split_combo.addItem("All splits", ANY)
        present = {r.get("split") for r in rows if r.get("split")}
        for split in [s for s in SPLIT_ORDER if s in present] + sorted(present - set(SPLIT_ORDER)):
            self.split_combo.addItem(split, split)
        self.class_combo.addItem("All classes", ANY)
        for which in ("true", "predicted"):
            for name in self.classes:
                self.class_combo.addItem(f"{which}: {name}", f"{which}\t{name}")
        self.patient_combo.addItem(ALL_PATIENTS)
        self.patient_combo.addItems(sorted({str(r["patient"]) for r in rows if r.get("patient") is not None}))
        for combo in (self.split_combo, self.class_combo, self.patient_combo):
            combo.blockSignals(False)

    # --- public API ---------------------------------------------------------
    def set_rows(self, rows: list[dict]) -> None:
        """Show ``rows`` (read in a pool thread when predictions.csv is large) and explain the first."""
        from engine.evaluation.predictions import prediction_classes

        self.classes = prediction_classes(rows)
        self.title.setText(self._title())
        self.panel.set_classes(self.classes)
        self._fill_filters(rows)
        self.source_model.set_rows(rows)  # filtered once, by the filters chosen meanwhile
        self.table.resizeColumnsToContents()
        self._update_count()
        self.select_row(0)

    def row_count(self) -> int:
        """Rows passing the filters."""
        return self.proxy.rowCount()

    def total_count(self) -> int:
        """Rows in predictions.csv."""
        return self.source_model.rowCount()

    def visible_rows(self) -> list[dict]:
        """Row dicts passing the filters, in display order."""
        return [self.proxy.row(i) for i in range(self.proxy.rowCount())]

    def current_row(self) -> int:
        """Display row of the selected image, or -1."""
        index = self.table.currentIndex()
        return index.row() if index.isValid() else -1

    def current_prediction(self) -> dict | None:
        """The selected image's prediction row, or None."""
        row = self.current_row()
        return self.proxy.row(row) if row >= 0 else None

    def select_row(self, row: int) -> None:
        """Select display row ``row`` (clamped to the visible rows); explains that image."""
        if self.proxy.rowCount() == 0:
            return
        row = max(0, min(row, self.proxy.rowCount() - 1))
        index = self.proxy.index(row, 0)
        flags = QItemSelectionModel.SelectionFlag.ClearAndSelect | QItemSelectionModel.SelectionFlag.Rows
        self.table.selectionModel().setCurrentIndex(index, flags)
        self.table.scrollTo(index)

    def step(self, delta: int) -> None:
        """Select the row ``delta`` rows below (negative: above) the current one."""
        current = self.current_row()
        self.select_row(0 if current < 0 else current + delta)

    def set_filters(self, **filters) -> None:
        """Set filters programmatically through the widgets (see PredictionFilterModel)."""
        if "misclassified_only" in filters:
            self.misclassified_check.setChecked(bool(filters["misclassified_only"]))
        if "split" in filters:
            self.split_combo.setCurrentIndex(max(0, self.split_combo.findData(filters["split"])))
        if "class_filter" in filters:
            key = filters["class_filter"]
            self.class_combo.setCurrentIndex(max(0, self.class_combo.findData("\t".join(key) if key else ANY)))
        if "patient" in filters:
            self.patient_combo.setCurrentText(filters["patient"] or ALL_PATIENTS)
        if "min_prob" in filters:
            self.min_spin.setValue(filters["min_prob"])
        if "max_prob" in filters:
            self.max_spin.setValue(filters["max_prob"])

    def shutdown(self) -> None:
        """Stop background work (call before the widget goes away)."""
        self.service.shutdown()
        if hasattr(self, "_loader"):
            self._loader.shutdown()

    # --- slots --------------------------------------------------------------
    @Slot()
    def _on_filters_changed(self) -> None:
        patient = self.patient_combo.currentText().strip()
        self.proxy.set_filters(
            misclassified_only=self.misclassified_check.isChecked(),
            min_prob=self.min_spin.value(), max_prob=self.max_spin.value(),
            class_filter=tuple(key.split("\t", 1)) if (key := self.class_combo.currentData()) else ANY,
            split=self.split_combo.currentData(),
            patient=ANY if patient in ("", ALL_PATIENTS) else patient)
        self._update_count()
        if self.proxy.rowCount() == 0:
            self.panel.clear("No image matches the filters")
        elif not self.table.currentIndex().isValid():
            self.select_row(0)

    @Slot()
    def _on_control_used(self) -> None:
        self.table.setFocus()

    def _update_count(self) -> None:
        wrong = sum(1 for r in self.source_model.rows() if r.get("correct") is False and self.proxy.accepts(r))
        self.count_label.setText(f"{self.row_count()} of {self.total_count()} images · {wrong} misclassified")

    @Slot(QModelIndex, QModelIndex)
    def _on_current_changed(self, current: QModelIndex, _previous: QModelIndex) -> None:
        if not current.isValid():
            return
        row = self.proxy.row(current.row())
        probs = [row.get(f"p_{c}") for c in self.classes]
        verdict = {True: "✓ correct", False: "<span style='color:#c62828'>✗ misclassified</span>"}
        caption = (f"<b>{os.path.basename(row['path'])}</b> · true <b>{row.get('true_label') or '?'}</b> · "
                   f"predicted <b>{row.get('predicted_label')}</b> ({row.get('predicted_probability') or 0:.3f}) · "
                   f"{verdict.get(row.get('correct'), '')} · patient {row.get('patient') or '–'} · "
                   f"{row.get('magnification') or ''} · {row.get('split') or ''}")
        self.panel.show_image(row["path"], probs=None if None in probs else probs,
                              true_label=row.get("true_label"), caption=caption)

    def closeEvent(self, event) -> None:
        """Stop background work before closing."""
        self.shutdown()
        super().closeEvent(event)
