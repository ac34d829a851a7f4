"""Explanations of a run's predictions: CAM heatmaps, occlusion, TTA predictions, robustness.

``cams`` (registry kind "cam", :func:`~engine.explain.cams.compute_cams`), ``overlay``
(colour maps and blending), ``explainer`` (:class:`~engine.explain.explainer.RunExplainer`),
``occlusion`` and ``robustness``.
"""
