"""Wizard page that shows the resolved config, the device and a rough time estimate."""

from __future__ import annotations

import json
import os
from html import escape
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtGui import QFontDatabase
from PySide6.QtWidgets import QCheckBox, QFormLayout, QLabel, QPlainTextEdit, QVBoxLayout, QWizardPage

from engine.errors import HistoDeskError
from engine.training.config import TrainConfig
from gui.wizard.fields import error_label, show_error
from gui.wizard.preset_changes import change_lines

# Rough training throughput (images/s at 224 px, forward + backward) on a laptop CPU; a GPU is ~20x faster.
CPU_IMAGES_PER_S = {"basic_cnn": 120, "simple_cnn": 160, "resnet18": 25, "resnet50": 8, "resnet101": 5, "vgg16": 4,
                    "mobilenetv2": 30, "mobilenetv3": 40, "efficientnetv2_s": 6, "vit_b16": 4,
                    "hybrid_effnetv2s_vitb16": 2}
DEVICE_SPEEDUP = {"cpu": 1.0, "mps": 5.0, "cuda": 20.0}
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp"}


def count_images(path: str, limit: int = 200_000) -> int | None:
    """Number of image files under ``path`` (stops at ``limit``); ``None`` when it is not a folder."""
    root = Path(path).expanduser()
    if not root.is_dir():
        return None
    n = 0
    for _dir, _subdirs, files in os.walk(root):
        n += sum(Path(f).suffix.lower() in IMAGE_SUFFIXES for f in files)
        if n >= limit:
            break
    return n


def estimate_seconds(cfg: TrainConfig, n_images: int, device_type: str) -> float:
    """Rough training time: (train + val/3 images) x epochs / images-per-second for model and device."""
    if cfg.data.max_images:
        n_images = min(n_images, cfg.data.max_images)
    ratios = list(cfg.split.ratios) + [0, 0, 0]
    per_epoch = n_images * (ratios[0] + ratios[1] / 3)
    ips = CPU_IMAGES_PER_S.get(cfg.model.name, 10) * DEVICE_SPEEDUP.get(device_type, 1.0)
    ips *= (224 / max(cfg.data.image_size, 16)) ** 2
    return per_epoch * cfg.total_epochs() / max(ips, 1e-6)


def format_duration(seconds: float) -> str:
    """``45 s``, ``12 min`` or ``3.5 h``."""
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def readable(d: dict, indent: int = 0) -> str:
    """A config dict as indented ``key: value`` lines."""
    lines = []
    for key, value in d.items():
        pad = "  " * indent
        if isinstance(value, dict):
            lines.append(f"{pad}{key}:")
            lines.append(readable(value, indent + 1))
        elif isinstance(value, list) and value and isinstance(value[0], dict):
            lines.append(f"{pad}{key}:")
            for i, item in enumerate(value, 1):
                lines.append(f"{pad}  {i}. " + ", ".join(f"{k}={v}" for k, v in item.items()))
        else:
            lines.append(f"{pad}{key}: {value}")
    return "\n".join(lines)


class ReviewPage(QWizardPage):
    """The changes from the preset, the resolved config (readable or JSON), the training device and a duration."""

    def __init__(self, catalog=None, parent=None):
        super().__init__(parent)
        self.setTitle("Review")
        self.setSubTitle("Check the settings; Finish starts the run.")
        self._catalog = catalog
        self.device_label = QLabel()
        self.estimate_label = QLabel()
        self.estimate_label.setWordWrap(True)
        self.changes_label = QLabel()
        self.changes_label.setWordWrap(True)
        self.changes_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.json_check = QCheckBox("Show as JSON")
        self.json_check.toggled.connect(self._on_json_toggled)
        self.text = QPlainTextEdit()
        self.text.setReadOnly(True)
        self.text.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        self.error = error_label()
        form = QFormLayout()
        form.addRow("Device:", self.device_label)
        form.addRow("Estimated time:", self.estimate_label)
        form.addRow("Preset:", self.changes_label)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.json_check)
        layout.addWidget(self.text, 1)
        layout.addWidget(self.error)
        self._dict: dict = {}

    def initializePage(self) -> None:
        """Resolve the config from the earlier pages and describe it."""
        from engine.training.devices import describe_device, select_device

        self._dict = self.wizard().config_dict()
        self._show_changes()
        try:
            cfg = TrainConfig.from_dict(self._dict)
            device = select_device(cfg.device)
        except HistoDeskError as exc:
            show_error(self.error, str(exc))
            self.device_label.setText("?")
            self._on_json_toggled(self.json_check.isChecked())
            return
        show_error(self.error, "")
        self.device_label.setText(describe_device(device))
        n = len(self._catalog.records) if self._catalog is not None else count_images(cfg.data.path)
        if n:
            secs = estimate_seconds(cfg, n, device.type)
            self.estimate_label.setText(
                f"about {format_duration(secs)} (estimate only: {n} images x {cfg.total_epochs()} epochs at a rough "
                f"speed for {cfg.model.name} on {device.type}; early stopping may end sooner)")
        else:
            self.estimate_label.setText("unknown (the number of images is not known before the scan)")
        self._on_json_toggled(self.json_check.isChecked())

    def _show_changes(self) -> None:
        """Name the preset and list each setting changed from it (``key: preset value → yours``)."""
        wizard = self.wizard()
        name = wizard.preset_box.name()
        if name is None:
            self.changes_label.setText("custom recipe (no preset)")
            return
        lines = change_lines(wizard.changes())
        if not lines:
            self.changes_label.setText(f"{name}, unchanged")
            return
        items = "".join(f"<li>{escape(line)}</li>" for line in lines)
        self.changes_label.setText(f"{name}, with {len(lines)} change(s) (preset value → yours):"
                                   f"<ul style='margin:0 0 0 -20px'>{items}</ul>")

    def _on_json_toggled(self, as_json: bool) -> None:
        self.text.setPlainText(json.dumps(self._dict, indent=2) if as_json else readable(self._dict))

    def validatePage(self) -> bool:
        """The resolved config must be valid."""
        try:
            TrainConfig.from_dict(self.wizard().config_dict())
        except HistoDeskError as exc:
            return show_error(self.error, str(exc))
        return show_error(self.error, "")
