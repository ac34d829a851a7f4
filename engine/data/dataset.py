"""The torch Dataset over catalog records, the weighted sampler, class weights."""

from __future__ import annotations

from collections import Counter
from typing import Callable, Protocol, Sequence

import numpy as np
import torch
from torch.utils.data import Dataset, WeightedRandomSampler

from engine.data.catalog import ImageRecord
from engine.errors import DataError


class ImageLoader(Protocol):
    """What the dataset needs from a loader (ImageCache or DirectLoader)."""

    def load(self, record: ImageRecord) -> np.ndarray:
        """uint8 H x W x 3 RGB image of ``record``."""


class HistoDataset(Dataset):
    """Images of ``records`` as (tensor, class index, item index) triples."""

    def __init__(self, records: Sequence[ImageRecord], classes: Sequence[str], loader: ImageLoader,
                 transform: Callable[[np.ndarray], torch.Tensor] | None = None):
        self.records = list(records)
        self.classes = list(classes)
        self.loader = loader
        self.transform = transform
        index = {c: i for i, c in enumerate(self.classes)}
        unknown = sorted({r.label for r in self.records} - set(index))
        if unknown:
            raise DataError(f"Images labelled {unknown} are not among the model's classes "
                            f"{self.classes}; re-import the dataset or start a new run.")
        self._targets = [index[r.label] for r in self.records]

    @property
    def targets(self) -> list[int]:
        """Class index of every item, in order."""
        return list(self._targets)

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor, int]:
        image = self.loader.load(self.records[i])
        if self.transform is not None:
            x = self.transform(image)
        else:
            x = torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1).contiguous()
        return x, torch.tensor(self._targets[i], dtype=torch.int64), i


def make_weighted_sampler(targets: Sequence[int], seed: int,
                          num_samples: int | None = None) -> WeightedRandomSampler:
    """Sampler drawing each class equally often (weights = 1 / class frequency).

    Draws ``num_samples`` (default: ``len(targets)``) items with replacement
    from a generator seeded with ``seed``, so an epoch's order is repeatable.
    """
    if len(targets) == 0:
        raise DataError("Cannot build a weighted sampler for an empty training set.")
    freq = Counter(int(t) for t in targets)
    weights = [1.0 / freq[int(t)] for t in targets]  # the sampler holds them as float64
    generator = torch.Generator().manual_seed(int(seed))
    return WeightedRandomSampler(weights, num_samples or len(targets), replacement=True,
                                 generator=generator)


def class_weights_balanced(targets: Sequence[int], n_classes: int) -> torch.Tensor:
    """Per-class loss weights n_samples / (n_classes * count), as sklearn's 'balanced'.

    A class absent from ``targets`` gets weight 1 (it never contributes to the loss).
    """
    counts = np.bincount(np.asarray(targets, dtype=np.int64), minlength=n_classes)[:n_classes]
    if counts.sum() == 0:
        raise DataError("Cannot compute class weights without training images.")
    weights = np.ones(n_classes, dtype=np.float64)
    present = counts > 0
    weights[present] = counts.sum() / (n_classes * counts[present])
    return torch.tensor(weights, dtype=torch.float32)
