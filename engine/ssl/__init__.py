"""Self-supervised pretraining (methods.md S1, S4, S5), built from small parts.

- :mod:`engine.ssl.heads`: projection/prediction heads (SimCLR, BYOL, DINO, MoCo v3).
- :mod:`engine.ssl.losses`: NT-Xent, BYOL, DINO and MoCo v3 InfoNCE losses.
- :mod:`engine.ssl.momentum`: EMA target networks and the cosine momentum schedule.
- :mod:`engine.ssl.views`: multi-view augmentations (two views, DINO multi-crop) and ``preview_pairs``.
- :mod:`engine.ssl.base`: :class:`~engine.ssl.base.SSLMethod`, the interface the pretraining loop drives.
- :mod:`engine.ssl.methods`: the methods (registry kind ``"ssl"``) and ``create_method``.
- :mod:`engine.ssl.job` / :mod:`engine.ssl.loop`: the pretraining job; DeepCluster, kNN monitor and
  downstream evaluation live beside them.

Nothing is imported here, so ``import engine.ssl.x`` stays cheap and free of import cycles.
"""
