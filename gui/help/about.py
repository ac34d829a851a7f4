"""Help > About: what HistoDesk is, and the versions it runs on (HistoDesk, PyTorch, CUDA, Qt, PySide6, Python).

The CUDA line needs torch imported, which happens in the background after the first paint
(:class:`~gui.runtime_info.RuntimeInfo`): it says "checking..." until then and fills in when the probe ends,
with the dialog open.
"""

from __future__ import annotations

import platform

from PySide6.QtCore import Qt, qVersion
from PySide6.QtWidgets import QDialog, QDialogButtonBox, QFormLayout, QLabel, QVBoxLayout, QWidget

from gui.runtime_info import CHECKING, RuntimeInfo, installed_version


def versions(runtime: RuntimeInfo | None) -> list[tuple[str, str]]:
    """``(name, version)`` rows: HistoDesk, PyTorch, CUDA, device, Qt, PySide6, Python."""
    import PySide6

    from engine import __version__

    def probed(key: str) -> str:
        return CHECKING if runtime is None else runtime.value(key)

    torch = installed_version("torch") if runtime is None or runtime.info is None else runtime.value("torch")
    return [("HistoDesk", __version__), ("PyTorch", torch), ("CUDA", probed("cuda")),
            ("Training device", probed("device")), ("Qt", qVersion()), ("PySide6", PySide6.__version__),
            ("Python", platform.python_version())]


class AboutDialog(QDialog):
    """The About box: :func:`gui.app.about_html` and the :func:`versions` table, updated when the probe ends."""

    def __init__(self, runtime: RuntimeInfo | None, parent: QWidget | None = None):
        super().__init__(parent)
        from gui.app import about_html

        self.setWindowTitle("About HistoDesk")
        self.runtime = runtime
        intro = QLabel(about_html())
        intro.setWordWrap(True)
        self.form = QFormLayout()
        self.values: dict[str, QLabel] = {}
        for name, value in versions(runtime):
            label = QLabel(value)
            label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            self.values[name] = label
            self.form.addRow(f"{name}:", label)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(intro)
        layout.addLayout(self.form)
        layout.addWidget(buttons)
        if runtime is not None:
            runtime.ready.connect(self._refresh)

    def text(self, name: str) -> str:
        """The version shown for ``name`` (e.g. "CUDA")."""
        return self.values[name].text()

    def _refresh(self, _info: object = None) -> None:
        for name, value in versions(self.runtime):
            self.values[name].setText(value)
