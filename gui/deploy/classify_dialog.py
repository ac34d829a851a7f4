"""File > Classify folder...: pick a model (run or package), a folder and options; queue the job."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, Slot
from PySide6.QtWidgets import (QCheckBox, QComboBox, QDialog, QDialogButtonBox, QFileDialog, QFormLayout,
                               QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget)

from gui.deploy.fields import PathFieldWidget, completed_runs, model_kind, packages_in

TTA_CHOICES = (("None", False), ("7 views (flips + rotations)", "s3"), ("8 views (dihedral group D4)", "d4"))
BACKEND_CHOICES = (("Automatic", "auto"), ("ONNX Runtime (packages)", "onnx"), ("PyTorch", "torch"))
DEFAULT_CSV = "histodesk_predictions.csv"


class ClassifyFolderDialog(QDialog):
    """Choose what to classify with and how; :meth:`model`, :meth:`folder` and :meth:`options` read it back.

    ``options()`` are keyword arguments of :func:`engine.evaluation.predict.predict_folder`.
    """

    def __init__(self, runs_dir: str | None = None, parent: QWidget | None = None, *, model: str | None = None,
                 folder: str | None = None):
        super().__init__(parent)
        self.setWindowTitle("Classify a folder of images")
        self.setMinimumWidth(620)
        self._csv_edited = False
        self.model_combo = QComboBox()
        self.model_combo.setMinimumContentsLength(40)
        self.model_combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        browse_model = QPushButton("Browse...")
        browse_model.setObjectName("browseModel")
        browse_model.setToolTip("Choose a model package (.hdpkg folder) or a run folder")
        browse_model.clicked.connect(self._on_browse_model)
        model_row = QHBoxLayout()
        model_row.addWidget(self.model_combo, 1)
        model_row.addWidget(browse_model)
        self.model_info = QLabel()
        self.model_info.setObjectName("hint")
        self.model_info.setWordWrap(True)
        self.folder_field = PathFieldWidget("Folder of images to classify", placeholder="folder with images")
        self.recursive_check = QCheckBox("Include sub-folders")
        self.recursive_check.setChecked(True)
        self.csv_field = PathFieldWidget("Save results as", mode="save", file_filter="CSV files (*.csv)",
                                         placeholder=f"<folder>/{DEFAULT_CSV}")
        self.tta_combo = _combo(TTA_CHOICES)
        self.tta_combo.setToolTip("Test-time augmentation: average the prediction over flipped/rotated views")
        self.heatmap_check = QCheckBox("Save Grad-CAM heatmaps (runs only, PyTorch)")
        self.backend_combo = _combo(BACKEND_CHOICES)
        form = QFormLayout()
        form.addRow("Model:", model_row)
        form.addRow("", self.model_info)
        form.addRow("Images:", self.folder_field)
        form.addRow("", self.recursive_check)
        form.addRow("Results CSV:", self.csv_field)
        form.addRow("Test-time augmentation:", self.tta_combo)
        form.addRow("Backend:", self.backend_combo)
        form.addRow("", self.heatmap_check)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setText("Classify")
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        lay = QVBoxLayout(self)
        lay.addLayout(form)
        lay.addWidget(self.buttons)

        self._fill_models(runs_dir)
        if model:
            self.set_model(model)
        self.model_combo.currentIndexChanged.connect(self._on_model_changed)
        self.folder_field.changed.connect(self._on_folder_changed)
        self.csv_field.edit.textEdited.connect(self._on_csv_edited)
        self.heatmap_check.toggled.connect(self._update)
        self.backend_combo.currentIndexChanged.connect(self._update)
        if folder:
            self.folder_field.set_path(folder)
        self._on_model_changed()

    # --- public API ---------------------------------------------------------
    def model(self) -> str:
        """The chosen run or package folder ("" when none)."""
        return self.model_combo.currentData() or ""

    def folder(self) -> str:
        """The folder of images to classify."""
        return self.folder_field.path()

    def set_model(self, path: str) -> None:
        """Select ``path`` (a run or package folder), adding it to the list when missing."""
        index = self.model_combo.findData(str(path))
        if index < 0:
            self._add_model(Path(path))
            index = self.model_combo.count() - 1
        self.model_combo.setCurrentIndex(index)

    def options(self) -> dict:
        """Keyword arguments for ``predict_folder`` (out, tta, heatmaps, backend, recursive)."""
        heatmaps = self.heatmap_check.isEnabled() and self.heatmap_check.isChecked()
        return {"out": self.csv_field.path() or None, "tta": self.tta_combo.currentData(), "heatmaps": heatmaps,
                "backend": "torch" if heatmaps else self.backend_combo.currentData(),
                "recursive": self.recursive_check.isChecked()}

    # --- internals ------------------------------------------------------------
    def _fill_models(self, runs_dir: str | None) -> None:
        for run in completed_runs(runs_dir):
            for package in packages_in(run.path):
                self._add_model(package)
            self._add_model(run.path)

    def _add_model(self, path: Path) -> None:
        kind = model_kind(path)
        label = {"package": "Package", "run": "Run"}.get(kind, "Folder")
        self.model_combo.addItem(f"{label}: {path.name}", str(path))
        self.model_combo.setItemData(self.model_combo.count() - 1, str(path), Qt.ItemDataRole.ToolTipRole)

    @Slot()
    def _on_browse_model(self) -> None:
        start = str(Path(self.model()).parent) if self.model() else ""
        path = QFileDialog.getExistingDirectory(self, "Choose a model package (.hdpkg) or a run folder", start)
        if path:
            self.set_model(path)

    @Slot()
    def _on_model_changed(self) -> None:
        kind = model_kind(self.model()) if self.model() else None
        is_run = kind == "run"
        self.heatmap_check.setEnabled(is_run)
        onnx_item = self.backend_combo.model().item(1)
        onnx_item.setEnabled(not is_run)
        if is_run and self.backend_combo.currentData() == "onnx":
            self.backend_combo.setCurrentIndex(0)
        self.model_info.setText({
            "package": "ONNX model package: runs on ONNX Runtime (fast, no training code needed).",
            "run": "Training run: runs on PyTorch; can also draw Grad-CAM heatmaps.",
        }.get(kind, "Choose a run or a model package (.hdpkg): train a model, or export one with "
                    "File > Export model to ONNX." if not self.model() else
              "This folder is neither a HistoDesk run nor a model package."))
        self._update()

    @Slot(str)
    def _on_folder_changed(self, folder: str) -> None:
        if not self._csv_edited:
            self.csv_field.edit.setText(str(Path(folder) / DEFAULT_CSV) if folder.strip() else "")
        self._update()

    @Slot(str)
    def _on_csv_edited(self, _text: str) -> None:
        self._csv_edited = True

    @Slot()
    def _update(self) -> None:
        ok = bool(self.model()) and model_kind(self.model()) is not None and Path(self.folder()).is_dir() \
            and bool(self.folder())
        self.backend_combo.setEnabled(not (self.heatmap_check.isEnabled() and self.heatmap_check.isChecked()))
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setEnabled(ok)


def _combo(choices) -> QComboBox:
    combo = QComboBox()
    for text, value in choices:
        combo.addItem(text, value)
    return combo
