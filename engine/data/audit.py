"""Leakage audit of a split: shared patients, exact and near-duplicate images.

Three ways test images leak into training: one patient in two splits, the
same file twice (same SHA-1) and the same picture saved again (re-encoded,
brightened, renamed). The last is caught with a perceptual hash: the DCT
pHash (Zauner, "Implementation and Benchmarking of Perceptual Image Hash
Functions", 2010): grey 32x32 -> 2-D DCT -> the 8x8 lowest frequencies ->
one bit per coefficient above their median = 64 bits. Two images whose hashes
differ in at most ``phash_threshold`` bits are near duplicates. Pairs are
compared across splits only, in chunks, with a vectorised popcount.
"""

from __future__ import annotations

from collections import defaultdict
from itertools import combinations
from typing import Any, Protocol

import cv2
import numpy as np

from engine.data.cache import map_with_progress
from engine.data.catalog import Catalog, ImageRecord
from engine.data.splits import SPLITS, Split, make_split
from engine.jobs import CancelToken, ProgressFn, null_progress
from engine.training.config import SplitConfig

_HASHES: dict[tuple[str, str], int] = {}  # (record key, source) -> pHash, this process
_MAX_HASHES = 1_000_000                    # ~100 MB at most; cleared beyond
_CHUNK_PAIRS = 4_000_000                   # pairs compared per numpy step (~32 MB)


class _Loader(Protocol):
    def load(self, record: ImageRecord) -> np.ndarray:
        """uint8 image of ``record`` (e.g. ImageCache.load)."""


def phash(image: np.ndarray) -> int:
    """64-bit DCT perceptual hash of an RGB (H x W x 3) or grey (H x W) uint8 image."""
    grey = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY) if image.ndim == 3 else image
    small = cv2.resize(grey, (32, 32), interpolation=cv2.INTER_AREA).astype(np.float32)
    low = cv2.dct(small)[:8, :8]
    bits = np.packbits((low > np.median(low)).ravel())
    return int.from_bytes(bits.tobytes(), "big")


def popcount64(x: np.ndarray) -> np.ndarray:
    """Number of set bits of each uint64 in ``x``."""
    if hasattr(np, "bitwise_count"):  # numpy >= 2.0
        return np.bitwise_count(x)
    table = np.array([bin(i).count("1") for i in range(256)], dtype=np.uint8)
    return table[x[..., None].view(np.uint8)].sum(axis=-1)


def hamming(a: int, b: int) -> int:
    """Number of differing bits between two 64-bit hashes."""
    return (a ^ b).bit_count()


def _source_tag(loader: _Loader | None) -> str:
    if loader is None:
        return "source"
    return f"{type(loader).__name__}-{getattr(loader, 'resize', '')}-{getattr(loader, 'keep_aspect', '')}"


def hash_records(records: list[ImageRecord], *, loader: _Loader | None = None,
                 progress: ProgressFn = null_progress, cancel: CancelToken | None = None,
                 workers: int = 2) -> dict[str, int | Exception]:
    """pHash of each record (by path), or the exception its image raised.

    With ``loader`` (e.g. an :class:`~engine.data.cache.ImageCache`) images
    come from it instead of the source files. Hashes are remembered in
    memory per content hash, so a second audit does not decode again.
    """
    tag = _source_tag(loader)

    def one(record: ImageRecord) -> int:
        key = (record.key or f"{record.path}#{record.page}", tag)
        h = _HASHES.get(key)
        if h is None:
            if loader is not None:
                image = loader.load(record)
            else:
                from engine.data.imageio import read_image

                image = read_image(record.path, page=record.page)
            if len(_HASHES) >= _MAX_HASHES:
                _HASHES.clear()
            h = _HASHES[key] = phash(image)
        return h

    results = map_with_progress(one, records, stage="audit", progress=progress, cancel=cancel,
                                workers=workers, message="Hashing images for the leakage audit")
    return {r.path: h for r, h in zip(records, results)}


def _near_duplicates(hashes: dict[str, list[tuple[ImageRecord, int]]], threshold: int,
                     cancel: CancelToken | None, max_pairs: int) -> tuple[list[dict[str, Any]], int]:
    """The closest ``max_pairs`` cross-split pairs within ``threshold`` bits, and how many in all."""
    key_ids: dict[str, int] = {}

    def ids(items: list[tuple[ImageRecord, int]]) -> np.ndarray:  # same content -> same id; -1: unknown
        return np.array([key_ids.setdefault(r.key, len(key_ids)) if r.sha1 else -1 for r, _ in items])

    pairs: list[dict[str, Any]] = []
    count = 0
    for sa, sb in combinations(SPLITS, 2):
        a, b = hashes.get(sa, []), hashes.get(sb, [])
        if not a or not b:
            continue
        ha = np.array([h for _, h in a], dtype=np.uint64)
        hb = np.array([h for _, h in b], dtype=np.uint64)
        ka, kb = ids(a), ids(b)
        rows = max(1, _CHUNK_PAIRS // len(hb))
        for start in range(0, len(ha), rows):
            if cancel is not None:
                cancel.raise_if_cancelled()
            dist = popcount64(ha[start:start + rows, None] ^ hb[None, :])
            same = (ka[start:start + rows, None] == kb[None, :]) & (kb[None, :] >= 0)
            ii, jj = np.nonzero((dist <= threshold) & ~same)  # exact copies are reported apart
            count += len(ii)
            d = dist[ii, jj]
            keep = np.argsort(d, kind="stable")[:max_pairs]
            pairs += [{"a": a[start + ii[k]][0].path, "b": b[jj[k]][0].path, "splits": [sa, sb],
                       "distance": int(d[k])} for k in keep]
            pairs.sort(key=lambda p: (p["distance"], p["a"], p["b"]))
            del pairs[max_pairs:]
    return pairs, count


def _patient_overlap(catalog: Catalog, split: Split) -> list[dict[str, Any]]:
    owners: dict[str, set[str]] = defaultdict(set)
    for r in catalog.records:
        if r.patient and r.path in split.assignments:
            owners[r.patient].add(split.assignments[r.path])
    return [{"patient": p, "splits": [s for s in SPLITS if s in owners[p]]}
            for p in sorted(owners) if len(owners[p]) > 1]


def _exact_duplicates(catalog: Catalog, split: Split) -> list[dict[str, Any]]:
    by_key: dict[str, list[ImageRecord]] = defaultdict(list)
    for r in catalog.records:
        if r.sha1 and r.path in split.assignments:
            by_key[r.key].append(r)
    out = []
    for _key, recs in sorted(by_key.items()):
        splits = {split.assignments[r.path] for r in recs}
        if len(splits) > 1:
            out.append({"sha1": recs[0].sha1, "paths": sorted(r.path for r in recs),
                        "splits": [s for s in SPLITS if s in splits]})
    return out


def audit_split(catalog: Catalog, split: Split, *, phash_threshold: int = 6,
                progress: ProgressFn = null_progress, cancel: CancelToken | None = None,
                loader: _Loader | None = None, max_pairs: int = 1000) -> dict[str, Any]:
    """Check ``split`` for leakage between its train, val and test images.

    Returns ``mode``, ``ok``, ``patient_overlap`` ([{patient, splits}]),
    ``exact_duplicates`` ([{sha1, paths, splits}]), ``near_duplicates``
    ([{a, b, splits, distance}], at most ``max_pairs``, closest first),
    ``near_duplicate_count``, ``unreadable`` (paths), ``phash_threshold``,
    ``images_checked`` and a one-line ``message``.
    """
    records = [r for r in catalog.records if r.path in split.assignments]
    hashes = hash_records(records, loader=loader, progress=progress, cancel=cancel)
    by_split: dict[str, list[tuple[ImageRecord, int]]] = defaultdict(list)
    unreadable = []
    for r in records:
        h = hashes[r.path]
        if isinstance(h, Exception):
            unreadable.append(r.path)
        else:
            by_split[split.assignments[r.path]].append((r, h))
    near, n_near = _near_duplicates(by_split, int(phash_threshold), cancel, max_pairs)
    overlap = _patient_overlap(catalog, split)
    exact = _exact_duplicates(catalog, split)
    ok = not (n_near or overlap or exact)
    problems = [f"{len(overlap)} patient(s) in more than one split" if overlap else "",
                f"{len(exact)} identical file(s) in more than one split" if exact else "",
                f"{n_near} near-duplicate pair(s) across splits" if n_near else ""]
    message = ("No leakage found between train, val and test." if ok else
               "Possible leakage: " + "; ".join(p for p in problems if p) + ".")
    return {"mode": split.mode, "ok": ok, "patient_overlap": overlap, "exact_duplicates": exact,
            "near_duplicates": near, "near_duplicate_count": n_near,
            "unreadable": unreadable, "phash_threshold": int(phash_threshold),
            "images_checked": len(records) - len(unreadable), "message": message}


def split_with_audit(catalog: Catalog, config: SplitConfig, seed: int | None = None, *, phash_threshold: int = 6,
                     progress: ProgressFn | None = None, cancel: CancelToken | None = None,
                     loader: _Loader | None = None) -> Split:
    """:func:`~engine.data.splits.make_split`, then :func:`audit_split` into ``split.audit``.

    It lives here, not in :mod:`engine.data.splits`, so the audit depends on the splits and not the
    other way round (the two modules imported each other).
    """
    split = make_split(catalog, config, seed)
    split.audit = audit_split(catalog, split, phash_threshold=phash_threshold,
                              progress=progress or null_progress, cancel=cancel, loader=loader)
    return split
