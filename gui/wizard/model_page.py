"""Wizard page for the model: architecture, pretrained weights, head."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtWidgets import (
    QButtonGroup, QFileDialog, QFormLayout, QHBoxLayout, QLabel, QLineEdit, QPushButton, QRadioButton, QVBoxLayout,
    QWidget, QWizardPage,
)

from engine.models import model_info, model_names, weights_status
from engine.models.weights import hub_offline, hub_reachable
from engine.training.config import ModelConfig, TrainConfig
from gui.wizard.fields import combo, error_label, schema_dspin, schema_spin, set_combo, show_error

WEIGHT_FILTER = "Weights (*.safetensors *.pth *.pt *.bin);;All files (*)"


class ModelPage(QWizardPage):
    """Model from the registry, its initialisation (none / ImageNet / local file) and head."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setTitle("Model")
        self.setSubTitle("Architecture and initial weights.")
        self.model_combo = combo(model_names())
        self.description = QLabel()
        self.description.setWordWrap(True)
        self.radio_none = QRadioButton("Random initialisation (none)")
        self.radio_imagenet = QRadioButton("ImageNet weights")
        self.radio_file = QRadioButton("Local weights file:")
        self.group = QButtonGroup(self)
        for i, rb in enumerate((self.radio_none, self.radio_imagenet, self.radio_file)):
            self.group.addButton(rb, i)
        self.radio_none.setChecked(True)
        self.file_edit = QLineEdit()
        self.file_edit.setPlaceholderText(".safetensors or .pth file")
        self.browse_button = QPushButton("Browse…")
        self.browse_button.clicked.connect(self._on_browse)
        file_row = QHBoxLayout()
        file_row.addWidget(self.radio_file)
        file_row.addWidget(self.file_edit, 1)
        file_row.addWidget(self.browse_button)
        self.weights_label = QLabel()
        self.weights_label.setWordWrap(True)
        self.hidden_spin = schema_spin(ModelConfig, "head_hidden", 0, 8192, none_below=True)
        self.hidden_spin.setSpecialValueText("linear head (model default)")
        self.dropout_spin = schema_dspin(ModelConfig, "dropout", 0.0)
        form = QFormLayout()
        form.addRow("Model:", self.model_combo)
        form.addRow("", self.description)
        init = QVBoxLayout()
        init.addWidget(self.radio_none)
        init.addWidget(self.radio_imagenet)
        init.addLayout(file_row)
        init.addWidget(self.weights_label)
        form.addRow("Pretrained:", init)
        form.addRow("Head hidden units:", self.hidden_spin)
        form.addRow("Dropout:", self.dropout_spin)
        self.error = error_label()
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addStretch(1)
        layout.addWidget(self.error)
        self.model_combo.currentTextChanged.connect(self._on_model_changed)
        self.group.idToggled.connect(self._on_init_changed)
        self.file_edit.textChanged.connect(self._on_init_changed)
        self._on_model_changed(self.model_combo.currentText())

    def _on_browse(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Weights file", self.file_edit.text(), WEIGHT_FILTER)
        if path:
            self.file_edit.setText(path)
            self.radio_file.setChecked(True)

    def _on_model_changed(self, name: str) -> None:
        info = model_info(name) if name else {}
        self.description.setText(info.get("description", ""))
        self._on_init_changed()

    def _on_init_changed(self, *_args) -> None:
        """Refresh the live weights status for the chosen model and initialisation."""
        show_error(self.error, "")
        self.file_edit.setEnabled(self.radio_file.isChecked())
        name = self.model_combo.currentText()
        if self.radio_none.isChecked():
            self._set_status("Random initialisation: no pretrained weights needed.", "#555555")
        elif self.radio_file.isChecked():
            path = self.file_edit.text().strip()
            ok = bool(path) and Path(path).expanduser().is_file()
            self._set_status("Local file found." if ok else "Choose an existing .safetensors or .pth file.",
                             "#1b5e20" if ok else "#b00020")
        else:
            st = weights_status(name)
            if st.available:
                self._set_status(f"ImageNet weights {st.message}.", "#1b5e20")
            else:
                self._set_status(f"ImageNet weights unavailable: {st.message.rstrip('.')}. Pick a local weights file "
                                 "or random initialisation.", "#b00020")

    def _set_status(self, text: str, colour: str) -> None:
        self.weights_label.setText(text)
        self.weights_label.setStyleSheet(f"color: {colour};")

    def pretrained(self) -> str:
        """``none``, ``imagenet`` or the local file path."""
        if self.radio_imagenet.isChecked():
            return "imagenet"
        if self.radio_file.isChecked():
            return self.file_edit.text().strip()
        return "none"

    def validatePage(self) -> bool:
        """ImageNet weights must be obtainable; a local file must exist."""
        name = self.model_combo.currentText()
        if self.radio_imagenet.isChecked():
            st = weights_status(name)
            downloadable = st.source == "download" and not hub_offline() and hub_reachable(timeout=1.0)
            if not st.available and not downloadable:
                return show_error(self.error, f"ImageNet weights for {name} are unavailable. Choose a local "
                                              "weights file or random initialisation (none).")
        if self.radio_file.isChecked():
            path = self.file_edit.text().strip()
            if not path or not Path(path).expanduser().is_file():
                return show_error(self.error, "The local weights file does not exist: browse to a "
                                              ".safetensors or .pth file.")
        return show_error(self.error, "")

    def load(self, cfg: TrainConfig) -> None:
        """Fill the fields from ``cfg``."""
        set_combo(self.model_combo, cfg.model.name)
        pre = str(cfg.model.pretrained or "none")
        if pre.lower() in ("none", "random", ""):
            self.radio_none.setChecked(True)
        elif pre.lower() == "imagenet":
            self.radio_imagenet.setChecked(True)
        else:
            self.file_edit.setText(pre)
            self.radio_file.setChecked(True)
        self.hidden_spin.setValue(cfg.model.head_hidden or 0)
        self.dropout_spin.setValue(cfg.model.dropout)
        self._on_init_changed()

    def field_widgets(self) -> dict[str, list[QWidget]]:
        """The widgets of each setting on this page (dotted config key -> widgets)."""
        return {"model.name": [self.model_combo], "model.head_hidden": [self.hidden_spin],
                "model.dropout": [self.dropout_spin],
                "model.pretrained": [self.radio_none, self.radio_imagenet, self.radio_file, self.file_edit]}

    def apply(self, d: dict[str, Any]) -> None:
        """Write the fields into the config dict ``d``."""
        d["model"].update(name=self.model_combo.currentText(), pretrained=self.pretrained(),
                          head_hidden=self.hidden_spin.value() or None, dropout=round(self.dropout_spin.value(), 4))
