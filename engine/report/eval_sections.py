"""Report sections about a run's evaluation: metrics with intervals, confusion, ROC/PR bands, calibration,
patients, magnifications and the worst-errors gallery.

Figures show the test split (val, then train, when a run has no test
evaluation). Every figure with an interval in evaluation.json's ``ci``
(patient-level bootstrap) is printed with it; small-sample warnings come
first. An evaluation made before intervals, calibration or patient pooling
existed still reports, with a "not recorded for this run" note per part.
"""

from __future__ import annotations

from pathlib import Path

from engine.evaluation.tables import figure, headline_rows
from engine.report import figures
from engine.report.bands import curve_bands, spec_from_config
from engine.report.collect import SPLITS
from engine.report.document import Block, Figure, Gallery, KeyValues, Note, Para, Table
from engine.report.gallery import MAX_IMAGES, explain_errors, worst_errors
from engine.report.run_sections import focus_split
from engine.report.text import NOT_RECORDED, is_number, num, plain, with_ci

MAX_PATIENT_ROWS = 60
MAX_BAND_CLASSES = 8


def _missing(what: str) -> list[Block]:
    return [Note(f"{what}: {NOT_RECORDED} (no evaluation.json; evaluate it with `python main.py evaluate RUN`)")]


def metrics_section(data: dict, ctx: dict) -> list[Block]:
    """Small-sample warnings, every headline figure per split with its interval, and per-class P/R/F1."""
    evaluation = data.get("evaluation") or {}
    name, focus = focus_split(data)
    if focus is None:
        return _missing("Metrics")
    splits = [s for s in (*SPLITS, *evaluation) if isinstance(evaluation.get(s), dict) and "classes" in
              evaluation[s]]
    splits = list(dict.fromkeys(splits))
    shared: dict[str, list[str]] = {}  # one note per warning text, naming every split it applies to
    for s in splits:
        for w in evaluation[s].get("warnings") or []:
            shared.setdefault(w, []).append(s)
    blocks: list[Block] = [Note(f"{', '.join(where)}: {w}", "warning") for w, where in shared.items()]
    rows = [[label] + [with_ci(figure(evaluation[s], key), (evaluation[s].get("ci") or {}).get(key)) for s in splits]
            for label, key in headline_rows(focus)]
    rows.append(["average precision"] + [num(evaluation[s].get("average_precision")) for s in splits])
    rows.append(["images"] + [plain(evaluation[s].get("n")) for s in splits])
    boot = focus.get("bootstrap")
    caption = (f"{int(round(boot['level'] * 100))}% percentile intervals from a bootstrap over {boot['n_units']} "
               f"{boot['unit']}s ({boot['n']} replicates, seed {boot.get('seed')}) on {name}" if boot else "")
    blocks.append(Table(["figure", *splits], rows, caption=caption))
    if not any(evaluation[s].get("ci") for s in splits):
        blocks.append(Note(f"Intervals: {NOT_RECORDED} (evaluated before intervals existed; re-run "
                           "`python main.py evaluate RUN` to add them)"))
    dropped = (boot or {}).get("dropped") or {}
    if dropped:
        blocks.append(Para("Replicates dropped where a figure was undefined (a single class drawn): "
                           + ", ".join(f"{k} {v}" for k, v in dropped.items()) + "."))
    pos = focus.get("positive_class")
    per_class = [[f"{c} (positive)" if c == pos else c, num(r.get("precision")), num(r.get("recall")),
                  num(r.get("f1")), plain(r.get("support"))] for c, r in (focus.get("per_class") or {}).items()]
    if per_class:
        blocks.append(Table(["class", "precision", "recall", "F1", "support"], per_class,
                            caption=f"per-class figures on {name}"))
    if focus.get("auc_note"):
        blocks.append(Note(focus["auc_note"], "info"))
    return blocks


def confusion_section(data: dict, ctx: dict) -> list[Block]:
    """The confusion matrix of the focus split, as counts and normalised by true class."""
    name, focus = focus_split(data)
    if focus is None or not focus.get("confusion_matrix"):
        return _missing("Confusion matrix")
    png = figures.confusion(focus["confusion_matrix"], focus.get("confusion_matrix_normalized"), focus["classes"])
    return [Figure(png, f"Confusion matrix on {name} ({focus.get('n')} images): rows are the true classes.", 0.9)]


def _split_arrays(data: dict, split: str):
    """``(y, probs, classes, patients)`` of the labelled predictions of ``split``; None when there are none."""
    from engine.evaluation.predictions import rows_to_arrays

    rows = [r for r in data.get("predictions") or [] if r.get("split") == split and r.get("true_label") is not None]
    return rows_to_arrays(rows) if rows else None


def roc_section(data: dict, ctx: dict) -> list[Block]:
    """ROC and PR curves of the focus split with patient-level bootstrap bands (computed here)."""
    from engine.evaluation.curves import score_summary

    name, focus = focus_split(data)
    arrays = _split_arrays(data, name) if name else None
    if arrays is None:
        return _missing("ROC and PR curves") if focus is None else [
            Note(f"ROC and PR curves: {NOT_RECORDED} (predictions.csv is missing, so no curve can be drawn)")]
    y, probs, classes, patients = arrays
    pos = classes.index(focus["positive_class"]) if focus and focus.get("positive_class") in classes else None
    columns = [pos] if pos is not None else ([1] if len(classes) == 2 else list(range(len(classes))))
    spec = spec_from_config(data["config"])
    curves: list[dict] = []
    notes: list[Block] = []
    for k in columns[:MAX_BAND_CLASSES]:
        target = y == k
        pts = score_summary(target, probs[:, k], max_points=None)
        if pts["roc_curve"] is None:
            notes.append(Note(f"Class {classes[k]}: only one class present on {name}; no ROC curve.", "info"))
            continue
        band = curve_bands(target, probs[:, k], patients, spec, cancel=ctx.get("cancel"))
        auc_ci = ((focus or {}).get("ci") or {}).get("roc_auc") if len(columns) == 1 else None
        curves.append({"roc_label": f"{classes[k]}: AUC {with_ci(pts['roc_auc'], auc_ci)}",
                       "pr_label": f"{classes[k]}: AP {num(pts['average_precision'])}",
                       "fpr": pts["roc_curve"]["fpr"], "tpr": pts["roc_curve"]["tpr"],
                       "recall": pts["pr_curve"]["recall"], "precision": pts["pr_curve"]["precision"], "band": band})
    if not curves:
        return notes or [Note(f"ROC and PR curves: undefined on {name} (a single class).", "info")]
    band = curves[0]["band"]
    caption = (f"{name}, {'one-vs-rest per class' if len(curves) > 1 else 'positive class ' + classes[columns[0]]}. "
               f"Shaded: {int(round(band['level'] * 100))}% band from a bootstrap over {band['n_units']} "
               f"{band['unit']}s ({band['n']} replicates; ROC by vertical averaging on a fixed FPR grid, PR by "
               f"interpolated precision on a fixed recall grid).")
    dropped = [f"{c['roc_label'].split(':')[0]}: {c['band']['dropped_roc']}" for c in curves
               if c["band"]["dropped_roc"]]
    if dropped:
        notes.append(Para("Replicates without both classes (left out of the ROC band): " + ", ".join(dropped) + "."))
    return [Figure(figures.roc_pr(curves), caption), *notes]


def calibration_section(data: dict, ctx: dict) -> list[Block]:
    """Reliability diagram, ECE, Brier score, temperature and the decision threshold."""
    name, focus = focus_split(data)
    if focus is None:
        return _missing("Calibration")
    cal = focus.get("calibration") or {}
    blocks: list[Block] = []
    if cal.get("reliability"):
        raw = (cal.get("uncalibrated") or {}).get("reliability")
        blocks.append(Figure(figures.reliability(cal["reliability"], raw),
                             f"Reliability on {name} ({cal.get('n_bins', len(cal['reliability']))} equal-width "
                             "confidence bins).", 0.95))
    else:
        blocks.append(Note(f"Reliability diagram: {NOT_RECORDED}"))
    raw = cal.get("uncalibrated") or {}
    ci = focus.get("ci") or {}
    items = [(label, with_ci(cal.get(key), ci.get(key), 4) + (f"  (before temperature {num(raw[key], 4)})"
                                                               if is_number(raw.get(key)) else ""))
             for label, key in (("ECE", "ece"), ("Brier score", "brier"), ("NLL", "nll"))]
    temperature = cal.get("temperature")
    items.append(("temperature", f"{num(temperature, 4)} ({plain(cal.get('temperature_note'))})"
                  if temperature is not None else NOT_RECORDED))
    items.append(("decision threshold", _threshold_text(focus.get("threshold"))))
    stored = data.get("calibration_file")
    if stored:
        items.append(("fitted on", f"{plain(stored.get('fitted_on'))} ({plain(stored.get('n_fit'))} images), val NLL "
                      f"{num(stored.get('val_nll_before'), 4)} -> {num(stored.get('val_nll_after'), 4)}"))
        items += [("note", plain(n)) for n in stored.get("notes") or []]
    blocks.append(KeyValues(items))
    return blocks


def _threshold_text(rule: dict | None) -> str:
    if not rule:
        return NOT_RECORDED + " (the arg-max class)"
    if rule.get("value") is None:
        return f"arg-max class ({plain(rule.get('source'))})" + (f"; {rule['note']}" if rule.get("note") else "")
    target = f", target sensitivity {num(rule.get('target_sensitivity'), 2)}" if rule.get("target_sensitivity") else ""
    return (f"p({plain(rule.get('positive_class'))}) >= {num(rule['value'], 4)} ({rule.get('method')}{target}, "
            f"fitted on {plain(rule.get('source'))})")


def _acc_auc(row: dict) -> list[str]:
    """Accuracy and ROC AUC of a pooling-rule or magnification row, each with its interval."""
    return [with_ci(row.get(k), row.get(f"{k}_ci")) for k in ("accuracy", "roc_auc")]


def patients_section(data: dict, ctx: dict) -> list[Block]:
    """Patient-level figures, the pooling rules with intervals and one row per patient."""
    name, focus = focus_split(data)
    if focus is None:
        return _missing("Patients")
    patient = focus.get("patient")
    if not patient:
        return [Note(f"Patient-level figures: {NOT_RECORDED} (the images have no patient ids)")]
    blocks: list[Block] = [KeyValues([
        ("patients", plain(patient.get("n_patients"))),
        ("images without a patient id", plain(patient.get("n_images_without_patient"))),
        ("patient score (mean per-patient accuracy)", num(patient.get("patient_score"))),
        ("patient vote accuracy (mean probability)", num(patient.get("patient_vote_accuracy")))])]
    rules = patient.get("aggregation")
    if rules:
        blocks.append(Table(["pooling rule", "patients", "accuracy", "ROC AUC"],
                            [[rule, plain(r.get("n_patients")), *_acc_auc(r)] for rule, r in rules.items()],
                            caption="one prediction per patient by each pooling rule (mean, median and max of the "
                                    "image probabilities, or the majority vote), against the patient's majority label"))
    else:
        blocks.append(Note(f"Patient aggregation rules: {NOT_RECORDED}"))
    per = patient.get("per_patient") or []
    rows = [[p.get("patient"), p.get("true_label"), p.get("predicted_label"), plain(p.get("n")),
             plain(p.get("correct")), num(p.get("accuracy"))] for p in per[:MAX_PATIENT_ROWS]]
    shown = f" (first {MAX_PATIENT_ROWS} of {len(per)})" if len(per) > MAX_PATIENT_ROWS else ""
    blocks.append(Table(["patient", "true", "predicted (mean prob.)", "images", "correct", "accuracy"], rows,
                        caption=f"per-patient results on {name}{shown}"))
    return blocks


def magnification_section(data: dict, ctx: dict) -> list[Block]:
    """Accuracy and ROC AUC with intervals per magnification."""
    name, focus = focus_split(data)
    if focus is None:
        return _missing("Magnifications")
    mags = focus.get("magnification")
    if not mags:
        return [Note(f"Per-magnification figures: {NOT_RECORDED} (no magnification known, or evaluated before "
                     "they existed)")]
    rows = [[mag, plain(r.get("n")), plain(r.get("n_units")), *_acc_auc(r)] for mag, r in mags.items()]
    return [Table(["magnification", "images", "patients", "accuracy", "ROC AUC"], rows, caption=f"on {name}")]


def errors_section(data: dict, ctx: dict) -> list[Block]:
    """The most confidently misclassified images of the focus split, with Grad-CAM for the predicted class."""
    name, _ = focus_split(data)
    if data.get("predictions") is None or name is None:
        return [Note(f"Worst errors: {NOT_RECORDED} (no predictions.csv)")]
    rows = worst_errors(data["predictions"], name, MAX_IMAGES)
    if not rows:
        return [Para(f"No misclassified {name} images.")]
    blocks: list[Block] = []
    if ctx.get("explain", True):
        items, notes = explain_errors(data["path"], rows, device=ctx.get("device", "cpu"), cancel=ctx.get("cancel"))
    else:
        items, notes = [], ["Grad-CAM was switched off for this report (--no-explain)."]
    if items:
        blocks.append(Gallery([(png, _caption(row)) for png, row in items],
                              caption=f"The {_count(len(items), 'most confident error')} on {name}: input as the model "
                                      "saw it (left) and Grad-CAM for the predicted class (right)."))
    blocks += [Note(n, "info") for n in notes]
    explained = {id(row) for _, row in items}
    rest = [r for r in rows if id(r) not in explained]
    if rest:
        blocks.append(Table(["image", "true", "predicted", "p(predicted)"],
                            [[Path(r["path"]).name, str(r.get("true_label") or ""), str(r.get("predicted_label") or ""),
                              num(r.get("predicted_probability"))] for r in rest], caption="errors without a picture"))
    return blocks


def _caption(row: dict) -> str:
    patient = f", patient {row['patient']}" if row.get("patient") else ""
    return (f"{Path(row['path']).name}\ntrue {row.get('true_label')}, predicted {row.get('predicted_label')} "
            f"(p = {num(row.get('predicted_probability'))}){patient}")


def _count(n: int, noun: str) -> str:
    return noun if n == 1 else f"{n} {noun}s"
