"""Import the engine's heavy modules in a pool thread once the window is on screen.

The first use of a model, a CAM or an embedding imports torch, torchvision (with torch._dynamo), timm,
pytorch-grad-cam, OpenCV and scikit-learn: seconds of imports. Done in a view's worker, that first import
still stalls the GUI thread for up to half a second at a time (an extension module's initialisation holds
the GIL) just when the user opens the view. :class:`gui.runtime_info.RuntimeInfo` imports them in its pool
thread right after its runtime probe (itself started after the first paint), so those stalls happen while
the user reads the window instead.
"""

from __future__ import annotations

import importlib

#: What the views' first queries import: models (timm), explanations (pytorch-grad-cam, OpenCV), embeddings
#: and t-SNE (scikit-learn), predictions, robustness, ONNX export and classification.
HEAVY_MODULES = ("engine.models", "engine.explain.cams", "engine.explain.explainer", "engine.explain.robustness",
                 "engine.embed.extract", "engine.embed.tsne", "engine.embed.clusters", "engine.evaluation.predict",
                 "engine.evaluation.predictions", "engine.evaluation.batch_output",
                 "onnx", "onnxruntime")  # export's parity check and ONNX classification (~0.5 s GIL-bound import)


def import_heavy_modules() -> list[str]:
    """Import :data:`HEAVY_MODULES` (safe in any thread); returns their names."""
    for name in HEAVY_MODULES:
        importlib.import_module(name)
    return list(HEAVY_MODULES)
