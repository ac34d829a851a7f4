"""A study's results as aligned text (CLI and logs): mean +- std per recipe, pooled out-of-fold figures."""

from __future__ import annotations

from engine.report.text import with_ci
from engine.studies.aggregate import error_bars

_COLUMNS = (("accuracy", "accuracy"), ("balanced_accuracy", "bal. acc."), ("roc_auc", "ROC AUC"), ("f1", "F1"))


def _pm(stat: dict | None) -> str:
    """``0.912 +- 0.031`` (one run: the value alone; none: ``-``)."""
    if not stat:
        return "-"
    return f"{stat['mean']:.3f}" + (f" +- {stat['std']:.3f}" if stat.get("std") is not None else "")


def _ci(figures: dict, key: str) -> str:
    """A headline figure with its interval (``<key>_ci``), ``-`` when there is none."""
    value = figures.get(key)
    return "-" if value is None else with_ci(value, figures.get(f"{key}_ci"))


def format_study_table(results: dict) -> str:
    """The study's table: label fractions x recipes for label efficiency, else recipes x figures."""
    if results.get("kind", "label_efficiency") == "label_efficiency" and results.get("rows") and \
            results["rows"][0].get("fraction") is not None:
        lines = _fraction_table(results)
    else:
        lines = _recipe_table(results)
    for s in results.get("skipped", []):
        lines.append(f"skipped {s.get('recipe') or s.get('encoder')}: {s['reason']}")
    for r in results.get("rows", []):
        if r.get("status") not in ("completed", None):
            lines.append(f"{r['key']}: {r['status']}" + (f" ({r['error']})" if r.get("error") else ""))
        for warning in r.get("warnings", []):
            lines.append(f"{r['key']}: {warning}")
    return "\n".join(lines)


def _recipe_table(results: dict) -> list[str]:
    lines = [f"{'recipe':<22}{'runs':>5}" + "".join(f"{title:>20}" for _, title in _COLUMNS)]
    for entry in results.get("summaries", []):
        figures = entry.get("figures", {})
        lines.append(f"{entry['recipe']:<22}{entry['n_runs']:>5}" + "".join(f"{_pm(figures.get(k)):>20}"
                                                                             for k, _ in _COLUMNS))
    pooled = results.get("pooled", [])
    if pooled:
        lines.append("\npooled out-of-fold predictions (every image once), with intervals:")
        for p in pooled:
            m = p.get("metrics", {})
            lines.append(f"  {p['recipe']} seed {p['seed']}: {p['n_images']} images, {p['n_patients']} patients; "
                         f"accuracy {_ci(m, 'accuracy')}; ROC AUC {_ci(m, 'roc_auc')}"
                         + ("" if p.get("covers_all") else f" (NOT every image once: {p['missing']} missing, "
                                                           f"{p['duplicates']} repeated)"))
    return lines


def _fraction_table(results: dict) -> list[str]:
    data = error_bars(results, ("accuracy", "roc_auc"))
    fractions = sorted({x for series in data.values() for x in series["accuracy"][0]})
    lines = [f"{'encoder':<14}" + "".join(f"{f * 100:>24g}%" for f in fractions)]
    for name, series in data.items():
        acc = dict(zip(series["accuracy"][0], zip(series["accuracy"][1], series["accuracy"][2])))
        auc = dict(zip(series["roc_auc"][0], series["roc_auc"][1]))
        cells = []
        for f in fractions:
            mean, std = acc.get(f, (None, None))
            text = "-" if mean is None else f"{mean:.3f}" + (f"+-{std:.3f}" if std is not None else "")
            cells.append(text + " / " + ("-" if auc.get(f) is None else f"{auc[f]:.3f}"))
        lines.append(f"{name:<14}" + "".join(f"{c:>25}" for c in cells))
    return lines
