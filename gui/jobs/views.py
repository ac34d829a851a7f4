"""The Jobs tab's views: a base class, a facts list, training / SSL curves and the generic progress view."""

from __future__ import annotations

import time

from PySide6.QtWidgets import QFormLayout, QLabel, QVBoxLayout, QWidget

from engine.jobs import Progress, format_duration
from gui.jobs.stage_bar import StageBar
from gui.live_plot import SSL_PANELS, TRAINING_PANELS, LiveCurvesWidget
from gui.resume import RESUME_HINT
from gui.workers import CANCELLED, DONE, QUEUED, TERMINAL_STATES, Job


def elapsed_s(job: Job) -> float | None:
    """Seconds the job has run (until it ended), or None before it started."""
    if job.started_at is None:
        return None
    return (job.ended_at if job.ended_at is not None else time.monotonic()) - job.started_at


def progress_line(job: Job) -> str:
    """``step / total (42%)`` of the latest progress event, or the job's state when none says more."""
    event = job.progress
    if job.state == DONE:
        return "finished"
    if job.state in TERMINAL_STATES or event is None:
        return job.state
    if event.total:
        return f"{event.step:,} / {event.total:,} ({event.fraction * 100:.0f}%)"
    return event.stage


class FactsWidget(QWidget):
    """A two-column list of named figures (``set("Images", "1,204")``)."""

    def __init__(self, names: tuple[str, ...], parent: QWidget | None = None):
        super().__init__(parent)
        form = QFormLayout(self)
        form.setContentsMargins(4, 4, 4, 4)
        self.values: dict[str, QLabel] = {}
        for name in names:
            label = QLabel("-")
            label.setWordWrap(True)
            self.values[name] = label
            form.addRow(f"{name}:", label)

    def set(self, name: str, text: str) -> None:
        """Show ``text`` for ``name``."""
        self.values[name].setText(text or "-")

    def text(self, name: str) -> str:
        """The text shown for ``name`` (for tests)."""
        return self.values[name].text()


class JobView(QWidget):
    """What the Jobs tab shows for the selected job of one kind; subclasses fill :meth:`show_job`."""

    def show_job(self, job: Job) -> None:
        """Show everything known about ``job`` (called when it is selected or its state changes)."""
        raise NotImplementedError

    def on_progress(self, job: Job, event: Progress) -> None:
        """``job`` (the one shown) reported ``event``; by default everything is redrawn (cheap label views)."""
        self.show_job(job)


class GenericJobView(JobView):
    """Stage, progress, message and times of any job without a view of its own (split, demo, export, ...)."""

    NAMES = ("Stage", "Progress", "Message", "Elapsed", "Time left")

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.facts = FactsWidget(self.NAMES)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.facts)
        layout.addStretch(1)

    def show_job(self, job: Job) -> None:
        """Fill the facts from the job's latest progress."""
        event = job.progress
        self.facts.set("Stage", event.stage if event is not None else job.state)
        self.facts.set("Progress", progress_line(job))
        self.facts.set("Message", job.error or (event.message if event is not None else ""))
        self.facts.set("Elapsed", format_duration(elapsed_s(job)) if job.started_at is not None else "")
        running = job.state not in TERMINAL_STATES and job.state != QUEUED
        self.facts.set("Time left", format_duration(job.eta_s) if running and job.eta_s is not None else "")


class CurvesJobView(JobView):
    """Per-epoch curves of a training (loss, accuracy, validation AUC) or SSL job (SSL loss, kNN accuracy)."""

    def __init__(self, panels=TRAINING_PANELS, parent: QWidget | None = None):
        super().__init__(parent)
        self.note = QLabel()
        self.note.setStyleSheet("QLabel { color: #4b5563; }")
        self.curves = LiveCurvesWidget(panels=panels)
        self.stage = StageBar()  # the current stage (training epoch, evaluating a split) with its own bar
        self._rows = 0  # epoch rows plotted
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.stage)
        layout.addWidget(self.note)
        layout.addWidget(self.curves, 1)

    def show_job(self, job: Job) -> None:
        """Plot exactly the job's epoch rows so far (a resumed run's earlier epochs included)."""
        self._plot(job.history)
        self._update_note(job)

    def _plot(self, rows: list[dict]) -> None:
        self.curves.set_history(rows)
        self._rows = len(rows)

    def on_progress(self, job: Job, event: Progress) -> None:
        """Add an epoch row; other events only update the note."""
        if event.stage == "epoch" and self._rows == len(job.history) - 1:
            self.curves.append(event.metrics)
            self._rows += 1
        elif event.stage in ("epoch", "resumed"):  # the rows were replaced (a resume): redraw them all
            self._plot(job.history)
        self._update_note(job)

    def points(self, key: str) -> list[float]:
        """The y values plotted for metric ``key`` (for tests)."""
        return self.curves.points(key)

    def _update_note(self, job: Job) -> None:
        self.stage.show_job(job)
        n = len(job.history)
        if n:
            text = f"{n} epoch{'s' if n != 1 else ''} so far" if job.state not in TERMINAL_STATES \
                else f"{n} epoch{'s' if n != 1 else ''} ({job.state})"
        elif job.state in TERMINAL_STATES:
            text = f"No epoch finished ({job.state}): nothing to plot."
        else:
            text = "The curves appear when the first epoch ends."
        if job.state == CANCELLED and n:
            text += f". {RESUME_HINT}"
        self.note.setText(text)


def ssl_curves_view(parent: QWidget | None = None) -> CurvesJobView:
    """The SSL pretraining view: the method's loss (train / val) and the kNN accuracy of the val images."""
    return CurvesJobView(SSL_PANELS, parent)
