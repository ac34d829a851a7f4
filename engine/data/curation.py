"""Dataset curation: images excluded from training and images given a new label.

Stored per dataset as JSON ``{"exclude": [paths], "relabel": {path: label}}``
in ``<dataset root>/.histodesk/curation.json``; for a read-only dataset (or
a CSV list) in ``<HISTODESK_HOME>/curation/<name>-<hash>.json`` keyed by the
dataset's path. Image paths inside the dataset are stored relative to its
root, so the file survives moving the dataset.

The file is checked against :class:`CurationFile` (sizes bounded, labels not
empty, paths inside the dataset); a bad one is refused with a one-line
:class:`~engine.errors.ConfigError` naming it. Training reads it once
(:func:`curation_snapshot`, kept in the catalog) and applies it with
:func:`curate` *after* the split is made, to the training images only unless
``data.curation_scope`` is ``"all"``: curating never redraws the split, and
validation and test images keep their images and labels.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from dataclasses import field
from pathlib import Path
from typing import Annotated

from pydantic import Field, StringConstraints

from engine.errors import ConfigError, ImageReadError
from engine.io_utils import write_json
from engine.schema import schema, validate

FILE_NAME = "curation.json"
#: Bounds of a curation file: bytes, entries per list, characters per path and per label.
MAX_BYTES = 8 * 1024 * 1024
MAX_ENTRIES = 500_000
MAX_PATH = 4096
MAX_LABEL = 200
#: Splits whose images ``curation_scope`` lets curation change.
SCOPES = {"train": ("train",), "all": ("train", "val", "test")}

_Path = Annotated[str, StringConstraints(min_length=1, max_length=MAX_PATH)]
_Label = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=MAX_LABEL)]


@schema
class CurationFile:
    """What a curation.json may hold: image paths to exclude, and new labels by image path."""

    exclude: Annotated[list[_Path], Field(max_length=MAX_ENTRIES)] = field(default_factory=list)
    relabel: Annotated[dict[_Path, _Label], Field(max_length=MAX_ENTRIES)] = field(default_factory=dict)


def _root(dataset_path) -> Path:
    return Path(str(dataset_path)).expanduser().resolve()


def _home_file(root: Path) -> Path:
    from engine.paths import data_home

    digest = hashlib.sha1(str(root).encode("utf-8", "surrogateescape")).hexdigest()[:12]
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


def _invalid(path: Path, problem: str) -> ConfigError:
    problem = " ".join(str(problem).split())  # one line, whatever the parser said, and a short one
    problem = problem if len(problem) <= 300 else problem[:297] + "..."
    return ConfigError(f"Curation file {path} is invalid: {problem}. Fix it, or delete it to use the dataset "
                       "without curation (it only holds the exclusions and relabels made in the embedding view).")


def _read_file(path: Path) -> tuple[dict, str]:
    """(the validated file as ``{"exclude", "relabel"}``, sha1 of its bytes); ConfigError when unusable."""
    from engine.data.imageio import open_regular

    try:
        size = path.stat().st_size
        if size > MAX_BYTES:
            raise _invalid(path, f"{size / 1e6:.1f} MB, more than the {MAX_BYTES // (1024 * 1024)} MiB a curation "
                                 "file may have")
        with open_regular(path) as fh:
            raw = fh.read(MAX_BYTES + 1)
    except ImageReadError as exc:
        raise _invalid(path, f"not a regular file ({getattr(exc, 'reason', exc)})") from None
    except OSError as exc:
        raise _invalid(path, f"cannot be read ({exc.strerror or exc})") from None
    try:
        data = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise _invalid(path, "not UTF-8 text") from None
    except RecursionError:
        raise _invalid(path, "nested too deeply") from None
    except ValueError as exc:
        raise _invalid(path, f"not valid JSON ({exc})") from None
    if not isinstance(data, dict):
        raise _invalid(path, f'expected an object {{"exclude": [...], "relabel": {{...}}}}, got {type(data).__name__}')
    try:
        checked = validate(CurationFile, data, "curation")
    except ConfigError as exc:
        raise _invalid(path, str(exc)) from None
    return {"exclude": list(checked.exclude), "relabel": dict(checked.relabel)}, hashlib.sha1(raw).hexdigest()


def _check_inside(path: Path, root: Path, keys, allow_outside: bool) -> None:
    """Every entry names a file inside the dataset's folder (a CSV list: its folder)."""
    from engine.data.importers.csvlist import is_inside  # the rule a CSV list's rows follow

    if allow_outside:
        return
    folder = root if root.is_dir() or not root.exists() else root.parent
    for key in keys:
        if not is_inside(Path(os.path.normpath(_absolute(folder, key))), folder):
            raise _invalid(path, f"{key!r} is outside the dataset folder {folder}")


def read_curation(dataset_path, *, allow_outside: bool = False) -> dict | None:
    """The dataset's validated curation, ``{"file", "sha1", "root", "exclude": [keys], "relabel": {key: label}}``.

    Keys are as stored (relative to ``root``, or absolute). None when the
    dataset has no curation file; ConfigError (naming the file) when it is
    malformed. ``allow_outside``: entries may name files outside the dataset
    folder (CSV lists with ``data.allow_outside_paths``).
    """
    root = _root(dataset_path)
    path = curation_file(root)
    if not path.exists() and not path.is_symlink():
        return None
    data, digest = _read_file(path)
    _check_inside(path, root, [*data["exclude"], *data["relabel"]], allow_outside)
    return {"file": str(path), "sha1": digest, "root": str(root), **data}


def curation_snapshot(dataset_path, *, allow_outside: bool = False) -> dict | None:
    """:func:`read_curation`, or None when there is nothing to apply (no file, or an empty one)."""
    cur = read_curation(dataset_path, allow_outside=allow_outside)
    return cur if cur and (cur["exclude"] or cur["relabel"]) else None


def load_curation(dataset_path) -> dict:
    """``{"exclude": [absolute paths], "relabel": {absolute path: label}}`` (empty when none)."""
    root = _root(dataset_path)
    cur = read_curation(root, allow_outside=True) or {"exclude": [], "relabel": {}}
    return {"exclude": sorted(_absolute(root, k) for k in cur["exclude"]),
            "relabel": {_absolute(root, k): str(v) for k, v in cur["relabel"].items()}}


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


def _matching_keys(snapshot: dict) -> tuple[set[str], dict[str, str]]:
    """The snapshot's entries as :func:`_key` keys (what records are matched against)."""
    root = Path(snapshot["root"])
    return ({_key(root, k) for k in snapshot["exclude"]},
            {_key(root, k): v for k, v in snapshot["relabel"].items()})


def curate(catalog, split=None, scope: str = "train"):
    """``(catalog with its curation applied, report)``; the catalog itself when it has none.

    With a ``split`` only images of the splits in ``scope`` change ("train":
    the training split; "all": every split); the others keep their images and
    labels. Without a split every image is in scope. The report counts, per
    split, the images excluded and relabelled (``"excluded"``,
    ``"relabelled"``) and those the scope left as they are
    (``"not_applied"``); ``"evaluation_changed"`` is True when a val or test
    image was changed (``scope="all"``), which marks the run.
    """
    snapshot = getattr(catalog, "curation", None)
    if not snapshot:
        return catalog, None
    if scope not in SCOPES:
        raise ConfigError(f"data.curation_scope must be one of {', '.join(SCOPES)}, got {scope!r}.")
    excluded, relabel = _matching_keys(snapshot)
    root = Path(snapshot["root"])
    assignments = split.assignments if split is not None else {}
    counts: dict[str, dict] = {kind: {} for kind in ("excluded", "relabelled", "not_applied")}
    records = []
    for r in catalog.records:
        key = _key(root, r.path)
        kind = "excluded" if key in excluded else "relabelled" if key in relabel else None
        name = assignments.get(r.path, "train") if split is not None else "train"
        if kind and name not in SCOPES[scope]:
            counts["not_applied"][name] = counts["not_applied"].get(name, 0) + 1
            kind = None
        if kind:
            counts[kind][name] = counts[kind].get(name, 0) + 1
        if kind != "excluded":
            records.append(dataclasses.replace(r, label=relabel[key]) if kind == "relabelled" else r)
    changed_eval = any(n in ("val", "test") for kind in ("excluded", "relabelled") for n in counts[kind])
    report = {"file": snapshot["file"], "sha1": snapshot["sha1"], "scope": scope, **counts,
              "evaluation_changed": changed_eval}
    return dataclasses.replace(catalog, records=records, curation=None), report


def describe_report(report: dict | None) -> list[str]:
    """Log lines for a :func:`curate` report (empty when no curation was applied)."""
    if not report:
        return []

    def per_split(counts: dict) -> str:
        parts = ", ".join(f"{s} {n}" for s, n in sorted(counts.items()))
        return f"{sum(counts.values())} image(s)" + (f" ({parts})" if parts else "")

    lines = [f"Curation applied from {report['file']} (sha1 {report['sha1'][:12]}, scope {report['scope']}): "
             f"excluded {per_split(report['excluded'])}, relabelled {per_split(report['relabelled'])}."]
    if report["not_applied"]:
        lines.append(f"Curation entries for {per_split(report['not_applied'])} of validation/test were not "
                     "applied: evaluation images keep their images and labels (data.curation_scope 'train').")
    if report["evaluation_changed"]:
        lines.append("WARNING: data.curation_scope 'all' changed validation/test images, so these figures are not "
                     "comparable with runs evaluated on the uncurated split.")
    return lines


def apply_curation(catalog, dataset_path=None):
    """The catalog with every excluded image dropped and relabelled images carrying their new label.

    Returns ``catalog`` itself when the dataset has no curation. For views of
    a whole dataset (embeddings); training uses :func:`curate` by split.
    """
    snapshot = curation_snapshot(dataset_path or catalog.root, allow_outside=True)
    if snapshot is None:
        return catalog
    curated, _report = curate(dataclasses.replace(catalog, curation=snapshot), None, "all")
    return curated


def curation_summary(dataset_path) -> str:
    """One line for logs: ``curation: 3 excluded, 2 relabelled`` (empty when none)."""
    cur = load_curation(dataset_path)
    if not cur["exclude"] and not cur["relabel"]:
        return ""
    return f"curation: {len(cur['exclude'])} excluded, {len(cur['relabel'])} relabelled"
