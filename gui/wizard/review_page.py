"""Wizard page that shows the resolved config, the device and a time estimate measured on this machine."""

from __future__ import annotations

import json
import os
from html import escape
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtGui import QFontDatabase
from PySide6.QtWidgets import QCheckBox, QFormLayout, QLabel, QPlainTextEdit, QVBoxLayout, QWizardPage

from engine.errors import HistoDeskError
from engine.jobs import CancelToken
from engine.training.config import TrainConfig
from gui.tasks import TaskRunner
from gui.wizard.fields import error_label, show_error
from gui.wizard.preset_changes import change_lines

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


def estimate_run(cfg: TrainConfig, catalog, device, cancel: CancelToken):
    """:func:`engine.training.estimate.measure_throughput` (in a pool thread), scanning the dataset first when
    the wizard has no catalog of it."""
    from engine.training.data_setup import load_catalog
    from engine.training.estimate import measure_throughput

    if catalog is None:
        catalog = load_catalog(cfg.data, cancel=cancel)
    return measure_throughput(cfg, catalog, None, device, cancel=cancel)


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
        self._runner = TaskRunner(self, threads=1, name="histodesk-estimate")
        self._estimate = CancelToken()
        self._closing_connected = False
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
        self._measure(cfg, device)
        self._on_json_toggled(self.json_check.isChecked())

    def _measure(self, cfg: TrainConfig, device) -> None:
        """Time a few real batches in a pool thread ("Measuring speed..." until then); a newer request wins."""
        self._estimate.cancel()
        self._runner.clear()
        if not self._closing_connected:  # a wizard closed mid-measurement: the result is dropped, nothing waits
            self.wizard().finished.connect(lambda _result: self._runner.shutdown())
            self._closing_connected = True
        n = len(self._catalog.records) if self._catalog is not None else count_images(cfg.data.path)
        what = f"{n} images x {cfg.total_epochs()} epochs" if n else f"{cfg.total_epochs()} epochs"
        what += f" of {cfg.model.name} at {cfg.data.image_size} px on {device.type}"
        if self._catalog is None and not n:
            self.estimate_label.setText(f"unknown until the dataset is scanned ({what})")
            return
        self._estimate = CancelToken()
        self.estimate_label.setText(f"Measuring speed for an estimate ({what})...")
        self._runner.submit(estimate_run, cfg, self._catalog, device, self._estimate, token=self._estimate,
                            on_done=lambda est: self.estimate_label.setText(
                                f"{est.describe()}, measured on a few batches ({what}; early stopping may end "
                                "sooner)"),
                            on_error=lambda message: self.estimate_label.setText(f"unknown ({message})"))

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
