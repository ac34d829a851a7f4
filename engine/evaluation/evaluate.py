"""Evaluation: predictions and full metrics for every split of a run.

``evaluate_splits`` is used at the end of training; ``evaluate_run`` is the
``python main.py evaluate`` job that re-evaluates a finished run, optionally
with test-time augmentation or on another (external) dataset.

Both apply the run's calibration (:mod:`engine.evaluation.calibration`): a
temperature and a decision threshold fitted on the val split only (at the
end of training, or the first time an older run is evaluated), stored in
``calibration.json`` and summary.json, and used unchanged for every split,
external datasets and ``predictions.csv``. The figures without the
temperature are kept under ``metrics["calibration"]["uncalibrated"]``.
"""

from __future__ import annotations

from pathlib import Path

import torch

from engine.data.tta import tta_mode
from engine.evaluation.bootstrap import BootstrapSpec
from engine.evaluation.calibration import (
    CALIBRATION_FILE,
    Calibration,
    calibration_summary,
    fit_calibration,
    load_calibration,
)
from engine.evaluation.metrics import compute_metrics
from engine.evaluation.predictions import make_prediction_rows, probs_from_logits, write_predictions_csv
from engine.evaluation.thresholds import positive_class, predict_labels  # positive_class: callers import it here too
from engine.jobs import CancelToken, EtaEstimator, Progress, ProgressFn, null_progress
from engine.runs import Run
from engine.training.inference import predict_logits

HEADLINE_CI = ("accuracy", "balanced_accuracy", "roc_auc", "f1", "f1_macro", "sensitivity", "specificity")


class TemperatureScaled(torch.nn.Module):
    """``model`` with its logits divided by a temperature (so TTA averages calibrated view probabilities)."""

    def __init__(self, model: torch.nn.Module, temperature: float):
        super().__init__()
        self.model, self.temperature = model, float(temperature)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The wrapped model's logits / T."""
        return self.model(x) / self.temperature


def evaluate_splits(model, data, device, *, splits=("train", "val", "test"), amp: bool = False, tta=None,
                    evaluation=None, calibration: Calibration | None = None, run: Run | None = None,
                    progress: ProgressFn = null_progress, cancel: CancelToken | None = None) -> tuple[dict, list[dict]]:
    """Metrics per split (with intervals, calibration and warnings) and one prediction row per image.

    ``evaluation`` is the config's evaluation section (None: its defaults).
    ``calibration`` is applied as given; when None it is fitted on the val
    split's logits (without TTA) and, with ``run``, saved to calibration.json
    and summary.json. With ``tta`` the temperature divides each view's logits
    before the views' probabilities are averaged.
    """
    settings = _settings(evaluation)
    classes, positive = data.classes, positive_class(data.classes)
    done = {}
    if calibration is None:
        calibration, val = fit_run_calibration(model, data, device, settings, amp=amp, progress=progress,
                                               cancel=cancel)
        if tta is None and val is not None:
            done["val"] = val
        if run is not None:
            save_calibration(run, calibration)
    t = calibration.temperature
    scaled = model if tta is None or t == 1.0 else TemperatureScaled(model, t)
    results, rows = {}, []
    for name in splits:
        if data.eval_loaders.get(name) is None:
            continue
        logits, targets = done.get(name) or _infer(scaled, data, name, device, amp, tta, progress, cancel)
        single = logits.shape[1] == 1
        probs = calibration.probs(logits) if tta is None else probs_from_logits(logits, single)
        records = data.datasets[name].records
        patients = [r.patient for r in records]
        magnifications = [r.magnification for r in records]
        metrics = compute_metrics(targets, probs, classes, patients=patients, positive_class=positive,
                                  threshold=calibration.threshold, magnifications=magnifications,
                                  threshold_source="val" if calibration.threshold is not None else "default",
                                  bootstrap=BootstrapSpec.from_config(settings))
        _describe_calibration(metrics, calibration, probs_from_logits(logits, single) if tta is None else None,
                              targets, name)
        results[name] = metrics
        rows.extend(make_prediction_rows([r.path for r in records], probs, classes, y_true=targets, split=name,
                                         patients=patients, magnifications=magnifications,
                                         y_pred=predict_labels(probs, calibration.threshold, classes)))
    return results, rows


def _settings(evaluation):
    """The config's evaluation section, or its defaults."""
    from engine.training.config import EvaluationConfig

    return evaluation if evaluation is not None else EvaluationConfig()


def _infer(model, data, name: str, device, amp: bool, tta, progress: ProgressFn, cancel) -> tuple:
    """(logits, targets) of one split, reporting progress per batch (its own total and ETA)."""
    loader = data.eval_loaders[name]
    total = len(loader)
    eta = EtaEstimator(total)

    def on_batch(i):
        progress(Progress(stage=f"evaluate {name}", step=i, total=total, eta_s=eta.eta(i),
                          message=f"evaluating the {name} set, batch {i}/{total}"))

    return predict_logits(model, loader, device, amp=amp, cancel=cancel, on_batch=on_batch, tta=tta)


def fit_run_calibration(model, data, device, evaluation=None, *, amp: bool = False,
                        progress: ProgressFn = null_progress, cancel: CancelToken | None = None) -> tuple:
    """``(calibration, (val logits, targets) or None)``: temperature and threshold fitted on ``data``'s val split."""
    val = _infer(model, data, "val", device, amp, None, progress, cancel) if data.eval_loaders.get("val") else None
    logits, targets = val if val is not None else (None, None)
    return fit_calibration(logits, targets, data.classes, positive_class(data.classes), _settings(evaluation)), val


def run_calibration(run: Run, model, data, device, evaluation=None, *, amp: bool = False,
                    progress: ProgressFn = null_progress, cancel: CancelToken | None = None) -> Calibration:
    """The run's calibration.json; when missing, fitted on ``data``'s val split and saved (json + summary)."""
    calibration = load_calibration(run.path)
    if calibration is None:
        calibration = fit_run_calibration(model, data, device, evaluation, amp=amp, progress=progress,
                                          cancel=cancel)[0]
        save_calibration(run, calibration)
    return calibration


def _describe_calibration(metrics: dict, calibration: Calibration, raw_probs, targets, split: str) -> None:
    """Add the temperature, its origin and the figures without it to ``metrics["calibration"]``."""
    cal = metrics["calibration"]
    cal["temperature"] = calibration.temperature
    if calibration.fitted_on:
        cal["temperature_note"] = f"fitted on {calibration.n_fit} {calibration.fitted_on} images"
        if split == calibration.fitted_on:
            cal["temperature_note"] += ": these images, so their calibration figures are optimistic"
    if calibration.notes:
        cal["notes"] = list(calibration.notes)
        cal["temperature_note"] = "; ".join(filter(None, [cal.get("temperature_note"), *calibration.notes]))
    if calibration.threshold_note:
        metrics["threshold"]["note"] = calibration.threshold_note
    if raw_probs is not None:
        raw = calibration_summary(targets, raw_probs)
        cal["uncalibrated"] = {k: raw[k] for k in ("ece", "brier", "nll", "reliability")}
    else:
        cal["uncalibrated"] = None
        cal["tta_note"] = "with TTA the temperature scales each view; figures without it are not computed"


def save_calibration(run: Run, calibration: Calibration) -> None:
    """Write calibration.json and the same record into summary.json."""
    record = calibration.to_dict()
    run.write(CALIBRATION_FILE, record)
    run.update_summary(calibration=record)


def headline(metrics: dict) -> dict:
    """The few numbers shown in run lists and summaries."""
    out = {k: metrics.get(k) for k in ("accuracy", "balanced_accuracy", "roc_auc", "precision", "recall", "f1")}
    out["f1_macro"] = metrics.get("macro", {}).get("f1")
    patient = metrics.get("patient") or {}
    out["patient_score"] = patient.get("patient_score")
    out["patient_vote_accuracy"] = patient.get("patient_vote_accuracy")
    out["n"] = metrics.get("n")
    out["sensitivity"], out["specificity"] = metrics.get("sensitivity"), metrics.get("specificity")
    ci = metrics.get("ci") or {}
    out.update({f"{k}_ci": ci.get(k) for k in HEADLINE_CI})
    boot = metrics.get("bootstrap") or {}
    out["ci_level"], out["ci_unit"] = boot.get("level"), boot.get("unit")
    cal = metrics.get("calibration") or {}
    out["ece"], out["brier"], out["temperature"] = cal.get("ece"), cal.get("brier"), cal.get("temperature")
    out["threshold"] = (metrics.get("threshold") or {}).get("value")
    out["warnings"] = list(metrics.get("warnings") or [])
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
    The run's calibration.json is applied; a run without one (made before
    calibration existed) gets it fitted on its val split and saved first.
    """
    from engine.data.catalog import Catalog
    from engine.data.splits import Split
    from engine.evaluation.run_model import load_run_model
    from engine.training.data_setup import build_run_data
    from engine.options import EvaluateOptions
    from engine.schema import validate
    from engine.training.devices import select_device

    opts = validate(EvaluateOptions, {"splits": list(splits), "tta": tta_mode(tta), "device": device}, "evaluate")
    splits, device = tuple(opts.splits), opts.device
    if dataset or label_map or name:  # external validation: another dataset, labels mapped onto the run's classes
        from engine.evaluation.external import evaluate_external

        return evaluate_external(run_dir, dataset, label_map=label_map, name=name, tta=tta, device=device,
                                 compare=compare, progress=progress, cancel=cancel)
    run = Run.open(run_dir)
    dev = select_device(device)
    model, classes, config = load_run_model(run, dev)
    data = build_run_data(config, Catalog.load(run.file("catalog.json")), Split.load(run.file("split.json")), dev,
                          classes=classes)
    calibration = run_calibration(run, model, data, dev, config.evaluation, progress=progress, cancel=cancel)
    tta_fn, mode = None, tta_mode(tta)
    if mode:
        from functools import partial

        from engine.data.transforms import tta_views

        tta_fn = partial(tta_views, mode=mode)
    results, rows = evaluate_splits(model, data, dev, splits=splits, tta=tta_fn, evaluation=config.evaluation,
                                    calibration=calibration, progress=progress, cancel=cancel)
    suffix = {None: "", "s3": "_tta"}.get(mode, f"_tta_{mode}")
    run.write(f"evaluation{suffix}.json", results)
    if mode:
        write_predictions_csv(run.file(f"predictions{suffix}.csv"), rows)
    if compare and mode:
        results["without_tta"] = evaluate_splits(model, data, dev, splits=splits, evaluation=config.evaluation,
                                                 calibration=calibration, progress=progress, cancel=cancel)[0]
    return results


