"""Where a folder classification writes: the field of the Classify dialog and the questions asked before writing.

The default is a new folder under HistoDesk's outputs folder, so the images'
folder is never touched. Another folder can be chosen ("Change..."); one
inside the source folder, or one that already holds results, is only used
after the user says so (:class:`ConfirmDestination`).
"""

from __future__ import annotations

from typing import Callable

from PySide6.QtCore import QObject, Qt, Signal, Slot
from PySide6.QtWidgets import QFileDialog, QHBoxLayout, QLabel, QMessageBox, QPushButton, QWidget


class DestinationWidget(QWidget):
    """"Results go to: <folder>" with Change... and Default buttons; :meth:`path` is None for the default."""

    changed = Signal()

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self._path: str | None = None
        self.label = QLabel()
        self.label.setObjectName("destination")
        self.label.setWordWrap(True)
        self.change_button = QPushButton("Change...")
        self.change_button.setToolTip("Write the results to another folder")
        self.change_button.clicked.connect(self._on_change)
        self.default_button = QPushButton("Default")
        self.default_button.setToolTip("A new folder in HistoDesk's outputs folder")
        self.default_button.clicked.connect(lambda: self.set_path(None))
        lay = QHBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.label, 1)
        lay.addWidget(self.change_button)
        lay.addWidget(self.default_button)
        self.set_path(None)

    def path(self) -> str | None:
        """The chosen folder, or None for a new folder under the outputs folder."""
        return self._path

    def set_path(self, path: str | None) -> None:
        """Choose ``path`` (None: the default) and show it."""
        from html import escape

        from engine.io_utils import display_path
        from engine.paths import outputs_dir

        self._path = str(path) if path else None
        self.default_button.setEnabled(self._path is not None)
        if self._path is None:
            self.label.setText(f"A new folder in {escape(display_path(outputs_dir()))}<br><small>(the images' "
                               "folder is only read)</small>")
        else:
            self.label.setText(escape(display_path(self._path)))
        self.setToolTip(self._path or str(outputs_dir()))
        self.changed.emit()

    @Slot()
    def _on_change(self) -> None:
        from engine.paths import outputs_dir

        path = QFileDialog.getExistingDirectory(self, "Save the results in which folder?",
                                                self._path or str(outputs_dir()))
        if path:
            self.set_path(path)


class ConfirmDestination(QObject):
    """Asks, one non-blocking question at a time, whether a chosen destination may be used.

    ``ask(folder, out, done)``: when ``out`` is inside ``folder``, "Write inside the source folder?"; when it
    already holds results, "Overwrite / Continue / Cancel". ``done(extra)`` gets the options the answers
    add (``allow_inside_source``, ``overwrite``, ``resume``), or is not called when the user cancels.
    ``box`` is the question on screen (None when none).
    """

    def __init__(self, parent: QWidget):
        super().__init__(parent)
        self.parent_widget = parent
        self.box: QMessageBox | None = None

    def ask(self, folder: str, out: str | None, done: Callable[[dict], None]) -> None:
        """Ask what needs asking about writing to ``out`` (None: the default, which needs nothing)."""
        from engine.evaluation.batch_output import existing_results, is_inside
        from engine.io_utils import display_path

        questions = []  # (title, text, [(button, role, options it adds)]); of two buttons the second is the default
        if out and is_inside(out, folder):
            questions.append(("Write inside the source folder?",
                              f"{display_path(out)} is inside the folder being classified ({display_path(folder)}). "
                              "HistoDesk normally leaves that folder untouched; results written there may be read "
                              "as images or labels by other tools. Write there anyway?",
                              [("Write there", QMessageBox.ButtonRole.AcceptRole, {"allow_inside_source": True})]))
        found = existing_results(out) if out else []
        if found:
            questions.append(("Results already there",
                              f"{display_path(out)} already holds results ({', '.join(found)}).\n\n"
                              "Overwrite: replace them. Continue: keep them and classify only the images not in "
                              "them yet (same model and settings).",
                              [("Overwrite", QMessageBox.ButtonRole.DestructiveRole, {"overwrite": True}),
                               ("Continue", QMessageBox.ButtonRole.AcceptRole, {"resume": True})]))
        self._next(questions, {}, done)

    def _next(self, questions: list, extra: dict, done: Callable[[dict], None]) -> None:
        if not questions:
            self.box = None
            done(extra)
            return
        title, text, answers = questions[0]
        box = QMessageBox(QMessageBox.Icon.Question, title, text, QMessageBox.StandardButton.NoButton,
                          self.parent_widget)
        box.setTextFormat(Qt.TextFormat.PlainText)  # folder names are shown as they are, never as markup
        box.setObjectName("confirmDestination")
        buttons = [(box.addButton(label, role), more) for label, role, more in answers]
        box.addButton(QMessageBox.StandardButton.Cancel)
        if len(buttons) > 1:
            box.setDefaultButton(buttons[-1][0])

        def answered(_result) -> None:
            more = next((more for button, more in buttons if box.clickedButton() is button), None)
            if more is not None:  # not Cancel
                self._next(questions[1:], {**extra, **more}, done)

        box.finished.connect(answered)
        box.finished.connect(box.deleteLater)
        self.box = box
        box.open()
