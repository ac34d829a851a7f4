"""Small display widgets shared by the explanation views: probability bars (images: :mod:`gui.canvas`)."""

from __future__ import annotations

import numpy as np
from PySide6.QtWidgets import QGridLayout, QLabel, QProgressBar, QWidget

BAR_SCALE = 1000


class ProbabilityBarsWidget(QWidget):
    """One labelled bar per class; the arg-max class is bold and the true class marked."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self._grid = QGridLayout(self)
        self._grid.setContentsMargins(0, 0, 0, 0)
        self._grid.setColumnStretch(1, 1)
        self._labels: list[QLabel] = []
        self._bars: list[QProgressBar] = []
        self._probs: list[float] = []

    def set_probabilities(self, classes: list[str], probs, true_label: str | None = None) -> None:
        """Show ``probs`` (one per class; None clears the values)."""
        if [lab.property("class_name") for lab in self._labels] != list(classes):
            self._rebuild(classes)
        values = [float(p) for p in probs] if probs is not None else [0.0] * len(classes)
        self._probs = values if probs is not None else []
        best = int(np.argmax(values)) if probs is not None and values else -1
        for i, name in enumerate(classes):
            mark = " (true)" if name == true_label else ""
            self._labels[i].setText(f"<b>{name}</b>{mark}" if i == best else f"{name}{mark}")
            bar = self._bars[i]
            bar.setValue(int(round(values[i] * BAR_SCALE)))
            bar.setFormat(f"{values[i] * 100:.1f}%" if probs is not None else "–")
            colour = "#c62828" if i == best and true_label and name != true_label else "#1565c0"
            bar.setStyleSheet(f"QProgressBar::chunk {{ background: {colour if i == best else '#90a4ae'}; }}")

    def probabilities(self) -> list[float]:
        """The values shown, in class order (empty when cleared)."""
        return list(self._probs)

    def _rebuild(self, classes: list[str]) -> None:
        for widget in self._labels + self._bars:
            self._grid.removeWidget(widget)
            widget.deleteLater()
        self._labels, self._bars = [], []
        for i, name in enumerate(classes):
            label = QLabel(name)
            label.setProperty("class_name", name)
            bar = QProgressBar()
            bar.setRange(0, BAR_SCALE)
            bar.setTextVisible(True)
            bar.setMaximumHeight(18)
            self._grid.addWidget(label, i, 0)
            self._grid.addWidget(bar, i, 1)
            self._labels.append(label)
            self._bars.append(bar)
