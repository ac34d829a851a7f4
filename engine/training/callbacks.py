"""Training-loop callbacks (Lightning's ``Callback`` hooks and ``should_stop``).

The loop calls ``on_epoch_end(trainer, row)`` after validation; a callback may
set ``trainer.should_stop_phase``. Callbacks keep their state in
``state_dict()`` so a resumed run continues exactly where it stopped.
"""

from __future__ import annotations

import math

from engine.training.builders import monitor_mode


class Callback:
    """Base class: every hook is optional."""

    def on_phase_start(self, trainer, phase_index: int) -> None:
        """Called when a training phase starts (or resumes)."""

    def on_epoch_end(self, trainer, row: dict) -> None:
        """Called after each epoch with that epoch's metrics row."""

    def state_dict(self) -> dict:
        """Serializable state for checkpoints."""
        return {}

    def load_state_dict(self, state: dict) -> None:
        """Restore :meth:`state_dict`."""


class BestTracker(Callback):
    """Keeps the best value of the monitored metric and saves the best weights."""

    def __init__(self, monitor: str):
        self.monitor = monitor
        self.mode = monitor_mode(monitor)
        self.best = math.inf if self.mode == "min" else -math.inf
        self.best_epoch = -1

    def improved(self, value: float | None) -> bool:
        """Whether ``value`` beats the best so far."""
        if value is None or (isinstance(value, float) and math.isnan(value)):
            return False
        return value < self.best if self.mode == "min" else value > self.best

    def on_epoch_end(self, trainer, row: dict) -> None:
        value = row.get(self.monitor)
        if self.improved(value):
            self.best, self.best_epoch = value, row["epoch"]
            trainer.save_best()
        row["best_" + self.monitor] = self.best if self.best_epoch >= 0 else None

    def state_dict(self) -> dict:
        return {"best": self.best, "best_epoch": self.best_epoch}

    def load_state_dict(self, state: dict) -> None:
        self.best, self.best_epoch = state["best"], state["best_epoch"]


class EarlyStopping(Callback):
    """Stops the current phase after ``patience`` epochs without improvement."""

    def __init__(self, monitor: str, patience: int, min_epochs: int = 0):
        self.tracker = BestTracker(monitor)
        self.patience = patience
        self.min_epochs = min_epochs
        self.wait = 0

    def on_phase_start(self, trainer, phase_index: int) -> None:
        if not trainer.resuming_phase:  # each phase is its own "fit" (Keras semantics)
            self.wait = 0
            self.tracker = BestTracker(self.tracker.monitor)

    def on_epoch_end(self, trainer, row: dict) -> None:
        if self.tracker.improved(row.get(self.tracker.monitor)):
            self.tracker.best = row[self.tracker.monitor]
            self.wait = 0
        else:
            self.wait += 1
        if self.patience and self.wait >= self.patience and trainer.epoch_in_phase + 1 >= self.min_epochs:
            trainer.should_stop_phase = True
            trainer.log(f"Early stopping: no improvement of {self.tracker.monitor} for {self.wait} epochs.")

    def state_dict(self) -> dict:
        return {"wait": self.wait, **self.tracker.state_dict()}

    def load_state_dict(self, state: dict) -> None:
        self.wait = state["wait"]
        self.tracker.load_state_dict(state)
