"""Plain-text tables of evaluations for the CLI: every figure with its interval, warnings first.

    accuracy            0.9120 [0.8500, 0.9600]

The interval is the percentile bootstrap interval stored in ``metrics["ci"]``
(``[lo, hi]``); a figure without one is printed bare.
"""

from __future__ import annotations

from typing import Any

LABEL = 20


def fmt(value: Any, width: int = 8) -> str:
    """A metric right-aligned with 4 decimals, or ``n/a`` when undefined."""
    return f"{value:>{width}.4f}" if isinstance(value, (int, float)) else f"{'n/a':>{width}}"


def fmt_ci(value: Any, ci: Any) -> str:
    """``0.9120 [0.8500, 0.9600]``; the bare value when there is no interval."""
    text = fmt(value)
    if isinstance(value, (int, float)) and isinstance(ci, (list, tuple)) and len(ci) == 2:
        text += f" [{ci[0]:.4f}, {ci[1]:.4f}]"
    return text


def warning_lines(metrics: dict[str, Any], prefix: str = "") -> list[str]:
    """``WARNING: ...`` lines for the small-sample warnings of one evaluation."""
    return [f"WARNING{f' ({prefix})' if prefix else ''}: {w}" for w in metrics.get("warnings") or []]


def headline_rows(metrics: dict[str, Any]) -> list[tuple[str, str]]:
    """(label, key) of the figures shown with intervals, binary or multi-class."""
    binary = len(metrics.get("classes", [])) == 2
    rows = [("accuracy", "accuracy"), ("balanced accuracy", "balanced_accuracy"),
            ("ROC AUC" if binary else "ROC AUC (OvR macro)", "roc_auc")]
    if binary:
        rows += [("sensitivity", "sensitivity"), ("specificity", "specificity"), ("F1", "f1")]
    rows.append(("macro F1", "f1_macro"))
    return rows


def figure(metrics: dict[str, Any], key: str) -> Any:
    """A headline figure by ``ci`` key (``f1_macro`` lives in ``metrics["macro"]["f1"]``)."""
    if key == "f1_macro":
        return (metrics.get("macro") or {}).get("f1")
    return metrics.get(key)


def interval_lines(metrics: dict[str, Any]) -> list[str]:
    """The headline figures, one per line, each with its interval."""
    ci = metrics.get("ci") or {}
    boot = metrics.get("bootstrap")
    lines = []
    if boot:
        lines.append(f"  {int(boot['level'] * 100)}% intervals: bootstrap over {boot['n_units']} {boot['unit']}s, "
                     f"{boot['n']} replicates")
    for label, key in headline_rows(metrics):
        lines.append(f"  {label:<{LABEL}}{fmt_ci(figure(metrics, key), ci.get(key))}")
    lines.append(f"  {'average precision':<{LABEL}}{fmt(metrics.get('average_precision'))}")
    if "roc_auc_ovr_micro" in metrics:
        lines.append(f"  {'ROC AUC (micro)':<{LABEL}}{fmt(metrics['roc_auc_ovr_micro'])}")
    dropped = (boot or {}).get("dropped") or {}
    if dropped:
        lines.append("  (replicates dropped where a figure was undefined: "
                     + ", ".join(f"{k} {v}" for k, v in dropped.items()) + ")")
    return lines


def calibration_lines(metrics: dict[str, Any]) -> list[str]:
    """ECE, Brier score (before/after temperature scaling), the temperature and the decision threshold."""
    cal = metrics.get("calibration") or {}
    lines = []
    if cal:
        raw = cal.get("uncalibrated") or {}
        for label, key in (("ECE (15 bins)", "ece"), ("Brier score", "brier")):
            before = f"   (without temperature {raw[key]:.4f})" if raw.get(key) is not None else ""
            lines.append(f"  {label:<{LABEL}}{fmt(cal.get(key))}{before}")
        if cal.get("temperature") is not None:
            lines.append(f"  {'temperature':<{LABEL}}{fmt(cal['temperature'])}   ({cal.get('temperature_note', '')})")
    rule = metrics.get("threshold") or {}
    if rule.get("value") is not None:
        target = f", target sensitivity {rule['target_sensitivity']:.2f}" if rule.get("target_sensitivity") else ""
        lines.append(f"  {'threshold':<{LABEL}}  p({rule['positive_class']}) >= {rule['value']:.4f}   "
                     f"({rule['method']}{target}, from {rule.get('source', 'val')})")
    elif rule:
        lines.append(f"  {'threshold':<{LABEL}}  arg-max class" + (f"   ({rule['note']})" if rule.get("note") else ""))
    return lines


def per_class_lines(metrics: dict[str, Any]) -> list[str]:
    """Precision/recall/F1/support per class, macro and weighted (the positive class starred)."""
    classes = metrics.get("classes", [])
    pos = metrics.get("positive_class")
    width = max([len(c) + 2 for c in classes] + [14])
    lines = [f"  {'':<{width}}{'precision':>10}{'recall':>8}{'f1':>8}{'support':>9}"]
    for name, row in metrics.get("per_class", {}).items():
        label = f"{name} *" if name == pos else name
        lines.append(
            f"  {label:<{width}}{fmt(row['precision'], 10)}{fmt(row['recall'])}{fmt(row['f1'])}{row['support']:>9}"
        )
    for avg in ("macro", "weighted"):
        row = metrics.get(avg, {})
        lines.append(
            f"  {avg + ' avg':<{width}}{fmt(row.get('precision'), 10)}{fmt(row.get('recall'))}{fmt(row.get('f1'))}"
        )
    return lines


def patient_lines(metrics: dict[str, Any]) -> list[str]:
    """Patient score, and accuracy / ROC AUC with intervals for each pooling rule."""
    patient = metrics.get("patient")
    if not patient:
        return []
    lines = [f"  {'patients':<{LABEL}}{patient['n_patients']:>8}    {'patient score':<{LABEL}}"
             f"{fmt(patient['patient_score'])}",
             f"  {'':<{LABEL}}{'':>8}    {'patient vote acc.':<{LABEL}}{fmt(patient['patient_vote_accuracy'])}"]
    rules = patient.get("aggregation") or {}
    if rules:
        lines.append(f"  {'patient-level rule':<{LABEL}}  {'accuracy':<28}ROC AUC")
        for rule, row in rules.items():
            lines.append(f"  {rule:<{LABEL}}{fmt_ci(row.get('accuracy'), row.get('accuracy_ci')):<28}"
                         f"{fmt_ci(row.get('roc_auc'), row.get('roc_auc_ci'))}")
    return lines


def magnification_lines(metrics: dict[str, Any]) -> list[str]:
    """n, accuracy and ROC AUC (with intervals) per magnification."""
    mags = metrics.get("magnification")
    if not mags:
        return []
    lines = [f"  {'magnification':<{LABEL}}{'n':>6}    {'accuracy':<28}ROC AUC"]
    for mag, row in mags.items():
        lines.append(f"  {mag:<{LABEL}}{row['n']:>6}  {fmt_ci(row.get('accuracy'), row.get('accuracy_ci')):<28}"
                     f"{fmt_ci(row.get('roc_auc'), row.get('roc_auc_ci'))}")
    return lines


def format_metrics_table(metrics: dict[str, Any], *, show_warnings: bool = True) -> str:
    """A compact aligned text summary of :func:`~engine.evaluation.metrics.compute_metrics`' output.

    Small-sample warnings first (unless ``show_warnings`` is False, when the
    caller printed them already), then image counts, the headline figures
    with their intervals, the precision/recall/F1 table (the positive class of
    a binary problem is starred), calibration and the decision threshold,
    patient-level and per-magnification figures.
    """
    classes = metrics.get("classes", [])
    pos = metrics.get("positive_class")
    head = f"{metrics.get('n', 0)} images, {len(classes)} classes" + (f" (positive: {pos})" if pos else "")
    lines = (warning_lines(metrics) if show_warnings else []) + [head] + interval_lines(metrics)
    for block in (per_class_lines(metrics), calibration_lines(metrics), patient_lines(metrics),
                  magnification_lines(metrics)):
        if block:
            lines += [""] + block
    if metrics.get("auc_note"):
        lines += ["", f"  note: {metrics['auc_note']}"]
    return "\n".join(lines)


def format_comparison(result: dict[str, Any]) -> str:
    """Both runs' figures with intervals and the paired difference B - A (``compare_runs`` output)."""
    boot = result["bootstrap"]
    a, b = result["runs"]
    lines = [f"WARNING: {w}" for w in result.get("warnings") or []]
    lines += [f"A: {a['id']}", f"B: {b['id']}",
              f"{result['n_images']} {result['split']} images, {result['n_units']} {result['unit']}s; "
              f"{int(boot['level'] * 100)}% intervals: paired bootstrap over {result['unit']}s, {boot['n']} replicates",
              "", f"  {'':<{LABEL}}  {'A':<28}{'B':<28}B - A"]
    labels = dict(headline_rows({"classes": result["classes"]}))
    keys = [(label, key) for label, key in labels.items() if key in a["figures"]]
    for label, key in keys:
        diff = result["difference"][key]
        d = f"{diff['value']:+.4f}" if diff["value"] is not None else "n/a"
        if diff["ci"]:
            d += f" [{diff['ci'][0]:+.4f}, {diff['ci'][1]:+.4f}]"
        lines.append(f"  {label:<{LABEL}}{fmt_ci(a['figures'][key], a['ci'].get(key)):<28}"
                     f"{fmt_ci(b['figures'][key], b['ci'].get(key)):<28}{d}")
    delong = result.get("delong")
    if delong is None:
        lines += ["", "  DeLong's test needs a binary problem with both classes present; not computed."]
    elif delong.get("p_value") is None:
        lines += ["", f"  DeLong's test: {delong.get('note')}"]
    else:
        lines += ["", f"  DeLong's test, ROC AUC B - A = {delong['difference']:+.4f} (SE {delong['se']:.4f}): "
                      f"z = {delong['z']:.3f}, p = {delong['p_value']:.4g}",
                  "  (DeLong treats images as independent; the paired bootstrap interval above resamples "
                  f"{result['unit']}s.)"]
    return "\n".join(lines)
