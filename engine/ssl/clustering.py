"""Feature clustering for DeepCluster (Caron et al., ECCV 2018; methods.md S5).

``features -> clean (NaN/Inf guard) -> PCA with whitening -> L2-normalise ->
k-means``. k-means runs on the GPU with torch when one is available and
falls back to scikit-learn on the CPU when it is not, or when the GPU runs
out of memory (S5's practical notes: "k-means on GPU ran out of memory, PCA
via eigen-decomposition failed on NaNs").
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import torch

log = logging.getLogger(__name__)


@dataclass
class ClusterResult:
    """Assignments of one clustering round and how they were computed."""

    labels: np.ndarray             # int64 [N], cluster id per image
    k: int
    backend: str                   # "torch-cuda", "sklearn" or "sklearn-minibatch"
    inertia: float
    bad_rows: int = 0              # feature rows that held NaN/Inf (replaced)
    notes: tuple[str, ...] = ()


def clean_features(features: np.ndarray) -> tuple[np.ndarray, int]:
    """``features`` as float64 with non-finite values replaced by 0; (clean, rows that had them)."""
    x = np.asarray(features, dtype=np.float64)
    bad = ~np.isfinite(x)
    rows = int(bad.any(axis=1).sum()) if x.ndim == 2 else int(bad.any())
    if rows:
        log.warning("DeepCluster: %d feature rows hold NaN/Inf; replaced by zeros.", rows)
        x = np.where(bad, 0.0, x)
    return x, rows


def principal_axes(x: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """(top-``k`` principal axes ``[k, D]`` with a deterministic sign, their singular values) of centred ``x``.

    An eigendecomposition of the D x D scatter matrix: one matrix product and a small ``eigh``, far
    cheaper in time and memory than an SVD of the N x D data (no N x D ``U``).
    """
    vals, vecs = np.linalg.eigh(x.T @ x)
    vt = vecs[:, ::-1][:, :k].T
    signs = np.sign(vt[np.arange(len(vt)), np.abs(vt).argmax(axis=1)])  # same result on every machine
    signs[signs == 0] = 1
    return vt * signs[:, None], np.sqrt(np.maximum(vals[::-1][:k], 0.0))


def pca_whiten(features: np.ndarray, dim: int, whiten: bool = True, eps: float = 1e-5) -> np.ndarray:
    """Project on the top ``dim`` principal components, scaled to unit variance when ``whiten``.

    ``dim`` is clipped to ``min(n_samples, n_features)``.
    """
    x = np.asarray(features, dtype=np.float64)
    x = x - x.mean(axis=0, keepdims=True)
    dim = max(1, min(int(dim), x.shape[0], x.shape[1]))
    vt, s = principal_axes(x, dim)
    proj = x @ vt.T
    if whiten:
        std = s / np.sqrt(max(x.shape[0] - 1, 1))
        proj = proj / (std + eps)
    return proj.astype(np.float32)


def l2_normalize(x: np.ndarray, eps: float = 1e-12) -> np.ndarray:
    """Rows of ``x`` scaled to unit L2 norm (zero rows stay zero)."""
    x = np.asarray(x, dtype=np.float32)
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), eps)


def _kmeans_torch(x: np.ndarray, k: int, iters: int, seed: int, device: torch.device) -> tuple[np.ndarray, float]:
    """Lloyd's k-means on ``device`` with k-means++-style seeded initial centroids."""
    gen = torch.Generator(device="cpu").manual_seed(seed)
    data = torch.from_numpy(x).to(device)
    first = int(torch.randint(len(data), (1,), generator=gen))
    centroids = [data[first]]
    d2 = ((data - centroids[0]) ** 2).sum(1)
    for _ in range(1, k):
        probs = (d2 / d2.sum().clamp_min(1e-12)).cpu()
        idx = int(torch.multinomial(probs, 1, generator=gen)) if float(probs.sum()) > 0 else first
        centroids.append(data[idx])
        d2 = torch.minimum(d2, ((data - data[idx]) ** 2).sum(1))
    c = torch.stack(centroids)
    for _ in range(iters):
        labels = torch.cdist(data, c).argmin(1)
        sums = torch.zeros_like(c).index_add_(0, labels, data)
        counts = torch.bincount(labels, minlength=k).unsqueeze(1)
        c = torch.where(counts > 0, sums / counts.clamp_min(1), c)
    dist = torch.cdist(data, c)
    labels = dist.argmin(1)
    inertia = float((dist.gather(1, labels[:, None]) ** 2).sum())
    return labels.cpu().numpy().astype(np.int64), inertia


def _kmeans_sklearn(x: np.ndarray, k: int, iters: int, seed: int) -> tuple[np.ndarray, float, str]:
    """scikit-learn KMeans (MiniBatchKMeans above 20,000 points)."""
    from sklearn.cluster import KMeans, MiniBatchKMeans

    if len(x) > 20_000:
        km = MiniBatchKMeans(n_clusters=k, random_state=seed, max_iter=max(iters, 10), n_init=1,
                             batch_size=4096).fit(x)
        return km.labels_.astype(np.int64), float(km.inertia_), "sklearn-minibatch"
    km = KMeans(n_clusters=k, random_state=seed, max_iter=max(iters, 10), n_init=1).fit(x)
    return km.labels_.astype(np.int64), float(km.inertia_), "sklearn"


def kmeans(x: np.ndarray, k: int, *, iters: int = 20, seed: int = 0, device: str = "auto") -> ClusterResult:
    """Cluster rows of ``x`` into ``k`` groups; GPU torch path with a CPU (sklearn) fallback.

    ``device``: "auto" uses CUDA when available, "cpu" forces scikit-learn,
    "cuda" asks for the GPU (still falling back on out-of-memory).
    """
    x = np.ascontiguousarray(x, dtype=np.float32)
    k = max(1, min(int(k), len(x)))
    notes: list[str] = []
    want_gpu = device != "cpu" and torch.cuda.is_available()
    if want_gpu:
        try:
            labels, inertia = _kmeans_torch(x, k, iters, seed, torch.device("cuda"))
            return ClusterResult(labels, k, "torch-cuda", inertia)
        except torch.OutOfMemoryError:
            torch.cuda.empty_cache()
            notes.append("GPU k-means ran out of memory; fell back to scikit-learn on the CPU.")
            log.warning(notes[-1])
    labels, inertia, backend = _kmeans_sklearn(x, k, iters, seed)
    return ClusterResult(labels, k, backend, inertia, notes=tuple(notes))


def cluster_features(features: np.ndarray, k: int, *, pca_dim: int = 256, whiten: bool = True, iters: int = 20,
                     seed: int = 0, device: str = "auto") -> ClusterResult:
    """The DeepCluster pre-processing and k-means: clean -> PCA/whiten -> L2 -> k-means."""
    x, bad = clean_features(features)
    x = l2_normalize(pca_whiten(x, pca_dim, whiten))
    result = kmeans(x, k, iters=iters, seed=seed, device=device)
    result.bad_rows = bad
    return result


def nmi(a, b) -> float | None:
    """Normalised mutual information of two labelings (None when either is missing)."""
    if a is None or b is None or len(a) == 0 or len(a) != len(b):
        return None
    from sklearn.metrics import normalized_mutual_info_score

    return float(normalized_mutual_info_score(np.asarray(a), np.asarray(b)))
