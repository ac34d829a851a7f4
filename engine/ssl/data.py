"""Data side of SSL pretraining: multi-view datasets and loaders over a catalog split."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable

import torch
from torch.utils.data import DataLoader, Dataset

from engine.data.catalog import Catalog, ImageRecord
from engine.errors import DataError
from engine.jobs import CancelToken, ProgressFn, null_progress
from engine.training.seeding import epoch_seed

if TYPE_CHECKING:
    from engine.data.dataset import ImageLoader


class GrayEval:
    """The evaluation transform for 1-channel encoders: luma of the RGB result, normalised like the SSL views."""

    def __init__(self, image_size: int, normalize: str):
        from engine.data.transforms import IMAGENET_MEAN, IMAGENET_STD, build_transform

        self.base = build_transform(None, train=False, image_size=image_size, normalize="unit")
        imagenet = normalize == "imagenet"
        self.mean, self.std = (sum(IMAGENET_MEAN) / 3, sum(IMAGENET_STD) / 3) if imagenet else (0.0, 1.0)

    def __call__(self, image) -> torch.Tensor:
        x = self.base(image)
        gray = 0.299 * x[0:1] + 0.587 * x[1:2] + 0.114 * x[2:3]
        return (gray - self.mean) / self.std


def eval_transform(image_size: int, normalize: str, in_chans: int = 3) -> Callable:
    """Deterministic uint8 image -> tensor with ``in_chans`` channels (features for kNN / DeepCluster)."""
    from engine.data.transforms import build_transform

    if in_chans == 1:
        return GrayEval(image_size, normalize)
    return build_transform(None, train=False, image_size=image_size, normalize=normalize)


def is_labelled(catalog: Catalog) -> bool:
    """True when the catalog has two or more real classes (kNN monitor possible)."""
    return catalog.importer != "unlabelled" and len(catalog.classes) >= 2


class MultiViewDataset(Dataset):
    """Images of ``records`` as ``(views, index + offset)``; ``views`` = ``transform(image)`` (a list of tensors)."""

    def __init__(self, records: list[ImageRecord], loader, transform: Callable, offset: int = 0):
        self.records, self.loader, self.transform, self.offset = list(records), loader, transform, offset

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, i: int):
        views = self.transform(self.loader.load(self.records[i]))
        return list(views) if isinstance(views, (list, tuple)) else [views], i + self.offset


@dataclass
class SSLData:
    """Records, loaders and transforms of one pretraining run.

    Item indices: train images are ``0..n_train-1``, val images follow
    (``n_train..``), the order of ``all_records`` (DeepCluster's assignments).
    """

    catalog: Catalog
    split: object
    classes: list[str]
    labelled: bool
    train_records: list[ImageRecord]
    val_records: list[ImageRecord]
    train_dataset: MultiViewDataset
    val_loader: DataLoader | None
    eval_transform: Callable
    image_loader: ImageLoader
    loader_kwargs: dict
    batch_size: int
    generator: torch.Generator

    @property
    def all_records(self) -> list[ImageRecord]:
        """Train then val records (item index order)."""
        return self.train_records + self.val_records

    def train_loader(self, seed: int, epoch: int, sampler=None) -> DataLoader:
        """This epoch's training loader: shuffled by (seed, epoch), or drawn by ``sampler``."""
        self.generator.manual_seed(epoch_seed(seed, epoch))
        drop_last = len(self.train_dataset) > self.batch_size  # BatchNorm cannot train on a batch of one
        if sampler is not None:
            return DataLoader(self.train_dataset, batch_size=self.batch_size, sampler=sampler, drop_last=drop_last,
                              **self.loader_kwargs)
        return DataLoader(self.train_dataset, batch_size=self.batch_size, shuffle=True, generator=self.generator,
                          drop_last=drop_last, **self.loader_kwargs)

    def steps_per_epoch(self) -> int:
        """Batches in one training epoch."""
        n, b = len(self.train_dataset), self.batch_size
        return n // b if n > b else 1

    def eval_loader(self, records: list[ImageRecord]) -> DataLoader:
        """Deterministic ``(x, y, idx)`` batches of ``records`` with the evaluation transform (features, kNN)."""
        from engine.data.dataset import HistoDataset

        ds = HistoDataset(records, self.classes, self.image_loader, self.eval_transform)
        return DataLoader(ds, batch_size=max(self.batch_size, 64), shuffle=False, **self.loader_kwargs)


VAL_SEED_OFFSET = 99_991  # validation views: the same every epoch


def build_ssl_data(config, catalog: Catalog, split, method, device: torch.device,
                   progress: ProgressFn = null_progress, cancel: CancelToken | None = None) -> SSLData:
    """Multi-view datasets for the train and val images of ``split`` (val joins train when val_fraction is 0)."""
    from engine.ssl.base import input_channels
    from engine.training.data_setup import make_loader

    cfg = config.data
    train = split.records(catalog, "train")
    val = split.records(catalog, "val")
    if not config.val_fraction:
        train, val = train + val, []
    if len(train) < 2:
        raise DataError(f"Self-supervised pretraining needs at least 2 training images; found {len(train)}.")
    image_loader = make_loader(cfg)
    if hasattr(image_loader, "warm"):
        image_loader.warm(train + val, progress=progress, cancel=cancel)  # decode once, with ETA and cancel
    views = method.view_transform(cfg.image_size, cfg.normalize)
    # loaders are rebuilt per epoch, so workers are not kept alive between epochs (persistent workers
    # would also carry their random state over, and the validation views must repeat exactly)
    kwargs = dict(num_workers=cfg.num_workers, pin_memory=device.type == "cuda")
    val_loader = None
    if val:
        val_loader = DataLoader(MultiViewDataset(val, image_loader, views, offset=len(train)),
                                batch_size=config.batch_size, shuffle=False,
                                generator=torch.Generator().manual_seed(config.seed + VAL_SEED_OFFSET), **kwargs)
    return SSLData(catalog, split, catalog.classes, is_labelled(catalog), train, val,
                   MultiViewDataset(train, image_loader, views), val_loader,
                   eval_transform(cfg.image_size, cfg.normalize, input_channels(method.encoder)),
                   image_loader, kwargs, config.batch_size, torch.Generator())
