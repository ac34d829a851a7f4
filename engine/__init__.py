"""HistoDesk engine: everything the app computes, usable without Qt.

Layers: ``engine.data`` (import, splits, cache, transforms), ``engine.models``
(model registry), ``engine.training`` (the train job), ``engine.evaluation``
(metrics, evaluate and predict jobs) and ``engine.runs`` (runs on disk).
This package never imports PySide6 or ``gui``.
"""

__version__ = "0.1.0"
