"""How long a training run will take, measured on this machine before it starts (issue 13.2).

:func:`measure_throughput` builds the configured model on the chosen device and times a few real batches at the
chosen image size: real images through the real loader and training transform (augmentations included), forward,
backward and the optimizer step; then evaluation batches, the per-image cost of filling the image cache (decode
and resize of images not cached yet), a checkpoint and the final metrics. The measured parts are scaled to the
run: cache warm-up and the leakage audit once, each epoch's batches, validation, BatchNorm recalibration and
checkpoint, and the evaluation of every split at the end. The first batch of each kind is a warm-up and is not
counted. It takes a few seconds, so callers run it off the GUI thread.
"""

from __future__ import annotations

import io
import math
import os
import statistics
import time
from dataclasses import dataclass, field

import torch

from engine.data.catalog import Catalog
from engine.errors import DataError
from engine.jobs import CancelToken, format_duration
from engine.training.config import TrainConfig

#: Images decoded to measure the cache warm-up and the data pipeline.
SAMPLE_IMAGES = 8
#: Records checked for a cached copy (the share not cached is scaled to the dataset).
CACHE_PROBE = 200


@dataclass(frozen=True)
class TimeEstimate:
    """An expected duration in seconds with a plausible range, and the parts it is made of."""

    seconds: float
    low: float
    high: float
    parts: dict[str, float] = field(default_factory=dict)

    def describe(self) -> str:
        """``about 3m50s (2m10s-5m45s)``."""
        return f"about {format_duration(self.seconds)} ({format_duration(self.low)}-{format_duration(self.high)})"


def split_sizes(config: TrainConfig, n_images: int, split=None, catalog: Catalog | None = None) -> dict[str, int]:
    """Images per split: the split's own counts when given, else the configured ratios of ``n_images``."""
    if split is not None and catalog is not None:
        sizes = {name: len(split.records(catalog, name)) for name in ("train", "val", "test")}
    else:
        if config.data.max_images:
            n_images = min(n_images, config.data.max_images)
        r_train, r_val, _ = (list(config.split.ratios) + [0.0, 0.0, 0.0])[:3]
        train, val = round(n_images * r_train), round(n_images * r_val)
        sizes = {"train": train, "val": val, "test": max(0, n_images - train - val)}
    sizes["train"] = max(1, math.ceil(sizes["train"] * config.data.train_fraction))
    return sizes


def measure_throughput(config: TrainConfig, catalog: Catalog, split=None, device: torch.device | None = None, *,
                       batches: int = 3, cancel: CancelToken | None = None) -> TimeEstimate:
    """The expected duration of training ``config`` on ``catalog`` (see the module docstring)."""
    from engine.training.devices import select_device

    device = device or select_device(config.device)
    records = list(catalog.records)
    if not records:
        raise DataError("No images to measure the training speed on: the dataset is empty.")
    sizes = split_sizes(config, len(records), split, catalog)
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        rates = _measure(config, catalog, device, max(1, batches), cancel)
    return _scale(config, sizes, rates, _uncached_share(config, records), device)


def _measure(config: TrainConfig, catalog: Catalog, device: torch.device, batches: int,
             cancel: CancelToken | None) -> dict[str, float]:
    """Seconds of each measured unit: model build, warm-up and read per image, train/eval batch, checkpoint."""
    from engine.data.dataset import HistoDataset
    from engine.data.transforms import build_transform
    from engine.evaluation.run_model import build_model
    from engine.training.builders import build_loss, build_optimizer
    from engine.training.data_setup import make_loader

    t0 = time.monotonic()
    classes = list(catalog.classes)
    model = build_model(config, len(classes)).to(device)
    rates = {"build": time.monotonic() - t0}
    step = max(1, len(catalog.records) // SAMPLE_IMAGES)
    sample = catalog.records[::step][:SAMPLE_IMAGES]
    loader = make_loader(config.data)
    rates["warm_per_image"] = _mean_time(loader.load, sample)  # decode + resize (+ cache write)
    rates["read_per_image"] = _mean_time(loader.load, sample)  # what each epoch reads back
    size, norm = config.data.image_size, config.data.normalize
    train_ds = HistoDataset(sample, classes, loader,
                            build_transform(config.augment, train=True, image_size=size, normalize=norm))
    eval_ds = HistoDataset(sample, classes, loader, build_transform(None, train=False, image_size=size,
                                                                    normalize=norm))
    phase = config.phases[0] if config.phases else None
    model.set_trainable(phase.trainable if phase is not None else "all")
    optimizer = build_optimizer(model.param_groups(config.optim.lr, config.optim.backbone_lr or config.optim.lr),
                                config.optim)
    criterion = build_loss(config.loss, model.num_outputs, None).to(device)
    data_s, compute_s = [], []
    for b in range(batches + 1):
        if cancel is not None:
            cancel.raise_if_cancelled()
        t1 = time.monotonic()
        x, y = _batch(train_ds, b, config.batch_size)
        t2 = time.monotonic()
        _train_step(model, optimizer, criterion, x.to(device), y.to(device), config, device)
        data_s.append(t2 - t1)
        compute_s.append(time.monotonic() - t2)
    rates["train_data"], rates["train_compute"] = statistics.median(data_s[1:]), statistics.median(compute_s[1:])
    rates["eval_batch"] = _eval_batch_s(model, eval_ds, config.batch_size, device)
    rates["checkpoint"] = _checkpoint_s(model, optimizer)
    return rates


def _mean_time(fn, items) -> float:
    t0 = time.monotonic()
    for item in items:
        fn(item)
    return (time.monotonic() - t0) / max(1, len(items))


def _batch(dataset, index: int, batch_size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Batch ``index`` of ``batch_size`` items, cycling through the sampled images."""
    items = [dataset[(index * batch_size + j) % len(dataset)] for j in range(batch_size)]
    return torch.stack([it[0] for it in items]), torch.stack([it[1] for it in items])


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _train_step(model, optimizer, criterion, x, y, config: TrainConfig, device: torch.device) -> None:
    """One optimizer step as the trainer does it (mixed precision where the run uses it)."""
    from engine.training.devices import use_amp

    amp = use_amp(config.amp, device)
    model.train()
    with torch.autocast(device_type=device.type, dtype=torch.float16, enabled=amp):
        loss = criterion(model(x).float(), y)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    _sync(device)


@torch.no_grad()
def _eval_batch_s(model, dataset, batch_size: int, device: torch.device) -> float:
    """Seconds of one evaluation batch (data and forward pass; the second of two)."""
    model.eval()
    times = []
    for b in range(2):
        t0 = time.monotonic()
        x, _y = _batch(dataset, b, batch_size)
        model(x.to(device))
        _sync(device)
        times.append(time.monotonic() - t0)
    return times[-1]


def _checkpoint_s(model, optimizer) -> float:
    """Seconds to serialise the training state once (the run writes it after every epoch)."""
    t0 = time.monotonic()
    buffer = io.BytesIO()
    torch.save({"model": model.state_dict(), "optimizer": optimizer.state_dict()}, buffer)
    return time.monotonic() - t0


def _uncached_share(config: TrainConfig, records: list) -> float:
    """The share of ``records`` (probed evenly) the run would still decode into its cache."""
    if not config.data.cache or not records:
        return 0.0
    from engine.data.cache import ImageCache
    from engine.errors import ImageReadError

    cache = ImageCache(resize=config.data.resize or config.data.image_size, keep_aspect=config.data.keep_aspect)
    probe = records[::max(1, len(records) // CACHE_PROBE)]
    missing = 0
    for record in probe:
        try:
            missing += not cache.contains(record)
        except ImageReadError:
            continue
    return missing / len(probe)


def _scale(config: TrainConfig, sizes: dict[str, int], rates: dict[str, float], uncached: float,
           device: torch.device) -> TimeEstimate:
    """The measured units times the run's counts, and the range (early stopping may end sooner)."""
    bs, n = config.batch_size, sum(sizes.values())
    workers = max(1, config.data.num_workers)
    train_batch = max(rates["train_compute"], rates["train_data"] / workers) if config.data.num_workers \
        else rates["train_compute"] + rates["train_data"]
    steps = sizes["train"] // bs if sizes["train"] > bs else 1
    train_batches = math.ceil(sizes["train"] / bs)
    precise_bn = config.precise_bn == "on" or (config.precise_bn == "auto" and steps < 100)
    epoch = (steps * train_batch + math.ceil(sizes["val"] / bs) * rates["eval_batch"] + 2 * rates["checkpoint"]
             + (train_batches * rates["eval_batch"] if precise_bn else 0.0))
    eval_batches = sum(math.ceil(v / bs) for v in sizes.values()) + math.ceil(sizes["val"] / bs)
    parts = {
        "start": rates["build"],
        "cache": uncached * n * rates["warm_per_image"] / min(2, os.cpu_count() or 1),
        "audit": n * rates["read_per_image"],
        "epochs": config.total_epochs() * epoch,
        "evaluation": eval_batches * rates["eval_batch"] + 0.1 * len(sizes),
    }
    total = sum(parts.values())
    es = config.early_stopping
    shortest = config.total_epochs()
    if es.patience:
        shortest = min(shortest, max(es.min_epochs, es.patience + 1))
    low = total - (config.total_epochs() - shortest) * epoch
    return TimeEstimate(total, 0.7 * low, 1.5 * total, {k: round(v, 3) for k, v in parts.items()})
