"""External validation: a trained run evaluated on every image of another dataset (S3: BreaKHis -> BACH).

``evaluate_external(run, dataset, label_map="benign=Benign,Normal;malignant=InSitu,Invasive")``
scans ``dataset`` with the auto importer (no split, no curation: it is test
data), maps its labels onto the run's classes and evaluates the run's model
on every mapped image with the same intervals and calibration as any
evaluation: the temperature and decision threshold fitted on the run's own
val split (``calibration.json``; fitted and saved first for an older run)
are applied unchanged. Images whose label maps to no class are counted per
label and reported, never silently dropped; a map naming a class the run
does not have is a :class:`~engine.errors.ConfigError`.

Without a map, a label maps to the run class of the same name. With a map,
only the labels it lists are used (write ``benign=benign`` to keep one).

Results live in the run, one folder per external dataset::

    <run>/external/<name>/evaluation.json   {"external": metrics}
    <run>/external/<name>/predictions.csv   one row per mapped image (+ source_label)
    <run>/external/<name>/meta.json         dataset, importer, label map, counts, date, headline

``name`` defaults to the dataset's folder name (``-tta`` / ``-tta-d4`` added
with test-time augmentation); evaluating again under the same name replaces
it. :func:`list_external_evaluations` lists them for the Runs tab.
"""

from __future__ import annotations

import dataclasses
import os
import re
import time
from collections import Counter
from pathlib import Path
from typing import Any, Mapping

from engine.errors import ConfigError, DataError
from engine.io_utils import display_path, load_config_file, read_json, write_json
from engine.jobs import CancelToken, ProgressFn, null_progress
from engine.runs import Run

EXTERNAL_DIR = "external"
SPLIT_NAME = "external"


# --- label maps ---------------------------------------------------------------
def parse_label_map(spec: str | Mapping[str, Any] | None) -> dict[str, list[str]]:
    """``{run class: [source labels]}`` from ``"benign=Benign,Normal;malignant=InSitu,Invasive"``,
    a mapping (values a label or a list of labels), or a JSON/YAML file holding such a mapping."""
    if spec is None or spec == "" or spec == {}:
        return {}
    if isinstance(spec, str) and "=" not in spec and Path(spec).is_file():
        spec = load_config_file(spec)
    if isinstance(spec, Mapping):
        items: list[tuple[str, Any]] = [(str(k), v if isinstance(v, (list, tuple)) else [v]) for k, v in spec.items()]
    elif isinstance(spec, str):
        items = []
        for part in (p for p in spec.split(";") if p.strip()):
            if "=" not in part:
                raise ConfigError(f"--label-map: '{part.strip()}' is not CLASS=LABEL[,LABEL...]; write e.g. "
                                  "\"benign=Benign,Normal;malignant=InSitu,Invasive\".")
            target, label_text = part.split("=", 1)
            items.append((target, label_text.split(",")))
    else:
        raise ConfigError(f"--label-map: expected text like \"benign=Benign,Normal\" or a mapping, got "
                          f"{type(spec).__name__}.")
    out: dict[str, list[str]] = {}
    for target, labels in items:
        target, names = target.strip(), [str(x).strip() for x in labels if str(x).strip()]
        if not target or not names:
            raise ConfigError(f"--label-map: '{target}={','.join(names)}' needs a class name and at least one "
                              "source label.")
        out.setdefault(target, []).extend(n for n in names if n not in out.get(target, []))
    return out


def resolve_label_map(label_map: Mapping[str, list[str]], classes: list[str],
                      source_labels: list[str]) -> tuple[dict[str, str], list[str]]:
    """``({source label: run class}, notes)``; ConfigError for a class the run lacks or a label mapped twice."""
    if not label_map:
        return {c: c for c in classes}, []
    unknown = [t for t in label_map if t not in classes]
    if unknown:
        raise ConfigError(f"--label-map names {unknown}, which the run does not have; its classes are {classes}.")
    mapping: dict[str, str] = {}
    for target, labels in label_map.items():
        for label in labels:
            if mapping.get(label, target) != target:
                raise ConfigError(f"--label-map maps the source label '{label}' to both '{mapping[label]}' and "
                                  f"'{target}'; give each label one class.")
            mapping[label] = target
    absent = [label for label in mapping if label not in source_labels]
    notes = [f"The label map names {absent}, which no image of the dataset has (its labels: {source_labels})."
             ] if absent else []
    return mapping, notes


# --- the job -----------------------------------------------------------------
def external_name(dataset: str, tta_mode_name: str | None = None) -> str:
    """The default folder name of an external evaluation: the dataset's name (+ its TTA mode), at most 80
    characters so that :func:`load_external_evaluation` accepts it."""
    base = Path(str(dataset).rstrip("/\\")).stem if dataset != "demo" else "demo"
    suffix = {None: "", "s3": "-tta"}.get(tta_mode_name, f"-tta-{tta_mode_name}")
    slug = re.sub(r"[^A-Za-z0-9_.-]+", "-", base).strip("-.")[:80 - len(suffix)].rstrip("-.") or "dataset"
    return slug + suffix


def evaluate_external(run_dir: str | Path, dataset: str | None, *, label_map: str | Mapping | None = None,
                      name: str | None = None, tta=False, device: str = "auto", compare: bool = False,
                      progress: ProgressFn = null_progress, cancel: CancelToken | None = None) -> dict:
    """Evaluate a run on every image of ``dataset``; returns ``{"external": metrics, "meta": {...}}``
    (plus ``"without_tta"`` with ``compare`` and a TTA mode) and writes ``external/<name>/``."""
    from functools import partial

    from engine.data.importers import scan
    from engine.data.transforms import tta_views
    from engine.data.tta import tta_mode
    from engine.evaluation.evaluate import evaluate_splits, headline
    from engine.evaluation.predictions import write_predictions_csv
    from engine.evaluation.run_model import load_run_model
    from engine.training.data_setup import resolve_dataset_path
    from engine.training.devices import select_device

    if not dataset:
        raise ConfigError("--label-map and --name describe an external evaluation: add --data DATASET.")
    run = Run.open(run_dir)
    mode = tta_mode(tta)
    requested = parse_label_map(label_map)
    dev = select_device(device)
    model, classes, config = load_run_model(run, dev)
    folder_name = _checked_name(name) if name else external_name(dataset, mode)
    root = resolve_dataset_path(dataset, progress, cancel)
    catalog = scan(root, "auto", progress=progress, cancel=cancel)  # no curation: external data is test data
    source_labels = sorted({r.label for r in catalog.records})
    mapping, notes = resolve_label_map(requested, classes, source_labels)
    records = [dataclasses.replace(r, label=mapping[r.label]) for r in catalog.records if r.label in mapping]
    unmapped = Counter(r.label for r in catalog.records if r.label not in mapping)
    if not records:
        raise DataError(f"None of the {len(catalog.records)} images of {display_path(root)} has a label that maps "
                        f"onto the run's classes {classes} (its labels: {source_labels}); give --label-map, "
                        "e.g. \"benign=Benign,Normal;malignant=InSitu,Invasive\".")
    sources = {r.path: r.label for r in catalog.records}
    calibration = external_calibration(run, model, config, dev, progress, cancel)
    data = external_data(config, records, classes, dev)
    views = partial(tta_views, mode=mode) if mode else None
    results, rows = evaluate_splits(model, data, dev, splits=(SPLIT_NAME,), tta=views, evaluation=config.evaluation,
                                    calibration=calibration, progress=progress, cancel=cancel)
    for row in rows:
        row["source_label"] = sources.get(row["path"])
    meta = {"name": folder_name, "dataset": display_path(os.path.abspath(root)), "importer": catalog.importer,
            "date": time.strftime("%Y-%m-%d %H:%M:%S"), "run": str(run.path), "classes": classes,
            "label_map": requested or None, "mapping": mapping, "tta": mode,
            "n_scanned": len(catalog.records) + len(catalog.skipped), "n_images": len(records),
            "n_unmapped": sum(unmapped.values()), "unmapped": dict(sorted(unmapped.items())),
            "n_unreadable": len(catalog.skipped), "per_class": dict(Counter(r.label for r in records)),
            "source_labels": dict(sorted(Counter(r.label for r in catalog.records).items())), "notes": notes,
            "calibration": calibration.to_dict(), "curation": "not applied (external data is test data)",
            "headline": headline(results[SPLIT_NAME])}
    out = run.file(EXTERNAL_DIR) / folder_name
    run.check_present()
    out.mkdir(parents=True, exist_ok=True)
    write_json(out / "evaluation.json", results)
    write_predictions_csv(out / "predictions.csv", rows, classes=classes)
    write_json(out / "meta.json", meta)
    results["meta"] = {**meta, "path": str(out)}
    if compare and mode:
        results["without_tta"] = evaluate_splits(model, data, dev, splits=(SPLIT_NAME,), evaluation=config.evaluation,
                                                 calibration=calibration, progress=progress, cancel=cancel)[0]
    return results


def _checked_name(name: str) -> str:
    if not re.fullmatch(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,79}", name):
        raise ConfigError(f"--name '{name}': use letters, digits, '.', '_' or '-' (at most 80, no path separators).")
    return name


def external_calibration(run: Run, model, config, device, progress: ProgressFn = null_progress,
                         cancel: CancelToken | None = None):
    """The run's calibration.json, or (an older run without one) fitted on its own val split and saved first."""
    from engine.data.catalog import Catalog
    from engine.data.splits import Split
    from engine.evaluation.calibration import load_calibration
    from engine.evaluation.evaluate import run_calibration
    from engine.training.data_setup import build_run_data

    found = load_calibration(run.path)
    if found is not None:
        return found
    if not (run.file("catalog.json").exists() and run.file("split.json").exists()):
        raise DataError(f"Run {run.id} has no calibration.json, nor the catalog.json and split.json needed to fit "
                        "one on its val split.")
    own = build_run_data(config, Catalog.load(run.file("catalog.json")), Split.load(run.file("split.json")), device,
                         classes=run.summary.get("classes"))
    return run_calibration(run, model, own, device, config.evaluation, progress=progress, cancel=cancel)


def external_data(config, records: list, classes: list[str], device):
    """Evaluation-only :class:`~engine.training.data_setup.RunData` over ``records`` (the run's eval transform)."""
    import torch
    from torch.utils.data import DataLoader

    from engine.data.catalog import Catalog
    from engine.data.dataset import HistoDataset
    from engine.data.transforms import build_transform
    from engine.training.data_setup import RunData, make_loader

    transform = build_transform(None, train=False, image_size=config.data.image_size, normalize=config.data.normalize)
    dataset = HistoDataset(records, classes, make_loader(config.data), transform)
    loader = DataLoader(dataset, batch_size=config.batch_size, shuffle=False, num_workers=config.data.num_workers,
                        pin_memory=device.type == "cuda")
    return RunData(Catalog(root="", importer="", records=list(records)), None, list(classes), {SPLIT_NAME: dataset},
                   {}, {SPLIT_NAME: loader}, torch.Generator())


def describe_external(meta: dict) -> str:
    """A few lines for the CLI: dataset, label map, images used, unmapped labels and where it is stored."""
    mapping = ", ".join(f"{src}->{dst}" for src, dst in meta.get("mapping", {}).items())
    per_class = ", ".join(f"{k} {v}" for k, v in meta.get("per_class", {}).items())
    lines = [f"external dataset: {meta.get('dataset')} ({meta.get('importer')} importer, no curation)",
             f"label map: {mapping or '-'}", f"evaluated: {meta.get('n_images')} images ({per_class})"]
    unmapped = meta.get("unmapped") or {}
    lines.append(f"not evaluated: {meta.get('n_unmapped', 0)} images whose label maps to no class of the run"
                 + (f" ({', '.join(f'{k} {v}' for k, v in unmapped.items())})" if unmapped else ""))
    if meta.get("n_unreadable"):
        lines.append(f"unreadable files skipped by the scan: {meta['n_unreadable']}")
    lines += list(meta.get("notes") or [])
    if meta.get("path"):
        lines.append(f"stored in: {meta['path']}")
    return "\n".join(lines)


# --- listing ------------------------------------------------------------------
def list_external_evaluations(run: Run | str | Path) -> list[dict]:
    """Every external evaluation of ``run`` (its meta.json plus ``path``), oldest first."""
    run = run if isinstance(run, Run) else Run(Path(run))
    base = run.file(EXTERNAL_DIR)
    if not base.is_dir():
        return []
    out = []
    for folder in sorted(p for p in base.iterdir() if (p / "meta.json").is_file()):
        try:
            meta = read_json(folder / "meta.json")
        except (OSError, ValueError):
            meta = {"name": folder.name, "error": "meta.json is unreadable"}
        out.append({**meta, "name": folder.name, "path": str(folder)})
    return sorted(out, key=lambda m: (str(m.get("date") or ""), m["name"]))


def load_external_evaluation(run: Run | str | Path, name: str) -> dict:
    """The full metrics (``{"external": metrics}``) of external evaluation ``name`` of ``run``."""
    run = run if isinstance(run, Run) else Run(Path(run))
    path = run.file(EXTERNAL_DIR) / _checked_name(name) / "evaluation.json"
    if not path.is_file():
        raise DataError(f"Run {run.id} has no external evaluation '{name}' ({display_path(path)} is missing).")
    return read_json(path)
