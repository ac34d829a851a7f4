"""What a study's runs add up to: mean +- std per recipe (and label fraction), pooled out-of-fold predictions.

* ``summaries``: per recipe (per recipe and fraction in a label-efficiency
  study) the mean, sample standard deviation (n - 1), min and max of each
  test figure over the completed runs (folds, seeds, draws);
* ``pooled`` (k-fold): per recipe and seed, the test predictions of all folds
  concatenated (every image once, each predicted by the fold model that never
  trained on it) and evaluated as one set, with the usual patient-level
  bootstrap intervals (Varma & Simon 2006 favour this over averaging folds
  for small test folds);
* ``plot_data`` / ``error_bars``: the label-efficiency curves (mean and std
  per fraction) for the GUI's plot.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from engine.errors import DataError

#: Test figures aggregated over runs (keys of the run's headline metrics).
FIGURES = ("accuracy", "balanced_accuracy", "roc_auc", "f1", "f1_macro", "sensitivity", "specificity",
           "patient_score", "ece")


def mean_std(values: list) -> dict[str, Any] | None:
    """``{mean, std, n, min, max}`` of the finite values (std with n - 1; None for one value); None if none."""
    xs = [float(v) for v in values if v is not None and math.isfinite(float(v))]
    if not xs:
        return None
    arr = np.asarray(xs)
    return {"mean": float(arr.mean()), "std": float(arr.std(ddof=1)) if len(xs) > 1 else None, "n": len(xs),
            "min": float(arr.min()), "max": float(arr.max())}


def group_key(row: dict, kind: str) -> tuple:
    """Rows summarised together: same recipe (and same fraction in a label-efficiency study)."""
    return (row["recipe"], row.get("fraction")) if kind == "label_efficiency" else (row["recipe"],)


def summaries(rows: list[dict], kind: str) -> list[dict]:
    """Mean +- std of every test figure per recipe (and fraction), over the completed rows, in row order."""
    groups: dict[tuple, list[dict]] = {}
    for row in rows:
        if row.get("status") == "completed":
            groups.setdefault(group_key(row, kind), []).append(row)
    out = []
    for key, members in groups.items():
        entry: dict[str, Any] = {"recipe": key[0], "n_runs": len(members)}
        if kind == "label_efficiency":
            entry["fraction"] = key[1]
            entry["n_train_images"] = mean_std([m.get("n_train_images") for m in members])
            entry["steps_run"] = mean_std([m.get("steps_run") for m in members])
        entry["figures"] = {f: mean_std([(m.get("metrics") or {}).get(f) for m in members]) for f in FIGURES}
        out.append(entry)
    return out


def pooled_oof(run_paths: list[Path], expected: list[str], evaluation: Any, out_dir: Path) -> dict:
    """Evaluate the test predictions of ``run_paths`` (one run per fold) as one set; writes ``out_dir``.

    Returns ``{n_images, n_patients, covers_all, duplicates, missing, metrics (headline), notes}``;
    ``expected`` are the catalog paths every fold together must test exactly once.
    """
    from engine.evaluation.bootstrap import BootstrapSpec
    from engine.evaluation.evaluate import headline
    from engine.evaluation.metrics import compute_metrics
    from engine.evaluation.predictions import read_predictions_csv, rows_to_arrays, write_predictions_csv
    from engine.evaluation.thresholds import positive_class
    from engine.io_utils import write_json

    rows: list[dict] = []
    notes: list[str] = []
    for path in run_paths:
        test = [r for r in read_predictions_csv(Path(path) / "predictions.csv") if r["split"] == "test"]
        rows.extend({**r, "fold_run": Path(path).name} for r in test)
    if not rows:
        raise DataError("The fold runs hold no test predictions to pool.")
    y, probs, classes, patients = rows_to_arrays(rows)
    paths = [r["path"] for r in rows]
    duplicates = len(paths) - len(set(paths))
    missing = sorted(set(expected) - set(paths))
    if any(r["predicted_label"] != classes[k] for r, k in zip(rows, probs.argmax(axis=1))):
        notes.append("Some folds decide with a val-fitted threshold; pooled figures use the arg-max of each "
                     "fold's calibrated probabilities.")
    known = [p if p not in (None, "") else None for p in patients]
    metrics = compute_metrics(y, probs, classes, patients=known if any(known) else None,
                              positive_class=positive_class(classes),
                              magnifications=[r.get("magnification") for r in rows],
                              bootstrap=BootstrapSpec.from_config(evaluation))
    out_dir.mkdir(parents=True, exist_ok=True)
    write_json(out_dir / "evaluation.json", {"pooled": metrics})
    write_predictions_csv(out_dir / "predictions.csv", rows, classes=classes)
    return {"n_images": len(rows), "n_patients": len({p for p in known if p}), "covers_all": not missing and not
            duplicates, "duplicates": duplicates, "missing": len(missing), "notes": notes,
            "metrics": headline(metrics), "path": str(out_dir)}


def plot_data(results: dict, metrics=("accuracy", "roc_auc", "f1")) -> dict[str, dict[str, tuple[list, list]]]:
    """``{recipe: {metric: (fractions, means)}}`` of a label-efficiency study, fractions ascending."""
    return {name: {m: (xs, mus) for m, (xs, mus, _sd) in series.items()}
            for name, series in error_bars(results, metrics).items()}


def error_bars(results: dict, metrics=("accuracy", "roc_auc", "f1")) -> dict[str, dict[str, tuple]]:
    """``{recipe: {metric: (fractions, means, stds)}}`` over the draws (and seeds) of each fraction."""
    rows = [r for r in results.get("rows", []) if r.get("status", "completed") == "completed"]
    out: dict[str, dict[str, tuple]] = {}
    for name in dict.fromkeys(r.get("encoder") or r["recipe"] for r in rows):
        mine = [r for r in rows if (r.get("encoder") or r["recipe"]) == name]
        xs = sorted({float(r["fraction"]) for r in mine})
        out[name] = {}
        for m in metrics:
            stats = [mean_std([r.get(m) for r in mine if float(r["fraction"]) == x]) for x in xs]
            out[name][m] = (xs, [s["mean"] if s else None for s in stats], [s["std"] if s else None for s in stats])
    return out
