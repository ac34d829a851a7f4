"""Import the engine's heavy modules in a pool thread once the window is on screen.

The first use of a model, a CAM or an embedding imports torch, torchvision (with torch._dynamo), timm,
pytorch-grad-cam, OpenCV and scikit-learn: seconds of imports. Done in a view's worker, that first import
still stalls the GUI thread for up to half a second at a time (an extension module's initialisation holds
the GIL) just when the user opens the view. The start-up path calls :func:`preload_in_background` after
the first paint, so those stalls happen while the user reads the window instead.
"""

from __future__ import annotations

import importlib

from PySide6.QtCore import QObject

from gui.tasks import TaskRunner

#: What the views' first queries import: models (timm), explanations (pytorch-grad-cam, OpenCV), embeddings
#: and t-SNE (scikit-learn), predictions, robustness.
HEAVY_MODULES = ("engine.models", "engine.explain.cams", "engine.explain.explainer", "engine.explain.robustness",
                 "engine.embed.extract", "engine.embed.tsne", "engine.embed.clusters", "engine.evaluation.predict",
                 "engine.evaluation.predictions", "engine.evaluation.batch_output")


def import_heavy_modules() -> list[str]:
    """Import :data:`HEAVY_MODULES` (safe in any thread); returns their names."""
    for name in HEAVY_MODULES:
        importlib.import_module(name)
    return list(HEAVY_MODULES)


def preload_in_background(parent: QObject) -> TaskRunner:
    """Start :func:`import_heavy_modules` in a one-thread runner owned by ``parent``; a failure is ignored
    (the view that needs the module reports it). Returns the runner (``is_busy()`` while importing)."""
    runner = TaskRunner(parent, threads=1, name="histodesk-preload")
    runner.submit(import_heavy_modules, on_error=lambda _message: None)
    return runner
