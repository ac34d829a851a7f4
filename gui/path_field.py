"""A line edit with a "Browse..." button for a folder or a file, shared by HistoDesk's dialogs."""

from __future__ import annotations

from PySide6.QtCore import Signal, Slot
from PySide6.QtWidgets import QFileDialog, QHBoxLayout, QLineEdit, QPushButton, QWidget


class PathFieldWidget(QWidget):
    """A path field; ``mode``: "dir" (a folder), "open" (an existing file) or "save" (a file to write).

    ``changed`` carries the text whenever it changes.
    """

    changed = Signal(str)

    def __init__(self, caption: str, *, mode: str = "dir", file_filter: str = "", placeholder: str = "",
                 text: str = "", parent: QWidget | None = None):
        super().__init__(parent)
        if mode not in ("dir", "open", "save"):
            raise ValueError(f"unknown path field mode {mode!r}")
        self.caption, self.mode, self.file_filter = caption, mode, file_filter
        self.edit = QLineEdit(str(text or ""))
        self.edit.setPlaceholderText(placeholder)
        self.edit.textChanged.connect(self.changed)
        self.browse_button = QPushButton("Browse…")
        self.browse_button.clicked.connect(self._on_browse)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.edit, 1)
        layout.addWidget(self.browse_button)

    def path(self) -> str:
        """The entered path (stripped; "" when empty)."""
        return self.edit.text().strip()

    def set_path(self, path: str) -> None:
        """Set the field's text."""
        self.edit.setText(str(path))

    # QLineEdit-like names, so the field can stand in for a plain line edit
    text = path
    setText = set_path  # noqa: N815 - QLineEdit's name, so callers can treat it as one

    @Slot()
    def _on_browse(self) -> None:
        start = self.path()
        if self.mode == "save":
            path, _ = QFileDialog.getSaveFileName(self, self.caption, start, self.file_filter)
        elif self.mode == "open":
            path, _ = QFileDialog.getOpenFileName(self, self.caption, start, self.file_filter)
        else:
            path = QFileDialog.getExistingDirectory(self, self.caption, start)
        if path:
            self.set_path(path)
