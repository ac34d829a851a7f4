"""Per-image predictions, TTA and heatmaps for one trained run.

:class:`RunExplainer` loads a run's model once and prepares images exactly as
evaluation does, through the run's :class:`engine.deploy.spec.InputSpec` (the
same preprocessing model packages use, tested equal to the evaluation
transform), so a heatmap explains the same input the run's metrics were
computed on.
"""

from __future__ import annotations

import os
from collections import OrderedDict
from pathlib import Path

import numpy as np
import torch

from engine.errors import ConfigError
from engine.data.tta import tta_mode
from engine.jobs import CancelToken, ProgressFn, null_progress

_CACHE_SIZE = 16


class RunExplainer:
    """A run's model with its evaluation preprocessing, for predictions and explanations of single images."""

    def __init__(self, run_dir: str | os.PathLike, device: str = "auto"):
        from engine.deploy.spec import InputSpec
        from engine.evaluation.run_model import load_run_model
        from engine.runs import Run
        from engine.training.devices import select_device

        self.run = Run.open(run_dir)
        self.device = select_device(device)
        self.model, self.classes, self.config = load_run_model(self.run, self.device)
        self.spec = InputSpec.from_train_config(self.config)  # the run's evaluation preprocessing
        self.image_size = self.spec.size
        from engine.evaluation.calibration import load_calibration

        calibration = load_calibration(self.run.path)  # the run's val temperature, as evaluation applies it
        self.temperature = calibration.temperature if calibration is not None else 1.0
        self._cache: OrderedDict = OrderedDict()

    # -- images ------------------------------------------------------------------
    def prepare(self, path_or_rgb) -> tuple[np.ndarray, torch.Tensor]:
        """(square uint8 image the model sees, normalised tensor [1, 3, S, S] on the device), cached by path."""
        from engine.data.cache import resize_image

        key = None
        if not isinstance(path_or_rgb, np.ndarray):
            path = Path(path_or_rgb)
            key = (str(path.resolve()), path.stat().st_mtime_ns if path.exists() else 0)
            if key in self._cache:
                self._cache.move_to_end(key)
                return self._cache[key]
            resized = self.spec.load(str(path))
        else:
            image = np.asarray(path_or_rgb)
            if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
                raise ConfigError(f"Expected an RGB uint8 image (H x W x 3), got {image.dtype} {image.shape}.")
            resized = resize_image(image, self.spec.load_size, self.spec.keep_aspect)
        square = self.spec.square(resized)
        item = (square, torch.from_numpy(self.spec.normalise(square))[None].to(self.device))
        if key is not None:
            self._cache[key] = item
            while len(self._cache) > _CACHE_SIZE:
                self._cache.popitem(last=False)
        return item

    def input_image(self, path_or_rgb) -> np.ndarray:
        """The uint8 H x W x 3 image the model sees (resized and centre-cropped to ``image_size``)."""
        return self.prepare(path_or_rgb)[0]

    def input_tensor(self, path_or_rgb) -> torch.Tensor:
        """The normalised model input ``[1, 3, S, S]`` on the model's device."""
        return self.prepare(path_or_rgb)[1]

    def source_image(self, path_or_rgb) -> tuple[np.ndarray, tuple[float, float, float, float]]:
        """(the image at its own size and aspect ratio, at most ``placement.MAX_SIDE`` px long; the square the
        model sees as ``(top, left, height, width)`` in its pixels), to draw a heatmap on (engine.explain.placement)."""
        from engine.explain.placement import on_source

        if isinstance(path_or_rgb, np.ndarray):
            return on_source(self.spec, np.asarray(path_or_rgb))
        from engine.data.imageio import read_image

        return on_source(self.spec, read_image(path_or_rgb))

    def class_index(self, target: int | str | None) -> int | None:
        """``target`` as a class index (a class name or an index; None stays None)."""
        if target is None or (isinstance(target, (int, np.integer)) and not isinstance(target, bool)):
            if target is not None and not 0 <= int(target) < len(self.classes):
                raise ConfigError(f"Class index {target} is out of range; the run has {len(self.classes)} classes.")
            return None if target is None else int(target)
        if str(target) in self.classes:
            return self.classes.index(str(target))
        if str(target).isdigit():
            return self.class_index(int(target))
        raise ConfigError(f"Unknown class '{target}'. The run's classes are: {', '.join(self.classes)}.")

    # -- predictions and explanations -----------------------------------------
    def predict(self, path_or_rgb, tta=False) -> np.ndarray:
        """Class probabilities ``[C]`` (float64); ``tta`` False, True/"s3" (7 views) or "d4" (8 views).

        The logits are divided by the run's val-fitted temperature (1 without calibration.json), and with
        TTA the views' probabilities are averaged, as in ``evaluate`` and ``predict``.
        """
        from engine.training.inference import calibrated_probs

        x = self.input_tensor(path_or_rgb)
        self.model.eval()
        return calibrated_probs(self.model, x, tta_mode(tta), self.temperature)[0]

    def heatmap(self, path_or_rgb, method: str = "gradcam", target: int | str | None = None,
                layer: torch.nn.Module | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(image uint8 S x S x 3, cam float32 S x S in [0, 1]) for ``target`` (None = predicted class)."""
        from engine.explain.cams import compute_cams

        image, x = self.prepare(path_or_rgb)
        cam = compute_cams(self.model, x, method=method, targets=self.class_index(target), layer=layer)
        return image, cam[0]

    def occlusion(self, path_or_rgb, target: int | str | None = None, patch: int | None = None,
                  stride: int | None = None, progress: ProgressFn = null_progress,
                  cancel: CancelToken | None = None) -> np.ndarray:
        """Occlusion-sensitivity map float32 S x S in [0, 1] (see :func:`engine.explain.occlusion.occlusion_map`)."""
        from engine.explain.occlusion import occlusion_map

        return occlusion_map(self.model, self.input_tensor(path_or_rgb), target=self.class_index(target),
                             patch=patch, stride=stride, progress=progress, cancel=cancel)


def explain_image(run_dir, image_path, *, method: str = "gradcam", target: int | str | None = None, tta=False,
                  device: str = "auto", alpha: float = 0.5, colormap: str = "jet") -> dict:
    """Predict and explain one image with a run's model.

    Returns ``{"classes", "probs", "predicted", "cam", "image", "overlay"}``: ``cam`` over the square the model
    sees, ``image`` the source image and ``overlay`` the heatmap drawn on it, both at the image's own size and
    aspect ratio (:mod:`engine.explain.placement`). The heatmap is for ``target`` or, by default, the predicted class.
    """
    from engine.explain.overlay import overlay_heatmap
    from engine.explain.placement import place_cam

    explainer = RunExplainer(run_dir, device=device)
    probs = explainer.predict(image_path, tta=tta)
    predicted = int(np.argmax(probs))
    cls = explainer.class_index(target)
    _square, cam = explainer.heatmap(image_path, method=method, target=predicted if cls is None else cls)
    image, box = explainer.source_image(image_path)
    overlay = overlay_heatmap(image, place_cam(cam, box, *image.shape[:2]), alpha=alpha, colormap=colormap)
    return {"classes": list(explainer.classes), "probs": probs, "predicted": explainer.classes[predicted],
            "cam": cam, "image": image, "overlay": overlay}
