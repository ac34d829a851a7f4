"""Prepare a training run's data: dataset -> catalog -> split -> cached loaders."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from torch.utils.data import DataLoader

from engine.data.catalog import Catalog
from engine.errors import ConfigError, DataError
from engine.jobs import CancelToken, Progress, ProgressFn, null_progress
from engine.options import SplitName, literal_values
from engine.training.config import DataConfig, TrainConfig
from engine.training.seeding import epoch_seed

if TYPE_CHECKING:
    from engine.data.splits import Split

SPLITS = literal_values(SplitName)


def resolve_dataset_path(path: str, progress: ProgressFn = null_progress, cancel: CancelToken | None = None) -> Path:
    """``demo`` -> the built-in demo dataset (generated on demand), else the path."""
    if not path:
        raise ConfigError("No dataset given: set data.path to a folder or CSV, or 'demo'.")
    if path == "demo":
        from engine.data.demo import generate_demo

        return generate_demo(progress=progress, cancel=cancel)
    p = Path(path).expanduser()
    if not p.exists():
        raise DataError(f"Dataset not found: {p}. Check the path, or use 'demo' for the built-in dataset.")
    return p


def preflight_dataset(cfg: DataConfig) -> None:
    """Refuse a missing dataset or a malformed curation file before a run folder is made (no generation, no scan)."""
    from engine.data.curation import read_curation

    if cfg.path == "demo":
        from engine.data.demo import demo_path

        root = demo_path()
        if not root.exists():
            return  # generated on demand, without curation
    else:
        root = resolve_dataset_path(cfg.path)
    read_curation(root, allow_outside=cfg.allow_outside_paths)


def load_catalog(cfg: DataConfig, progress: ProgressFn = null_progress, cancel: CancelToken | None = None, *,
                 min_classes: int = 2, apply_curation: bool = False) -> Catalog:
    """Scan the configured dataset and cap it at ``max_images`` (spread evenly).

    The dataset's curation (exclusions / relabels made in the embedding view)
    is read and checked first, then kept in ``catalog.curation`` unapplied:
    the split is made on the images as scanned, and :func:`build_run_data`
    applies the curation to the training split (every split with
    ``curation_scope="all"``). ``apply_curation`` applies it to every image
    now (views of a whole dataset). Raises :class:`DataError` with fewer than
    ``min_classes`` classes (0 for self-supervised use).
    """
    from engine.data.curation import curate, curation_snapshot
    from engine.data.importers import scan

    root = resolve_dataset_path(cfg.path, progress, cancel)
    snapshot = curation_snapshot(root, allow_outside=cfg.allow_outside_paths)  # a bad file fails before the scan
    catalog = scan(root, cfg.importer, allow_outside=cfg.allow_outside_paths, progress=progress, cancel=cancel)
    if cfg.max_images and len(catalog.records) > cfg.max_images:
        step = len(catalog.records) / cfg.max_images
        catalog.records = [catalog.records[int(i * step)] for i in range(cfg.max_images)]
    catalog.curation = snapshot
    if snapshot is not None:
        progress(Progress("log", message=f"Curation file {snapshot['file']}: {len(snapshot['exclude'])} "
                                         f"exclusion(s), {len(snapshot['relabel'])} relabelling(s)."))
    if apply_curation:
        catalog, _report = curate(catalog, None, "all")
    if len(catalog.classes) < min_classes:
        raise DataError(f"{root}: found only the class(es) {catalog.classes}; training needs at least two.")
    return catalog


def make_loader(cfg: DataConfig):
    """The image loader: the on-disk cache, or decode-every-time when disabled."""
    from engine.data.cache import DirectLoader, ImageCache

    resize = cfg.resize or cfg.image_size
    if cfg.cache:
        return ImageCache(resize=resize, keep_aspect=cfg.keep_aspect)
    return DirectLoader(resize=resize, keep_aspect=cfg.keep_aspect)


def sample_train_fraction(records: list, fraction: float, seed: int) -> list:
    """A ``fraction`` of ``records`` drawn by whole patients, stratified by class, in record order.

    Patients (or single images, without patient ids) are drawn in seeded
    random order per class (a patient's class = its most common label) until
    that class holds at least ``fraction`` of its images; every class keeps
    at least one patient. ``fraction >= 1`` returns all records.
    """
    import math
    import random
    from collections import Counter, defaultdict

    if not 0.0 < fraction <= 1.0:
        raise ConfigError(f"data.train_fraction must be in (0, 1], got {fraction}.")
    if fraction >= 1.0:
        return list(records)
    groups: dict = defaultdict(list)
    for i, r in enumerate(records):
        groups[r.patient or f"#image{i}"].append(r)
    by_class: dict = defaultdict(list)
    for key in sorted(groups):
        by_class[Counter(r.label for r in groups[key]).most_common(1)[0][0]].append(key)
    rng, keep = random.Random(seed), set()
    for label in sorted(by_class):
        keys = by_class[label]
        rng.shuffle(keys)
        target, taken = math.ceil(fraction * sum(len(groups[k]) for k in keys)), 0
        for key in keys:
            keep.add(key)
            taken += len(groups[key])
            if taken >= target:
                break
    chosen = {id(r) for key in keep for r in groups[key]}
    return [r for r in records if id(r) in chosen]


@dataclass
class RunData:
    """Everything the loop needs from the data side.

    ``loaders["train"]`` shuffles/samples and augments; ``eval_loaders`` hold
    every split in order with the deterministic eval transform, and
    ``datasets`` are those eval datasets (records in loader order).
    """

    catalog: Catalog
    split: Split | None  # None for an external evaluation's images (no split of their own)
    classes: list[str]
    datasets: dict
    loaders: dict
    eval_loaders: dict
    train_generator: torch.Generator
    curation: dict | None = None    # what the dataset's curation changed (engine.data.curation.curate)
    notes: list[str] = field(default_factory=list)  # what the user should know about this data
    exposure: dict | None = None    # test/val images a pretrained SSL encoder saw (engine.ssl.exposure)

    def set_epoch(self, seed: int, epoch: int) -> None:
        """Make this epoch's shuffling depend only on (seed, epoch)."""
        self.train_generator.manual_seed(epoch_seed(seed, epoch))


def build_run_data(config: TrainConfig, catalog: Catalog, split, device: torch.device,
                   classes: list[str] | None = None) -> RunData:
    """Datasets and DataLoaders for each split, with the configured sampler.

    The catalog's curation is applied here, after the split: to the training
    images, or every split with ``data.curation_scope="all"``.
    ``classes`` fixes the class order (a trained run's); default: the curated catalog's.
    """
    from engine.data.curation import curate, describe_report
    from engine.data.dataset import HistoDataset, make_weighted_sampler
    from engine.data.transforms import build_transform
    from engine.ssl.exposure import config_exposure

    if config.sampler not in ("none", "weighted"):
        raise ConfigError("sampler must be 'none' or 'weighted'.")
    catalog, curation = curate(catalog, split, config.data.curation_scope)
    notes = describe_report(curation)
    classes = list(classes or catalog.classes)
    loader = make_loader(config.data)
    size, norm = config.data.image_size, config.data.normalize
    eval_tf = build_transform(None, train=False, image_size=size, normalize=norm)
    kwargs: dict[str, Any] = dict(batch_size=config.batch_size, num_workers=config.data.num_workers,
                                  pin_memory=device.type == "cuda", persistent_workers=config.data.num_workers > 0)
    datasets, eval_loaders = {}, {}
    for name in SPLITS:
        records = split.records(catalog, name)
        if name == "train" and records and config.data.train_fraction < 1.0:  # label-efficiency runs
            seed = config.seed if config.data.train_fraction_seed is None else config.data.train_fraction_seed
            records = sample_train_fraction(records, config.data.train_fraction, seed)
        datasets[name] = HistoDataset(records, classes, loader, eval_tf)
        eval_loaders[name] = DataLoader(datasets[name], shuffle=False, **kwargs) if len(datasets[name]) else None
    if not len(datasets["train"]):
        raise DataError("The training split is empty: check the split ratios and the dataset.")
    train_ds = HistoDataset(datasets["train"].records, classes, loader,
                            build_transform(config.augment, train=True, image_size=size, normalize=norm))
    generator = torch.Generator()
    generator.manual_seed(epoch_seed(config.seed, 0))
    if config.sampler == "weighted":
        sampler = make_weighted_sampler(train_ds.targets, config.seed)
        sampler.generator = generator
        train_loader = DataLoader(train_ds, sampler=sampler, **kwargs)
    else:
        # drop_last avoids a batch of one, which BatchNorm cannot train on
        train_loader = DataLoader(train_ds, shuffle=True, generator=generator,
                                  drop_last=len(train_ds) > config.batch_size, **kwargs)
    loaders = {"train": train_loader, "val": eval_loaders["val"], "test": eval_loaders["test"]}
    train_classes = sorted({r.label for r in datasets["train"].records})
    if curation and len(train_classes) < 2 <= len(classes):
        notes.append(f"After curation the training images hold only the class(es) {train_classes}.")
    exposure = config_exposure(config, catalog, split)  # refused earlier unless split.allow_transductive
    if exposure:
        notes.append(exposure["message"])
    return RunData(catalog, split, classes, datasets, loaders, eval_loaders, generator, curation=curation,
                   notes=notes, exposure=exposure)


def announce_run(config: TrainConfig, run, data: RunData, log) -> None:
    """At the start of training: ``log`` (train.log and a progress event) the config's notes, how the split was
    made and its notes, and what curation changed; keep them in summary.json (``notes``, ``split_notes``,
    ``curation``, ``transductive``) for the Runs tab."""
    split = data.split
    assert split is not None, "a training run always has a split"
    lines = [f"Note: {n}" for n in config.notes()]
    lines.append(f"Split: {split.describe()}")
    lines += [f"Split note: {n}" for n in split.notes]
    lines += data.notes
    for line in lines:
        log(line)
    run.update_summary(notes=lines, split_notes=list(split.notes), curation=data.curation,
                       transductive=data.exposure)
