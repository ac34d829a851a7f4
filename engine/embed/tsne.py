"""2-D maps of embeddings: an instant PCA preview and t-SNE (openTSNE).

t-SNE: van der Maaten & Hinton, "Visualizing Data using t-SNE", JMLR 2008.
The optimiser is openTSNE's (Poličar et al., "openTSNE", JSS 2024): FFT-accelerated
interpolation from 10,000 points (FIt-SNE: Linderman et al., Nature Methods
2019), Barnes-Hut below (van der Maaten, JMLR 2014), with PCA initialisation
and the learning rate N/12 (Belkina et al. 2019; Kobak & Berens 2019).
Features wider than 50 dimensions are first reduced to 50 principal
components, as is standard.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from engine.errors import DataError
from engine.jobs import CancelToken, EtaEstimator, Progress, ProgressFn, null_progress

PCA_DIMS = 50
PARALLEL_MIN_POINTS = 2_000  # below, thread start-up per iteration costs more than it saves
FFT_MIN_POINTS = 10_000  # openTSNE's rule: Barnes-Hut is faster below, FFT interpolation above


def _clean(features) -> np.ndarray:
    """float32 [N, D] with NaN/Inf replaced by 0 (a broken image must not break the map)."""
    x = np.asarray(features, dtype=np.float32)
    if x.ndim != 2:
        raise DataError(f"Expected a 2-D feature matrix [N, D], got shape {x.shape}.")
    return np.nan_to_num(x, nan=0.0, posinf=0.0, neginf=0.0)


def pca_reduce(features, n_components: int = PCA_DIMS) -> np.ndarray:
    """The first ``n_components`` principal components (centred; deterministic eigendecomposition), float32 [N, k]."""
    x = _clean(features).astype(np.float64)
    if x.shape[0] == 0:
        return np.zeros((0, n_components), np.float32)
    x -= x.mean(axis=0, keepdims=True)
    from engine.ssl.clustering import principal_axes

    k = max(1, min(n_components, x.shape[0], x.shape[1]))
    vt, _s = principal_axes(x, k)
    out = x @ vt.T
    if out.shape[1] < n_components and n_components <= 2:
        out = np.pad(out, ((0, 0), (0, n_components - out.shape[1])))
    return out.astype(np.float32)


def pca_2d(features) -> np.ndarray:
    """Instant preview: the first two principal components, float32 [N, 2]."""
    return pca_reduce(features, 2)


@dataclass
class TsneResult:
    """A finished (or preview) 2-D map."""

    coords: np.ndarray          # float32 [N, 2]
    kl_divergence: float | None  # final KL(P || Q) as estimated by openTSNE
    iterations: int
    seconds: float


def effective_perplexity(n: int, perplexity: float) -> float:
    """openTSNE needs 3 * perplexity < N; shrink the perplexity for small maps."""
    return float(max(1.0, min(perplexity, (n - 1) / 3.0)))


def tsne(features, *, perplexity: float = 30.0, n_jobs: int = -1, seed: int = 0, n_iter: int = 500,
         early_exaggeration_iter: int = 250, pca_dims: int = PCA_DIMS, progress: ProgressFn = null_progress,
         cancel: CancelToken | None = None, every: int = 25) -> TsneResult:
    """t-SNE of ``features`` with progress and cancel; returns coordinates and the final KL divergence.

    ``progress`` gets a ``Progress("t-SNE", iteration, total, metrics={"kl": ...})``
    every ``every`` iterations; cancelling stops the optimiser at the next
    such check and raises :class:`engine.errors.CancelledError`.
    """
    from openTSNE import TSNE

    cancel = cancel or CancelToken()
    start = time.perf_counter()
    x = _clean(features)
    n = len(x)
    if n < 4:  # too few points for neighbourhoods: the PCA map is the answer
        return TsneResult(pca_2d(x), None, 0, time.perf_counter() - start)
    if pca_dims and x.shape[1] > pca_dims:
        progress(Progress("t-SNE", 0, None, f"PCA {x.shape[1]} -> {pca_dims} dimensions"))
        x = pca_reduce(x, pca_dims)
    cancel.raise_if_cancelled()
    total = early_exaggeration_iter + n_iter
    eta = EtaEstimator(total)
    state = {"done": 0}

    def callback(_iteration, error, _embedding) -> bool:
        state["done"] = min(total, state["done"] + every)
        progress(Progress("t-SNE", state["done"], total, f"KL divergence {error:.3f}", {"kl": float(error)},
                          eta.eta(state["done"])))
        return cancel.cancelled

    progress(Progress("t-SNE", 0, total, "nearest neighbours and affinities"))
    model = TSNE(
        n_components=2, perplexity=effective_perplexity(n, perplexity), initialization="pca",
        negative_gradient_method="fft" if n >= FFT_MIN_POINTS else "bh",
        n_jobs=n_jobs if n >= PARALLEL_MIN_POINTS else 1, random_state=seed, n_iter=n_iter,
        early_exaggeration_iter=early_exaggeration_iter, callbacks=[callback], callbacks_every_iters=every,
    )
    embedding = model.fit(x)
    cancel.raise_if_cancelled()
    coords = np.nan_to_num(np.asarray(embedding, dtype=np.float32))
    kl = getattr(embedding, "kl_divergence", None)
    progress(Progress("t-SNE", total, total, f"done, KL divergence {kl:.3f}" if kl is not None else "done",
                      {"kl": kl} if kl is not None else {}))
    return TsneResult(coords, None if kl is None else float(kl), total, time.perf_counter() - start)


def run_tsne(features, *, perplexity: float = 30.0, n_jobs: int = -1, seed: int = 0,
             progress: ProgressFn = null_progress, cancel: CancelToken | None = None, **kwargs) -> np.ndarray:
    """t-SNE coordinates float32 [N, 2] (see :func:`tsne` for the KL divergence and options)."""
    return tsne(features, perplexity=perplexity, n_jobs=n_jobs, seed=seed, progress=progress, cancel=cancel,
                **kwargs).coords
