"""The training spine: one loop for supervised training and self-supervised pretraining.

Lightning's shape without its weight (architecture.md, "One training
spine"): :class:`TrainingLoop` runs phases of epochs of batches with mixed
precision (autocast + GradScaler), optional gradient clipping, a cancel
check per batch, throttled progress events with an ETA, one metrics row per
epoch (``metrics.jsonl``, ``train.log``, an "epoch" event), a checkpoint after
every epoch and an exact resume (weights, optimizer, scheduler, scaler,
callbacks, RNG, rows). A job kind subclasses it and implements the step
interface (:meth:`configure_phase`, :meth:`seed_epoch`, :meth:`train_loader`,
:meth:`training_step`, :meth:`epoch_meter`, :meth:`validation_metrics`,
:meth:`save_best`); everything optional (schedulers, early stopping, the kNN
monitor, DeepCluster's clustering, BatchNorm recalibration) is a
:class:`~engine.training.callbacks.Callback`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Iterable, Protocol, Sequence

import torch

from engine.errors import CancelledError
from engine.jobs import CancelToken, EtaEstimator, MovingAverage, Progress, ProgressFn
from engine.runs import Run
from engine.training import checkpoint as ckpt
from engine.training.callbacks import Callback
from engine.training.seeding import rng_state, set_rng_state

#: Seconds between two batch progress events.
REPORT_EVERY_S = 0.25


@dataclass(frozen=True)
class Phase:
    """A stretch of ``epochs`` epochs with one optimizer and scheduler (a job without phases has one)."""

    epochs: int
    name: str = ""


class PhaseLike(Protocol):
    """What the loop reads of a phase (:class:`Phase`, :class:`~engine.training.config.PhaseConfig`)."""

    @property
    def epochs(self) -> int:
        """Epochs of the phase."""


class EpochMeter(Protocol):
    """Accumulates a training epoch's figures from the outputs of :meth:`TrainingLoop.training_step`."""

    def update(self, out: dict) -> None:
        """Add one batch's output (called after the optimizer step)."""

    def compute(self) -> dict:
        """The epoch's training figures for its metrics row."""


def format_row(row: dict) -> str:
    """A metrics row as one ``train.log`` line (floats to 4 digits; nested dicts such as lr_groups left out)."""
    return " ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}"
                    for k, v in row.items() if not isinstance(v, dict))


class TrainingLoop:
    """Epochs, batches, AMP, progress/ETA, checkpoints and resume for one run; see the module docstring.

    Subclasses set ``module`` (the ``nn.Module`` whose ``state_dict`` is
    checkpointed under :attr:`state_key`) before :meth:`fit`, and may add to
    ``callbacks``. ``optimizer`` and ``scheduler`` are made by
    :meth:`configure_phase` at the start of each phase.
    """

    #: Progress stage of batch events, and the word in the cancel message.
    stage = "train"
    activity = "Training"
    #: Checkpoint key of ``module.state_dict()``.
    state_key = "model"

    def __init__(self, run: Run, device: torch.device, progress: ProgressFn, cancel: CancelToken, *, amp: bool,
                 phases: Sequence[PhaseLike], steps_per_epoch: int, grad_clip: float = 0.0):
        self.run, self.device, self.progress, self.cancel = run, device, progress, cancel
        self.amp, self.grad_clip = amp, grad_clip
        self.scaler = torch.amp.GradScaler("cuda", enabled=amp)
        self.phases = list(phases)
        self.total_epochs = sum(p.epochs for p in self.phases)
        self.steps_per_epoch = steps_per_epoch
        self.total_steps = steps_per_epoch * self.total_epochs
        self.module: torch.nn.Module = torch.nn.Module()  # set by the subclass
        self.callbacks: list[Callback] = []
        self.optimizer: Any = None
        self.scheduler: Any = None
        self.history: list[dict] = []
        self.epoch = 0                 # global epochs completed
        self.phase_index = 0
        self.epoch_in_phase = 0
        self.should_stop_phase = False
        self.resuming_phase = False
        self.eta = EtaEstimator(self.total_steps)  # the training batches' pace
        self.epoch_extra = MovingAverage(warmup=True)  # seconds per epoch besides batches and validation
        self.val_s = MovingAverage(warmup=True)  # seconds of one validation pass
        self.batches_done = 0

    # --- the step interface (subclasses) ---------------------------------
    def configure_phase(self, index: int) -> None:
        """Set ``self.optimizer`` and ``self.scheduler`` (and trainable layers) for phase ``index``."""
        raise NotImplementedError

    def seed_epoch(self) -> None:
        """Seed the RNGs for epoch ``self.epoch``: data order and augmentations depend only on (seed, epoch)."""
        raise NotImplementedError

    def train_loader(self) -> Iterable:
        """The batches of the current training epoch."""
        raise NotImplementedError

    def training_step(self, batch: Any) -> dict:
        """``{"loss": scalar tensor, ...}`` for one batch (run under autocast); the rest goes to the meter."""
        raise NotImplementedError

    def epoch_meter(self) -> EpochMeter:
        """A fresh accumulator of the epoch's training figures."""
        raise NotImplementedError

    def validation_metrics(self) -> dict:
        """The epoch's validation figures for its row (empty without validation images)."""
        raise NotImplementedError

    def save_best(self) -> None:
        """Save the current weights as the best so far (called by :class:`BestTracker`)."""
        raise NotImplementedError

    def row_start(self) -> dict:
        """The first fields of the epoch's row."""
        return {"epoch": self.epoch + 1}

    def lr_metrics(self) -> dict:
        """The learning rate(s) for the epoch's row."""
        return {"lr": float(self.optimizer.param_groups[0]["lr"])}

    def batch_metrics(self, loss: float) -> dict:
        """Figures of a batch progress event besides the epoch."""
        return {"loss": loss}

    def on_train_batch_end(self) -> None:
        """After each optimizer step and the callbacks' ``on_train_batch_end`` (EMA updates)."""

    def final_estimate_s(self) -> float:
        """Seconds the job still needs after the last epoch (e.g. the final evaluation); 0 by default."""
        return 0.0

    def validation_estimate_s(self) -> float:
        """Seconds of one epoch's validation; by default the moving average of the passes so far."""
        return self.val_s.value or 0.0

    def remaining_s(self) -> float | None:
        """Seconds left: the batches left at their moving-average pace, each epoch's validation and saving at
        theirs, and :meth:`final_estimate_s`; None before the first batch."""
        train = self.eta.eta(self.batches_done) if self.batches_done < self.total_steps else 0.0
        if train is None:
            return None
        epochs_left = self.total_epochs - self.epoch
        per_epoch = (self.epoch_extra.value or 0.0) + self.validation_estimate_s()
        return train + epochs_left * per_epoch + self.final_estimate_s()

    def resume_note(self) -> str:
        """The train.log line after a resume."""
        return (f"Resumed after epoch {self.epoch} (phase {self.phase_index + 1}, "
                f"epoch {self.epoch_in_phase} of the phase).")

    # --- phases ----------------------------------------------------------
    def start_phase(self, index: int) -> None:
        """Make phase ``index``'s optimizer and scheduler, then tell the callbacks."""
        self.phase_index = index
        self.configure_phase(index)
        for cb in self.callbacks:
            cb.on_phase_start(self, index)

    # --- one epoch -------------------------------------------------------
    def train_epoch(self) -> dict:
        """One pass over the training batches; returns the meter's figures."""
        self.module.train()
        loader = self.train_loader()
        n_batches = len(loader)  # type: ignore[arg-type]
        meter = self.epoch_meter()
        hooks = [cb for cb in self.callbacks if type(cb).on_train_batch_end is not Callback.on_train_batch_end]
        optimizer, scaler, last = self.optimizer, self.scaler, 0.0
        self.eta.skip(self.batches_done)  # the time since the last batch went to validation and saving
        for i, batch in enumerate(loader):
            if self.cancel.cancelled:
                raise CancelledError(f"{self.activity} was cancelled.")
            with torch.autocast(device_type=self.device.type, dtype=torch.float16, enabled=self.amp):
                out = self.training_step(batch)
            loss = out["loss"]
            optimizer.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            if self.grad_clip:
                scaler.unscale_(optimizer)
                torch.nn.utils.clip_grad_norm_(self.module.parameters(), self.grad_clip)
            scaler.step(optimizer)
            scaler.update()
            for cb in hooks:
                cb.on_train_batch_end(self)
            self.on_train_batch_end()
            meter.update(out)
            self.batches_done += 1
            now = time.monotonic()
            if now - last > REPORT_EVERY_S or i + 1 == n_batches:
                last = now
                self._report_batch(i + 1, n_batches, float(loss.detach()))
        return meter.compute()

    def _report_batch(self, batch: int, n_batches: int, loss: float) -> None:
        self.progress(Progress(
            stage=self.stage, step=self.batches_done, total=self.total_steps, eta_s=self.remaining_s(),
            message=f"epoch {self.epoch + 1}/{self.total_epochs} batch {batch}/{n_batches}",
            metrics={"epoch": self.epoch + 1, **self.batch_metrics(loss)},
        ))

    def run_epoch(self) -> None:
        """Train, validate, run callbacks, checkpoint and log one epoch."""
        t0 = time.monotonic()
        row = self.row_start()
        self.seed_epoch()
        for cb in self.callbacks:
            cb.on_train_epoch_start(self, row)
        row.update(self.train_epoch())
        train_s = time.monotonic() - t0
        for cb in self.callbacks:
            cb.on_train_epoch_end(self, row)
        t_val = time.monotonic()
        row.update(self.validation_metrics())
        val_s = time.monotonic() - t_val
        self.val_s.add(val_s)
        for cb in self.callbacks:
            cb.on_validation_end(self, row)
        row.update(self.lr_metrics())
        row["time_s"] = round(time.monotonic() - t0, 3)
        for cb in self.callbacks:
            cb.on_epoch_end(self, row)
        self.epoch += 1
        self.epoch_in_phase += 1
        self.history.append(row)
        self.save_checkpoint()
        self.run.append_metrics(row)
        for cb in self.callbacks:
            cb.on_epoch_saved(self, row)
        self.run.log(format_row(row))
        self.epoch_extra.add(time.monotonic() - t0 - train_s - val_s)
        self.progress(Progress(stage="epoch", step=self.epoch, total=self.total_epochs, metrics=dict(row),
                               message=f"epoch {self.epoch} done", eta_s=self.remaining_s()))

    # --- checkpoints -----------------------------------------------------
    def _stateful(self) -> list[Callback]:
        return [cb for cb in self.callbacks if cb.stateful]

    def save_checkpoint(self) -> None:
        """Write the full training state after an epoch (``checkpoints/last.pt``)."""
        state = {
            "epoch": self.epoch, "phase_index": self.phase_index, "epoch_in_phase": self.epoch_in_phase,
            "phase_done": self.should_stop_phase or self.epoch_in_phase >= self.phases[self.phase_index].epochs,
            self.state_key: ckpt.state_dict_to_cpu(self.module.state_dict()),
            "optimizer": ckpt.state_dict_to_cpu(self.optimizer.state_dict()),
            "scheduler": self.scheduler.state_dict() if self.scheduler is not None else {},
            "scaler": self.scaler.state_dict(),
            "callbacks": [cb.state_dict() for cb in self._stateful()],
            "rng": rng_state(), "history": self.history,
        }
        ckpt.save_state(state, self.run.last_checkpoint)

    def upgrade_checkpoint(self, state: dict) -> dict:
        """A checkpoint written by an older version in today's layout (default: unchanged)."""
        return state

    def load_checkpoint(self) -> None:
        """Restore the state written by :meth:`save_checkpoint`."""
        state = self.upgrade_checkpoint(ckpt.load_state(self.run.last_checkpoint))
        self.module.load_state_dict(state[self.state_key])
        self.epoch, self.history = state["epoch"], state["history"]
        index, in_phase = state["phase_index"], state["epoch_in_phase"]
        if state["phase_done"]:
            index, in_phase = index + 1, 0
        for cb, cb_state in zip(self._stateful(), state["callbacks"]):
            cb.load_state_dict(cb_state)
        if index < len(self.phases):
            self.resuming_phase = in_phase > 0
            self.start_phase(index)
            if in_phase > 0:
                self.optimizer.load_state_dict(state["optimizer"])
                if self.scheduler is not None and state["scheduler"]:
                    self.scheduler.load_state_dict(state["scheduler"])
                self.scaler.load_state_dict(state["scaler"])
            self.resuming_phase = False
        self.phase_index, self.epoch_in_phase = index, in_phase
        set_rng_state(state["rng"])
        self.run.rewrite_metrics(self.history)
        for cb in self.callbacks:
            cb.on_resume(self)
        self.batches_done = self.steps_per_epoch * self.epoch
        self.eta.restart(self.batches_done)
        self.log(self.resume_note())
        # The rows kept (metrics.jsonl as rewritten): a viewer's curves go on from them, without a gap.
        self.progress(Progress(stage="resumed", step=self.epoch, total=self.total_epochs,
                               metrics={"history": [dict(r) for r in self.history]}, message=self.resume_note()))

    # --- main loop -------------------------------------------------------
    def fit(self, resume: bool = False) -> None:
        """Run every phase to its end, an early stop or a cancel (CancelledError)."""
        start_index = 0
        if resume:
            self.load_checkpoint()
            start_index = self.phase_index
        for index in range(start_index, len(self.phases)):
            phase = self.phases[index]
            if not (resume and index == start_index):
                self.epoch_in_phase = 0
                self.start_phase(index)
            resume = False
            self.should_stop_phase = False
            while self.epoch_in_phase < phase.epochs and not self.should_stop_phase:
                self.run_epoch()

    def log(self, message: str) -> None:
        """Write to train.log and emit a log event."""
        self.run.log(message)
        self.progress(Progress(stage="log", message=message))
