"""Embeddings (pooled backbone features) of any model on any dataset.

A *source* is a supervised training run, a self-supervised run (config
``"kind": "ssl"``, encoder in ``encoder.safetensors``) or a registry model
name (random or ImageNet weights). Images go through the same preprocessing
as evaluation (the run's loader and ``build_transform(None, train=False)``).
Embeddings of a run are cached in ``<run>/embeddings/<dataset key>.npz``.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import torch

from engine.embed.embeddings import Embeddings
from engine.errors import ConfigError, DataError
from engine.io_utils import PATH_ERRORS, safe_name
from engine.jobs import CancelToken, EtaEstimator, Progress, ProgressFn, null_progress
from engine.runs import Run
from engine.training.config import DataConfig


class Encoder:
    """A model ready to embed images: ``encoder.features(batch)``, ``encoder.embed_image(path)``.

    Build it with :meth:`open`. ``classes`` is the list of class names of
    a supervised run (its head gives predictions), else None.
    """

    def __init__(self, model, data: DataConfig, device: torch.device, *, kind: str, name: str,
                 classes: list[str] | None = None, binary_single_logit: bool = True, run: Run | None = None,
                 in_chans: int = 3):
        from engine.ssl.data import eval_transform

        self.model, self.data, self.device = model.to(device).eval(), data, device
        self.kind, self.name, self.classes, self.run = kind, name, classes, run
        self.binary_single_logit = binary_single_logit
        self.transform = eval_transform(data.image_size, data.normalize, in_chans)  # 1-channel SSL encoders too

    @classmethod
    def open(cls, source: str | Path, *, device: str = "auto", pretrained: str = "none",
             image_size: int = 224) -> "Encoder":
        """A run folder (supervised or SSL) or a registry model name (``pretrained`` none/imagenet)."""
        from engine.training.devices import select_device

        dev = select_device(device)
        path = Path(str(source)).expanduser()
        if path.is_dir():
            run = Run.open(path)
            if run.config.get("kind") == "ssl":
                return cls._open_ssl(run, dev)
            from engine.evaluation.run_model import load_run_model

            model, classes, config = load_run_model(run, dev)
            return cls(model, config.data, dev, kind="run", name=run.id, classes=list(classes),
                       binary_single_logit=config.model.binary_single_logit, run=run)
        from engine.models import create_model, model_names

        if str(source) not in model_names():
            raise ConfigError(f"{source!r} is neither a run folder nor a model name; use a run folder or one "
                              f"of: {', '.join(model_names())}.")
        with torch.random.fork_rng():  # a seeded random init, so every Encoder of this name is the same model
            torch.manual_seed(0)
            model = create_model(str(source), 2, pretrained=pretrained, image_size=image_size)
        return cls(model, DataConfig(image_size=image_size), dev, kind="model", name=f"{source}-{pretrained}")

    @classmethod
    def _open_ssl(cls, run: Run, dev: torch.device) -> "Encoder":
        from engine.models import create_model
        from engine.ssl.config import SSLConfig

        config = SSLConfig.from_dict(run.config)
        weights = run.file("encoder.safetensors")
        if not weights.exists():
            raise DataError(f"SSL run {run.id} has no encoder.safetensors yet; wait until pretraining finishes "
                            "(or resume it).")
        model = create_model(config.backbone, 2, pretrained=str(weights), image_size=config.data.image_size,
                             in_chans=config.in_chans)
        return cls(model, config.data, dev, kind="ssl", name=run.id, run=run, in_chans=config.in_chans)

    def loader(self):
        """The image loader of this encoder's data settings (cache or direct decode)."""
        from engine.training.data_setup import make_loader

        return make_loader(self.data)

    @torch.no_grad()
    def features(self, x: torch.Tensor) -> tuple[np.ndarray, np.ndarray | None]:
        """(features float32 [B, D] with NaN/Inf set to 0, class probabilities [B, C] or None)."""
        from engine.evaluation.predictions import probs_from_logits

        feats = self.model.forward_features(x.to(self.device))
        probs = None
        if self.classes:
            probs = probs_from_logits(self.model.forward_head(feats), self.binary_single_logit)
        out = feats.detach().float().cpu().numpy()
        return np.nan_to_num(out, nan=0.0, posinf=0.0, neginf=0.0), probs

    def embed_image(self, image) -> np.ndarray:
        """Features [D] of one image file (or uint8 HxWx3 array), preprocessed as in evaluation."""
        from engine.data.cache import DirectLoader
        from engine.data.catalog import ImageRecord

        if not isinstance(image, np.ndarray):
            loader = DirectLoader(resize=self.data.resize or self.data.image_size, keep_aspect=self.data.keep_aspect)
            image = loader.load(ImageRecord(path=str(image), label=""))
        return self.features(self.transform(image).unsqueeze(0))[0][0]


def dataset_key(dataset: str | None, split: str | None) -> str:
    """File-name key of a (dataset, split) pair: ``own-test``, ``<folder>-<hash8>-all``..."""
    if not dataset:
        return f"own-{split or 'all'}"
    path = str(Path(dataset).expanduser().resolve())
    digest = hashlib.sha1(path.encode("utf-8", PATH_ERRORS)).hexdigest()[:8]
    return f"{safe_name(Path(path).name)}-{digest}-{split or 'all'}"


def _records(encoder: Encoder, dataset: str | None, split: str | None, progress, cancel):
    """(records, split name per record, dataset root) of the run's own catalog/split or of a scanned dataset."""
    from engine.data.catalog import Catalog
    from engine.data.splits import Split

    if dataset:
        from engine.ssl.job import load_ssl_catalog

        catalog = load_ssl_catalog(DataConfig(path=str(dataset)), progress, cancel)
        return catalog.records, [r.split or "" for r in catalog.records], catalog.root
    if encoder.run is None:
        raise ConfigError("A registry model has no dataset of its own: give a dataset path.")
    run = encoder.run
    if not run.file("catalog.json").exists():
        raise DataError(f"Run {run.id} has no catalog.json; give a dataset path instead.")
    catalog = Catalog.load(run.file("catalog.json"))
    assign = Split.load(run.file("split.json")).assignments if run.file("split.json").exists() else {}
    names = [assign.get(r.path, "") for r in catalog.records]
    keep = [i for i, s in enumerate(names) if split in (None, "", "all") or s == split]
    return [catalog.records[i] for i in keep], [names[i] for i in keep], catalog.root


def embed_records(encoder: Encoder, records: list, *, batch_size: int = 64, progress: ProgressFn = null_progress,
                  cancel: CancelToken | None = None) -> tuple[np.ndarray, np.ndarray | None]:
    """(features [N, D], probabilities [N, C] or None) of ``records``, batched, with progress and cancel."""
    from torch.utils.data import DataLoader

    from engine.data.dataset import HistoDataset

    cancel = cancel or CancelToken()
    labels = sorted({r.label for r in records})
    ds = HistoDataset(records, labels, encoder.loader(), encoder.transform)
    loader = DataLoader(ds, batch_size=batch_size, shuffle=False, num_workers=encoder.data.num_workers)
    feats: list[np.ndarray] = []
    probs: list[np.ndarray | None] = []
    done, eta = 0, EtaEstimator(len(records))
    for x, _y, _i in loader:
        cancel.raise_if_cancelled()
        f, p = encoder.features(x)
        feats.append(f)
        probs.append(p)
        done += len(x)
        progress(Progress("embed", done, len(records), f"{done}/{len(records)} images", eta_s=eta.eta(done)))
    if not feats:
        raise DataError("No images to embed: the dataset (or split) is empty.")
    known = [p for p in probs if p is not None]  # all or none: the encoder has a head or not
    return np.concatenate(feats), (np.concatenate(known) if known else None)


def extract_embeddings(source: str | Path | Encoder, dataset: str | None = None, *, split: str | None = None,
                       batch_size: int = 64, device: str = "auto", pretrained: str = "none", image_size: int = 224,
                       cache: bool = True, progress: ProgressFn = null_progress,
                       cancel: CancelToken | None = None) -> Embeddings:
    """Embeddings of ``source`` (run folder, SSL run, model name or :class:`Encoder`) on ``dataset``.

    ``dataset``: a dataset folder or CSV (scanned; unlabelled folders work too), default the run's own images.

    ``split``: train/val/test of the run's split (None = every image).
    Predictions (argmax of the head) are included for supervised runs. With
    ``cache`` a run's result is read from / written to
    ``<run>/embeddings/<dataset key>.npz`` (recomputed when the weights are newer).
    """
    encoder = source if isinstance(source, Encoder) else Encoder.open(source, device=device, pretrained=pretrained,
                                                                       image_size=image_size)
    run = encoder.run
    cached = run.file(f"embeddings/{dataset_key(dataset, split)}.npz") if run else None
    fresh = bool(cache and run is not None and cached is not None and cached.exists()
                 and cached.stat().st_mtime >= _weights_mtime(run))
    if cached is not None and fresh and not dataset:  # the run's own catalog never changes
        return Embeddings.load(cached)
    records, splits, root = _records(encoder, dataset, split, progress, cancel)
    fingerprint = _fingerprint(records)
    # An external dataset: reuse only when its images and labels (after curation) are unchanged.
    if cached is not None and fresh:
        previous = Embeddings.load(cached)
        if previous.meta.get("fingerprint") == fingerprint:
            return previous
    features, probs = embed_records(encoder, records, batch_size=batch_size, progress=progress, cancel=cancel)
    classes = encoder.classes
    predictions = [classes[i] for i in probs.argmax(1)] if probs is not None and classes is not None else None
    emb = Embeddings(
        features=features, paths=[r.path for r in records], labels=[r.label or "" for r in records],
        patients=[r.patient or "" for r in records], magnifications=[r.magnification or "" for r in records],
        splits=splits, predictions=predictions, source=str(encoder.run.path if encoder.run else encoder.name),
        dataset=str(dataset or ""),
        confidences=None if probs is None else probs.max(1).astype(np.float32),
        meta={"root": str(root), "model": encoder.name, "kind": encoder.kind, "classes": encoder.classes or [],
              "fingerprint": fingerprint},
    )
    if cache and cached is not None:
        emb.save(cached)
    return emb


def _fingerprint(records: list) -> str:
    """A short hash of the records' paths and labels (a changed folder or curation gives another one)."""
    digest = hashlib.sha1()
    for r in records:
        digest.update(f"{r.path}\t{r.label or ''}\n".encode("utf-8", PATH_ERRORS))
    return digest.hexdigest()[:16]


def _weights_mtime(run: Run) -> float:
    files = [run.model_weights, run.best_weights, run.file("encoder.safetensors")]
    return max((f.stat().st_mtime for f in files if f.exists()), default=0.0)
