"""Train / val / test splits: patient-grouped, stratified and reproducible.

Patient-level is the default whenever every image has a patient id (image-level
splits leak patients into test; methods.md, "Protocol pitfalls"). Patients go,
largest first (ties in seeded random order), to the split whose image count and
class mix they bring closest to the ratios; val and test are then topped up to
hold every class where the data allow. ``k_folds > 1`` gives grouped stratified
cross-validation (sklearn's ``StratifiedGroupKFold``), val carved from the rest.
"""

from __future__ import annotations

import random
import warnings
from collections import Counter, defaultdict
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from engine.data.catalog import Catalog, ImageRecord
from engine.errors import ConfigError, DataError
from engine.io_utils import read_json, write_json
from engine.training.config import SplitConfig

SPLITS = ("train", "val", "test")
_ALIASES = {"train": "train", "training": "train", "val": "val", "valid": "val",
            "validation": "val", "dev": "val", "test": "test", "testing": "test"}


@dataclass
class Split:
    """Which split (train/val/test) each image of a catalog belongs to."""

    assignments: dict[str, str]     # record.path -> "train" | "val" | "test"
    mode: str = "patient"           # "patient" (no patient in two splits) or "image"
    seed: int = 0
    ratios: list[float] = field(default_factory=lambda: [0.7, 0.15, 0.15])
    k_folds: int = 0
    fold: int = 0
    audit: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)  # what the user should know

    def records(self, catalog: Catalog, name: str) -> list[ImageRecord]:
        """Records of ``catalog`` in split ``name``, in catalog order."""
        if name not in SPLITS:
            raise ConfigError(f"Unknown split '{name}'; use one of {', '.join(SPLITS)}.")
        return [r for r in catalog.records if self.assignments.get(r.path) == name]

    def counts(self, catalog: Catalog) -> dict[str, dict[str, int]]:
        """Images per class in each split: ``{split: {class: n}}``."""
        out = {s: {c: 0 for c in catalog.classes} for s in SPLITS}
        for r in catalog.records:
            if r.path in self.assignments:
                out[self.assignments[r.path]][r.label] += 1
        return out

    def patients(self, catalog: Catalog) -> dict[str, list[str]]:
        """Sorted patient ids in each split (images without a patient are left out)."""
        out: dict[str, set[str]] = {s: set() for s in SPLITS}
        for r in catalog.records:
            if r.patient and r.path in self.assignments:
                out[self.assignments[r.path]].add(r.patient)
        return {s: sorted(p) for s, p in out.items()}

    def unassigned(self, catalog: Catalog) -> list[str]:
        """Paths of catalog images this split does not cover (a changed dataset)."""
        return [r.path for r in catalog.records if r.path not in self.assignments]

    def save(self, path: str | Path) -> None:
        """Write the split to ``path`` (``split.json``) atomically."""
        write_json(path, {"version": 1, **asdict(self)})

    @classmethod
    def load(cls, path: str | Path) -> "Split":
        """Read a split written by :meth:`save`."""
        try:
            data = read_json(path)
            data.pop("version", None)
            split = cls(**data)
        except (OSError, ValueError, TypeError, AttributeError) as exc:
            raise ConfigError(f"Cannot read split file {path} ({exc}). Choose a split.json written "
                              "by HistoDesk, or let it make a new split.") from exc
        bad = sorted({v for v in split.assignments.values() if v not in SPLITS})
        if bad:
            raise ConfigError(f"{path}: unknown split names {bad}; use train, val or test.")
        return split


def validate_ratios(ratios: Any) -> list[float]:
    """Check train/val/test ratios (3 numbers >= 0 summing to 1, train > 0)."""
    try:
        values = [float(x) for x in ratios]
    except (TypeError, ValueError):
        values = []
    if len(values) != 3:
        raise ConfigError(f"Split ratios must be three numbers (train, val, test), got {ratios!r}.")
    if any(v < 0 for v in values) or values[0] <= 0:
        raise ConfigError(f"Split ratios {values} must be >= 0, with a train ratio above 0.")
    if abs(sum(values) - 1.0) > 1e-6:
        raise ConfigError(f"Split ratios {values} sum to {sum(values):.4f}; they must sum to 1 "
                          "(e.g. 0.7, 0.15, 0.15).")
    return values


def _checked_ratios(catalog: Catalog, config: SplitConfig) -> list[float]:
    if not catalog.records:
        raise DataError("The dataset has no images to split; import a dataset first.")
    return validate_ratios(config.ratios)


def _resolve_mode(catalog: Catalog, config: SplitConfig, notes: list[str], *,
                  allow_preassigned: bool = True) -> str:
    """The effective mode: "patient", "image" or "preassigned" (CSV splits)."""
    mode = (config.mode or "auto").lower()
    if mode not in ("auto", "patient", "image"):
        raise ConfigError(f"Unknown split mode '{config.mode}'; use auto, patient or image.")
    if mode == "auto" and any(r.split for r in catalog.records):
        if allow_preassigned:
            return "preassigned"
        notes.append("The dataset's own split column is ignored for k-fold cross-validation.")
    if mode == "patient" and not catalog.has_patients:
        missing = sum(1 for r in catalog.records if not r.patient)
        raise ConfigError(
            f"A patient-level split needs a patient id for every image, but {missing} of "
            f"{len(catalog.records)} images have none. Use an importer or CSV that gives patient "
            "ids, or set the split mode to 'image' (images of one patient may then end up in "
            "both train and test).")
    if mode == "auto" and not catalog.has_patients:
        notes.append("Not every image has a patient id, so the split is image-level: images "
                     "of one patient may appear in several splits and inflate test scores.")
        return "image"
    if mode == "auto":
        return "patient"
    return mode


def _groups(records: list[ImageRecord], by_patient: bool) -> list[list[ImageRecord]]:
    """Records grouped by patient (or one group per image), in catalog order."""
    if not by_patient:
        return [[r] for r in records]
    groups: dict[str, list[ImageRecord]] = defaultdict(list)
    for r in records:
        groups[r.patient].append(r)
    return list(groups.values())


def _assign(groups: list[list[ImageRecord]], ratios: list[float], rng: random.Random,
            notes: list[str]) -> list[int]:
    """Split index (0 train, 1 val, 2 test) for every group; stratified greedy."""
    comps = [Counter(r.label for r in g) for g in groups]
    class_n = Counter(r.label for g in groups for r in g)
    total = sum(class_n.values())
    cur = [Counter() for _ in SPLITS]
    size = [0] * len(SPLITS)
    order = sorted(rng.sample(range(len(groups)), len(groups)), key=lambda i: -len(groups[i]))
    assign = [0] * len(groups)
    for i in order:
        n = len(groups[i])

        def cost(s: int) -> float:
            c = sum(k * (2 * (cur[s][lab] - ratios[s] * class_n[lab]) + k) / class_n[lab] ** 2
                    for lab, k in comps[i].items())
            return c + n * (2 * (size[s] - ratios[s] * total) + n) / total ** 2

        best = min((s for s in range(len(SPLITS)) if ratios[s] > 0), key=cost)
        assign[i] = best
        cur[best].update(comps[i])
        size[best] += n
    _cover_classes(comps, assign, ratios, sorted(class_n), notes)
    return assign


def _cover_classes(comps: list[Counter], assign: list[int], ratios: list[float],
                   classes: list[str], notes: list[str]) -> None:
    """Move groups into val/test until each holds every class, where possible."""
    def has(s: int, label: str) -> bool:
        return any(a == s and label in comps[i] for i, a in enumerate(assign))

    for s in (s for s in (1, 2) if ratios[s] > 0):
        for label in (c for c in classes if not has(s, c)):
            for donor in (0, 3 - s):
                held = Counter(k for i, a in enumerate(assign) if a == donor for k in comps[i])
                movable = [i for i, a in enumerate(assign)
                           if a == donor and label in comps[i] and all(held[k] > 1 for k in comps[i])]
                if movable:
                    assign[min(movable, key=lambda j: (sum(comps[j].values()), -comps[j][label], j))] = s
                    break
        train = [i for i, a in enumerate(assign) if a == 0]
        if s not in assign and len(train) > 1:  # a class short beats no val/test
            assign[min(train, key=lambda j: (sum(comps[j].values()), j))] = s
    for s in (s for s in range(len(SPLITS)) if ratios[s] > 0):
        missing = [c for c in classes if not has(s, c)]
        if missing:
            notes.append(f"The {SPLITS[s]} split has no images of {', '.join(map(repr, missing))}: "
                         "too few patients (or images) of that class to put one in every split.")


def _to_split(groups: list[list[ImageRecord]], assign: list[int], **kw: Any) -> Split:
    return Split(assignments={r.path: SPLITS[a] for g, a in zip(groups, assign) for r in g}, **kw)


def make_split(catalog: Catalog, config: SplitConfig, seed: int) -> Split:
    """Split ``catalog`` into train/val/test as ``config`` asks; deterministic per seed."""
    if config.file:
        split = Split.load(config.file)
        missing = split.unassigned(catalog)
        if missing:
            raise DataError(f"{config.file} does not cover {len(missing)} images of this dataset "
                            f"(first: {missing[0]}). Make a new split instead of reusing this one.")
        return split
    if config.k_folds and config.k_folds > 1:
        folds = kfold_splits(catalog, config, seed)
        if not 0 <= config.fold < len(folds):
            raise ConfigError(f"Fold {config.fold} does not exist; choose 0 to {len(folds) - 1}.")
        return folds[config.fold]
    ratios = _checked_ratios(catalog, config)
    notes: list[str] = []
    mode = _resolve_mode(catalog, config, notes)
    if mode == "preassigned":
        return _preassigned(catalog, ratios, seed)
    groups = _groups(catalog.records, mode == "patient")
    assign = _assign(groups, ratios, random.Random(seed), notes)
    return _to_split(groups, assign, mode=mode, seed=seed, ratios=ratios, notes=notes)


def split_with_audit(catalog: Catalog, config: SplitConfig, seed: int, *, phash_threshold: int = 6,
                     progress: Any = None, cancel: Any = None, loader: Any = None) -> Split:
    """:func:`make_split`, then :func:`engine.data.audit.audit_split` into ``split.audit``."""
    from engine.data.audit import audit_split
    from engine.jobs import null_progress

    split = make_split(catalog, config, seed)
    split.audit = audit_split(catalog, split, phash_threshold=phash_threshold,
                              progress=progress or null_progress, cancel=cancel, loader=loader)
    return split


def kfold_splits(catalog: Catalog, config: SplitConfig, seed: int) -> list[Split]:
    """All ``config.k_folds`` splits: fold i is the test set of split i.

    Test folds partition the data and never share a patient (patient mode);
    val is carved out of the other folds with the val ratio, also grouped.
    """
    from sklearn.model_selection import StratifiedGroupKFold

    k = int(config.k_folds or 0)
    if k < 2:
        raise ConfigError(f"k-fold cross-validation needs k_folds >= 2, got {config.k_folds}.")
    ratios = _checked_ratios(catalog, config)
    notes: list[str] = []
    mode = _resolve_mode(catalog, config, notes, allow_preassigned=False)
    groups = _groups(catalog.records, mode == "patient")
    unit = "patients" if mode == "patient" else "images"
    if len(groups) < k:
        raise ConfigError(f"{k}-fold cross-validation needs at least {k} {unit}; the dataset "
                          f"has {len(groups)}. Lower k_folds.")
    labels = [r.label for g in groups for r in g]
    group_ids = [i for i, g in enumerate(groups) for _ in g]
    cv = StratifiedGroupKFold(n_splits=k, shuffle=True, random_state=seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # "least populated class" on small sets
        folds = [{group_ids[j] for j in test} for _, test in cv.split(labels, labels, group_ids)]
    if any(not f for f in folds):
        raise DataError(f"Could not make {k} non-empty folds from {len(groups)} {unit}; lower k_folds.")
    val_share = ratios[1] / (ratios[0] + ratios[1])
    out = []
    for fold, test_groups in enumerate(folds):
        fold_notes = list(notes)
        rest = [g for i, g in enumerate(groups) if i not in test_groups]
        assign = _assign(rest, [1 - val_share, val_share, 0.0], random.Random(seed * 1000 + fold), fold_notes)
        split = _to_split(rest, assign, mode=mode, seed=seed, ratios=ratios, k_folds=k, fold=fold,
                          notes=fold_notes)
        split.assignments.update({r.path: "test" for i in test_groups for r in groups[i]})
        out.append(split)
    return out


def _preassigned(catalog: Catalog, ratios: list[float], seed: int) -> Split:
    """Honour the split column given by the source (CSV); carve val out of train if absent."""
    bad = [r for r in catalog.records if _ALIASES.get(str(r.split or "").strip().lower()) is None]
    if bad:
        raise ConfigError(
            f"{len(bad)} images have no valid split value (first: {bad[0].path}: {bad[0].split!r}). "
            "Give every row train, val or test in the split column, or set the split mode to "
            "'patient' or 'image' to ignore that column.")
    assignments = {r.path: _ALIASES[r.split.strip().lower()] for r in catalog.records}
    notes = ["Using the split given by the dataset."]
    if ratios[1] > 0 and "val" not in assignments.values():
        train = [r for r in catalog.records if assignments[r.path] == "train"]
        groups = _groups(train, catalog.has_patients)
        share = ratios[1] / (ratios[0] + ratios[1])
        assign = _assign(groups, [1 - share, share, 0.0], random.Random(seed), notes)
        assignments.update(_to_split(groups, assign).assignments)
        notes.append(f"The dataset gives no validation images; {share:.0%} of its training "
                     "images were set aside for validation.")
    pairs = {(r.patient, assignments[r.path]) for r in catalog.records}
    disjoint = catalog.has_patients and len(pairs) == len({p for p, _ in pairs})
    return Split(assignments=assignments, mode="patient" if disjoint else "image", seed=seed,
                 ratios=ratios, notes=notes)
