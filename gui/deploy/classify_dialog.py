"""File > Classify folder...: pick a model (run or package), a folder, options and where results go; queue the job."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, Slot
from PySide6.QtWidgets import (QCheckBox, QComboBox, QDialog, QDialogButtonBox, QFileDialog, QFormLayout,
                               QHBoxLayout, QLabel, QPushButton, QSpinBox, QVBoxLayout, QWidget)

from gui.deploy.destination import ConfirmDestination, DestinationWidget
from gui.deploy.fields import PathFieldWidget, completed_runs, model_kind, packages_in
from gui.wizard.fields import apply_bounds, choice_combo

# Labels of the schema's choices (engine.evaluation.predict_options.PredictOptions); the values come from it.
TTA_LABELS = {"none": "None", "s3": "7 views (flips + rotations)", "d4": "8 views (dihedral group D4)"}
BACKEND_LABELS = {"auto": "Automatic", "onnx": "ONNX Runtime (packages)", "torch": "PyTorch"}


class ClassifyFolderDialog(QDialog):
    """Choose what to classify with, how and where the results go; :meth:`model`, :meth:`folder`, :meth:`options`.

    ``options()`` are keyword arguments of :func:`engine.evaluation.predict.predict_folder`, checked by its
    schema when Classify is pressed; a destination inside the folder or holding results is asked about first.
    """

    def __init__(self, runs_dir: str | None = None, parent: QWidget | None = None, *, model: str | None = None,
                 folder: str | None = None):
        from engine.evaluation.predict_options import PredictOptions
        from engine.schema import choices

        super().__init__(parent)
        self.setWindowTitle("Classify a folder of images")
        self.setMinimumWidth(640)
        self._answers: dict = {}  # allow_inside_source / overwrite / resume, from the confirmation questions
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
        self.destination = DestinationWidget()
        self.tta_combo = choice_combo(choices(PredictOptions, "tta"), TTA_LABELS)
        self.tta_combo.setToolTip("Test-time augmentation: average the prediction over flipped/rotated views")
        self.backend_combo = choice_combo(choices(PredictOptions, "backend"), BACKEND_LABELS)
        self.batch_spin = apply_bounds(QSpinBox(), PredictOptions, "batch_size")
        self.batch_spin.setValue(32)
        self.batch_spin.setToolTip("Images decoded and classified together (rows are saved after each batch)")
        self.heatmap_check = QCheckBox("Save Grad-CAM heatmaps (runs only, PyTorch)")
        self.cam_combo = choice_combo(choices(PredictOptions, "cam_method"))
        heat_row = QHBoxLayout()
        heat_row.addWidget(self.heatmap_check)
        heat_row.addWidget(self.cam_combo)
        heat_row.addStretch(1)
        self.error_label = QLabel()
        self.error_label.setObjectName("error")
        self.error_label.setWordWrap(True)
        self.error_label.hide()
        form = QFormLayout()
        form.addRow("Model:", model_row)
        form.addRow("", self.model_info)
        form.addRow("Images:", self.folder_field)
        form.addRow("", self.recursive_check)
        form.addRow("Results:", self.destination)
        form.addRow("Test-time augmentation:", self.tta_combo)
        form.addRow("Backend:", self.backend_combo)
        form.addRow("Batch size:", self.batch_spin)
        form.addRow("", heat_row)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setText("Classify")
        self.buttons.accepted.connect(self._on_classify)
        self.buttons.rejected.connect(self.reject)
        self.confirm = ConfirmDestination(self)
        lay = QVBoxLayout(self)
        lay.addLayout(form)
        lay.addWidget(self.error_label)
        lay.addWidget(self.buttons)

        self._fill_models(runs_dir)
        if model:
            self.set_model(model)
        self.model_combo.currentIndexChanged.connect(self._on_model_changed)
        self.folder_field.changed.connect(self._update)
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
        """Keyword arguments for ``predict_folder``: out (None: the outputs folder), tta, heatmaps, backend...

        After Classify, the answers to the destination questions are included (allow_inside_source, overwrite or
        resume).
        """
        heatmaps = self.heatmap_check.isEnabled() and self.heatmap_check.isChecked()
        return {"out": self.destination.path(), "tta": self.tta_combo.currentData(), "heatmaps": heatmaps,
                "cam_method": self.cam_combo.currentData(), "batch_size": self.batch_spin.value(),
                "backend": "torch" if heatmaps else self.backend_combo.currentData(),
                "recursive": self.recursive_check.isChecked(), **self._answers}

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
    def _on_classify(self) -> None:
        """Check the options with the engine's schema, ask about the destination, then accept."""
        from engine.errors import ConfigError
        from engine.evaluation.predict_options import predict_options

        self._answers = {}
        try:
            predict_options("classify", **self.options())
        except ConfigError as exc:
            self.error_label.setText(str(exc))
            self.error_label.show()
            return
        self.error_label.hide()
        self.confirm.ask(self.folder(), self.destination.path(), self._on_confirmed)

    def _on_confirmed(self, answers: dict) -> None:
        self._answers = answers
        self.accept()

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
        onnx_item = self.backend_combo.model().item(self.backend_combo.findData("onnx"))
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

    @Slot()
    def _update(self) -> None:
        ok = bool(self.model()) and model_kind(self.model()) is not None and bool(self.folder()) \
            and Path(self.folder()).is_dir()
        heatmaps = self.heatmap_check.isEnabled() and self.heatmap_check.isChecked()
        self.backend_combo.setEnabled(not heatmaps)
        self.cam_combo.setEnabled(heatmaps)
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setEnabled(ok)
