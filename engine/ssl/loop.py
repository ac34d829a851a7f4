"""The pretraining job's step interface on the training spine (:mod:`engine.training.spine`).

Each epoch: (a method's callbacks, e.g. DeepCluster's re-clustering) -> train
on multi-view batches (``method.training_step`` -> loss; AMP on CUDA;
per-step warmup + cosine LR; ``method.on_train_batch_end`` for EMA/momentum
updates) -> validation SSL loss on held-out images (best encoder, early
stopping, S1) -> weighted kNN accuracy on labelled data (Wu et al. 2018) ->
checkpoint. The data order and the augmentations of epoch ``e`` depend only
on (seed, e), so a resumed run repeats exactly the epochs an uninterrupted
one would have run.
"""

from __future__ import annotations

import math
from typing import Any

import torch

from engine import registry
from engine.errors import HistoDeskError
from engine.io_utils import atomic_write_bytes
from engine.jobs import CancelToken, ProgressFn
from engine.runs import Run
from engine.ssl.data import VAL_SEED_OFFSET
from engine.ssl.knn import KnnMonitor
from engine.training import checkpoint as ckpt
from engine.training.builders import build_optimizer
from engine.training.callbacks import BestTracker, EarlyStopping, StepSchedule
from engine.training.config import OptimConfig
from engine.training.devices import use_amp
from engine.training.seeding import epoch_seed, seed_everything
from engine.training.spine import Phase, TrainingLoop


def build_method(config, encoder, catalog, split):
    """The SSL method around ``encoder`` with the config's hyper-parameters (and the method's loop_kwargs)."""
    num_images = len([r for r in catalog.records if r.path in split.assignments])
    extra = registry.get("ssl", config.method).loop_kwargs(config, num_images)
    return registry.create("ssl", config.method, encoder=encoder, **config.method_hparams(), **extra)


class SSLMeter:
    """Sums of an epoch's finite losses (on the device: no GPU sync per step)."""

    def __init__(self, device: torch.device):
        self.loss_sum, self.seen, self.finite = (torch.zeros((), device=device) for _ in range(3))

    @torch.no_grad()
    def update(self, out: dict) -> None:
        """Add a batch's ``loss`` (skipped when NaN/Inf) weighted by its ``size``."""
        loss = out["loss"].detach()
        ok = torch.isfinite(loss)
        self.finite += ok
        self.loss_sum += torch.where(ok, loss, 0.0) * out["size"]
        self.seen += ok * out["size"]

    def compute(self) -> dict:
        """The epoch's mean loss (``loss`` and ``train_loss``); HistoDeskError when no step was finite."""
        if not int(self.finite):
            raise HistoDeskError("The SSL loss was NaN/Inf for a whole epoch: lower the learning rate "
                                 "(hparams.lr) or use a larger batch.")
        mean = float(self.loss_sum) / max(float(self.seen), 1.0)
        return {"loss": mean, "train_loss": mean}


class SSLTrainer(TrainingLoop):
    """One SSL run's method, optimizer, per-step schedule and callbacks (one phase of ``config.epochs``)."""

    stage = "pretrain"
    activity = "Pretraining"
    state_key = "method"

    def __init__(self, config, run: Run, data, method, device: torch.device, progress: ProgressFn,
                 cancel: CancelToken):
        super().__init__(run, device, progress, cancel, amp=use_amp(config.amp, device),
                         phases=[Phase(config.epochs, "pretrain")], steps_per_epoch=data.steps_per_epoch())
        self.config, self.data, self.method = config, data, method
        self.module = method
        self.sampler = None  # this epoch's training sampler, set by a method's callback (None: shuffle)
        self.best_path = run.path / "checkpoints" / "best_encoder.safetensors"
        self.best: BestTracker | None = None
        self.early: EarlyStopping | None = None
        self.callbacks = [StepSchedule(), *method.loop_callbacks(config)]
        if data.labelled and config.knn_every:
            self.callbacks.append(KnnMonitor(config.knn_every, config.knn_k, config.knn_temperature))
        if data.val_loader is not None and method.early_stopping:
            self.best, self.early = BestTracker("val_loss"), EarlyStopping("val_loss", config.patience)
            self.callbacks += [self.best, self.early]

    # --- the step interface -----------------------------------------------
    def configure_phase(self, index: int) -> None:
        """The optimizer over the method's trainable parameters and the warmup/cosine schedule."""
        hp = self.config.method_hparams()
        lr = float(hp.get("lr", 1e-3))
        optimizer: Any = str(hp.get("optimizer", "adamw"))  # OptimConfig validates the name
        optim = OptimConfig(name=optimizer, lr=lr,
                            weight_decay=float(hp.get("weight_decay", 0)))
        params = [p for p in self.method.trainable_parameters() if p.requires_grad]
        self.optimizer = build_optimizer([{"params": params, "lr": lr, "name": "ssl"}], optim)
        use_sched = self.config.schedule == "cosine" or self.config.warmup_epochs
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(self.optimizer, self._lr_factor) if use_sched else None

    def _lr_factor(self, step: int) -> float:
        """Linear warmup, then cosine decay to ``min_lr`` (or constant without a cosine schedule)."""
        warm = self.config.warmup_epochs * self.steps_per_epoch
        if step < warm:
            return (step + 1) / warm
        if self.config.schedule != "cosine":
            return 1.0
        floor = self.config.min_lr / max(self.optimizer.defaults["lr"], 1e-12)
        t = min(1.0, (step - warm) / max(1, self.total_steps - warm))
        return floor + (1.0 - floor) * 0.5 * (1.0 + math.cos(math.pi * t))

    def seed_epoch(self) -> None:
        """Every RNG from (seed, epoch); the sampler back to plain shuffling until a callback sets one."""
        seed_everything(epoch_seed(self.config.seed, self.epoch), deterministic=False)
        self.sampler = None

    def train_loader(self):
        """This epoch's multi-view loader (shuffled by (seed, epoch), or drawn by ``self.sampler``)."""
        return self.data.train_loader(self.config.seed, self.epoch, self.sampler)

    def _step_kwargs(self, idx) -> dict:
        return {"indices": idx.to(self.device)} if self.method.needs_indices else {}

    def training_step(self, batch) -> dict:
        """The method's loss on a batch ``(views, idx)``."""
        views, idx = batch
        views = [v.to(self.device, non_blocking=True) for v in views]
        loss = self.method.training_step(views, **self._step_kwargs(idx))["loss"].float()
        return {"loss": loss, "size": len(idx)}

    def on_train_batch_end(self) -> None:
        """The method's schedules and EMA target updates."""
        self.method.on_train_batch_end(self.batches_done, self.total_steps)

    def epoch_meter(self) -> SSLMeter:
        """Finite-loss sums of one epoch."""
        return SSLMeter(self.device)

    def batch_metrics(self, loss: float) -> dict:
        """Batch loss and the learning rate of the next step."""
        return {"loss": loss, "lr": self.current_lr()}

    def current_lr(self) -> float:
        """The learning rate of the next step."""
        return float(self.optimizer.param_groups[0]["lr"])

    @torch.no_grad()
    def validate(self) -> float | None:
        """Mean SSL loss on the held-out images, on fixed views; method state (EMA, centres) untouched."""
        if self.data.val_loader is None:
            return None
        buffers = {k: v.clone() for k, v in self.method.named_buffers()}
        self.method.eval()
        seed_everything(self.config.seed + VAL_SEED_OFFSET, deterministic=False)  # views without workers
        self.data.val_loader.generator.manual_seed(self.config.seed + VAL_SEED_OFFSET)  # with workers
        total, n = 0.0, 0
        try:
            for views, idx in self.data.val_loader:
                self.cancel.raise_if_cancelled()
                views = [v.to(self.device, non_blocking=True) for v in views]
                with torch.autocast(device_type=self.device.type, dtype=torch.float16, enabled=self.amp):
                    loss = self.method.training_step(views, **self._step_kwargs(idx))["loss"].float()
                total, n = total + float(loss) * len(idx), n + len(idx)
        finally:
            for name, buffer in self.method.named_buffers():
                buffer.copy_(buffers[name])
            self.method.train()
        return total / max(n, 1)

    def validation_metrics(self) -> dict:
        """``val_loss`` (see :meth:`validate`), or nothing without held-out images."""
        value = self.validate()
        return {} if value is None else {"val_loss": value}

    # --- checkpoints and the encoder --------------------------------------
    def save_best(self) -> None:
        """The encoder of the best validation loss so far."""
        ckpt.save_weights(self.method.encoder, self.best_path)

    def upgrade_checkpoint(self, state: dict) -> dict:
        """A checkpoint from before the training spine (flat best_val / wait / early_stopped keys)."""
        if "phase_index" in state:
            return state
        best = {"best": state["best_val"], "best_epoch": state["best_epoch"] if state["best_epoch"] > 0 else -1}
        early = {"wait": state["wait"], "stopped_epoch": state["epoch"] if state["early_stopped"] else 0, **best}
        return {**state, "phase_index": 0, "epoch_in_phase": state["epoch"], "phase_done": state["early_stopped"],
                "callbacks": [best, early] if self.best is not None else []}

    def resume_note(self) -> str:
        """One phase: the epoch is enough."""
        return f"Resumed after epoch {self.epoch}."

    @property
    def early_stopped(self) -> bool:
        """Whether early stopping ended the run."""
        return self.early is not None and self.early.stopped_epoch > 0

    def save_encoder(self, path, best: bool = True) -> None:
        """Write encoder.safetensors: the best-validation encoder when kept, else the current one."""
        if best and self.best is not None and self.best.found and self.best_path.exists():
            atomic_write_bytes(path, self.best_path.read_bytes())
        else:
            ckpt.save_weights(self.method.encoder, path)
