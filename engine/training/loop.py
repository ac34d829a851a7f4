"""The supervised training loop behind ``engine.training.job.train``.

One loop serves every recipe: phases (frozen backbone, partial and full
unfreezing with separate backbone/head learning rates) are entries of
``config.phases``; schedulers, early stopping, best-weight tracking and
checkpoints are callbacks. After every epoch the full training state is
checkpointed, so ``resume(run_dir)`` continues a killed run at the right
epoch with optimizer, scheduler, scaler and RNG state restored.
"""

from __future__ import annotations

import dataclasses
import time

import torch

from engine.errors import CancelledError, ConfigError
from engine.jobs import CancelToken, EtaEstimator, Progress, ProgressFn
from engine.runs import Run
from engine.training import checkpoint as ckpt
from engine.training.builders import build_loss, build_optimizer, build_scheduler, step_scheduler
from engine.training.callbacks import BestTracker, EarlyStopping
from engine.training.config import PhaseConfig, TrainConfig
from engine.training.data_setup import announce_run
from engine.training.devices import use_amp
from engine.training.batchnorm import recalibrate_batchnorm
from engine.training.epoch_metrics import epoch_val_metrics
from engine.training.seeding import epoch_seed, rng_state, set_rng_state


class Trainer:
    """Owns one run's model, optimizer and callbacks; see :func:`train`."""

    def __init__(self, config: TrainConfig, run: Run, data, model, device, progress: ProgressFn, cancel: CancelToken):
        self.config, self.run, self.data, self.model, self.device = config, run, data, model, device
        self.progress, self.cancel = progress, cancel
        self.amp = use_amp(config.amp, device)
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.amp)
        weights = None
        if config.loss.class_weights == "balanced":
            from engine.data.dataset import class_weights_balanced

            weights = class_weights_balanced(data.datasets["train"].targets, len(data.classes)).float()
        self.criterion = build_loss(config.loss, model.num_outputs, weights).to(device)
        self.phases = config.phases or [PhaseConfig(epochs=config.epochs, trainable="all", name="train")]
        monitor = config.early_stopping.monitor
        self.best = BestTracker(monitor)
        self.early = EarlyStopping(monitor, config.early_stopping.patience, config.early_stopping.min_epochs)
        self.callbacks = [self.best, self.early]
        self.schedule = config.schedule
        announce_run(config, run, data, self.log)
        if data.loaders["val"] is None:
            self._without_validation()
        self.history: list[dict] = []
        self.epoch = 0                 # global epochs completed
        self.phase_index = 0
        self.epoch_in_phase = 0
        self.should_stop_phase = False
        self.resuming_phase = False
        self.optimizer = self.scheduler = None
        total_batches = len(data.loaders["train"]) * config.total_epochs()
        self.eta = EtaEstimator(total_batches)
        self.batches_done = 0
        self._batches_at_start = 0

    def _without_validation(self) -> None:
        """No val images: early stopping and plateau schedules on a val metric are switched off, with a note."""
        cfg, off = self.config, []
        if cfg.early_stopping.monitor.startswith("val_"):
            if cfg.early_stopping.patience:
                self.early.patience = 0
                off.append(f"early stopping on {cfg.early_stopping.monitor}")
            if cfg.early_stopping.restore_best:
                off.append("restoring the best epoch (the last epoch's weights are kept)")
        if cfg.schedule.name == "plateau" and cfg.schedule.monitor.startswith("val_"):
            self.schedule = dataclasses.replace(cfg.schedule, name="none")
            off.append(f"the plateau schedule on {cfg.schedule.monitor}")
        if off:
            self.log(f"No validation images, so these are disabled for this run: {', '.join(off)}.")

    # --- phases ---------------------------------------------------------
    def start_phase(self, index: int) -> None:
        """Apply a phase's trainable layers, optimizer and scheduler."""
        phase, cfg = self.phases[index], self.config
        self.phase_index = index
        self.model.set_trainable(phase.trainable)
        lr = phase.lr if phase.lr is not None else cfg.optim.lr
        blr = phase.backbone_lr if phase.backbone_lr is not None else (cfg.optim.backbone_lr or lr)
        self.optimizer = build_optimizer(self.model.param_groups(lr, blr), cfg.optim)
        self.scheduler = build_scheduler(self.optimizer, self.schedule, phase.epochs)
        for cb in self.callbacks:
            cb.on_phase_start(self, index)
        self.log(f"Phase {index + 1}/{len(self.phases)} '{phase.name or index + 1}': trainable={phase.trainable}, "
                 f"lr head={lr:g} backbone={blr:g}, {phase.epochs} epochs.")

    # --- one epoch ------------------------------------------------------
    def train_epoch(self) -> dict:
        """One pass over the training data; returns train loss and accuracy."""
        cfg, model = self.config, self.model
        model.train()
        self.data.set_epoch(cfg.seed, self.epoch)
        torch.manual_seed(epoch_seed(cfg.seed, self.epoch))
        loss_sum = torch.zeros((), device=self.device)
        correct = torch.zeros((), device=self.device)
        seen = 0
        loader = self.data.loaders["train"]
        last_report = 0.0
        for i, (x, y, _idx) in enumerate(loader):
            if self.cancel.cancelled:
                raise CancelledError("Training was cancelled.")
            x = x.to(self.device, non_blocking=True)
            y = y.to(self.device, non_blocking=True)
            with torch.autocast(device_type=self.device.type, dtype=torch.float16, enabled=self.amp):
                logits = model(x)
                loss = self.criterion(logits.float(), y)
            self.optimizer.zero_grad(set_to_none=True)
            self.scaler.scale(loss).backward()
            if cfg.grad_clip:
                self.scaler.unscale_(self.optimizer)
                torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
            self.scaler.step(self.optimizer)
            self.scaler.update()
            with torch.no_grad():
                loss_sum += loss.detach() * len(y)
                pred = (logits.squeeze(1) > 0).long() if logits.shape[1] == 1 else logits.argmax(1)
                correct += (pred == y).sum()
            seen += len(y)
            self.batches_done += 1
            now = time.monotonic()
            if now - last_report > 0.25 or i + 1 == len(loader):
                last_report = now
                self._report_batch(i + 1, len(loader), float(loss.detach()))
        return {"train_loss": float(loss_sum) / max(seen, 1), "train_acc": float(correct) / max(seen, 1)}

    def _report_batch(self, batch: int, n_batches: int, loss: float) -> None:
        done_since_start = self.batches_done - self._batches_at_start
        eta = None
        if self.eta.total and done_since_start:
            eta = self.eta.elapsed() / done_since_start * (self.eta.total - self.batches_done)
        self.progress(Progress(
            stage="train", step=self.batches_done, total=self.eta.total, eta_s=eta,
            message=f"epoch {self.epoch + 1}/{self.config.total_epochs()} batch {batch}/{n_batches}",
            metrics={"epoch": self.epoch + 1, "phase": self.phase_index + 1, "batch_loss": loss},
        ))

    def _precise_bn(self) -> bool:
        setting = self.config.precise_bn
        if setting not in ("auto", "on", "off"):
            raise ConfigError("precise_bn must be auto, on or off.")
        return setting == "on" or (setting == "auto" and len(self.data.loaders["train"]) < 100)

    def validate(self) -> dict:
        """Validation loss, accuracy and AUC (empty dict without a val split)."""
        loader = self.data.loaders["val"]
        if loader is None:
            return {}
        return epoch_val_metrics(self.model, loader, self.criterion, self.device, self.amp, self.cancel)

    # --- checkpoints ----------------------------------------------------
    def save_best(self) -> None:
        """Write the current weights as the best so far."""
        ckpt.save_weights(self.model, self.run.best_weights)

    def save_checkpoint(self) -> None:
        """Write the full training state after an epoch."""
        state = {
            "epoch": self.epoch, "phase_index": self.phase_index, "epoch_in_phase": self.epoch_in_phase,
            "phase_done": self.should_stop_phase or self.epoch_in_phase >= self.phases[self.phase_index].epochs,
            "model": ckpt.state_dict_to_cpu(self.model.state_dict()),
            "optimizer": ckpt.state_dict_to_cpu(self.optimizer.state_dict()),
            "scheduler": self.scheduler.state_dict() if self.scheduler is not None else {},
            "scaler": self.scaler.state_dict(),
            "callbacks": [cb.state_dict() for cb in self.callbacks],
            "rng": rng_state(), "history": self.history,
        }
        ckpt.save_state(state, self.run.last_checkpoint)

    def load_checkpoint(self) -> None:
        """Restore the state written by :meth:`save_checkpoint`."""
        state = ckpt.load_state(self.run.last_checkpoint)
        self.model.load_state_dict(state["model"])
        self.epoch, self.history = state["epoch"], state["history"]
        index, in_phase = state["phase_index"], state["epoch_in_phase"]
        if state["phase_done"]:
            index, in_phase = index + 1, 0
        for cb, cb_state in zip(self.callbacks, state["callbacks"]):
            cb.load_state_dict(cb_state)
        if index < len(self.phases):
            self.resuming_phase = in_phase > 0
            self.start_phase(index)
            if in_phase > 0:
                self.optimizer.load_state_dict(state["optimizer"])
                if self.scheduler is not None:
                    self.scheduler.load_state_dict(state["scheduler"])
                self.scaler.load_state_dict(state["scaler"])
            self.resuming_phase = False
        self.phase_index, self.epoch_in_phase = index, in_phase
        set_rng_state(state["rng"])
        self.run.rewrite_metrics(self.history)
        self.batches_done = self._batches_at_start = len(self.data.loaders["train"]) * self.epoch
        self.log(f"Resumed after epoch {self.epoch} (phase {index + 1}, epoch {in_phase} of the phase).")

    # --- main loop ------------------------------------------------------
    def fit(self, resume: bool = False) -> None:
        """Run every phase to the end, early stop or cancel."""
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

    def run_epoch(self) -> None:
        """Train, validate, run callbacks, checkpoint and log one epoch."""
        t0 = time.monotonic()
        row = {"epoch": self.epoch + 1, "phase": self.phase_index + 1}
        row.update(self.train_epoch())
        if self._precise_bn():
            recalibrate_batchnorm(self.model, self.data.eval_loaders["train"], self.device, self.amp, self.cancel)
        row.update(self.validate())
        row["lr"] = self.optimizer.param_groups[0]["lr"]
        row["lr_groups"] = {g.get("name", str(i)): g["lr"] for i, g in enumerate(self.optimizer.param_groups)}
        row["time_s"] = round(time.monotonic() - t0, 3)
        step_scheduler(self.scheduler, row, self.schedule.monitor)
        for cb in self.callbacks:
            cb.on_epoch_end(self, row)
        self.epoch += 1
        self.epoch_in_phase += 1
        self.history.append(row)
        self.save_checkpoint()
        self.run.append_metrics(row)
        self.run.log(" ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in row.items() if k != "lr_groups"))
        self.progress(Progress(stage="epoch", step=self.epoch, total=self.config.total_epochs(), metrics=dict(row),
                               message=f"epoch {self.epoch} done"))

    def log(self, message: str) -> None:
        """Write to train.log and emit a log event."""
        self.run.log(message)
        self.progress(Progress(stage="log", message=message))

