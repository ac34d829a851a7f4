"""Evaluation: metrics, curves and per-image predictions (no Qt).

``compute_metrics`` gives every figure of one evaluation as a JSON-ready
dict, ``format_metrics_table`` prints it for the CLI, and
``engine.evaluation.predictions`` reads and writes ``predictions.csv``.
"""

import importlib

# Imported on first use (PEP 562), so importing a light submodule such as
# engine.evaluation.predict_options (the CLI's parser) does not load scikit-learn.
_LAZY = {
    "compute_metrics": "metrics",
    "format_metrics_table": "tables",
    "patient_level_metrics": "metrics",
    "make_prediction_rows": "predictions",
    "probs_from_logits": "predictions",
    "read_predictions_csv": "predictions",
    "rows_to_arrays": "predictions",
    "write_predictions_csv": "predictions",
}


def __getattr__(name: str):
    """The public names above, imported from their submodule when first asked for."""
    if name in _LAZY:
        value = getattr(importlib.import_module(f"{__name__}.{_LAZY[name]}"), name)
        globals()[name] = value
        return value
    if name in ("metrics", "predictions"):  # submodules the package used to import eagerly
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


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
