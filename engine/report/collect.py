"""Gather everything a report shows from a run folder into one plain dict.

Nothing here fails on a missing or unreadable file: an older run (no
evaluation.json, no calibration, no intervals) or a damaged file gives
``None`` and a sentence in ``notes`` that the report prints instead
("not recorded for this run", or why the file could not be read). Only a
folder that is not a run at all raises :class:`~engine.errors.HistoDeskError`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from engine.errors import DataError, HistoDeskError
from engine.io_utils import display_path, read_jsonl
from engine.options import SplitName, literal_values

#: Splits in the order a report shows them.
SPLITS = literal_values(SplitName)


def read_json_file(path: Path) -> tuple[Any, str | None]:
    """``(data, None)``, ``(None, None)`` when absent, or ``(None, reason)`` when unreadable."""
    try:
        with open(path, "r", encoding="utf-8") as fh:
            return json.load(fh), None
    except FileNotFoundError:
        return None, None
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        return None, f"{display_path(path.name)} could not be read ({str(exc).splitlines()[0]})"


def is_run(path: Path) -> bool:
    """True for a run folder (config.json next to a summary or metrics file)."""
    return (path / "config.json").is_file() and any((path / n).exists() for n in ("summary.json", "metrics.jsonl"))


def split_counts(catalog: dict | None, split: dict | None) -> dict[str, dict[str, dict[str, int | None]]] | None:
    """``{split: {class: {"images": n, "patients": m}}}`` from catalog.json records and split.json assignments."""
    if not catalog or not split or not isinstance(split.get("assignments"), dict):
        return None
    assignments = split["assignments"]
    images: dict[str, dict[str, int]] = {}
    patients: dict[str, dict[str, set]] = {}
    for rec in catalog.get("records") or []:
        name = assignments.get(rec.get("path"))
        if name is None:
            continue
        label = str(rec.get("label"))
        images.setdefault(name, {}).setdefault(label, 0)
        images[name][label] += 1
        if rec.get("patient"):
            patients.setdefault(name, {}).setdefault(label, set()).add(str(rec["patient"]))
    known = bool(patients)  # no patient id anywhere: patients are unknown, not zero
    return {name: {label: {"images": n, "patients": len(patients.get(name, {}).get(label, ())) if known else None}
                   for label, n in sorted(by_class.items())}
            for name, by_class in sorted(images.items(), key=lambda kv: split_order(kv[0]))}


def split_patients(catalog: dict | None, split: dict | None) -> dict[str, int]:
    """Distinct patient ids per split (empty when no image has one)."""
    if not catalog or not split or not isinstance(split.get("assignments"), dict):
        return {}
    found: dict[str, set] = {}
    for rec in catalog.get("records") or []:
        name = split["assignments"].get(rec.get("path"))
        if name is not None and rec.get("patient"):
            found.setdefault(name, set()).add(str(rec["patient"]))
    return {name: len(ids) for name, ids in found.items()}


def split_order(name: str) -> tuple:
    """Sort key of a split name: train, val, test, then any other split by name."""
    return (SPLITS.index(name), name) if name in SPLITS else (len(SPLITS), name)


def _catalog_summary(catalog: dict | None) -> dict | None:
    if not catalog:
        return None
    records = catalog.get("records") or []
    return {"root": catalog.get("root"), "importer": catalog.get("importer"), "n_images": len(records),
            "n_patients": len({r.get("patient") for r in records if r.get("patient")}),
            "classes": sorted({str(r.get("label")) for r in records}),
            "magnifications": sorted({str(r["magnification"]) for r in records if r.get("magnification")})}


def load_predictions(path: Path) -> tuple[list[dict] | None, str | None]:
    """Rows of predictions.csv, ``(None, None)`` when absent, ``(None, reason)`` when unreadable."""
    from engine.evaluation.predictions import read_predictions_csv

    if not path.is_file():
        return None, None
    try:
        return read_predictions_csv(path), None
    except (OSError, UnicodeDecodeError, ValueError, DataError) as exc:
        return None, f"{display_path(path.name)} could not be read ({str(exc).splitlines()[0]})"


#: Keys of an evaluation that a summary table does not need: curve points and the text report.
BULKY_KEYS = ("roc_curve", "pr_curve", "classification_report", "classification_report_dict")


def without_curves(metrics: dict) -> dict:
    """``metrics`` without its :data:`BULKY_KEYS`."""
    return {k: v for k, v in metrics.items() if k not in BULKY_KEYS}


def _light(metrics: Any) -> dict | None:
    """An evaluation without its curve points and text report (what a summary table needs); None if not one."""
    if not isinstance(metrics, dict) or "classes" not in metrics:
        return None
    return without_curves(metrics)


def other_evaluations(path: Path) -> list[dict[str, Any]]:
    """The run's other evaluations: external datasets (``external/<name>/``: meta.json + evaluation.json) and
    test-time-augmentation re-evaluations (``evaluation_tta*.json``), each ``{name, kind, meta, metrics, note}``."""
    out = []
    for folder in sorted(p for p in (path / "external").glob("*") if p.is_dir()):
        meta, reason = read_json_file(folder / "meta.json")
        evaluation, reason2 = read_json_file(folder / "evaluation.json")
        metrics = _light((evaluation or {}).get("external")) if isinstance(evaluation, dict) else None
        out.append({"name": folder.name, "kind": "external", "meta": meta if isinstance(meta, dict) else {},
                    "metrics": metrics, "note": reason or reason2})
    for file in sorted(path.glob("evaluation_*.json")):
        evaluation, reason = read_json_file(file)
        for split, metrics in (evaluation.items() if isinstance(evaluation, dict) else []):
            if _light(metrics):
                out.append({"name": f"{file.name} ({split})", "kind": "re-evaluation", "meta": {},
                            "metrics": _light(metrics), "note": None})
        if reason:
            out.append({"name": file.name, "kind": "re-evaluation", "meta": {}, "metrics": None, "note": reason})
    return out


def collect_run(path: str | Path) -> dict[str, Any]:
    """Everything about one run as a plain dict (see the module docstring)."""
    from engine.report.environment import environment

    path = Path(path)
    if not is_run(path):
        raise HistoDeskError(f"{display_path(path)} is neither a HistoDesk run (config.json + summary.json) nor "
                             "a study (results.json); give a run or study folder.")
    notes: dict[str, str] = {}
    data: dict[str, Any] = {"kind": "run", "path": str(path), "id": path.name}
    for key, name in (("config", "config.json"), ("summary", "summary.json"), ("split", "split.json"),
                      ("catalog", "catalog.json"), ("evaluation", "evaluation.json"),
                      ("calibration_file", "calibration.json")):
        data[key], reason = read_json_file(path / name)
        if reason:
            notes[key] = reason
        if not isinstance(data[key], dict):
            data[key] = None
    data["config"] = data["config"] or {}
    data["summary"] = data["summary"] or {}
    try:
        data["epochs"] = [r for r in read_jsonl(path / "metrics.jsonl") if isinstance(r, dict)]
    except (OSError, UnicodeDecodeError) as exc:
        data["epochs"], notes["epochs"] = [], f"metrics.jsonl could not be read ({exc})"
    data["predictions"], reason = load_predictions(path / "predictions.csv")
    if reason:
        notes["predictions"] = reason
    data["counts"] = split_counts(data["catalog"], data["split"])
    data["split_patients"] = split_patients(data["catalog"], data["split"])
    data["catalog_summary"] = _catalog_summary(data["catalog"])
    data["catalog"] = None  # the records are summarised above; keep the dict small
    if data["split"]:
        data["split"] = {k: v for k, v in data["split"].items() if k != "assignments"}
    data["other_evaluations"] = other_evaluations(path)
    data["notes"] = notes
    data["environment"] = environment()
    return data
