"""The Calibration tab: reliability diagram before/after temperature scaling, ECE, Brier, temperature, threshold.

The bins are those :func:`engine.evaluation.calibration.reliability` stored in
evaluation.json (15 equal-width confidence bins): each bar is the accuracy of
the images whose top-class confidence falls in the bin, the dots their mean
confidence, and the dashed diagonal perfect calibration.
"""

from __future__ import annotations

import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QCheckBox, QHBoxLayout, QLabel, QVBoxLayout, QWidget

from gui.results.intervals import html_escape, num

AFTER, BEFORE = "after", "before"
COLOURS = {AFTER: "#1f77b4", BEFORE: "#b0b0b0"}


def bins_of(metrics: dict | None, which: str = AFTER) -> list[dict]:
    """The reliability bins of one evaluation: with the run's temperature (``after``) or without it (``before``)."""
    cal = (metrics or {}).get("calibration") or {}
    if which == BEFORE:
        cal = cal.get("uncalibrated") or {}
    return list(cal.get("reliability") or [])


def threshold_text(rule: dict | None) -> str:
    """The decision rule and where it came from, in words."""
    rule = rule or {}
    if rule.get("value") is None:
        note = f" ({rule['note']})" if rule.get("note") else ""
        return f"arg-max class (source: {rule.get('source', 'default')}){note}"
    target = f", target sensitivity {rule['target_sensitivity']:.2f}" if rule.get("target_sensitivity") else ""
    return (f"p({rule.get('positive_class')}) ≥ {rule['value']:.4f} ({rule.get('method')}{target}, fitted on "
            f"{rule.get('source', 'val')})")


def summary_html(metrics: dict | None, record: dict | None = None) -> str:
    """ECE and Brier (with and without the temperature), the temperature and its origin, the threshold."""
    m = metrics or {}
    cal = m.get("calibration") or {}
    raw = cal.get("uncalibrated") or {}

    def figure(key: str) -> str:
        value, before = num(cal.get(key)), num(raw.get(key))
        text = "–" if value is None else f"{value:.4f}"
        return text + (f" <span style='color:#777'>(without temperature {before:.4f})</span>" if before is not None
                       else "")

    parts = [f"<b>ECE</b> {figure('ece')}", f"<b>Brier</b> {figure('brier')}"]
    t = num(cal.get("temperature"))
    note = cal.get("temperature_note") or (record or {}).get("fitted_on") or ""
    parts.append(f"<b>temperature</b> T = {t:.3f}" + (f" <span style='color:#777'>({html_escape(note)})</span>"
                                                     if note else "") if t is not None else "<b>temperature</b> –")
    parts.append(f"<b>threshold</b> {html_escape(threshold_text(m.get('threshold')))}")
    if record and num(record.get("val_nll_before")) is not None and num(record.get("val_nll_after")) is not None:
        parts.append(f"<b>val NLL</b> {record['val_nll_before']:.4f} → {record['val_nll_after']:.4f}")
    if cal.get("tta_note"):
        parts.append(html_escape(cal["tta_note"]))
    return "<br>".join(parts)


class CalibrationWidget(QWidget):
    """Reliability diagram of the selected split (bars: accuracy per confidence bin) and its figures."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.metrics: dict = {}
        self.plot = pg.PlotWidget(title="Reliability diagram")
        self.plot.setLabel("bottom", "confidence (top-class probability)")
        self.plot.setLabel("left", "accuracy")
        self.plot.showGrid(x=True, y=True, alpha=0.25)
        self.plot.setXRange(0, 1, padding=0.02)
        self.plot.setYRange(0, 1, padding=0.02)
        self.plot.setMinimumSize(320, 260)
        self.before_check = QCheckBox("Also show without temperature scaling (grey)")
        self.before_check.setChecked(True)
        self.before_check.toggled.connect(lambda _on: self._draw())
        self.info = QLabel()
        self.info.setWordWrap(True)
        self.info.setTextFormat(Qt.TextFormat.RichText)
        self.info.setAlignment(Qt.AlignmentFlag.AlignTop)
        self.info.setMinimumWidth(260)
        key = QLabel(f"<span style='color:{COLOURS[AFTER]}'>■</span> accuracy per confidence bin, with the run's "
                     f"temperature<br><span style='color:{COLOURS[BEFORE]}'>■</span> the same without temperature "
                     "scaling<br><span style='color:#d62728'>●</span> mean confidence of the bin<br>"
                     "<span style='color:#666'>- - -</span> perfect calibration (accuracy = confidence)")
        key.setTextFormat(Qt.TextFormat.RichText)
        key.setStyleSheet("color: #444;")
        side = QVBoxLayout()
        side.addWidget(self.before_check)
        side.addWidget(key)
        side.addSpacing(8)
        side.addWidget(self.info, 1)
        row = QHBoxLayout(self)
        row.addWidget(self.plot, 3)
        row.addLayout(side, 2)
        self.bars: dict[str, pg.BarGraphItem] = {}
        self.drawn: dict[str, list[tuple[float, float, int]]] = {}

    def set_metrics(self, metrics: dict | None, record: dict | None = None) -> None:
        """Show the calibration of one evaluation; ``record`` is the run's calibration.json (val NLL)."""
        self.metrics = metrics or {}
        self.info.setText(summary_html(self.metrics, record) if self.metrics.get("calibration") else
                          "No calibration figures for this split.")
        self.before_check.setEnabled(bool(bins_of(self.metrics, BEFORE)))
        self._draw()

    def bar_heights(self, which: str = AFTER) -> list[tuple[float, float, int]]:
        """``(bin lower edge, accuracy, count)`` of each drawn bar of ``which`` (empty bins are not drawn)."""
        return list(self.drawn.get(which, []))

    def _draw(self) -> None:
        self.plot.clear()
        self.bars, self.drawn = {}, {}
        self.plot.plot([0, 1], [0, 1], pen=pg.mkPen("#666", width=1, style=Qt.PenStyle.DashLine))
        series = [AFTER] + ([BEFORE] if self.before_check.isChecked() and bins_of(self.metrics, BEFORE) else [])
        for k, which in enumerate(series):
            rows = [(b["lower"], b["accuracy"], b["count"], b["upper"], b["confidence"])
                    for b in bins_of(self.metrics, which) if b.get("count")]
            if not rows:
                continue
            width = (rows[0][3] - rows[0][0]) / len(series)
            xs = [lo + width * (k + 0.5) for lo, *_ in rows]
            bar = pg.BarGraphItem(x=xs, height=[acc for _, acc, *_ in rows], width=width * 0.9,
                                  brush=COLOURS[which], pen=pg.mkPen("w", width=0.5))
            self.plot.addItem(bar)
            self.plot.plot(xs, [conf for *_, conf in rows], pen=None, symbol="o", symbolSize=6,
                           symbolBrush="#d62728" if which == AFTER else "#777")
            self.bars[which] = bar
            self.drawn[which] = [(lo, acc, n) for lo, acc, n, *_ in rows]
