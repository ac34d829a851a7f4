"""CLI sub-commands: Embeddings, t-SNE and nearest-neighbour retrieval."""

from __future__ import annotations

REGISTRARS: list = []
