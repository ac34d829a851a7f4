"""Evaluate on another dataset...: a run, a dataset folder and a label map onto the run's classes.

The label map editor has one row per class of the run, each holding the
dataset's labels (comma-separated) that count as that class, pre-filled with
the class's own name. The preview parses it with the engine's
:func:`~engine.evaluation.external.parse_label_map` (and checks it against the
run's classes), so a bad map is shown before anything runs.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QComboBox, QDialog, QDialogButtonBox, QHeaderView, QLabel, QLineEdit, QTableWidget, QTableWidgetItem,
    QVBoxLayout, QWidget,
)

from engine.errors import HistoDeskError
from engine.runs import Run
from gui.deploy.classify_dialog import TTA_LABELS
from gui.path_field import PathFieldWidget
from gui.results.compare import elide
from gui.results.intervals import html_escape
from gui.ssl.widgets import form_layout
from gui.wizard.fields import choice_combo


def run_classes(run: Run) -> list[str]:
    """The class names a run was trained on (summary.json), ``[]`` when unknown."""
    try:
        classes = run.summary.get("classes") or []
    except HistoDeskError:
        return []
    return [str(c) for c in classes] if isinstance(classes, list) else []


class ExternalEvaluationDialog(QDialog):
    """Choose the run, the dataset and the label map; :meth:`request` holds the evaluate_external arguments."""

    def __init__(self, runs: list[Run], parent: QWidget | None = None, *, current: Run | None = None,
                 dataset: str = ""):
        from engine.evaluation.predict_options import PredictOptions
        from engine.schema import choices

        super().__init__(parent)
        self.setWindowTitle("Evaluate on another dataset")
        self.runs: list[Run] = []
        self.classes: list[list[str]] = []  # per run, read once (summary.json), not at each edit of the map
        for run in runs:
            classes = run_classes(run)
            if classes and run.model_weights.exists():
                self.runs.append(run)
                self.classes.append(classes)
        self.run_combo = QComboBox()
        self.run_combo.setMinimumContentsLength(36)
        for run in self.runs:
            self.run_combo.addItem(elide(run.id, 48), str(run.path))
            self.run_combo.setItemData(self.run_combo.count() - 1, str(run.path), Qt.ItemDataRole.ToolTipRole)
        if current is not None:
            index = self.run_combo.findData(str(current.path))
            self.run_combo.setCurrentIndex(max(index, 0))
        self.dataset_edit = PathFieldWidget("External dataset folder", placeholder="folder (or CSV list) of the "
                                            "other dataset, e.g. BACH", text=dataset)
        self.name_edit = QLineEdit()
        self.name_edit.setPlaceholderText("default: the dataset folder's name")
        self.tta_combo = choice_combo(choices(PredictOptions, "tta"), TTA_LABELS)
        self.tta_combo.setToolTip("Test-time augmentation: average the prediction over flipped/rotated views")
        self.map_table = QTableWidget(0, 2)
        self.map_table.setHorizontalHeaderLabels(["run class",
                                                  "dataset labels counted as this class (comma-separated)"])
        self.map_table.verticalHeader().setVisible(False)
        self.map_table.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        self.map_table.horizontalHeader().setStretchLastSection(True)
        self.map_table.setMinimumHeight(120)
        self.preview = QLabel()
        self.preview.setWordWrap(True)
        self.preview.setTextFormat(Qt.TextFormat.RichText)
        form = form_layout([("Run:", self.run_combo), ("Dataset:", self.dataset_edit), ("Name:", self.name_edit),
                            ("Test-time augmentation:", self.tta_combo)])
        note = QLabel("Every image of the dataset is evaluated with the run's val-fitted temperature and threshold, "
                      "unchanged. Images whose label maps to no class are counted and reported, not evaluated. "
                      "Leave a row empty to evaluate no image as that class.")
        note.setWordWrap(True)
        note.setStyleSheet("color: #444;")
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setText("Evaluate")
        self.buttons.accepted.connect(self._on_accept)
        self.buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(QLabel("<b>Label map</b>"))
        layout.addWidget(self.map_table, 1)
        layout.addWidget(self.preview)
        layout.addWidget(note)
        layout.addWidget(self.buttons)
        self.run_combo.currentIndexChanged.connect(lambda _i: self._fill_map())
        self.map_table.itemChanged.connect(lambda _item: self._update_preview())
        self.dataset_edit.changed.connect(lambda _t: self._update_preview())
        self._fill_map()
        self.resize(720, 520)

    # --- public API -------------------------------------------------------
    def run(self) -> Run | None:
        """The run chosen."""
        return self.runs[self.run_combo.currentIndex()] if self.runs else None

    def chosen_classes(self) -> list[str]:
        """The classes of the run chosen (``[]`` when none)."""
        return self.classes[self.run_combo.currentIndex()] if self.runs else []

    def set_labels(self, mapping: dict[str, str]) -> None:
        """Type ``{run class: "Label,Other"}`` into the map editor (tests and scripts)."""
        for r in range(self.map_table.rowCount()):
            cls = self.map_table.item(r, 0).text()
            if cls in mapping:
                self.map_table.item(r, 1).setText(mapping[cls])

    def label_map(self) -> dict[str, list[str]]:
        """The map as written, parsed by the engine (ConfigError for a malformed or unknown entry)."""
        from engine.evaluation.external import parse_label_map, resolve_label_map

        spec = {}
        for r in range(self.map_table.rowCount()):
            labels = [x.strip() for x in self.map_table.item(r, 1).text().split(",") if x.strip()]
            if labels:
                spec[self.map_table.item(r, 0).text()] = labels
        parsed = parse_label_map(spec)
        resolve_label_map(parsed, self.chosen_classes(), [])  # a label given to two classes is refused
        return parsed

    def request(self) -> dict:
        """``{run, dataset, label_map, name, tta}`` for :func:`engine.evaluation.external.evaluate_external`
        (ValueError / HistoDeskError when something is missing or malformed)."""
        from engine.evaluation.external import _checked_name

        run = self.run()
        if run is None:
            raise ValueError("No finished run with saved weights to evaluate: train one first.")
        dataset = self.dataset_edit.path()
        if not dataset or (dataset != "demo" and not Path(dataset).expanduser().exists()):
            raise ValueError("Choose the external dataset's folder (or CSV list).")
        label_map = self.label_map()
        if not label_map:
            raise ValueError("The label map is empty: give at least one dataset label for a class.")
        name = self.name_edit.text().strip() or None
        if name:
            _checked_name(name)
        return {"run": str(run.path), "dataset": dataset, "label_map": label_map, "name": name,
                "tta": self.tta_combo.currentData()}

    # --- helpers ----------------------------------------------------------
    def _fill_map(self) -> None:
        classes = self.chosen_classes()
        self.map_table.blockSignals(True)
        self.map_table.setRowCount(len(classes))
        for r, cls in enumerate(classes):
            item = QTableWidgetItem(cls)
            item.setFlags(item.flags() & ~Qt.ItemFlag.ItemIsEditable)
            self.map_table.setItem(r, 0, item)
            self.map_table.setItem(r, 1, QTableWidgetItem(cls))
        self.map_table.blockSignals(False)
        self._update_preview()

    def _update_preview(self) -> None:
        try:
            parsed = self.label_map()
        except HistoDeskError as exc:
            self.preview.setText(f"<span style='color:#b00020'><b>Label map:</b> {html_escape(exc)}</span>")
            return
        if not parsed:
            self.preview.setText("<span style='color:#b00020'>The label map is empty.</span>")
            return
        text = "; ".join(f"<b>{html_escape(c)}</b> ← {html_escape(', '.join(labels))}" for c, labels in parsed.items())
        missing = [c for c in self.chosen_classes() if c not in parsed]
        extra = f" · no image will count as {', '.join(missing)}" if missing else ""
        self.preview.setText(f"<span style='color:#1b5e20'>Parsed map: {text}{html_escape(extra)}</span>")

    def _on_accept(self) -> None:
        try:
            self.request()
        except (HistoDeskError, ValueError) as exc:
            self.preview.setText(f"<span style='color:#b00020'>{html_escape(exc)}</span>")
            return
        self.accept()
