"""DeepCluster: Caron, Bojanowski, Joulin, Douze, "Deep Clustering for Unsupervised Learning of
Visual Features", ECCV 2018 (methods.md S5).

Each epoch: extract the features of every image -> PCA with whitening ->
L2-normalise -> k-means (K = 200 in S5) -> the cluster ids become
pseudo-labels -> a freshly initialised linear classifier and the encoder are
trained on them with cross-entropy, images drawn uniformly over clusters.
NMI between consecutive assignments (and with the true labels when known)
and the time spent extracting, clustering and training go to
``metrics.jsonl`` and ``deepcluster_log.csv``.
"""

from __future__ import annotations

import csv
import io
import time
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import WeightedRandomSampler

from engine.errors import ConfigError
from engine.io_utils import atomic_write_text
from engine.registry import register
from engine.ssl.base import SSLMethod, s4_defaults
from engine.ssl.clustering import cluster_features, nmi
from engine.ssl.views import MultiViewTransform, ViewAugment, view_pipeline
from engine.training.callbacks import Callback
from engine.training.seeding import epoch_seed

#: Columns of deepcluster_log.csv (S5: "logged to CSV").
LOG_COLUMNS = ("epoch", "loss", "val_loss", "nmi_prev", "nmi_true", "clusters_used", "time_extract_s",
               "time_cluster_s", "time_train_s", "kmeans_backend", "bad_rows")


#: S5's optimiser (Adam lr 1e-3, weight decay 1e-4), downstream learning rates, S4-style views (rotations).
DEFAULTS = {**s4_defaults(1e-3, 1e-4, 1e-3, 1e-4), "optimizer": "adam"}


@register("ssl", "deepcluster", loop="deepcluster", label="DeepCluster", defaults=DEFAULTS,
          paper="Caron et al., ECCV 2018 (arXiv:1807.05520)",
          description="Clustering: k-means pseudo-labels of the features, re-clustered every epoch; the encoder "
                      "and a fresh linear classifier learn to predict them (S5).")
class DeepCluster(SSLMethod):
    """Encoder + linear classifier over ``num_clusters`` pseudo-classes; one augmented view per image."""

    DEFAULTS = DEFAULTS
    n_views = 1
    needs_indices = True   # the pseudo-labels are per image
    early_stopping = False  # the targets move with every re-clustering

    @classmethod
    def loop_kwargs(cls, config, num_images: int) -> dict:
        """K clipped to half the images (tiny data), and the image count (one pseudo-label each)."""
        return {"num_clusters": max(2, min(int(config.deepcluster.k), num_images // 2)), "num_images": num_images}

    def loop_callbacks(self, config) -> list:
        """Re-clustering each epoch, the sampler over clusters and deepcluster_log.csv."""
        return [DeepClusterCallback(config.deepcluster)]

    def __init__(self, encoder, num_clusters: int = 200, num_images: int = 0, **hparams):
        super().__init__(encoder, **hparams)
        self.num_clusters = int(num_clusters)
        self.classifier = nn.Linear(encoder.feature_dim, self.num_clusters)
        self.labels = torch.full((int(num_images),), -1, dtype=torch.long)
        self.previous = torch.full((int(num_images),), -1, dtype=torch.long)

    @classmethod
    def make_views(cls, image_size: int, normalize: str = "imagenet", *, in_chans: int = 3,
                   **hparams) -> MultiViewTransform:
        """One augmented view per image (S5 trains on single augmented images)."""
        aug = ViewAugment.from_value(hparams.get("augment", "s4"))
        return MultiViewTransform([view_pipeline(image_size, aug, normalize=normalize, in_chans=in_chans)])

    def training_step(self, views: list[torch.Tensor], indices: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        """Cross-entropy of the classifier on the images' current pseudo-labels (``indices``: the batch's images)."""
        if indices is None:
            raise ConfigError("DeepCluster's training step needs the batch's dataset indices.")
        logits = self.classifier(self.encoder.forward_features(views[0]))
        target = self.labels[indices.cpu()].to(logits.device)  # move only this batch's labels
        return {"loss": nn.functional.cross_entropy(logits.float(), target)}

    def assign(self, features: np.ndarray, *, seed: int, truth=None, pca_dim: int = 256, whiten: bool = True,
               iters: int = 20, device: str = "auto") -> dict:
        """Cluster ``features`` (one row per image), make them the pseudo-labels, re-initialise the classifier."""
        result = cluster_features(features, self.num_clusters, pca_dim=pca_dim, whiten=whiten, iters=iters,
                                  seed=seed, device=device)
        labels = torch.from_numpy(result.labels)
        had_previous = bool((self.labels >= 0).any())
        self.previous, self.labels = self.labels.clone(), labels
        torch.manual_seed(seed)
        self.classifier.reset_parameters()
        return {"nmi_prev": nmi(self.previous.numpy(), result.labels) if had_previous else None,
                "nmi_true": nmi(truth, result.labels) if truth is not None else None,
                "clusters_used": int(len(np.unique(result.labels))), "kmeans_backend": result.backend,
                "bad_rows": result.bad_rows, "notes": list(result.notes)}

    def get_extra_state(self) -> dict:
        """Pseudo-labels (current and previous round) travel with the checkpoint."""
        return {"labels": self.labels, "previous": self.previous}

    def set_extra_state(self, state: dict) -> None:
        """Restore :meth:`get_extra_state`."""
        self.labels, self.previous = state["labels"].clone(), state["previous"].clone()


class DeepClusterCallback(Callback):
    """DeepCluster's steps around each epoch of the pretraining loop (:class:`engine.ssl.loop.SSLTrainer`):
    re-clustering and the uniform-over-clusters sampler before training, the training time after it, and
    ``deepcluster_log.csv`` after each saved epoch and on resume."""

    def __init__(self, cfg):
        self.cfg = cfg  # SSLConfig.deepcluster
        self.t_train = 0.0

    def on_train_epoch_start(self, loop: Any, row: dict) -> None:
        row.update(self.recluster(loop))
        loop.sampler = self.sampler(loop)
        self.t_train = time.monotonic()

    def on_train_epoch_end(self, loop: Any, row: dict) -> None:
        row["time_train_s"] = round(time.monotonic() - self.t_train, 3)

    def on_epoch_saved(self, loop: Any, row: dict) -> None:
        self.write_log(loop)

    def on_resume(self, loop: Any) -> None:
        self.write_log(loop)

    def recluster(self, loop: Any) -> dict:
        """Re-cluster (every ``reassign_every`` epochs): extract -> PCA/whiten -> L2 -> k-means."""
        from engine.jobs import Progress
        from engine.ssl.knn import extract_features

        method, data, epoch = loop.method, loop.data, loop.epoch
        if epoch % max(1, self.cfg.reassign_every) and bool((method.labels >= 0).all()):
            return {}
        loop.progress(Progress(stage="cluster", message=f"epoch {epoch + 1}: extracting features"))
        t0 = time.monotonic()
        method.eval()
        try:
            feats, targets = extract_features(method.embed, data.eval_loader(data.all_records), loop.device,
                                              amp=loop.amp, cancel=loop.cancel)
        finally:
            method.train()
        t1 = time.monotonic()
        loop.progress(Progress(stage="cluster", message=f"epoch {epoch + 1}: k-means, K={method.num_clusters}"))
        stats = method.assign(feats.numpy(), seed=epoch_seed(loop.config.seed, epoch),
                              truth=targets.numpy() if data.labelled else None, pca_dim=self.cfg.pca_dim,
                              whiten=self.cfg.whiten, iters=self.cfg.kmeans_iters, device=self.cfg.kmeans_device)
        for p in method.classifier.parameters():  # a fresh classifier starts with fresh optimizer moments
            loop.optimizer.state.pop(p, None)
        for note in stats.pop("notes"):
            loop.log(note)
        if stats["bad_rows"]:
            loop.log(f"WARNING: {stats['bad_rows']} feature rows held NaN/Inf and were replaced by zeros.")
        stats.update(time_extract_s=round(t1 - t0, 3), time_cluster_s=round(time.monotonic() - t1, 3))
        return stats

    def sampler(self, loop: Any):
        """Uniform sampling over clusters (each cluster equally likely), or None to shuffle plainly."""
        if not self.cfg.uniform_sampling:
            return None
        labels = loop.method.labels[:len(loop.data.train_records)]
        counts = torch.bincount(labels.clamp_min(0))
        weights = (1.0 / counts[labels.clamp_min(0)].double()).tolist()
        generator = torch.Generator().manual_seed(epoch_seed(loop.config.seed, loop.epoch) + 1)
        return WeightedRandomSampler(weights, len(labels), replacement=True, generator=generator)

    def write_log(self, loop: Any) -> None:
        """Rewrite deepcluster_log.csv from the per-epoch rows."""
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=LOG_COLUMNS, extrasaction="ignore", lineterminator="\n")
        writer.writeheader()
        for row in loop.history:
            writer.writerow({k: row.get(k, "") if row.get(k) is not None else "" for k in LOG_COLUMNS})
        atomic_write_text(loop.run.file("deepcluster_log.csv"), buf.getvalue())
