"""Evaluation: predictions and full metrics for every split of a run.

``evaluate_splits`` is used at the end of training; ``evaluate_run`` is the
``python main.py evaluate`` job that re-evaluates a finished run, optionally
with test-time augmentation or on another (external) dataset.
"""

from __future__ import annotations

from pathlib import Path

from engine.data.tta import tta_mode  # noqa: F401  (re-exported: callers import it from here too)
from engine.evaluation.metrics import compute_metrics
from engine.evaluation.predictions import make_prediction_rows, probs_from_logits, write_predictions_csv
from engine.jobs import CancelToken, Progress, ProgressFn, null_progress
from engine.runs import Run
from engine.training.inference import predict_logits


def positive_class(classes: list[str]) -> str | None:
    """The class reported as positive in binary metrics ('malignant' if present)."""
    if len(classes) != 2:
        return None
    for name in ("malignant", "1", "tumor", "tumour", "positive"):
        if name in classes:
            return name
    return classes[1]


def evaluate_splits(model, data, device, *, splits=("train", "val", "test"), amp: bool = False, tta=None,
                    progress: ProgressFn = null_progress, cancel: CancelToken | None = None) -> tuple[dict, list[dict]]:
    """Metrics per split and one prediction row per image."""
    results, rows = {}, []
    for name in splits:
        loader = data.eval_loaders.get(name)
        if loader is None:
            continue
        n = len(loader)

        def on_batch(i, name=name, n=n):
            progress(Progress(stage=f"evaluate {name}", step=i, total=n))

        logits, targets = predict_logits(model, loader, device, amp=amp, cancel=cancel, on_batch=on_batch, tta=tta)
        probs = probs_from_logits(logits, logits.shape[1] == 1)
        records = data.datasets[name].records
        patients = [r.patient for r in records]
        results[name] = compute_metrics(targets, probs, data.classes, patients=patients,
                                        positive_class=positive_class(data.classes))
        rows.extend(make_prediction_rows([r.path for r in records], probs, data.classes, y_true=targets, split=name,
                                         patients=patients, magnifications=[r.magnification for r in records]))
    return results, rows


def headline(metrics: dict) -> dict:
    """The few numbers shown in run lists and summaries."""
    out = {k: metrics.get(k) for k in ("accuracy", "balanced_accuracy", "roc_auc", "precision", "recall", "f1")}
    out["f1_macro"] = metrics.get("macro", {}).get("f1")
    patient = metrics.get("patient") or {}
    out["patient_score"] = patient.get("patient_score")
    out["patient_vote_accuracy"] = patient.get("patient_vote_accuracy")
    out["n"] = metrics.get("n")
    return out


def evaluate_run(run_dir: str | Path, *, splits=("test",), tta=False, dataset: str | None = None,
                 device: str = "auto", compare: bool = False, progress: ProgressFn = null_progress,
                 cancel: CancelToken | None = None, label_map=None, name: str | None = None) -> dict:
    """Re-evaluate a run's model; with ``dataset`` every image of it is the test set.

    With ``dataset`` (and ``label_map``, ``name``) this is external validation:
    :func:`engine.evaluation.external.evaluate_external` (results under ``external/<name>/``).

    ``tta``: False, True/"s3" (S3's 7 views) or "d4" (8 views). With ``compare``
    and a TTA mode the metrics without TTA are computed too and returned under
    ``"without_tta"`` (``{split: metrics}``; not written). Writes
    ``evaluation[_tta|_tta_d4].json`` in the run and returns the metrics.
    """
    from engine.data.catalog import Catalog
    from engine.data.splits import Split
    from engine.evaluation.run_model import load_run_model
    from engine.training.data_setup import build_run_data
    from engine.training.devices import select_device

    if dataset or label_map or name:  # external validation: another dataset, labels mapped onto the run's classes
        from engine.evaluation.external import evaluate_external

        return evaluate_external(run_dir, dataset, label_map=label_map, name=name, tta=tta, device=device,
                                 compare=compare, progress=progress, cancel=cancel)
    run = Run.open(run_dir)
    dev = select_device(device)
    model, classes, config = load_run_model(run, dev)
    catalog = Catalog.load(run.file("catalog.json"))
    split = Split.load(run.file("split.json"))
    data = build_run_data(config, catalog, split, dev, classes=classes)  # keep the run's class order
    tta_fn, mode = None, tta_mode(tta)
    if mode:
        from functools import partial

        from engine.data.transforms import tta_views

        tta_fn = partial(tta_views, mode=mode)
    results, rows = evaluate_splits(model, data, dev, splits=splits, tta=tta_fn, progress=progress, cancel=cancel)
    suffix = {None: "", "s3": "_tta"}.get(mode, f"_tta_{mode}")
    run.write(f"evaluation{suffix}.json", results)
    if mode:
        write_predictions_csv(run.file(f"predictions{suffix}.csv"), rows)
    if compare and mode:
        results["without_tta"] = evaluate_splits(model, data, dev, splits=splits, progress=progress, cancel=cancel)[0]
    return results

