"""What the heatmap panel runs off the GUI thread: one explanation request, and the blended PNG export.

Also the list of methods the panel offers (the "cam" registry, then occlusion sensitivity).
"""

from __future__ import annotations

import numpy as np

from gui.images import numpy_to_qimage

OCCLUSION = "occlusion"
OCCLUSION_INFO = ("Occlusion sensitivity", "drop of the target's probability when a grey patch hides each "
                  "region; slow (one forward pass per patch position) (Zeiler & Fergus, ECCV 2014)")
PREDICTED = "predicted class"


def method_choices() -> list[tuple[str, str, str]]:
    """``(name, label, tooltip)`` of the CAM methods in the "cam" registry, then occlusion."""
    from engine.registry import meta, names

    choices = []
    for name in names("cam"):
        info = meta("cam", name)
        tip = f"{info.get('description', '')} ({info.get('paper', '')})" if info.get("description") else ""
        choices.append((name, info.get("label", name), tip))
    return [*choices, (OCCLUSION, *OCCLUSION_INFO)]


def compute_request(source, method: str, target: int | None, tta, need_probs: bool):
    """The request run in the pool thread: probabilities if asked, the image at its own size and the map.

    ``target`` None explains the arg-max of the probabilities computed here (with TTA if asked), so the map
    always matches the prediction shown; without them, the model's own prediction for this view.
    """

    def run(explainer, cancel):
        probs = explainer.predict(source, tta=tta) if need_probs else None
        cls = int(np.argmax(probs)) if target is None and probs is not None else target
        if method == OCCLUSION:
            cam = explainer.occlusion(source, target=cls, cancel=cancel)
        else:
            cam = explainer.heatmap(source, method=method, target=cls)[1]
        cancel.raise_if_cancelled()
        image, box = explainer.source_image(source)  # the map goes where the model looked (its square)
        return {"image": image, "qimage": numpy_to_qimage(image), "box": box,
                "cam": np.asarray(cam, dtype=np.float32), "probs": probs,
                "classes": list(explainer.classes), "method": method, "target": cls,
                "source": source if isinstance(source, str) else None}

    return run


def blend(image: np.ndarray, cam: np.ndarray, box, alpha: float, colormap: str) -> np.ndarray:
    """``cam`` (over the model's square at ``box``) blended over ``image`` at its own size."""
    from engine.explain.overlay import overlay_heatmap
    from engine.explain.placement import place_cam

    return overlay_heatmap(image, place_cam(cam, box, *image.shape[:2]), alpha=alpha, colormap=colormap)


def save_blend(path: str, image: np.ndarray, cam: np.ndarray, box, alpha: float, colormap: str) -> str:
    """Blend and write the overlay PNG (runs in a pool thread); returns the path."""
    from engine.explain.overlay import save_png

    return str(save_png(path, blend(image, cam, box, alpha, colormap)))
