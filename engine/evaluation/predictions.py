"""Per-image predictions: logits to probabilities, and the run's ``predictions.csv``.

One CSV row per image, columns in this order::

    path, split, true_label, predicted_label, predicted_probability, correct,
    p_<class 1>, ..., p_<class C>, patient, magnification[, any extra keys]

Labels are class names; ``correct`` is 1/0 (its column mean is the
accuracy); an unknown value (no true label, no patient id) is an empty cell.
Probabilities are written with ``repr`` so a round trip is exact and metrics
recomputed from the CSV equal the original ones. The file is written
atomically, and paths keep their exact bytes whatever the file name
(UTF-8 with surrogate escapes, see :mod:`engine.io_utils`).
"""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from engine.errors import DataError
from engine.io_utils import display_path, read_text, write_csv

HEAD_COLUMNS = ["path", "split", "true_label", "predicted_label", "predicted_probability", "correct"]
TAIL_COLUMNS = ["patient", "magnification"]
PROB_PREFIX = "p_"


def probs_from_logits(logits: Any, binary_single_logit: bool) -> np.ndarray:
    """Class probabilities (N, C) as float64 from model logits (numpy array or torch tensor).

    ``binary_single_logit``: logits of shape (N,) or (N, 1) give
    ``[1 - sigmoid(z), sigmoid(z)]``; otherwise a softmax over (N, C). Both
    are computed stably (no overflow for large ``|z|``).
    """
    if hasattr(logits, "detach"):  # torch.Tensor, without importing torch here
        logits = logits.detach().float().cpu().numpy()
    z = np.asarray(logits, dtype=np.float64)
    if binary_single_logit:
        if not (z.ndim == 1 or (z.ndim == 2 and z.shape[1] == 1)):
            raise DataError(f"A single-logit binary model must give logits of shape (N,) or (N, 1); got {z.shape}.")
        z = z.reshape(-1)
        # sigmoid(z) = exp(-log(1 + exp(-z))), 1 - sigmoid(z) = exp(-log(1 + exp(z)))
        return np.stack([np.exp(-np.logaddexp(0.0, z)), np.exp(-np.logaddexp(0.0, -z))], axis=1)
    if z.ndim != 2 or z.shape[1] < 2:
        raise DataError(f"Multi-class logits must have shape (N, C) with C >= 2; got {z.shape}.")
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def make_prediction_rows(
    paths: Sequence[str],
    probs: np.ndarray,
    classes: Sequence[str],
    *,
    y_true: Sequence[int] | np.ndarray | None = None,
    split: str | None = None,
    patients: Sequence[Any] | None = None,
    magnifications: Sequence[Any] | None = None,
    y_pred: Sequence[int] | np.ndarray | None = None,
) -> list[dict[str, Any]]:
    """Build ``predictions.csv`` rows from arrays; the prediction is ``y_pred`` or else the arg-max class.

    ``y_true`` (class indices) may be omitted for unlabelled images, which
    leaves ``true_label`` and ``correct`` empty. ``y_pred`` carries decisions
    made by a threshold rule (:mod:`engine.evaluation.thresholds`).
    """
    p = np.asarray(probs, dtype=float)
    if p.ndim != 2 or p.shape != (len(paths), len(classes)):
        raise DataError(f"Probabilities must have shape ({len(paths)}, {len(classes)}); got {p.shape}.")
    pred = p.argmax(axis=1) if y_pred is None else np.asarray(y_pred, dtype=int)
    rows = []
    for i, path in enumerate(paths):
        true = None if y_true is None else int(y_true[i])
        row: dict[str, Any] = {
            "path": os.fspath(path),
            "split": split,
            "true_label": None if true is None else classes[true],
            "predicted_label": classes[pred[i]],
            "predicted_probability": float(p[i, pred[i]]),
            "correct": None if true is None else bool(true == pred[i]),
        }
        row.update({PROB_PREFIX + str(c): float(p[i, k]) for k, c in enumerate(classes)})
        row["patient"] = None if patients is None else patients[i]
        row["magnification"] = None if magnifications is None else magnifications[i]
        rows.append(row)
    return rows


def _cell(value: Any) -> str:
    """One CSV cell: exact floats, 1/0 booleans, empty for ``None``."""
    if value is None:
        return ""
    if isinstance(value, (bool, np.bool_)):
        return "1" if value else "0"
    if isinstance(value, (float, np.floating)):
        return repr(float(value))
    return str(value)


def write_predictions_csv(
    path: str | os.PathLike, rows: Iterable[Mapping[str, Any]], *, classes: Sequence[str] | None = None
) -> None:
    """Atomically write prediction rows to ``path`` (see the module docstring for columns).

    The ``p_<class>`` columns follow ``classes`` when given, else the order
    in which they first appear in ``rows``. Missing values become empty cells;
    keys outside the standard columns are kept as extra columns at the end.
    """
    rows = list(rows)
    known = set(HEAD_COLUMNS) | set(TAIL_COLUMNS)
    seen: dict[str, None] = {}
    for row in rows:
        seen.update(dict.fromkeys(k for k in row if k not in known))
    if classes is not None:
        prob_cols = [PROB_PREFIX + str(c) for c in classes]
    else:
        prob_cols = [k for k in seen if k.startswith(PROB_PREFIX)]
    extra = [k for k in seen if k not in prob_cols]
    columns = HEAD_COLUMNS + prob_cols + TAIL_COLUMNS + extra
    write_csv(path, columns, ([_cell(row.get(col)) for col in columns] for row in rows))


def _parse(column: str, text: str) -> Any:
    """Restore the Python value of one cell of ``column``."""
    if text == "":
        return None
    if column == "correct":
        return text.strip().lower() in ("1", "true", "yes")
    if column == "predicted_probability" or column.startswith(PROB_PREFIX):
        return float(text)
    if column == "magnification" and text.isdigit():
        return int(text)
    return text


def read_predictions_csv(path: str | os.PathLike) -> list[dict[str, Any]]:
    """Read ``predictions.csv`` back into row dicts with typed values.

    Probabilities are floats, ``correct`` a bool, a purely numeric
    magnification an int, other cells strings; empty cells are ``None``.
    Raises :class:`DataError` when the file lacks the standard columns.
    """
    reader = csv.DictReader(io.StringIO(read_text(path), newline=""))
    missing = [c for c in HEAD_COLUMNS if c not in (reader.fieldnames or [])]
    if missing:
        raise DataError(f"{display_path(path)} is not a predictions file: columns {missing} are missing.")
    return [{col: _parse(col, val or "") for col, val in row.items()} for row in reader]


def prediction_classes(rows: Sequence[Mapping[str, Any]]) -> list[str]:
    """Class names, in model order, from the ``p_<class>`` keys of prediction rows."""
    if not rows:
        return []
    return [k[len(PROB_PREFIX):] for k in rows[0] if k.startswith(PROB_PREFIX)]


def rows_to_arrays(rows: Sequence[Mapping[str, Any]]) -> tuple[np.ndarray, np.ndarray, list[str], list[Any]]:
    """``(y_true, probs, classes, patients)`` from labelled prediction rows, ready for ``compute_metrics``."""
    classes = prediction_classes(rows)
    if not rows or not classes:
        raise DataError("The predictions hold no rows or no p_<class> columns; nothing to evaluate.")
    index = {c: i for i, c in enumerate(classes)}
    try:
        y = np.array([index[r["true_label"]] for r in rows], dtype=int)
    except KeyError as exc:
        raise DataError(f"A prediction row has a missing or unknown true label ({exc}); "
                        "cannot compute metrics.") from exc
    probs = np.array([[r[PROB_PREFIX + c] for c in classes] for r in rows], dtype=float)
    return y, probs, classes, [r.get("patient") for r in rows]
