"""Decode once: images cached on disk at training resolution.

Decoding a 700x460 PNG or a 2048x1536 TIFF costs milliseconds; loading the
resized array back from a ``.npy`` costs tens of microseconds. The cache keys
each file by its content hash (``record.key``), the resize and the aspect
mode, so later epochs, later runs and other datasets holding the same file
never decode it again, and an edited file gets a new key. Writes are atomic
(temp file + ``os.replace``); a damaged entry is detected, dropped and
rebuilt. :class:`DirectLoader` is the same interface without a cache (the
benchmark baseline and the ``data.cache: false`` path).
"""

from __future__ import annotations

import contextvars
import hashlib
import logging
import os
import tempfile
import threading
import time
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

import cv2
import numpy as np

from engine.data.catalog import ImageRecord
from engine.errors import CancelledError, ConfigError, ImageReadError
from engine.io_utils import PATH_ERRORS, display_path
from engine.jobs import CancelToken, EtaEstimator, Progress, ProgressFn, null_progress
from engine.paths import cache_dir

log = logging.getLogger(__name__)


def resize_image(image: np.ndarray, size: int, keep_aspect: bool = False) -> np.ndarray:
    """Resize to ``size`` x ``size`` (or shorter side = ``size``) with INTER_AREA."""
    h, w = image.shape[:2]
    if keep_aspect:
        scale = size / min(h, w)
        new_w, new_h = (size, max(size, round(h * scale))) if w <= h else (max(size, round(w * scale)), size)
    else:
        new_w = new_h = size
    if (new_w, new_h) == (w, h):
        return np.ascontiguousarray(image)
    return cv2.resize(image, (new_w, new_h), interpolation=cv2.INTER_AREA)


def map_with_progress(fn: Callable[[Any], Any], items: Sequence[Any], *, stage: str,
                      progress: ProgressFn = null_progress, cancel: CancelToken | None = None,
                      workers: int = 2, message: str = "") -> list[Any]:
    """Apply ``fn`` to ``items`` on a small thread pool; results in item order.

    An exception raised by ``fn`` is returned in place of its result, so one
    bad file does not stop the batch. Progress events (with an ETA) are sent
    from the calling thread, at most ten a second; ``cancel`` is checked as
    results come in and raises :class:`CancelledError`. ``fn`` runs in a copy
    of the caller's context, so what it logs reaches the caller's job log.
    """
    total = len(items)
    results: list[Any] = [None] * total
    eta = EtaEstimator(total)
    progress(Progress(stage, 0, total, message))
    pending: dict[Any, int] = {}
    next_item, done, last_emit = 0, 0, 0.0
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        while next_item < total or pending:
            if cancel is not None and cancel.cancelled:
                for fut in pending:
                    fut.cancel()
                raise CancelledError("The job was cancelled.")
            while next_item < total and len(pending) < 4 * max(1, workers):
                # in a copy of the caller's context: what fn logs belongs to the caller's job (engine.logs)
                pending[pool.submit(contextvars.copy_context().run, fn, items[next_item])] = next_item
                next_item += 1
            finished, _ = wait(pending, timeout=0.5, return_when=FIRST_COMPLETED)
            for fut in finished:
                index = pending.pop(fut)
                try:
                    results[index] = fut.result()
                except Exception as exc:  # noqa: BLE001 - reported to the caller per item
                    results[index] = exc
                done += 1
            now = time.monotonic()
            if finished and (now - last_emit >= 0.1 or done == total):
                last_emit = now
                progress(Progress(stage, done, total, message, eta_s=eta.eta(done)))
    return results


def _check_size(resize: int) -> int:
    if not isinstance(resize, (int, np.integer)) or resize < 8:
        raise ConfigError(f"Image resize must be a whole number of pixels >= 8, got {resize!r}.")
    return int(resize)


class DirectLoader:
    """Decodes and resizes the source file on every call (no cache)."""

    def __init__(self, resize: int, keep_aspect: bool = False):
        self.resize = _check_size(resize)
        self.keep_aspect = bool(keep_aspect)

    def load(self, record: ImageRecord) -> np.ndarray:
        """The record's image as uint8 H x W x 3 RGB at the loader's size."""
        from engine.data.imageio import read_image

        return resize_image(read_image(record.path, page=record.page), self.resize, self.keep_aspect)


@dataclass
class CacheStats:
    """Cache hits and misses counted by one :class:`ImageCache` (per process)."""

    hits: int = 0
    misses: int = 0


class ImageCache:
    """Disk cache of resized images, keyed by content hash, size and aspect mode."""

    def __init__(self, root: Path | str | None = None, *, resize: int, keep_aspect: bool = False):
        self.root = Path(root) if root is not None else cache_dir()
        self._direct = DirectLoader(resize, keep_aspect)
        self.resize, self.keep_aspect = self._direct.resize, self._direct.keep_aspect
        self.stats = CacheStats()
        self._lock = threading.Lock()
        self._write_failed = False

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        del state["_lock"]  # locks do not pickle (DataLoader workers with spawn)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._lock = threading.Lock()

    def path_for(self, record: ImageRecord) -> Path:
        """The cache file of ``record`` at this cache's size and aspect mode."""
        key = record.key
        if not key:  # no content hash: fall back on path, size and modification time
            try:
                st = os.stat(record.path)
            except OSError as exc:
                raise ImageReadError(f"Cannot read {display_path(record.path)}: {exc.strerror or exc}. Check that "
                                     "the file still exists, or re-import the dataset.") from exc
            ident = f"{os.path.abspath(record.path)}|{st.st_size}|{st.st_mtime_ns}|{record.page}"
            key = "p" + hashlib.sha1(ident.encode("utf-8", PATH_ERRORS)).hexdigest()
        flag = "aspect" if self.keep_aspect else "square"
        return self.root / key[:2] / f"{key}-{self.resize}-{flag}.npy"

    def contains(self, record: ImageRecord) -> bool:
        """True when ``record`` is already cached at this size."""
        return self.path_for(record).is_file()

    def load(self, record: ImageRecord) -> np.ndarray:
        """The resized image, from the cache when present, else decoded and stored."""
        path = self.path_for(record)
        image = self._read(path)
        if image is not None:
            self._count(hit=True)
            return image
        image = self._direct.load(record)
        self._write(path, image)
        self._count(hit=False)
        return image

    def warm(self, records: Sequence[ImageRecord], progress: ProgressFn = null_progress,
             cancel: CancelToken | None = None, *, workers: int = 2) -> dict[str, Any]:
        """Cache every record not cached yet, ahead of training (stage "cache").

        Returns counts and the files that could not be decoded, each with
        the reason, so the caller can list them instead of failing mid-epoch.
        """
        todo: dict[Path, ImageRecord] = {}
        failed = []
        for r in records:
            try:
                path = self.path_for(r)
            except ImageReadError as exc:
                failed.append({"path": r.path, "reason": str(exc)})
                continue
            if path not in todo and not path.is_file():
                todo[path] = r
        items = list(todo.values())
        results = map_with_progress(self.load, items, stage="cache", progress=progress,
                                    cancel=cancel, workers=workers,
                                    message=f"Caching images at {self.resize} px")
        decode_failed = [{"path": r.path, "reason": str(res)} for r, res in zip(items, results)
                         if isinstance(res, Exception)]
        return {"total": len(records), "already_cached": len(records) - len(items) - len(failed),
                "decoded": len(items) - len(decode_failed), "failed": failed + decode_failed}

    def _count(self, *, hit: bool) -> None:
        with self._lock:
            if hit:
                self.stats.hits += 1
            else:
                self.stats.misses += 1

    @staticmethod
    def _read(path: Path) -> np.ndarray | None:
        try:
            image = np.load(path, mmap_mode=None, allow_pickle=False)
        except FileNotFoundError:
            return None
        except (OSError, ValueError, EOFError):
            image = None
        if image is None or image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
            log.warning("Dropping damaged cache entry %s", path)
            try:
                path.unlink()
            except OSError:
                pass
            return None
        return image

    def _write(self, path: Path, image: np.ndarray) -> None:
        tmp = None
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}.", suffix=".tmp")
            with os.fdopen(fd, "wb") as fh:
                np.save(fh, image, allow_pickle=False)
            os.replace(tmp, path)
        except OSError as exc:  # a full or read-only disk slows training but must not stop it
            if tmp is not None and os.path.exists(tmp):
                os.unlink(tmp)
            if not self._write_failed:
                self._write_failed = True
                log.warning("Cannot write the image cache in %s (%s); images will be decoded "
                            "every epoch. Free disk space or choose another cache folder.", self.root, exc)
