"""Evaluation: metrics, curves and per-image predictions (no Qt).

``compute_metrics`` gives every figure of one evaluation as a JSON-ready
dict, ``format_metrics_table`` prints it for the CLI, and
``engine.evaluation.predictions`` reads and writes ``predictions.csv``.
"""

from engine.evaluation.metrics import compute_metrics, format_metrics_table, patient_level_metrics
from engine.evaluation.predictions import (
    make_prediction_rows,
    probs_from_logits,
    read_predictions_csv,
    rows_to_arrays,
    write_predictions_csv,
)

__all__ = [
    "compute_metrics",
    "format_metrics_table",
    "make_prediction_rows",
    "patient_level_metrics",
    "probs_from_logits",
    "read_predictions_csv",
    "rows_to_arrays",
    "write_predictions_csv",
]
