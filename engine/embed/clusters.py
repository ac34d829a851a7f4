"""k-means cluster labels of embeddings, for colouring a map.

k-means: Lloyd 1982; k-means++ seeding: Arthur & Vassilvitskii 2007 (scikit-learn's KMeans).
"""

from __future__ import annotations

import numpy as np


def kmeans_labels(features, k: int = 8, *, seed: int = 0, max_points: int = 20_000) -> np.ndarray:
    """Cluster index int [N] of each row of ``features`` (L2-normalised, like cosine retrieval).

    ``k`` is clipped to N. For more than ``max_points`` rows the centres are
    fitted on a seeded sample and every row is assigned to its nearest centre.
    """
    from sklearn.cluster import KMeans

    x = np.nan_to_num(np.asarray(features, dtype=np.float32))
    n = len(x)
    if n == 0:
        return np.zeros(0, dtype=int)
    x = x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)
    k = int(max(1, min(k, n)))
    fit = x
    if n > max_points:
        fit = x[np.random.default_rng(seed).choice(n, max_points, replace=False)]
    model = KMeans(n_clusters=k, n_init=3, random_state=seed).fit(fit)
    return model.predict(x).astype(int)
