"""Images of a run's own split, preprocessed for parity, calibration and accuracy checks."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from engine.deploy.spec import InputSpec
from engine.jobs import CancelToken


@dataclass
class SampleSet:
    """Preprocessed images (N x 3 x S x S float32), their class indices and where they came from."""

    x: np.ndarray
    y: np.ndarray | None
    source: str


def run_records(run, split: str):
    """Catalog records of ``run`` assigned to ``split`` (empty when catalog/split are missing)."""
    from engine.data.catalog import Catalog
    from engine.data.splits import Split

    cat_file, split_file = run.file("catalog.json"), run.file("split.json")
    if not (cat_file.exists() and split_file.exists()):
        return []
    catalog, assignment = Catalog.load(cat_file), Split.load(split_file).assignments
    return [r for r in catalog.records if assignment.get(r.path) == split]


def run_magnification(run) -> str | list[str] | None:
    """The magnification the run was trained on: one value, a sorted list, or None."""
    from engine.data.catalog import Catalog

    path = run.file("catalog.json")
    if not path.exists():
        return None
    mags = sorted({str(r.magnification) for r in Catalog.load(path).records if r.magnification})
    if not mags:
        return None
    return mags[0] if len(mags) == 1 else mags


def load_samples(records, spec: InputSpec, classes: list[str], source: str,
                 cancel: CancelToken | None = None) -> SampleSet | None:
    """The readable images of ``records``, preprocessed; None when none can be read."""
    xs, ys = [], []
    index = {c: i for i, c in enumerate(classes)}
    for rec in records:
        if cancel is not None:
            cancel.raise_if_cancelled()
        try:
            xs.append(spec.preprocess(spec.load(rec.path)))
        except Exception:  # noqa: BLE001 - a moved or damaged image is just left out
            continue
        ys.append(index.get(rec.label, -1))
    if not xs:
        return None
    return SampleSet(np.stack(xs), np.asarray(ys), f"{len(xs)} {source}")


def split_samples(run, spec: InputSpec, classes: list[str], split: str, limit: int | None,
                  cancel: CancelToken | None = None) -> SampleSet | None:
    """Up to ``limit`` readable images of ``split`` (evenly spread), or None when there are none."""
    records = run_records(run, split)
    if limit is not None and len(records) > limit:
        pick = np.linspace(0, len(records) - 1, limit).round().astype(int)
        records = [records[i] for i in sorted(set(pick.tolist()))]
    return load_samples(records, spec, classes, f"{split} images", cancel)


def split_batches(run, spec: InputSpec, classes: list[str], split: str, batch_size: int = 256,
                  cancel: CancelToken | None = None) -> Iterator[SampleSet]:
    """All readable images of ``split`` in batches of ``batch_size`` (memory stays bounded on large splits)."""
    records = run_records(run, split)
    for start in range(0, len(records), batch_size):
        batch = load_samples(records[start:start + batch_size], spec, classes, f"{split} images", cancel)
        if batch is not None:
            yield batch


def random_samples(spec: InputSpec, n: int, seed: int = 0) -> SampleSet:
    """``n`` random inputs in the normalised range (when the run's images are not available)."""
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, size=(n, spec.size, spec.size, 3), dtype=np.uint8)
    return SampleSet(np.stack([spec.normalise(im) for im in images]), None, f"{n} random images")
