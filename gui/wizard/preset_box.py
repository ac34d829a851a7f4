"""The wizard's first choice: which preset to start from, and whether switching presets keeps the user's edits."""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QCheckBox, QFormLayout, QGroupBox, QLabel, QVBoxLayout, QWidget

from engine.presets import preset_description, preset_names
from gui.wizard.fields import combo

CUSTOM = "custom"
CHANGED_COLOUR = "#7a5200"


class PresetBox(QGroupBox):
    """Preset combo (``custom`` = no preset), its description, the keep-edits choice and a count of changes.

    ``chosen`` is emitted with the name (or ``custom``) whenever the choice changes.
    """

    chosen = Signal(str)

    def __init__(self, parent: QWidget | None = None):
        super().__init__("Start from a preset (fills the next pages)", parent)
        self.combo = combo([CUSTOM] + preset_names("train"), CUSTOM)
        self.description = QLabel()
        self.description.setWordWrap(True)
        self.description.setStyleSheet("color: #444;")
        self.keep_check = QCheckBox("Keep my edits when I choose another preset")
        self.keep_check.setChecked(True)
        self.keep_check.setToolTip("Checked: settings you changed stay as you set them on top of the new preset.\n"
                                   "Unchecked: the new preset replaces every setting.")
        self.status = QLabel()
        self.status.setWordWrap(True)
        form = QFormLayout()
        form.addRow("Preset:", self.combo)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        for widget in (self.description, self.keep_check, self.status):
            layout.addWidget(widget)
        self.combo.currentTextChanged.connect(self._on_changed)
        self._on_changed(CUSTOM)

    def name(self) -> str | None:
        """The chosen preset, ``None`` for a custom recipe."""
        text = self.combo.currentText()
        return None if text == CUSTOM else text

    def keep_edits(self) -> bool:
        """Whether choosing another preset keeps the settings changed from the current one."""
        return self.keep_check.isChecked()

    def _on_changed(self, name: str) -> None:
        if name == CUSTOM:
            self.description.setText("Custom recipe: every setting on the next pages is yours to set; nothing is "
                                     "marked. Choosing a preset then replaces the settings.")
        else:
            self.description.setText(preset_description("train", name))
        self.keep_check.setEnabled(name != CUSTOM)
        self.show_changes(0)
        self.chosen.emit(name)

    def show_changes(self, count: int, note: str = "") -> None:
        """Say how many settings differ from the preset (``note``: e.g. why edits could not be kept)."""
        name = self.name()
        if name is None:
            text = ""
        elif count:
            text = (f"<span style='color:{CHANGED_COLOUR}'>{count} setting(s) changed from preset {name}: amber "
                    "fields (hover: the preset's value), listed on Review.</span>")
        else:
            text = f"All settings as in preset {name}; edits on the next pages will be marked."
        self.status.setText(" ".join(t for t in (text, note) if t))
