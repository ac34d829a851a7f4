"""The pretraining loop behind :func:`engine.ssl.job.pretrain`.

Each epoch: (DeepCluster: re-cluster) -> train on multi-view batches
(``method.training_step`` -> loss; AMP on CUDA; per-step warmup + cosine LR;
``method.on_train_batch_end`` for EMA/momentum updates) -> validation SSL
loss on held-out images (early stopping, S1) -> weighted kNN accuracy on
labelled data (Wu et al. 2018) -> checkpoint. The data order and the
augmentations of epoch ``e`` depend only on (seed, e), so a resumed run
repeats exactly the epochs an uninterrupted one would have run.
"""

from __future__ import annotations

import math
import time

import torch

from engine import registry
from engine.errors import CancelledError, HistoDeskError
from engine.jobs import CancelToken, EtaEstimator, Progress, ProgressFn
from engine.runs import Run
from engine.ssl.data import VAL_SEED_OFFSET
from engine.training import checkpoint as ckpt
from engine.training.builders import build_optimizer
from engine.training.config import OptimConfig
from engine.training.devices import use_amp
from engine.training.seeding import epoch_seed, rng_state, seed_everything
from engine.io_utils import atomic_write_bytes


def is_deepcluster(name: str) -> bool:
    """True for methods trained by the DeepCluster loop (registry meta ``loop``)."""
    return registry.meta("ssl", name).get("loop") == "deepcluster"


def build_method(config, encoder, catalog, split):
    """The SSL method around ``encoder`` with the config's hyper-parameters."""
    extra = {}
    if is_deepcluster(config.method):
        from engine.ssl.deepcluster import deepcluster_kwargs

        extra = deepcluster_kwargs(config, len([r for r in catalog.records if r.path in split.assignments]))
    return registry.create("ssl", config.method, encoder=encoder, **config.method_hparams(), **extra)


class SSLTrainer:
    """Owns one SSL run's method, optimizer, schedule, early stopping and checkpoints."""

    def __init__(self, config, run: Run, data, method, device: torch.device, progress: ProgressFn,
                 cancel: CancelToken):
        self.config, self.run, self.data, self.method, self.device = config, run, data, method, device
        self.progress, self.cancel = progress, cancel
        self.amp = use_amp(config.amp, device)
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.amp)
        hp = config.method_hparams()
        lr = float(hp.get("lr", 1e-3))
        optim = OptimConfig(name=str(hp.get("optimizer", "adamw")), lr=lr, weight_decay=float(hp.get("weight_decay", 0)))
        params = [p for p in method.trainable_parameters() if p.requires_grad]
        self.optimizer = build_optimizer([{"params": params, "lr": lr, "name": "ssl"}], optim)
        self.steps = data.steps_per_epoch()
        self.total_steps = self.steps * config.epochs
        use_sched = config.schedule == "cosine" or config.warmup_epochs
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(self.optimizer, self._lr_factor) if use_sched else None
        self.hooks = None
        if is_deepcluster(config.method):
            from engine.ssl.deepcluster import DeepClusterHooks

            self.hooks = DeepClusterHooks(self)
        self.epoch, self.history = 0, []
        self.best_val, self.best_epoch, self.wait, self.early_stopped = math.inf, 0, 0, False
        self.eta = EtaEstimator(self.total_steps)
        self.batches_done = self._batches_at_start = 0
        self.best_path = run.path / "checkpoints" / "best_encoder.safetensors"

    def _lr_factor(self, step: int) -> float:
        """Linear warmup, then cosine decay to ``min_lr`` (or constant without a cosine schedule)."""
        warm = self.config.warmup_epochs * self.steps
        if step < warm:
            return (step + 1) / warm
        if self.config.schedule != "cosine":
            return 1.0
        floor = self.config.min_lr / max(self.optimizer.defaults["lr"], 1e-12)
        t = min(1.0, (step - warm) / max(1, self.total_steps - warm))
        return floor + (1.0 - floor) * 0.5 * (1.0 + math.cos(math.pi * t))

    # --- one epoch ------------------------------------------------------
    def _step_kwargs(self, idx) -> dict:
        return {"indices": idx.to(self.device)} if self.hooks else {}

    def train_epoch(self, loader) -> float:
        """One pass over the training images; returns the mean loss."""
        self.method.train()
        # sums stay on the device: no GPU sync per step (only the throttled progress report reads the loss)
        loss_sum, seen, finite = (torch.zeros((), device=self.device) for _ in range(3))
        last = 0.0
        for i, (views, idx) in enumerate(loader):
            if self.cancel.cancelled:
                raise CancelledError("Pretraining was cancelled.")
            views = [v.to(self.device, non_blocking=True) for v in views]
            with torch.autocast(device_type=self.device.type, dtype=torch.float16, enabled=self.amp):
                loss = self.method.training_step(views, **self._step_kwargs(idx))["loss"].float()
            self.optimizer.zero_grad(set_to_none=True)
            self.scaler.scale(loss).backward()
            self.scaler.step(self.optimizer)
            self.scaler.update()
            if self.scheduler is not None:
                self.scheduler.step()
            self.method.on_train_batch_end(self.batches_done, self.total_steps)
            ok = torch.isfinite(loss.detach())
            finite += ok
            loss_sum += torch.where(ok, loss.detach(), 0.0) * len(idx)
            seen += ok * len(idx)
            self.batches_done += 1
            now = time.monotonic()
            if now - last > 0.25 or i + 1 == self.steps:
                last = now
                self._report_batch(i + 1, float(loss.detach()))
        if not int(finite):
            raise HistoDeskError("The SSL loss was NaN/Inf for a whole epoch: lower the learning rate "
                                 "(hparams.lr) or use a larger batch.")
        return float(loss_sum) / max(float(seen), 1.0)

    def _report_batch(self, batch: int, loss: float) -> None:
        done = self.batches_done - self._batches_at_start
        eta = self.eta.elapsed() / done * (self.total_steps - self.batches_done) if done else None
        self.progress(Progress(stage="pretrain", step=self.batches_done, total=self.total_steps, eta_s=eta,
                               message=f"epoch {self.epoch + 1}/{self.config.epochs} batch {batch}/{self.steps}",
                               metrics={"epoch": self.epoch + 1, "loss": loss, "lr": self.current_lr()}))

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

    def knn_accuracy(self) -> float | None:
        """Weighted kNN accuracy (k, T from the config) of val features against train features."""
        from engine.ssl.knn import extract_features, knn_accuracy

        cfg, data = self.config, self.data
        if not (data.labelled and cfg.knn_every) or (self.epoch + 1) % cfg.knn_every:
            return None
        bank, query = data.split.records(data.catalog, "train"), data.split.records(data.catalog, "val")
        if not bank or not query:
            return None
        self.method.eval()
        try:
            f_bank, y_bank = extract_features(self.method.embed, data.eval_loader(bank), self.device,
                                              amp=self.amp, cancel=self.cancel)
            f_query, y_query = extract_features(self.method.embed, data.eval_loader(query), self.device,
                                                amp=self.amp, cancel=self.cancel)
        finally:
            self.method.train()
        return knn_accuracy(f_bank, y_bank, f_query, y_query, len(data.classes), k=cfg.knn_k,
                            temperature=cfg.knn_temperature)

    def run_epoch(self) -> None:
        """Train, validate, monitor, early-stop, checkpoint and log one epoch."""
        t0, seed = time.monotonic(), self.config.seed
        seed_everything(epoch_seed(seed, self.epoch), deterministic=False)
        row: dict = {"epoch": self.epoch + 1}
        sampler = None
        if self.hooks:
            row.update(self.hooks.on_epoch_start(self.epoch))
            sampler = self.hooks.sampler(self.epoch)
        t_train = time.monotonic()
        row["loss"] = row["train_loss"] = self.train_epoch(self.data.train_loader(seed, self.epoch, sampler))
        if self.hooks:
            row["time_train_s"] = round(time.monotonic() - t_train, 3)
        val = self.validate()
        if val is not None:
            row["val_loss"] = val
        knn = self.knn_accuracy()
        if knn is not None:
            row["knn_acc"] = row["val_acc"] = knn  # val_acc: the curve the Runs / Jobs plots draw
        row["lr"] = self.current_lr()
        row["time_s"] = round(time.monotonic() - t0, 3)
        self._early_stopping(row)
        self.epoch += 1
        self.history.append(row)
        self.save_checkpoint()
        self.run.append_metrics(row)
        if self.hooks:
            self.hooks.write_log(self.history)
        self.run.log(" ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in row.items()))
        self.progress(Progress(stage="epoch", step=self.epoch, total=self.config.epochs, metrics=dict(row),
                               message=f"epoch {self.epoch} done"))

    def _early_stopping(self, row: dict) -> None:
        """Best validation loss (its encoder saved) and patience (S1); off for DeepCluster's moving targets."""
        value = row.get("val_loss")
        if value is None or self.hooks or not math.isfinite(value):
            return
        if value < self.best_val:
            self.best_val, self.best_epoch, self.wait = value, row["epoch"], 0
            ckpt.save_weights(self.method.encoder, self.best_path)
        else:
            self.wait += 1
        row["best_val_loss"] = self.best_val
        if self.config.patience and self.wait >= self.config.patience:
            self.early_stopped = True
            self.log(f"Early stopping: validation loss did not improve for {self.wait} epochs "
                     f"(best {self.best_val:.4g} at epoch {self.best_epoch}).")

    # --- checkpoints ----------------------------------------------------
    def save_checkpoint(self) -> None:
        """The full state after an epoch (method incl. target nets, optimizer, schedule, RNG)."""
        state = {"epoch": self.epoch, "method": ckpt.state_dict_to_cpu(self.method.state_dict()),
                 "optimizer": ckpt.state_dict_to_cpu(self.optimizer.state_dict()),
                 "scheduler": self.scheduler.state_dict() if self.scheduler is not None else {},
                 "scaler": self.scaler.state_dict(), "history": self.history, "best_val": self.best_val,
                 "best_epoch": self.best_epoch, "wait": self.wait, "early_stopped": self.early_stopped,
                 "rng": rng_state()}
        ckpt.save_state(state, self.run.last_checkpoint)

    def load_checkpoint(self) -> None:
        """Restore :meth:`save_checkpoint`'s state."""
        state = ckpt.load_state(self.run.last_checkpoint)
        self.method.load_state_dict(state["method"])
        self.optimizer.load_state_dict(state["optimizer"])
        if self.scheduler is not None and state["scheduler"]:
            self.scheduler.load_state_dict(state["scheduler"])
        self.scaler.load_state_dict(state["scaler"])
        self.epoch, self.history = state["epoch"], state["history"]
        self.best_val, self.best_epoch = state["best_val"], state["best_epoch"]
        self.wait, self.early_stopped = state["wait"], state["early_stopped"]
        self.run.rewrite_metrics(self.history)
        if self.hooks:
            self.hooks.write_log(self.history)
        self.batches_done = self._batches_at_start = self.steps * self.epoch
        self.log(f"Resumed after epoch {self.epoch}.")

    def save_encoder(self, path, best: bool = True) -> None:
        """Write encoder.safetensors: the best-validation encoder when kept, else the current one."""
        if best and self.best_epoch > 0 and self.best_path.exists():
            atomic_write_bytes(path, self.best_path.read_bytes())
        else:
            ckpt.save_weights(self.method.encoder, path)

    # --- main loop ------------------------------------------------------
    def fit(self, resume: bool = False) -> None:
        """Run epochs to the end, an early stop or a cancel."""
        if resume:
            self.load_checkpoint()
        while self.epoch < self.config.epochs and not self.early_stopped:
            self.run_epoch()

    def log(self, message: str) -> None:
        """Write to train.log and emit a log event."""
        self.run.log(message)
        self.progress(Progress(stage="log", message=message))
