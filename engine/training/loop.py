"""The supervised training job's step interface on the training spine (:mod:`engine.training.spine`).

One loop serves every recipe: phases (frozen backbone, partial and full
unfreezing with separate backbone/head learning rates) are entries of
``config.phases``; schedulers, early stopping, best-weight tracking and
BatchNorm recalibration are callbacks. After every epoch the full training
state is checkpointed, so ``resume(run_dir)`` continues a killed run at the
right epoch with optimizer, scheduler, scaler and RNG state restored.
"""

from __future__ import annotations

import dataclasses

import torch

from engine.errors import ConfigError
from engine.jobs import CancelToken, ProgressFn
from engine.runs import Run
from engine.training import checkpoint as ckpt
from engine.training.batchnorm import PreciseBatchNorm
from engine.training.builders import build_loss, build_optimizer, build_scheduler
from engine.training.callbacks import BestTracker, EarlyStopping, EpochSchedule
from engine.training.config import PhaseConfig, TrainConfig
from engine.training.data_setup import announce_run
from engine.training.devices import use_amp
from engine.training.epoch_metrics import epoch_val_metrics
from engine.training.seeding import epoch_seed
from engine.training.spine import TrainingLoop


class TrainMeter:
    """Sums of a supervised epoch's loss and correct predictions (on the device: no sync per batch)."""

    def __init__(self, device: torch.device):
        self.loss_sum = torch.zeros((), device=device)
        self.correct = torch.zeros((), device=device)
        self.seen = 0

    @torch.no_grad()
    def update(self, out: dict) -> None:
        """Add a batch's ``loss``, ``logits`` and ``target``."""
        logits, y = out["logits"], out["target"]
        self.loss_sum += out["loss"].detach() * len(y)
        pred = (logits.squeeze(1) > 0).long() if logits.shape[1] == 1 else logits.argmax(1)
        self.correct += (pred == y).sum()
        self.seen += len(y)

    def compute(self) -> dict:
        """Mean training loss and accuracy of the epoch."""
        return {"train_loss": float(self.loss_sum) / max(self.seen, 1),
                "train_acc": float(self.correct) / max(self.seen, 1)}


class Trainer(TrainingLoop):
    """One supervised run's model, loss, phases and callbacks; see :func:`engine.training.job.train`."""

    def __init__(self, config: TrainConfig, run: Run, data, model, device, progress: ProgressFn, cancel: CancelToken):
        phases = config.phases or [PhaseConfig(epochs=config.epochs, trainable="all", name="train")]
        super().__init__(run, device, progress, cancel, amp=use_amp(config.amp, device), phases=phases,
                         steps_per_epoch=len(data.loaders["train"]), grad_clip=config.grad_clip or 0.0)
        self.config, self.data, self.model = config, data, model
        self.recipe = phases  # the phases with their trainable layers and learning rates
        self.module = model
        weights = None
        if config.loss.class_weights == "balanced":
            from engine.data.dataset import class_weights_balanced

            weights = class_weights_balanced(data.datasets["train"].targets, len(data.classes)).float()
        self.criterion = build_loss(config.loss, model.num_outputs, weights).to(device)
        monitor = config.early_stopping.monitor
        self.best = BestTracker(monitor)
        self.early = EarlyStopping(monitor, config.early_stopping.patience, config.early_stopping.min_epochs)
        self.schedule = config.schedule
        announce_run(config, run, data, self.log)
        if data.loaders["val"] is None:
            self._without_validation()
        self.callbacks = [EpochSchedule(self.schedule.monitor), self.best, self.early]
        if self._precise_bn():
            self.callbacks.insert(0, PreciseBatchNorm(data.eval_loaders["train"]))

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

    def _precise_bn(self) -> bool:
        setting = self.config.precise_bn
        if setting not in ("auto", "on", "off"):
            raise ConfigError("precise_bn must be auto, on or off.")
        return setting == "on" or (setting == "auto" and len(self.data.loaders["train"]) < 100)

    # --- the step interface -----------------------------------------------
    def configure_phase(self, index: int) -> None:
        """Apply a phase's trainable layers, optimizer and scheduler."""
        phase, cfg = self.recipe[index], self.config
        self.model.set_trainable(phase.trainable)
        lr = phase.lr if phase.lr is not None else cfg.optim.lr
        blr = phase.backbone_lr if phase.backbone_lr is not None else (cfg.optim.backbone_lr or lr)
        self.optimizer = build_optimizer(self.model.param_groups(lr, blr), cfg.optim)
        self.scheduler = build_scheduler(self.optimizer, self.schedule, phase.epochs)
        self.log(f"Phase {index + 1}/{len(self.phases)} '{phase.name or index + 1}': trainable={phase.trainable}, "
                 f"lr head={lr:g} backbone={blr:g}, {phase.epochs} epochs.")

    def seed_epoch(self) -> None:
        """Data order and augmentations of this epoch from (seed, epoch)."""
        self.data.set_epoch(self.config.seed, self.epoch)
        torch.manual_seed(epoch_seed(self.config.seed, self.epoch))

    def train_loader(self):
        """The training DataLoader (its sampler follows ``data.set_epoch``)."""
        return self.data.loaders["train"]

    def training_step(self, batch) -> dict:
        """Cross-entropy (or BCE) of the model's logits on a labelled batch ``(x, y, idx)``."""
        x, y, _idx = batch
        x = x.to(self.device, non_blocking=True)
        y = y.to(self.device, non_blocking=True)
        logits = self.model(x)
        return {"loss": self.criterion(logits.float(), y), "logits": logits, "target": y}

    def epoch_meter(self) -> TrainMeter:
        """Loss and accuracy sums of one epoch."""
        return TrainMeter(self.device)

    def row_start(self) -> dict:
        """Epoch and phase (1-based)."""
        return {"epoch": self.epoch + 1, "phase": self.phase_index + 1}

    def lr_metrics(self) -> dict:
        """The first group's learning rate and every named group's."""
        groups = self.optimizer.param_groups
        return {"lr": groups[0]["lr"], "lr_groups": {g.get("name", str(i)): g["lr"] for i, g in enumerate(groups)}}

    def batch_metrics(self, loss: float) -> dict:
        """Phase and batch loss."""
        return {"phase": self.phase_index + 1, "batch_loss": loss}

    def validate(self) -> dict:
        """Validation loss, accuracy and AUC (empty dict without a val split)."""
        loader = self.data.loaders["val"]
        if loader is None:
            return {}
        return epoch_val_metrics(self.model, loader, self.criterion, self.device, self.amp, self.cancel)

    def eval_batch_s(self) -> float:
        """Seconds of one evaluation batch: the validation's pace per batch, at most a third of a training step's
        (forward only, no augmentation), so a first pass slowed by one-off costs does not count for all."""
        guesses = []
        pace = self.eta.seconds_per_step(self.batches_done)
        if pace is not None:
            guesses.append(pace / 3)
        val_batches = len(self.data.loaders["val"]) if self.data.loaders["val"] is not None else 0
        if self.val_s.value is not None and val_batches:
            guesses.append(self.val_s.value / val_batches)
        return min(guesses, default=0.0)

    def validation_estimate_s(self) -> float:
        """One epoch's validation at :meth:`eval_batch_s` per batch."""
        loader = self.data.loaders["val"]
        return self.eval_batch_s() * len(loader) if loader is not None else 0.0

    def final_estimate_s(self) -> float:
        """The evaluation after training: calibration on val, then train, val and test at :meth:`eval_batch_s`
        per batch, plus ~0.1 s of metrics per split."""
        batches = {name: len(loader) for name, loader in self.data.eval_loaders.items() if loader is not None}
        return self.eval_batch_s() * (sum(batches.values()) + batches.get("val", 0)) + 0.1 * len(batches)

    def validation_metrics(self) -> dict:
        """See :meth:`validate`."""
        return self.validate()

    def save_best(self) -> None:
        """Write the current weights as the best so far."""
        ckpt.save_weights(self.model, self.run.best_weights)
