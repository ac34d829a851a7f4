"""Train / val / test splits: patient-grouped, stratified and reproducible.

Patient-level is the default whenever every image has a patient id (image-level
splits leak patients into test; methods.md, "Protocol pitfalls"), even when
the dataset brings its own train/test folders or split column: that split is
used only with the explicit mode "dataset" (or when no patient ids are known).
BreaKHis images are grouped by case (``split.group_by="case"``: the slides of
one biopsy number, e.g. 22549AB and 22549CD, stay together) or by slide id.
Groups go, largest first (ties in seeded random order), to the split whose
image count and class mix they bring closest to the ratios; val and test are
then topped up to hold every class where the data allow. ``k_folds > 1``
gives grouped stratified cross-validation (sklearn's ``StratifiedGroupKFold``),
val carved from the rest. The split has its own seed (``split.seed``), apart
from the initialisation seed. Degenerate splits are never silent: an empty
test split is a :class:`DataError` unless ``split.allow_no_test``; an empty
val split and missing classes are listed in ``Split.notes``.
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
from engine.options import SplitName, literal_values
from engine.schema import check_value
from engine.training.config import SplitConfig, SplitRatios

SPLITS = literal_values(SplitName)
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
    source: str = "made"            # "made" here, or "dataset": the dataset's own train/val/test
    group_by: str = "patient"       # what one split keeps whole: "case" or "slide" (BreaKHis), "patient", "image"

    def describe(self) -> str:
        """One line saying how the split was made, e.g. ``patient-level (grouped by case), seed 0``."""
        if self.source == "dataset":
            what = f"the dataset's own train/val/test split ({self.mode}-level)"
        elif self.mode == "patient":
            what = f"patient-level (grouped by {self.group_by})"
        else:
            what = "image-level"
        folds = f", fold {self.fold} of {self.k_folds}" if self.k_folds else ""
        return f"{what}, seed {self.seed}{folds}"

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

    def to_dict(self) -> dict[str, Any]:
        """The content of ``split.json``."""
        return {"version": 1, **asdict(self)}

    def save(self, path: str | Path) -> None:
        """Write the split to ``path`` (``split.json``) atomically."""
        write_json(path, self.to_dict())

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
    """Train/val/test ratios checked by the schema's rule (:data:`~engine.training.config.SplitRatios`:
    3 numbers >= 0 summing to 1, train > 0); ConfigError naming ``split.ratios``."""
    return check_value(SplitRatios, ratios, "split.ratios")


def _checked_ratios(catalog: Catalog, config: SplitConfig) -> list[float]:
    if not catalog.records:
        raise DataError("The dataset has no images to split; import a dataset first.")
    return validate_ratios(config.ratios)


def _resolve_mode(catalog: Catalog, config: SplitConfig, notes: list[str], *,
                  allow_preassigned: bool = True) -> str:
    """The effective mode: "patient", "image" or "dataset" (the dataset's own split)."""
    mode = config.mode  # one of the SplitConfig.mode choices: the schema refused anything else
    own = any(r.split for r in catalog.records)
    if mode == "dataset":
        if not allow_preassigned:
            raise ConfigError("Split mode 'dataset' cannot be combined with k-fold cross-validation (k_folds makes "
                              "its own folds); use mode 'auto' or 'patient', or set k_folds to 0.")
        if not own:
            raise ConfigError("Split mode 'dataset' needs the dataset's own split (train/, val/, test/ folders or "
                              "a CSV split column), and this dataset has none; use mode 'auto'.")
        return "dataset"
    if mode == "patient" and not catalog.has_patients:
        missing = sum(1 for r in catalog.records if not r.patient)
        raise ConfigError(
            f"A patient-level split needs a patient id for every image, but {missing} of "
            f"{len(catalog.records)} images have none. Use an importer or CSV that gives patient "
            "ids, or set the split mode to 'image' (images of one patient may then end up in "
            "both train and test).")
    if mode != "auto":
        return mode
    if catalog.has_patients:
        if own:
            notes.append("The dataset's own train/val/test split (folders or split column) was not used: patient "
                         "ids are known, so a patient-level split was made instead (the dataset's split may put "
                         "one patient in several splits). Set the split mode to 'dataset' to use it anyway.")
        return "patient"
    if own and allow_preassigned:
        return "dataset"
    if own:
        notes.append("The dataset's own split column is ignored for k-fold cross-validation.")
    notes.append("Not every image has a patient id, so the split is image-level: images "
                 "of one patient may appear in several splits and inflate test scores.")
    return "image"


def group_key(record: ImageRecord, group_by: str) -> str:
    """The group ``record`` belongs to: its BreaKHis case (``group_by="case"``, when the name gives one) or patient."""
    if group_by == "case":
        from engine.data.importers.breakhis import breakhis_case

        return breakhis_case(record.path) or record.patient or record.path
    return record.patient or record.path


def _grouping(records: list[ImageRecord], mode: str, config: SplitConfig) -> str:
    """What a group is: "image" (image-level), "case" or "slide" (BreaKHis names, as ``group_by`` says) or
    "patient" (other datasets)."""
    if mode != "patient":
        return "image"
    if any(group_key(r, "case") != r.patient for r in records):
        return config.group_by
    return "patient"


def _groups(records: list[ImageRecord], by: str) -> list[list[ImageRecord]]:
    """Records grouped by ``by`` ("case", "patient" or "image": one group per image), in catalog order."""
    if by == "image":
        return [[r] for r in records]
    groups: dict[str, list[ImageRecord]] = defaultdict(list)
    for r in records:
        groups[group_key(r, by)].append(r)
    return list(groups.values())


def _assign(groups: list[list[ImageRecord]], ratios: list[float], rng: random.Random) -> list[int]:
    """Split index (0 train, 1 val, 2 test) for every group; stratified greedy."""
    comps = [Counter(r.label for r in g) for g in groups]
    class_n = Counter(r.label for g in groups for r in g)
    total = sum(class_n.values())
    cur: list[Counter[str]] = [Counter() for _ in SPLITS]
    size = [0] * len(SPLITS)
    order = sorted(rng.sample(range(len(groups)), len(groups)), key=lambda i: -len(groups[i]))
    assign = [0] * len(groups)
    for i in order:
        n = len(groups[i])

        def cost(s: int, i: int = i, n: int = n) -> float:  # min() calls it in this iteration: bind i, n
            c = sum(k * (2 * (cur[s][lab] - ratios[s] * class_n[lab]) + k) / class_n[lab] ** 2
                    for lab, k in comps[i].items())
            return c + n * (2 * (size[s] - ratios[s] * total) + n) / total ** 2

        best = min((s for s in range(len(SPLITS)) if ratios[s] > 0), key=cost)
        assign[i] = best
        cur[best].update(comps[i])
        size[best] += n
    _cover_classes(comps, assign, ratios, sorted(class_n))
    return assign


def _cover_classes(comps: list[Counter], assign: list[int], ratios: list[float], classes: list[str]) -> None:
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


def _to_split(groups: list[list[ImageRecord]], assign: list[int], **kw: Any) -> Split:
    return Split(assignments={r.path: SPLITS[a] for g, a in zip(groups, assign) for r in g}, **kw)


def check_split(split: Split, catalog: Catalog, config: SplitConfig) -> Split:
    """Refuse an empty test split (unless ``allow_no_test``) and note an empty val split, classes missing from
    a split, one class in train and (group_by slide) BreaKHis cases straddling splits; returns ``split``."""
    counts = split.counts(catalog)
    sizes = {s: sum(counts[s].values()) for s in SPLITS}
    if sizes["test"] == 0 and not config.allow_no_test:
        by = split.group_by if split.mode == "patient" else "image"
        if split.source == "made" and split.ratios[2] == 0:
            why, fix = "the test ratio is 0", "give the test split a ratio above 0"
        elif split.source == "dataset":
            why, fix = "the dataset gives no test images", "use split mode 'auto' or 'patient'"
        else:
            why = (f"{len(_groups(catalog.records, by))} {by}s are too few for train, validation and test splits "
                   "that share none of them")
            fix = "add data, use k-fold cross-validation (k_folds) or an image-level split (split mode 'image')"
        raise DataError(f"The split has no test images: {why}, so no test figures could be reported. To fix it, "
                        f"{fix}, or set split.allow_no_test to train without a test set.")

    def note(text: str) -> None:
        if text not in split.notes:
            split.notes.append(text)

    if sizes["test"] == 0:
        note("The test split is empty, so no test figures can be reported (training refuses such a split unless "
             "split.allow_no_test is set).")
    if sizes["val"] == 0:
        note("The val split is empty: early stopping, plateau schedules and restoring the best epoch cannot "
             "watch a validation metric in this run.")
    classes = catalog.classes
    for s in (s for s in SPLITS if sizes[s] and len(classes) > 1):
        missing = [c for c in classes if not counts[s][c]]
        if s == "train" and len(missing) == len(classes) - 1:
            note(f"The train split holds only the class {[c for c in classes if c not in missing][0]!r}: a "
                 "classifier cannot learn to tell the classes apart from it.")
        elif missing:
            note(f"The {s} split has no images of {', '.join(map(repr, missing))}: too few patients (or images) "
                 "of that class to put one in every split.")
    if split.mode == "patient" and split.group_by == "slide":
        straddling = _straddling_cases(catalog, split)
        if straddling:
            note(f"{len(straddling)} BreaKHis case(s) have slides in more than one split (e.g. {straddling[0]}): "
                 "slides of one patient are on both sides. Set split.group_by to 'case' to keep them together.")
    return split


def _straddling_cases(catalog: Catalog, split: Split) -> list[str]:
    """BreaKHis cases whose images are in more than one split."""
    where: dict[str, set[str]] = defaultdict(set)
    for r in catalog.records:
        if r.path in split.assignments:
            where[group_key(r, "case")].add(split.assignments[r.path])
    return sorted(c for c, s in where.items() if len(s) > 1)


def make_split(catalog: Catalog, config: SplitConfig, seed: int | None = None) -> Split:
    """Split ``catalog`` into train/val/test as ``config`` asks; deterministic per seed (default ``config.seed``)."""
    seed = config.seed if seed is None else seed
    if config.file:
        split = Split.load(config.file)
        missing = split.unassigned(catalog)
        if missing:
            raise DataError(f"{config.file} does not cover {len(missing)} images of this dataset "
                            f"(first: {missing[0]}). Make a new split instead of reusing this one.")
        return check_split(split, catalog, config)
    if config.k_folds and config.k_folds > 1:
        folds = kfold_splits(catalog, config, seed)
        if not 0 <= config.fold < len(folds):
            raise ConfigError(f"Fold {config.fold} does not exist; choose 0 to {len(folds) - 1}.")
        return folds[config.fold]
    ratios = _checked_ratios(catalog, config)
    notes: list[str] = []
    mode = _resolve_mode(catalog, config, notes)
    if mode == "dataset":
        return check_split(_preassigned(catalog, ratios, seed, config, notes), catalog, config)
    by = _grouping(catalog.records, mode, config)
    groups = _groups(catalog.records, by)
    assign = _assign(groups, ratios, random.Random(seed))
    split = _to_split(groups, assign, mode=mode, seed=seed, ratios=ratios, notes=notes, group_by=by)
    return check_split(split, catalog, config)


def kfold_splits(catalog: Catalog, config: SplitConfig, seed: int | None = None) -> list[Split]:
    """All ``config.k_folds`` splits: fold i is the test set of split i (seed default ``config.seed``).

    Test folds partition the data and never share a group (patient mode);
    val is carved out of the other folds with the val ratio, also grouped.
    """
    from sklearn.model_selection import StratifiedGroupKFold

    seed = config.seed if seed is None else seed
    k = int(config.k_folds or 0)
    if k < 2:
        raise ConfigError(f"k-fold cross-validation needs k_folds >= 2, got {config.k_folds}.")
    ratios = _checked_ratios(catalog, config)
    notes: list[str] = []
    mode = _resolve_mode(catalog, config, notes, allow_preassigned=False)
    by = _grouping(catalog.records, mode, config)
    groups = _groups(catalog.records, by)
    unit = "images" if by == "image" else f"{by}s"
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
        rest = [g for i, g in enumerate(groups) if i not in test_groups]
        assign = _assign(rest, [1 - val_share, val_share, 0.0], random.Random(seed * 1000 + fold))
        split = _to_split(rest, assign, mode=mode, seed=seed, ratios=ratios, k_folds=k, fold=fold,
                          notes=list(notes), group_by=by)
        split.assignments.update({r.path: "test" for i in test_groups for r in groups[i]})
        out.append(check_split(split, catalog, config))
    return out


def _preassigned(catalog: Catalog, ratios: list[float], seed: int, config: SplitConfig, notes: list[str]) -> Split:
    """Honour the split given by the dataset (folders or CSV column); carve val out of train if absent."""
    bad = [r for r in catalog.records if _ALIASES.get(str(r.split or "").strip().lower()) is None]
    if bad:
        raise ConfigError(
            f"{len(bad)} images have no valid split value (first: {bad[0].path}: {bad[0].split!r}). "
            "Give every row train, val or test in the split column, or set the split mode to "
            "'patient' or 'image' to ignore that column.")
    assignments = {r.path: _ALIASES[str(r.split or "").strip().lower()] for r in catalog.records}
    notes.append("Using the dataset's own train/val/test split" + (
        " (split mode 'dataset')." if config.mode == "dataset" else
        ": no patient ids are known, so no patient-level split could be made."))
    by = _grouping(catalog.records, "patient", config) if catalog.has_patients else "image"
    if ratios[1] > 0 and "val" not in assignments.values():
        train = [r for r in catalog.records if assignments[r.path] == "train"]
        share = ratios[1] / (ratios[0] + ratios[1])
        groups = _groups(train, by)
        assignments.update(_to_split(groups, _assign(groups, [1 - share, share, 0.0], random.Random(seed))).assignments)
        notes.append(f"The dataset gives no validation images; {share:.0%} of its training "
                     "images were set aside for validation.")
    owners: dict[str, set[str]] = defaultdict(set)
    for r in catalog.records:
        owners[group_key(r, by)].add(assignments[r.path])
    disjoint = by != "image" and all(len(s) == 1 for s in owners.values())
    return Split(assignments=assignments, mode="patient" if disjoint else "image", seed=seed, ratios=ratios,
                 notes=notes, source="dataset", group_by=by if disjoint else "image")
