"""The runs table shared by ``python main.py runs`` and the app's Runs tab.

Runs are ranked by a *validation* figure (val ROC AUC by default): the val
split is the one a user may select on. Test figures are shown apart, with
their patient-bootstrap interval, as held-out figures; they never decide the
order. Runs of a study (``<runs_dir>/studies/<id>/runs/``) carry the study's
name, and each run lists its external evaluations.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from engine.errors import HistoDeskError
from engine.report.text import is_number, with_ci
from engine.runs import Run, effective_status, list_runs

#: Ranking keys: name -> (label, split, figure). Every key is a validation figure.
SORT_KEYS = {"val_auc": ("val AUC", "val", "roc_auc"), "val_acc": ("val acc", "val", "accuracy"),
             "val_bal_acc": ("val bal. acc", "val", "balanced_accuracy"), "val_f1": ("val macro F1", "val", "f1_macro")}
DEFAULT_SORT = "val_auc"


def model_label(cfg: dict) -> str:
    """The model a run trained: ``model.name``, or "<method> · <backbone>" for a self-supervised run."""
    if cfg.get("kind") == "ssl" or (cfg.get("method") and cfg.get("backbone")):
        return f"{cfg.get('method', 'ssl')} · {cfg.get('backbone', '?')}"
    return (cfg.get("model") or {}).get("name", "")


def num(value: Any) -> float | None:
    """``value`` as a float when it is a finite number, else None."""
    return float(value) if is_number(value) else None


def ci_text(value: Any, ci: Any = None, digits: int = 3) -> str:
    """``0.912 [0.850, 0.960]``; the bare value without an interval, ``–`` when there is no value."""
    v = num(value)
    return "–" if v is None else with_ci(v, ci, digits)


@dataclass
class RunRow:
    """One line of the runs table (``val`` / ``test``: summary.json headline figures, ``{}`` when absent)."""

    run: Run
    status: str
    model: str = ""
    preset: str = ""
    split: str = ""
    val: dict = field(default_factory=dict)
    test: dict = field(default_factory=dict)
    epochs_run: int | None = None
    epochs_total: int | None = None
    date: str = ""
    study: str = ""
    study_path: str = ""
    external: list[dict] = field(default_factory=list)

    def figure(self, split: str, key: str) -> float | None:
        """A headline figure of ``split`` ("val" / "test"), or None."""
        return num((self.val if split == "val" else self.test).get(key))

    def test_text(self, key: str) -> str:
        """A held-out test figure with its interval."""
        return ci_text(self.test.get(key), self.test.get(f"{key}_ci"))

    def sort_value(self, key: str = DEFAULT_SORT) -> float | None:
        """The validation figure ``key`` (see :data:`SORT_KEYS`) this row is ranked by."""
        _label, split, figure = SORT_KEYS[key]
        return self.figure(split, figure)


def _dict(value: Any) -> dict:
    return value if isinstance(value, dict) else {}


def external_entries(run: Run) -> list[dict]:
    """The run's external evaluations in brief: ``{name, dataset, n_images, accuracy(_ci), roc_auc(_ci), path}``."""
    if not run.file("external").is_dir():
        return []
    from engine.evaluation.external import list_external_evaluations

    out = []
    for meta in list_external_evaluations(run):
        head = _dict(meta.get("headline"))
        out.append({"name": meta["name"], "dataset": meta.get("dataset"), "n_images": meta.get("n_images"),
                    "n_unmapped": meta.get("n_unmapped"), "path": meta["path"], "error": meta.get("error"),
                    **{k: head.get(k) for k in ("accuracy", "accuracy_ci", "roc_auc", "roc_auc_ci")}})
    return out


def run_row(run: Run, study: str = "", study_path: str = "") -> RunRow:
    """The table row of ``run`` (a corrupt config/summary gives an "unreadable" row, never an error)."""
    status = effective_status(run)
    try:
        cfg, summary = _dict(run.config), _dict(run.summary)
    except HistoDeskError:
        cfg, summary = {}, {}
    metrics = _dict(summary.get("metrics"))
    phases = cfg.get("phases") or []
    total = sum(_dict(p).get("epochs", 0) for p in phases) if phases else cfg.get("epochs")
    try:
        external = external_entries(run)
    except (HistoDeskError, OSError):
        external = []
    return RunRow(run=run, status=status, model=model_label(cfg), preset=str(cfg.get("preset") or "custom"),
                  split=str(summary.get("split_mode", _dict(cfg.get("split")).get("mode", "")) or ""),
                  val=_dict(metrics.get("val")), test=_dict(metrics.get("test")),
                  epochs_run=summary.get("epochs_run"), epochs_total=total,
                  date=str(summary.get("started") or summary.get("finished") or ""), study=study,
                  study_path=study_path, external=external)


def study_runs(runs_dir: str | Path | None = None) -> list[tuple[dict, list[Run]]]:
    """``[(study entry of list_studies, its runs)]`` for every study under ``<runs_dir>/studies``."""
    from engine.studies.store import list_studies

    return [(s, list_runs(Path(s["path"]) / "runs")) for s in list_studies(runs_dir)]


def rank_rows(rows: list[RunRow], key: str = DEFAULT_SORT) -> list[RunRow]:
    """``rows`` best first by the validation figure ``key``; runs without it last, then val accuracy, newest."""
    if key not in SORT_KEYS:
        raise HistoDeskError(f"Unknown ranking '{key}': choose one of {', '.join(SORT_KEYS)} (validation figures).")
    by_id = sorted(rows, key=lambda r: r.run.id, reverse=True)
    return sorted(by_id, key=lambda r: (r.sort_value(key) is None, -(r.sort_value(key) or 0.0),
                                        -(r.figure("val", "accuracy") or 0.0)))


def run_rows(runs_dir: str | Path | None = None, *, studies: bool = True, key: str = DEFAULT_SORT) -> list[RunRow]:
    """Every run of ``runs_dir`` (and, with ``studies``, of its studies), ranked by ``key``."""
    rows = [run_row(r) for r in list_runs(runs_dir)]
    if studies:
        for entry, runs in study_runs(runs_dir):
            rows += [run_row(r, entry["name"], entry["path"]) for r in runs]
    return rank_rows(rows, key)


def format_runs_table(rows: list[RunRow], key: str = DEFAULT_SORT) -> str:
    """The CLI table: ranked by the val figure ``key``; held-out test figures with intervals in their own columns."""
    if not rows:
        return "No runs yet."
    width = max(len(r.run.id) for r in rows) + 1
    level = next((int(round(r.test["ci_level"] * 100)) for r in rows if num(r.test.get("ci_level"))), 95)
    head = (f"{'run':<{width}} {'status':<11} {'model':<20} {'val AUC':>8} {'val acc':>8}  | "
            f"{'held-out test AUC [' + str(level) + '% CI]':<28} {'test acc [' + str(level) + '% CI]':<24} study")
    lines = [head, "-" * len(head)]
    for r in rows:
        lines.append(f"{r.run.id:<{width}} {r.status:<11} {r.model[:20]:<20} {ci_text(r.val.get('roc_auc')):>8} "
                     f"{ci_text(r.val.get('accuracy')):>8}  | {r.test_text('roc_auc'):<28} "
                     f"{r.test_text('accuracy'):<24} {r.study}".rstrip())
        for ext in r.external:
            lines.append(f"{'':<{width}}   external '{ext['name']}': {ext.get('n_images') or '?'} images, "
                         f"AUC {ci_text(ext.get('roc_auc'), ext.get('roc_auc_ci'))}, "
                         f"acc {ci_text(ext.get('accuracy'), ext.get('accuracy_ci'))}")
    label = SORT_KEYS[key][0]
    lines.append(f"\nRanked by {label} (validation split). Test figures are held out: shown with their "
                 f"{level}% patient-bootstrap interval, never used for ranking or selection.")
    return "\n".join(lines)
