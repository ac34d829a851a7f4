"""Explanations in the GUI: prediction browser with CAM heatmaps, "Explain an image", robustness curves.

Views build on :mod:`engine.explain` (``RunExplainer``, ``overlay``, ``robustness``);
every model computation runs off the GUI thread (:mod:`gui.explain.worker` or the job queue).
"""
