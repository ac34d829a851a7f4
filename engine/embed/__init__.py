"""Embeddings of any model on any dataset: extraction, 2-D maps (PCA, t-SNE), clusters and image retrieval.

Modules: :mod:`engine.embed.extract` (features of a run, SSL run or registry
model), :mod:`engine.embed.tsne` (PCA preview, openTSNE t-SNE),
:mod:`engine.embed.clusters` (k-means labels for colouring),
:mod:`engine.embed.retrieval` (cosine nearest-neighbour image search).
"""
