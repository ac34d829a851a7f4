"""The embedding view: a 2-D map (PCA preview, then t-SNE) of a model's features with hover thumbnails,
lasso selection (export, relabel, exclude from training) and nearest-neighbour image retrieval."""
