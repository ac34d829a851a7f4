"""Dataset curation: images excluded from training and images given a new label.

Stored per dataset as JSON ``{"exclude": [paths], "relabel": {path: label}}``
in ``<dataset root>/.histodesk/curation.json``; for a read-only dataset (or
a CSV list) in ``<HISTODESK_HOME>/curation/<name>-<hash>.json`` keyed by the
dataset's path. Image paths inside the dataset are stored relative to its
root, so the file survives moving the dataset. :func:`apply_curation` is
called by ``engine.training.data_setup.load_catalog``, so every training run
(and every evaluation on an external dataset) sees the curated catalog.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
from pathlib import Path

from engine.io_utils import read_json, write_json

FILE_NAME = "curation.json"


def _root(dataset_path) -> Path:
    return Path(str(dataset_path)).expanduser().resolve()


def _home_file(root: Path) -> Path:
    from engine.paths import data_home

    digest = hashlib.sha1(str(root).encode("utf-8")).hexdigest()[:12]
    return data_home() / "curation" / f"{root.name}-{digest}.json"


def curation_file(dataset_path, *, for_writing: bool = False) -> Path:
    """Where the curation of ``dataset_path`` lives (the dataset folder when writable, else HISTODESK_HOME)."""
    root = _root(dataset_path)
    local = root / ".histodesk" / FILE_NAME
    home = _home_file(root)
    if not for_writing:
        return local if local.exists() or not home.exists() else home
    if root.is_dir() and os.access(root, os.W_OK) and (local.exists() or not home.exists()):
        return local
    return home


def _key(root: Path, path) -> str:
    p = Path(str(path))
    p = p if p.is_absolute() else root / p
    try:
        return p.resolve().relative_to(root).as_posix()
    except ValueError:
        return str(p.resolve())


def _absolute(root: Path, key: str) -> str:
    p = Path(key)
    return str(p if p.is_absolute() else root / p)


def load_curation(dataset_path) -> dict:
    """``{"exclude": [absolute paths], "relabel": {absolute path: label}}`` (empty when none)."""
    root = _root(dataset_path)
    path = curation_file(root)
    data = (read_json(path) if path.exists() else None) or {}
    return {"exclude": sorted(_absolute(root, k) for k in data.get("exclude", [])),
            "relabel": {_absolute(root, k): str(v) for k, v in (data.get("relabel") or {}).items()}}


def _save(root: Path, exclude, relabel) -> Path:
    path = curation_file(root, for_writing=True)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_json(path, {"exclude": sorted({_key(root, p) for p in exclude}),
                      "relabel": {_key(root, p): str(v) for p, v in sorted(relabel.items())}})
    return path


def add_exclusions(dataset_path, paths) -> dict:
    """Exclude ``paths`` from training; returns the updated curation."""
    root = _root(dataset_path)
    cur = load_curation(root)
    _save(root, set(cur["exclude"]) | {_absolute(root, _key(root, p)) for p in paths}, cur["relabel"])
    return load_curation(root)


def remove_exclusions(dataset_path, paths) -> dict:
    """Put ``paths`` back into training; returns the updated curation."""
    root = _root(dataset_path)
    cur = load_curation(root)
    drop = {_key(root, p) for p in paths}
    _save(root, [p for p in cur["exclude"] if _key(root, p) not in drop], cur["relabel"])
    return load_curation(root)


def set_labels(dataset_path, labels: dict) -> dict:
    """Give images new labels (``{path: label}``; an empty label removes the relabelling)."""
    root = _root(dataset_path)
    cur = load_curation(root)
    relabel = {_key(root, p): v for p, v in cur["relabel"].items()}
    for p, label in labels.items():
        if label:
            relabel[_key(root, p)] = str(label)
        else:
            relabel.pop(_key(root, p), None)
    _save(root, cur["exclude"], {_absolute(root, k): v for k, v in relabel.items()})
    return load_curation(root)


def clear(dataset_path) -> None:
    """Forget every exclusion and relabelling of the dataset."""
    root = _root(dataset_path)
    for path in (root / ".histodesk" / FILE_NAME, _home_file(root)):
        if path.exists():
            path.unlink()


def apply_curation(catalog, dataset_path=None):
    """The catalog with excluded images dropped and relabelled images carrying their new label.

    Returns ``catalog`` itself when the dataset has no curation, else a copy
    (records are replaced, not modified).
    """
    root = _root(dataset_path or catalog.root)
    cur = load_curation(root)
    if not cur["exclude"] and not cur["relabel"]:
        return catalog
    excluded = {_key(root, p) for p in cur["exclude"]}
    relabel = {_key(root, p): v for p, v in cur["relabel"].items()}
    records = []
    for r in catalog.records:
        key = _key(root, r.path)
        if key in excluded:
            continue
        records.append(dataclasses.replace(r, label=relabel[key]) if key in relabel else r)
    return dataclasses.replace(catalog, records=records)


def curation_summary(dataset_path) -> str:
    """One line for logs: ``curation: 3 excluded, 2 relabelled`` (empty when none)."""
    cur = load_curation(dataset_path)
    if not cur["exclude"] and not cur["relabel"]:
        return ""
    return f"curation: {len(cur['exclude'])} excluded, {len(cur['relabel'])} relabelled"
