"""Small widgets and helpers shared by the self-supervised dialogs and wizard."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (QComboBox, QDialog, QDialogButtonBox, QFileDialog, QFormLayout, QHBoxLayout, QLabel,
                               QPushButton, QVBoxLayout, QWidget)

from engine.errors import HistoDeskError
from engine.runs import Run
from gui.path_field import PathFieldWidget
from gui.run_lists import is_ssl_run, ssl_runs
from gui.wizard.fields import error_label, show_error


class PathEditWidget(PathFieldWidget):
    """A path field for a folder (or an existing file when ``file_filter`` is given), pre-filled with ``text``."""

    def __init__(self, text: str = "", placeholder: str = "", *, caption: str = "Choose a folder",
                 file_filter: str | None = None, parent: QWidget | None = None):
        super().__init__(caption, mode="dir" if file_filter is None else "open", file_filter=file_filter or "",
                         placeholder=placeholder, text=text, parent=parent)


class SSLRunComboWidget(QWidget):
    """An editable combo of the SSL runs in a runs folder, plus Browse... for any run folder."""

    changed = Signal(str)

    def __init__(self, runs_dir: str | Path | None = None, current: str | None = None,
                 parent: QWidget | None = None):
        super().__init__(parent)
        self.runs_dir = runs_dir
        self.combo = QComboBox()
        self.combo.setEditable(True)
        self.combo.setMinimumContentsLength(40)
        self.combo.lineEdit().setPlaceholderText("SSL run folder (config.json with kind 'ssl')")
        browse = QPushButton("Browse…")
        browse.clicked.connect(self._on_browse)
        self.info = QLabel()
        self.info.setWordWrap(True)
        self.info.setStyleSheet("color: #444;")
        row = QHBoxLayout()
        row.addWidget(self.combo, 1)
        row.addWidget(browse)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(row)
        layout.addWidget(self.info)
        self.refresh()
        if current:
            self.set_path(current)
        self.combo.currentTextChanged.connect(self._on_text_changed)
        self._on_text_changed(self.path())

    def refresh(self) -> None:
        """Re-list the SSL runs (the text typed is kept)."""
        text = self.combo.currentText()
        self.combo.blockSignals(True)
        self.combo.clear()
        for run in ssl_runs(self.runs_dir):
            method = run.summary.get("method") or run.config.get("method", "?")
            self.combo.addItem(str(run.path), str(run.path))
            self.combo.setItemData(self.combo.count() - 1, f"{run.id} ({method})", 3)  # tooltip role
        self.combo.setEditText(text or self.combo.itemText(0))
        self.combo.blockSignals(False)

    def path(self) -> str:
        """The SSL run folder chosen or typed."""
        return self.combo.currentText().strip()

    def set_path(self, path: str | Path) -> None:
        """Choose ``path``."""
        self.combo.setEditText(str(path))

    def _on_browse(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "SSL run folder", self.path() or str(self.runs_dir or ""))
        if path:
            self.set_path(path)

    def _on_text_changed(self, text: str) -> None:
        problem = check_ssl_run(text.strip())
        self.info.setText(f"<span style='color:#b00020'>{problem}</span>" if problem else describe_ssl_run(text))
        self.changed.emit(text.strip())


def describe_ssl_run(path: str | Path) -> str:
    """One line about an SSL run: method, backbone, epochs, image size, last loss and kNN accuracy."""
    run = Run(Path(path))
    cfg, summary = run.config, run.summary
    parts = [f"{cfg.get('method', '?')} on {cfg.get('backbone', '?')}",
             f"{summary.get('epochs_run', '?')} epochs at {cfg.get('data', {}).get('image_size', '?')} px",
             f"status {summary.get('status', '?')}"]
    if summary.get("final_loss") is not None:
        parts.append(f"final loss {summary['final_loss']:.3f}")
    if summary.get("knn_acc") is not None:
        parts.append(f"kNN accuracy {summary['knn_acc']:.3f}")
    return ", ".join(parts)


def check_ssl_run(path: str) -> str:
    """An error message when ``path`` is not a finished SSL run with an encoder, else ``""``."""
    if not path:
        return "Choose a self-supervised run folder."
    folder = Path(path).expanduser()
    if not (folder / "config.json").is_file():
        return f"{path} is not a run folder (no config.json)."
    if not is_ssl_run(Run.open(folder)):
        return f"{folder.name} is not a self-supervised run: choose a run made by Pretrain (self-supervised)."
    if not (folder / "encoder.safetensors").is_file():
        return f"{folder.name} has no encoder.safetensors yet: let its pretraining finish (or resume it)."
    return ""


def check_dataset(path: str) -> str:
    """An error message unless ``path`` is an existing labelled dataset folder / CSV (or ``demo``), else ``""``."""
    if not path or (path != "demo" and not Path(path).expanduser().exists()):
        return "Choose an existing labelled dataset folder or CSV list."
    return ""


def form_layout(rows: list[tuple[str, object]], parent: QWidget | None = None) -> QFormLayout:
    """A QFormLayout (on ``parent`` when given) with one row per ``(label, widget or layout)``."""
    form = QFormLayout(parent) if parent is not None else QFormLayout()
    for label, field in rows:
        form.addRow(label, field)
    return form


class ConfigDialogBase(QDialog):
    """A dialog whose OK button first builds :meth:`config`; an invalid setting is shown in red, not accepted."""

    def finish_layout(self, form: QFormLayout, note: QLabel, ok_text: str) -> None:
        """Lay out ``form``, ``note``, the error line and OK/Cancel (OK labelled ``ok_text``)."""
        self.error = error_label()
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        self.ok_button = buttons.button(QDialogButtonBox.StandardButton.Ok)
        self.ok_button.setText(ok_text)
        buttons.accepted.connect(self._on_accept)
        buttons.rejected.connect(self.reject)
        note.setWordWrap(True)
        note.setStyleSheet("color: #444;")
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(note)
        layout.addStretch(1)
        layout.addWidget(self.error)
        layout.addWidget(buttons)

    def config(self):
        """The settings the dialog stands for (ValueError / HistoDeskError when one is wrong)."""
        raise NotImplementedError

    def _on_accept(self) -> None:
        try:
            self.config()
        except (HistoDeskError, ValueError) as exc:
            show_error(self.error, str(exc))
            return
        self.accept()
