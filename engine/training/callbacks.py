"""Callbacks of the training spine (Lightning's ``Callback`` hooks and ``should_stop``).

:class:`~engine.training.spine.TrainingLoop` calls the hooks below in this
order each epoch: ``on_train_epoch_start`` -> (per batch, after the optimizer
step) ``on_train_batch_end`` -> ``on_train_epoch_end`` -> validation ->
``on_validation_end`` -> ``on_epoch_end`` -> checkpoint and metrics row ->
``on_epoch_saved``. Epoch hooks get the epoch's metrics ``row`` and may add to
it; a callback may set ``loop.should_stop_phase``. Stateful callbacks keep
their state in ``state_dict()`` (saved in the checkpoint in list order) so a
resumed run continues exactly where it stopped.
"""

from __future__ import annotations

import math
from typing import Any

from engine.training.builders import monitor_mode, step_scheduler


class Callback:
    """Base class: every hook is optional."""

    #: Whether :meth:`state_dict` goes into the checkpoint (``checkpoint["callbacks"]``, in list order).
    stateful = False

    def on_phase_start(self, loop: Any, phase_index: int) -> None:
        """Called when a training phase starts (or resumes)."""

    def on_train_epoch_start(self, loop: Any, row: dict) -> None:
        """Called after the epoch's seeding, before its training loader is made."""

    def on_train_batch_end(self, loop: Any) -> None:
        """Called after each optimizer step (``loop.batches_done`` is the 0-based step just made)."""

    def on_train_epoch_end(self, loop: Any, row: dict) -> None:
        """Called after the epoch's training batches, before validation."""

    def on_validation_end(self, loop: Any, row: dict) -> None:
        """Called after validation (``row`` holds the validation metrics)."""

    def on_epoch_end(self, loop: Any, row: dict) -> None:
        """Called after each epoch with that epoch's metrics row."""

    def on_epoch_saved(self, loop: Any, row: dict) -> None:
        """Called once the epoch's checkpoint and metrics row are written."""

    def on_resume(self, loop: Any) -> None:
        """Called after a checkpoint was loaded (``loop.history`` holds the earlier rows)."""

    def state_dict(self) -> dict:
        """Serializable state for checkpoints."""
        return {}

    def load_state_dict(self, state: dict) -> None:
        """Restore :meth:`state_dict`."""


class StepSchedule(Callback):
    """Steps ``loop.scheduler`` after every optimizer step (per-step warmup/cosine schedules)."""

    def on_train_batch_end(self, loop: Any) -> None:
        if loop.scheduler is not None:
            loop.scheduler.step()


class EpochSchedule(Callback):
    """Steps ``loop.scheduler`` after every epoch; a plateau schedule reads ``monitor`` from the row."""

    def __init__(self, monitor: str):
        self.monitor = monitor

    def on_epoch_end(self, loop: Any, row: dict) -> None:
        step_scheduler(loop.scheduler, row, self.monitor)


class BestTracker(Callback):
    """Keeps the best value of the monitored metric and saves the best weights (``loop.save_best()``)."""

    stateful = True

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

    @property
    def found(self) -> bool:
        """Whether any epoch gave a value of the monitored metric."""
        return self.best_epoch >= 0

    def on_epoch_end(self, loop: Any, row: dict) -> None:
        value = row.get(self.monitor)
        if value is not None and self.improved(value):
            self.best, self.best_epoch = value, row["epoch"]
            loop.save_best()
        row["best_" + self.monitor] = self.best if self.found else None

    def state_dict(self) -> dict:
        return {"best": self.best, "best_epoch": self.best_epoch}

    def load_state_dict(self, state: dict) -> None:
        self.best, self.best_epoch = state["best"], state["best_epoch"]


class EarlyStopping(Callback):
    """Stops the current phase after ``patience`` epochs without improvement (0: never)."""

    stateful = True

    def __init__(self, monitor: str, patience: int, min_epochs: int = 0):
        self.tracker = BestTracker(monitor)
        self.patience = patience
        self.min_epochs = min_epochs
        self.wait = 0
        self.stopped_epoch = 0  # the epoch (1-based) after which training stopped early; 0: it did not

    def on_phase_start(self, loop: Any, phase_index: int) -> None:
        if not loop.resuming_phase:  # each phase is its own "fit" (Keras semantics)
            self.wait = 0
            self.tracker = BestTracker(self.tracker.monitor)

    def on_epoch_end(self, loop: Any, row: dict) -> None:
        if self.tracker.improved(row.get(self.tracker.monitor)):
            self.tracker.best = row[self.tracker.monitor]
            self.tracker.best_epoch = row["epoch"]
            self.wait = 0
        else:
            self.wait += 1
        if self.patience and self.wait >= self.patience and loop.epoch_in_phase + 1 >= self.min_epochs:
            loop.should_stop_phase = True
            self.stopped_epoch = row["epoch"]
            best = (f" (best {self.tracker.best:.4g} at epoch {self.tracker.best_epoch})"
                    if self.tracker.found else "")
            loop.log(f"Early stopping: no improvement of {self.tracker.monitor} for {self.wait} epochs{best}.")

    def state_dict(self) -> dict:
        return {"wait": self.wait, "stopped_epoch": self.stopped_epoch, **self.tracker.state_dict()}

    def load_state_dict(self, state: dict) -> None:
        self.wait = state["wait"]
        self.stopped_epoch = state.get("stopped_epoch", 0)  # absent from checkpoints before the spine
        self.tracker.load_state_dict(state)
