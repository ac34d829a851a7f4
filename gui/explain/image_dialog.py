"""Explain an image: open or drop any image file, pick a trained run, see class, confidences and heatmap."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from PySide6.QtCore import Qt, Slot
from PySide6.QtGui import QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import (
    QCheckBox, QComboBox, QDialog, QDialogButtonBox, QFileDialog, QHBoxLayout, QLabel, QPushButton, QSizePolicy,
    QVBoxLayout, QWidget,
)

from engine.data.imageio import IMAGE_EXTENSIONS, is_image_file
from gui.explain.heatmap_panel import HeatmapPanelWidget
from gui.explain.worker import ExplainService
from gui.results.runs_list import model_label
from gui.run_lists import completed_runs

TTA_MODE = "s3"


def run_label(run) -> str:
    """``<run id> · <model> · test acc 0.912`` for a combo box."""
    summary = run.summary
    model = summary.get("model") or model_label(run.config) or "?"
    acc = ((summary.get("metrics") or {}).get("test") or {}).get("accuracy")
    return f"{run.id} · {model}" + (f" · test acc {acc:.3f}" if isinstance(acc, (int, float)) else "")


def dropped_image(mime) -> str | None:
    """The first local image file among a drag's URLs, or None."""
    if not mime.hasUrls():
        return None
    for url in mime.urls():
        path = url.toLocalFile()
        if path and is_image_file(path):
            return path
    return None


class ImageExplainDialog(QDialog):
    """Classify one image with a chosen run (optionally with TTA) and show its heatmap."""

    def __init__(self, runs_dir: str | os.PathLike | None = None, parent: QWidget | None = None, *,
                 run_dir: str | os.PathLike | None = None, device: str = "auto"):
        super().__init__(parent)
        self.setWindowTitle("Explain an image")
        self.setAcceptDrops(True)
        self.resize(900, 680)
        self.image_path: str | None = None
        self.service = ExplainService(None, self, device=device)
        self.model_combo = QComboBox()
        self.model_combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.model_combo.setMinimumContentsLength(30)
        for run in completed_runs(runs_dir):
            self.model_combo.addItem(run_label(run), str(run.path))
        if run_dir is not None:
            index = self.model_combo.findData(str(run_dir))
            if index < 0:
                self.model_combo.insertItem(0, Path(run_dir).name, str(run_dir))
                index = 0
            self.model_combo.setCurrentIndex(index)
        self.open_button = QPushButton("Open image...")
        self.tta_check = QCheckBox("Test-time augmentation (S3: 7 views)")
        self.tta_check.setToolTip("Average the prediction over the image, its flips and its 90/180/270° rotations.")
        self.path_label = QLabel("Open an image or drop one here.")
        self.path_label.setStyleSheet("color: #6b7280;")
        self.path_label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)  # long paths clip
        self.result_label = QLabel("")
        self.result_label.setTextFormat(Qt.TextFormat.RichText)
        font = self.result_label.font()
        font.setPointSizeF(font.pointSizeF() * 1.3)
        self.result_label.setFont(font)
        self.panel = HeatmapPanelWidget(self.service)
        self.panel.prediction_ready.connect(self._on_prediction)
        self.panel.failed.connect(self._on_failed)
        self.model_combo.currentIndexChanged.connect(self._on_model_changed)
        self.open_button.clicked.connect(self._on_open_clicked)
        self.tta_check.toggled.connect(self._on_tta_toggled)
        top = QHBoxLayout()
        top.addWidget(QLabel("Model"))
        top.addWidget(self.model_combo, 1)
        top.addWidget(self.tta_check)
        top.addWidget(self.open_button)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(self.path_label)
        layout.addWidget(self.result_label)
        layout.addWidget(self.panel, 1)
        layout.addWidget(buttons)
        self._on_model_changed()
        if self.model_combo.count() == 0:
            self.path_label.setText("No completed run yet: train a model first (Train > New training...).")

    # --- public API ---------------------------------------------------------
    def run_dir(self) -> str | None:
        """The chosen run's folder."""
        return self.model_combo.currentData()

    def set_run(self, run_dir: str) -> None:
        """Choose the model by run folder (it must be in the combo)."""
        index = self.model_combo.findData(str(run_dir))
        if index < 0:
            raise ValueError(f"{run_dir} is not a completed run in this list")
        self.model_combo.setCurrentIndex(index)

    def set_image_path(self, path: str | os.PathLike) -> None:
        """Explain the image at ``path`` with the chosen model."""
        self.image_path = str(path)
        name, folder = Path(self.image_path).name, Path(self.image_path).parent
        self.path_label.setText(f"<b>{name}</b> · {folder}")
        self.path_label.setToolTip(self.image_path)
        self._explain()

    def set_tta(self, on: bool) -> None:
        """Switch test-time augmentation on or off (re-predicts)."""
        self.tta_check.setChecked(bool(on))

    def predicted_class(self) -> str | None:
        """The predicted class of the image shown, once computed."""
        probs = self.panel.probabilities()
        return None if probs is None else self.panel.classes[int(np.argmax(probs))]

    def probabilities(self):
        """Per-class probabilities of the image shown, or None."""
        return self.panel.probabilities()

    # --- internals ------------------------------------------------------------
    def _explain(self) -> None:
        if self.image_path is None or self.run_dir() is None:
            return
        self.result_label.setText("Classifying...")
        self.panel.show_image(self.image_path, tta=TTA_MODE if self.tta_check.isChecked() else False)

    @Slot(object)
    def _on_prediction(self, probs) -> None:
        best = int(np.argmax(probs))
        tta = " (TTA, 7 views)" if self.tta_check.isChecked() else ""
        self.result_label.setText(f"Predicted: <b>{self.panel.classes[best]}</b> · {probs[best] * 100:.1f}%{tta}")

    @Slot(str)
    def _on_failed(self, message: str) -> None:
        self.result_label.setText(f"<span style='color:#b00020'>{message.splitlines()[0]}</span>")

    @Slot()
    def _on_model_changed(self) -> None:
        self.service.set_run(self.run_dir())
        self._explain()

    @Slot(bool)
    def _on_tta_toggled(self, _on: bool) -> None:
        self._explain()

    @Slot()
    def _on_open_clicked(self) -> None:
        pattern = " ".join(f"*{ext}" for ext in sorted(IMAGE_EXTENSIONS))
        path, _ = QFileDialog.getOpenFileName(self, "Explain an image", "", f"Images ({pattern})")
        if path:
            self.set_image_path(path)

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        """Accept drags that carry an image file."""
        if dropped_image(event.mimeData()):
            event.acceptProposedAction()
        else:
            event.ignore()

    def dropEvent(self, event: QDropEvent) -> None:
        """Explain the dropped image."""
        path = dropped_image(event.mimeData())
        if path:
            event.acceptProposedAction()
            self.set_image_path(path)

    def done(self, result: int) -> None:
        """Stop background work when the dialog closes."""
        self.service.shutdown()
        super().done(result)
