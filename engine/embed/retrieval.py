"""Nearest-neighbour image retrieval: an image in, its k most similar images out (cosine similarity)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from engine.errors import DataError
from engine.jobs import CancelToken, ProgressFn, null_progress


def _normalise(x: np.ndarray) -> np.ndarray:
    x = np.nan_to_num(np.asarray(x, dtype=np.float32))
    return x / np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), 1e-12)


class NeighbourIndex:
    """Exact cosine k-NN over L2-normalised features (a matrix product: fast up to ~10^6 x 512)."""

    def __init__(self, features) -> None:
        self.features = _normalise(features)
        if self.features.ndim != 2:
            raise DataError(f"Expected features [N, D], got shape {self.features.shape}.")

    def __len__(self) -> int:
        return len(self.features)

    def query(self, vector, k: int = 8) -> tuple[np.ndarray, np.ndarray]:
        """(indices int [k], cosine similarities float32 [k]) of the k rows most similar to ``vector``, best first."""
        v = _normalise(vector).reshape(-1)
        if v.shape[0] != self.features.shape[1]:
            raise DataError(f"Query has {v.shape[0]} features; the index has {self.features.shape[1]}. Use the "
                            "same model for the query and the index.")
        sims = self.features @ v
        k = int(max(0, min(k, len(sims))))
        top = np.argpartition(-sims, k - 1)[:k] if 0 < k < len(sims) else np.arange(len(sims))[:k]
        top = top[np.lexsort((top, -sims[top]))]  # by similarity, ties by index: deterministic
        return top.astype(int), sims[top].astype(np.float32)

    def query_index(self, i: int, k: int = 8) -> tuple[np.ndarray, np.ndarray]:
        """Neighbours of row ``i`` itself (it comes first, similarity 1)."""
        return self.query(self.features[i], k)


@dataclass
class Match:
    """One retrieved image."""

    path: str
    label: str
    similarity: float
    index: int


def retrieve(source, dataset: str | None, image, k: int = 8, *, split: str | None = None, device: str = "auto",
             pretrained: str = "none", image_size: int = 224, progress: ProgressFn = null_progress,
             cancel: CancelToken | None = None) -> list[Match]:
    """The ``k`` images of ``dataset`` (default: the run's own) most similar to ``image`` (a path or uint8 array).

    The dataset's embeddings come from :func:`engine.embed.extract.extract_embeddings`
    (cached in the run); the query image is embedded with the same model.
    """
    from engine.embed.extract import Encoder, extract_embeddings

    encoder = Encoder.open(source, device=device, pretrained=pretrained, image_size=image_size)
    emb = extract_embeddings(encoder, dataset, split=split, progress=progress, cancel=cancel)
    if not isinstance(image, np.ndarray) and not Path(str(image)).is_file():
        raise DataError(f"Image not found: {image}.")
    idx, sims = NeighbourIndex(emb.features).query(encoder.embed_image(image), k)
    return [Match(emb.paths[i], emb.labels[i], float(s), int(i)) for i, s in zip(idx, sims)]
