"""Robustness of a run: accuracy (and ROC AUC) as Gaussian noise and blur grow.

"Run robustness test" queues :func:`engine.explain.robustness.robustness_run`
on the main window's job queue (progress, ETA and cancel in the Jobs tab); the
curves are drawn from its result, or from the run's ``robustness.json`` when
the test was run before (from the app or the CLI). ``background=True`` (the Explain menu's
tab) reads that file in a pool thread, so the empty plots are shown first and the curves drawn
in a later event-loop turn.
"""

from __future__ import annotations

import os
from pathlib import Path

import pyqtgraph as pg
from PySide6.QtCore import QTimer, Slot
from PySide6.QtWidgets import QGraphicsItem, QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from gui.results.plots import pen
from gui.tasks import TaskRunner

PERTURBATIONS = (("noise", "Gaussian noise (σ, pixel range 0-1)"), ("blur", "Gaussian blur (σ, pixels)"))
METRICS = (("accuracy", "accuracy", False), ("roc_auc", "ROC AUC", True))


class RobustnessPlot:
    """Accuracy and ROC AUC against the level of one perturbation: :attr:`item`, a plot of the view's graphics
    layout (one view for both plots: half the layout and paint passes of two plot widgets)."""

    def __init__(self, kind: str, xlabel: str, levels: tuple[float, ...] = ()):
        self.kind = kind
        self.item = item = pg.PlotItem()
        item.showGrid(x=True, y=True, alpha=0.25)
        item.setTitle(f"Accuracy vs {kind}")
        item.setLabel("bottom", xlabel)
        item.getAxis("bottom").enableAutoSIPrefix(False)
        item.setLabel("left", "score")
        for name in ("left", "bottom"):  # axis text is slow to draw (~10 ms an axis offscreen): draw it once,
            item.getAxis(name).setCacheMode(QGraphicsItem.CacheMode.DeviceCoordinateCache)  # not every repaint
        item.setYRange(0, 1, padding=0.04)
        item.disableAutoRange()  # fixed ranges: the axes (and their cached text) stay as drawn when curves arrive
        self.set_levels(levels)
        self.legend = item.addLegend(offset=(-10, -10))
        self.curves: dict[str, pg.PlotDataItem] = {}

    def set_levels(self, levels) -> None:
        """Fit the x axis to the perturbation levels measured (unchanged when they already fit)."""
        if levels and (min(levels), max(levels)) != getattr(self, "_levels", None):
            self._levels = (min(levels), max(levels))
            self.item.setXRange(*self._levels, padding=0.05)

    def set_rows(self, rows: list[dict]) -> None:
        """Draw one curve per metric from ``[{"level", "accuracy", "roc_auc"}, ...]``."""
        self.item.clear()
        self.legend.clear()
        self.curves = {}
        for i, (key, name, dashed) in enumerate(METRICS):
            pts = [(r["level"], r[key]) for r in rows if isinstance(r.get(key), (int, float))]
            if not pts:
                continue
            x, y = [p[0] for p in pts], [p[1] for p in pts]
            self.set_levels(x)
            self.curves[key] = self.item.plot(x, y, pen=pen(i, dashed=dashed), symbol="o", symbolSize=7,
                                         symbolBrush=pen(i).color(), name=name)


class RobustnessViewWidget(QWidget):
    """Runs the robustness test of one run as a job and plots its curves."""

    def __init__(self, run_dir: str | os.PathLike, queue=None, parent: QWidget | None = None, *,
                 noise=(0.0, 0.05, 0.1, 0.2), blur=(0.0, 1.0, 2.0, 4.0), split: str = "test",
                 background: bool = False):
        super().__init__(parent)
        from gui.workers import JobQueue

        self.run_dir = str(run_dir)
        self.queue = queue if queue is not None else JobQueue(self)
        self.noise, self.blur, self.split = tuple(noise), tuple(blur), split
        self.job = None
        self.results: dict | None = None
        self._closed = False
        self.queue.job_finished.connect(self._on_job_ended)
        self.queue.job_failed.connect(self._on_job_failed)
        self.title = QLabel(f"<b>{Path(self.run_dir).name}</b> · robustness on the {split} split")
        self.status = QLabel("")
        self.status.setWordWrap(True)
        self.run_button = QPushButton("Run robustness test")
        self.run_button.clicked.connect(self._on_run_clicked)
        # The plots are built one at a time, the next once the first is painted (building and first painting
        # both took ~100 ms of GUI-thread CPU in one turn); results that arrive earlier are drawn as each plot
        # appears.
        self.plots: dict[str, RobustnessPlot] = {}
        self.canvas = pg.GraphicsLayoutWidget()
        self.canvas.setMinimumSize(2 * 280, 240)
        self._add_next_plot()
        top = QHBoxLayout()
        top.addWidget(self.title, 1)
        top.addWidget(self.run_button)
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(self.status)
        layout.addWidget(self.canvas, 1)
        if background:
            self._loader = TaskRunner(self, threads=1, name="histodesk-robustness")
            self.status.setText("Loading the saved results...")
            self._loader.submit(_read_saved, self.run_dir, on_done=self._on_saved_read,
                                on_error=lambda message: self.status.setText(f"Cannot read robustness.json: "
                                                                             f"{message}"))
        else:
            self.load_saved()

    def _add_next_plot(self) -> None:
        """Add the next perturbation's plot to the canvas, and schedule the one after it."""
        if self._closed or len(self.plots) == len(PERTURBATIONS):
            return
        kind, label = PERTURBATIONS[len(self.plots)]
        plot = self.plots[kind] = RobustnessPlot(kind, label, getattr(self, kind))
        self.canvas.addItem(plot.item, row=0, col=len(self.plots) - 1)
        if self.results is not None:
            plot.set_rows(self.results.get(kind) or [])
        if len(self.plots) < len(PERTURBATIONS):
            QTimer.singleShot(40, self, self._add_next_plot)  # after the first plot is painted

    def load_saved(self) -> bool:
        """Show the run's robustness.json if present; True when it was."""
        return self._on_saved_read(_read_saved(self.run_dir))

    def _on_saved_read(self, results: dict | None) -> bool:
        if self._closed or self.job is not None:
            return self.results is not None  # closed, or a new test was started: its results come
        if results is None:
            self.status.setText("Not measured yet: press \"Run robustness test\" (it evaluates the "
                                f"{self.split} images once per noise and blur level).")
            return False
        self.set_results(results)
        return True

    def set_results(self, results: dict) -> None:
        """Plot a result of ``robustness_run``."""
        self.results = results
        for kind, plot in self.plots.items():
            plot.set_rows(results.get(kind) or [])
        clean = next((r for r in results.get("noise") or [] if r.get("level") == 0), None)
        worst = min((r["accuracy"] for k, _ in PERTURBATIONS for r in results.get(k) or []
                     if r.get("accuracy") is not None),
                    default=None)
        parts = []
        if clean and clean.get("accuracy") is not None:
            parts.append(f"clean accuracy {clean['accuracy']:.3f}")
        if worst is not None:
            parts.append(f"worst {worst:.3f}")
        self.status.setText("Measured: " + ", ".join(parts) if parts else "Measured.")

    def start(self):
        """Queue the robustness job; returns the Job."""
        from engine.explain.robustness import robustness_run

        self.run_button.setEnabled(False)
        self.status.setText("Running... (see the Jobs tab for progress)")
        self.job = self.queue.submit(f"Robustness {Path(self.run_dir).name}", robustness_run, self.run_dir,
                                     kind="robustness", on_finished=self._guarded_finished, split=self.split,
                                     noise=self.noise, blur=self.blur)
        return self.job

    def shutdown(self) -> None:
        """Stop this view's job and ignore its results (called when the tab closes)."""
        self._closed = True
        if hasattr(self, "_loader"):
            self._loader.shutdown()
        for signal, slot in ((self.queue.job_finished, self._on_job_ended),
                             (self.queue.job_failed, self._on_job_failed)):
            try:
                signal.disconnect(slot)
            except (RuntimeError, TypeError):
                pass
        job = self.job
        if job is not None and job.state in ("queued", "running"):
            self.queue.cancel(job)

    def _guarded_finished(self, results: dict) -> None:
        # Called by the queue in the GUI thread; the tab may have been closed (widgets deleted) meanwhile.
        if self._closed:
            return
        self._on_finished(results)

    def _on_finished(self, results: dict) -> None:
        self.set_results(results)

    @Slot(object)
    def _on_job_ended(self, job) -> None:
        if self._closed:
            return
        if job is self.job:
            self.run_button.setEnabled(True)
            if job.state != "done":
                self.status.setText(f"Robustness test {job.state}.")

    @Slot(object, str, str)
    def _on_job_failed(self, job, message: str, _tb: str) -> None:
        if self._closed:
            return
        if job is self.job:
            self.run_button.setEnabled(True)
            self.status.setText(f"<span style='color:#b00020'>Robustness test failed: {message}</span>")

    @Slot()
    def _on_run_clicked(self) -> None:
        self.start()


def _read_saved(run_dir: str) -> dict | None:
    """The run's robustness.json, or None when the test was never run (safe in any thread)."""
    from engine.io_utils import read_json

    path = Path(run_dir) / "robustness.json"
    return read_json(path) if path.exists() else None
