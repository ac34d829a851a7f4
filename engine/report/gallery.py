"""The worst errors of a run: its most confidently misclassified images with Grad-CAM overlays (on the CPU).

The images come from the run's predictions.csv (``correct`` false in the
chosen split, highest ``predicted_probability`` first); each is prepared
exactly as evaluation prepares it (:class:`engine.explain.explainer.RunExplainer`)
and explained for the class the model wrongly predicted. A run that cannot
be explained (no weights, a model that cannot be rebuilt) or an image that
moved gives a note instead of a picture; the report never fails for it.
"""

from __future__ import annotations

from pathlib import Path
import numpy as np

from engine.io_utils import display_path
from engine.jobs import CancelToken

MAX_IMAGES = 8
TILE = 160  # pixels per side of each picture in the gallery


def worst_errors(rows: list[dict] | None, split: str, limit: int = MAX_IMAGES) -> list[dict]:
    """The ``limit`` misclassified rows of ``split`` with the highest predicted probability."""
    wrong = [r for r in rows or [] if r.get("split") == split and r.get("correct") is False]
    return sorted(wrong, key=lambda r: -(r.get("predicted_probability") or 0.0))[:limit]


def _png(rgb: np.ndarray) -> bytes:
    import cv2

    ok, data = cv2.imencode(".png", np.ascontiguousarray(rgb[:, :, ::-1]))
    if not ok:  # pragma: no cover - OpenCV encodes any uint8 RGB array
        raise ValueError("PNG encoding failed")
    return data.tobytes()


def _tile(rgb: np.ndarray) -> np.ndarray:
    import cv2

    small = max(rgb.shape[:2]) < TILE
    return cv2.resize(rgb, (TILE, TILE), interpolation=cv2.INTER_NEAREST if small else cv2.INTER_AREA)


def pair_png(image: np.ndarray, overlay: np.ndarray) -> bytes:
    """The model's input and its heatmap overlay side by side (white gap), as PNG bytes."""
    gap = np.full((TILE, 6, 3), 255, np.uint8)
    return _png(np.concatenate([_tile(image), gap, _tile(overlay)], axis=1))


def explain_errors(run_dir: str | Path, rows: list[dict], method: str = "gradcam", device: str = "cpu",
                   cancel: CancelToken | None = None) -> tuple[list[tuple[bytes, dict]], list[str]]:
    """``(items, notes)``: one ``(png, row)`` per explained row, and a sentence per row or run that failed."""
    from engine.explain.explainer import RunExplainer
    from engine.explain.overlay import overlay_heatmap

    if not rows:
        return [], []
    try:
        explainer = RunExplainer(run_dir, device=device)
    except Exception as exc:  # noqa: BLE001 - any reason the model cannot be rebuilt: the report goes on
        return [], [f"The run could not be explained ({_first_line(exc)}); the gallery lists the images only."]
    items, notes = [], []
    for row in rows:
        if cancel is not None:
            cancel.raise_if_cancelled()
        try:
            image, cam = explainer.heatmap(row["path"], method=method, target=row.get("predicted_label"))
            items.append((pair_png(image, overlay_heatmap(image, cam, alpha=0.45)), row))
        except Exception as exc:  # noqa: BLE001 - a moved or unreadable image: note it, keep going
            notes.append(f"{display_path(row.get('path', '?'))}: not explained ({_first_line(exc)})")
    return items, notes


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return display_path(text[0] if text else type(exc).__name__)

