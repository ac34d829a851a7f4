"""Image preview: the selected image in a zoomable canvas (own aspect ratio, fit, 1:1, wheel, drag) and its metadata."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QSize, Qt
from PySide6.QtGui import QFontDatabase, QImage
from PySide6.QtWidgets import QFormLayout, QLabel, QSizePolicy, QVBoxLayout, QWidget

from engine.data.catalog import ImageRecord
from gui.canvas import ImageCanvas, load_native_qimage
from gui.tasks import Task, TaskRunner
FIELDS = ("path", "label", "patient", "magnification", "subtype", "size", "sha1", "split")


class ImagePreviewWidget(QWidget):
    """Shows one record: its image (decoded off the GUI thread) and metadata."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self._record: ImageRecord | None = None
        self._runner = TaskRunner(self, threads=1, name="histodesk-preview")
        self._task: Task | None = None  # the decode of the record shown

        self.image_label = ImageCanvas("Select an image")  # the image canvas
        self.image_label.setMinimumSize(QSize(200, 160))
        self.fields: dict[str, QLabel] = {}
        form = QFormLayout()
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        for name in FIELDS:
            value = QLabel("-")
            value.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            value.setWordWrap(True)
            value.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
            self.fields[name] = value
            form.addRow(f"{name.capitalize()}:", value)
        mono = QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont)
        mono.setPointSizeF(max(7.0, mono.pointSizeF() - 1))
        self.fields["sha1"].setFont(mono)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.image_label, 1)
        layout.addLayout(form)

    def set_record(self, record: ImageRecord | None, split_name: str | None = None) -> None:
        """Show ``record`` (None clears) with the split it belongs to, if known."""
        self._record = record
        if self._task is not None:
            self._task.cancel()  # a decode for the record shown before
        if record is None:
            self.image_label.set_image(None)
            for value in self.fields.values():
                value.setText("-")
            return
        self.image_label.set_message("Loading...")
        values = {
            "path": record.path, "label": record.label, "patient": record.patient or "-",
            "magnification": record.magnification or "-", "subtype": record.subtype or "-",
            "size": f"{record.width} x {record.height} px" + (f", page {record.page}" if record.page else ""),
            "sha1": record.sha1 or "-", "split": split_name or "-",
        }
        for name, text in values.items():
            self.fields[name].setText(text)
        self.fields["path"].setToolTip(record.path)
        self.fields["path"].setText(f"{Path(record.path).name}  ({Path(record.path).parent})")
        self._decode(record.path, record.page)

    def set_split_name(self, split_name: str | None) -> None:
        """Update only the split field (after a new split is set)."""
        self.fields["split"].setText(split_name or "-")

    def record(self) -> ImageRecord | None:
        """The record shown, or None."""
        return self._record

    def has_image(self) -> bool:
        """True once the shown record's image has been decoded."""
        return self.image_label.has_image()

    def shutdown(self, wait_ms: int = 2000) -> None:
        """Drop queued decodes and wait up to ``wait_ms`` for the running one."""
        self._runner.shutdown(wait_ms)

    def _decode(self, path: str, page: int) -> None:
        """Decode at the image's own size off the GUI thread; the decode of a record no longer shown is dropped."""
        self._task = self._runner.submit(load_native_qimage, path, page, on_done=self._on_image_loaded,
                                         on_error=self._on_image_failed)

    def _on_image_loaded(self, image: QImage) -> None:
        self.image_label.set_image(image)

    def _on_image_failed(self, reason: str) -> None:
        self.image_label.set_message(f"Cannot show this image: {reason}")
