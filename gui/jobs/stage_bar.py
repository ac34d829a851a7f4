"""The current stage of a job with its own bar and time left (issue 13.2): "training epoch 3/10", "evaluating
the test set"; each stage counts its own steps, so an evaluation never shows a full training bar."""

from __future__ import annotations

from PySide6.QtWidgets import QHBoxLayout, QLabel, QProgressBar, QWidget

from engine.jobs import Progress, format_duration
from gui.workers import DONE, QUEUED, TERMINAL_STATES, Job


def stage_text(event: Progress) -> str:
    """What the job is doing, in words: ``training epoch 3/10 (batch 5/20)``, ``evaluating the test set``."""
    stage, message = event.stage, event.message
    if stage == "train":
        return f"training {message}".replace(" batch ", " (batch ", 1) + (")" if " batch " in message else "")
    if stage == "epoch":
        return f"training: epoch {event.step}/{event.total} done, validated" if event.total else message
    if stage.startswith("evaluate "):
        return f"evaluating the {stage.split(' ', 1)[1]} set"
    return f"{stage}: {message}" if message else stage


class StageBar(QWidget):
    """A line naming the stage, its bar (the stage's own steps) and the job's time left."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.label = QLabel()
        self.bar = QProgressBar()
        self.bar.setRange(0, 1000)
        self.bar.setMaximumWidth(220)
        self.bar.setTextVisible(True)
        self.left = QLabel()
        layout = QHBoxLayout(self)
        layout.setContentsMargins(4, 2, 4, 2)
        layout.addWidget(self.label, 1)
        layout.addWidget(self.bar)
        layout.addWidget(self.left)

    def show_job(self, job: Job) -> None:
        """Show ``job``'s latest stage; a finished, failed or cancelled job hides the bar."""
        event = job.progress
        active = job.state not in TERMINAL_STATES and job.state != QUEUED and event is not None
        self.bar.setVisible(active)
        self.left.setVisible(active)
        if not active:
            self.label.setText("finished" if job.state == DONE else job.state)
            return
        self.label.setText(stage_text(event))
        fraction = event.fraction
        if fraction is None:
            self.bar.setRange(0, 0)  # busy
        else:
            self.bar.setRange(0, 1000)
            self.bar.setValue(int(fraction * 1000))
            self.bar.setFormat(f"{fraction * 100:.0f}%")
        self.left.setText(f"about {format_duration(job.eta_s)} left" if job.eta_s is not None else "")
