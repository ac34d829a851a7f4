"""Where a batch classification writes, and its batch.json record.

A user's image folder is read-only to HistoDesk. By default each batch gets
its own folder under :func:`engine.paths.outputs_dir`::

    <data_home>/outputs/<YYYYmmdd-HHMMSS>-<model>-<folder>/
        .histodesk-output   marker (engine.data.outputs): importers never read this folder as data
        batch.json          model, folder, options, status, counts, started/finished (atomic, updated as it goes)
        predictions.csv     one row per image page, appended batch by batch (engine.evaluation.batch_csv)
        predictions.json    every row, written atomically when the batch ends
        heatmaps/           Grad-CAM overlays, written batch by batch (marked too)
        run.lock            the one process writing the batch, while it runs (engine/run_lock.py)

Another destination (``out``) is allowed, but one inside the source folder
needs ``allow_inside_source`` and existing results are replaced only with
``overwrite`` or continued with ``resume``. Batches written elsewhere are
remembered in ``outputs/elsewhere.jsonl`` so :func:`list_batches` finds them.
"""

from __future__ import annotations

import os
import re
import socket
import time
from datetime import datetime
from pathlib import Path

from engine.data.outputs import MARKED_HEATMAP_FOLDER, PACKAGE_SUFFIX
from engine.errors import ConfigError, with_step
from engine.evaluation.batch_csv import (append_text, check_plain_file, csv_fields, read_rows, rows_text)
from engine.io_utils import PATH_ERRORS, append_jsonl, atomic_write_text, display_path, read_jsonl, write_json
from engine.jobs import ProgressFn, null_progress
from engine.lifecycle import FolderLifecycle
from engine.run_lock import LOCK_NAME

CSV_NAME, JSON_NAME, BATCH_NAME = "predictions.csv", "predictions.json", "batch.json"
HEATMAPS_NAME = MARKED_HEATMAP_FOLDER
ELSEWHERE = "elsewhere.jsonl"
_UPDATE_EVERY_S = 1.0
_MATCHED_OPTIONS = ("tta", "variant", "recursive")  # a resumed batch must repeat these


def _now() -> str:
    return datetime.now().astimezone().isoformat(timespec="milliseconds")


def _slug(name: str, limit: int = 40) -> str:
    """A file-name-safe piece of ``name`` (ASCII letters, digits, ``._+-``)."""
    return re.sub(r"[^A-Za-z0-9._+-]+", "_", name).strip("._")[:limit] or "x"


def is_inside(path: str | os.PathLike, folder: str | os.PathLike) -> bool:
    """True when ``path`` is ``folder`` or lies under it (symlinks resolved)."""
    p, f = Path(os.path.realpath(path)), Path(os.path.realpath(folder))
    return p == f or f in p.parents


def default_out_dir(model: str | os.PathLike, folder: str | os.PathLike) -> Path:
    """A new, not yet existing ``outputs/<YYYYmmdd-HHMMSS>-<model>-<folder>`` folder."""
    from engine.paths import outputs_dir

    # Run ids start with a time: the model's name is what follows it.
    model_name = re.sub(r"^\d{8}-\d{6}-", "", Path(model).name.removesuffix(PACKAGE_SUFFIX))
    base = f"{time.strftime('%Y%m%d-%H%M%S')}-{_slug(model_name)}-{_slug(Path(os.path.realpath(folder)).name)}"
    root, n = outputs_dir(), 1
    candidate = root / base
    while os.path.lexists(candidate):
        n += 1
        candidate = root / f"{base}-{n}"
    return candidate


def existing_results(out_dir: str | os.PathLike) -> list[str]:
    """Names of the batch files already in ``out_dir`` (predictions.csv/.json, batch.json); [] when none."""
    return [name for name in (CSV_NAME, JSON_NAME, BATCH_NAME) if os.path.lexists(os.path.join(out_dir, name))]


def _read_doc(path: Path) -> dict | None:
    """The JSON object in ``path`` (None when missing, unreadable or not an object); never opens a non-regular
    file."""
    import json

    try:
        check_plain_file(path)
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, ConfigError):
        return None
    return doc if isinstance(doc, dict) else None


def read_batch(out_dir: str | os.PathLike) -> dict | None:
    """The batch.json of ``out_dir`` (None when missing or unreadable); never opens a non-regular file."""
    return _read_doc(Path(out_dir) / BATCH_NAME)


class BatchOutput:
    """One batch's folder: checked by :meth:`plan`, filled by :meth:`start`, :meth:`append` and :meth:`finish`."""

    def __init__(self, out_dir: Path, *, default: bool, resume: bool, overwrite: bool):
        self.dir, self.default, self.resume, self.overwrite = out_dir, default, resume, overwrite
        self.csv, self.json, self.batch = out_dir / CSV_NAME, out_dir / JSON_NAME, out_dir / BATCH_NAME
        self.heatmaps = out_dir / HEATMAPS_NAME
        self.doc: dict = {}
        self.fields: list[str] = []
        self._last_update = 0.0

    @classmethod
    def plan(cls, model, folder, options) -> "BatchOutput":
        """Check where ``options.out`` (or the default) points; raises ConfigError, writes nothing."""
        if options.out is None:
            if options.resume:
                raise ConfigError("predict.resume: name the batch folder to continue (--resume OUTDIR).")
            out = cls(default_out_dir(model, folder), default=True, resume=False, overwrite=False)
        else:
            out = cls(Path(options.out), default=False, resume=options.resume, overwrite=options.overwrite)
            if out.dir.suffix.lower() in (".csv", ".json") and not out.dir.is_dir():
                raise ConfigError(f"predict.out: {display_path(out.dir)} looks like a file name; --out names the "
                                  "folder that will hold predictions.csv, predictions.json and batch.json (e.g. "
                                  "--out results/).")
        if is_inside(out.dir, folder) and not options.allow_inside_source:
            raise ConfigError(f"The destination {display_path(out.dir)} is inside the folder being classified "
                              f"({display_path(folder)}); HistoDesk leaves source folders untouched. Choose another "
                              "destination (--out), or confirm with --allow-inside-source.")
        if os.path.lexists(out.dir) and not out.dir.is_dir():
            raise ConfigError(f"The destination {display_path(out.dir)} exists and is not a folder; choose a folder.")
        existing = existing_results(out.dir)
        if existing and not (options.overwrite or options.resume):
            raise ConfigError(f"{display_path(out.dir)} already holds results ({', '.join(existing)}); nothing was "
                              "overwritten. Use --resume to continue that batch, --overwrite to replace it, or "
                              "another --out.")
        if options.resume and not out.dir.is_dir():
            raise ConfigError(f"predict.resume: {display_path(out.dir)} does not exist, so there is no batch to "
                              "continue.")
        return out

    def start(self, doc: dict, classes: list[str]) -> list[dict]:
        """Create and mark the folder, write batch.json ("running") and the CSV header; returns rows kept from before.

        ``doc``: model, folder, options, backend, device... (stored in batch.json). On resume the rows already in
        predictions.csv are read back (a torn last record is dropped) and must come from the same model and options.
        """
        from engine.data.outputs import mark_output_folder

        self.fields = csv_fields(classes)
        created = not self.dir.exists() or not any(p.name != LOCK_NAME for p in self.dir.iterdir())
        if created or self.default:
            mark_output_folder(self.dir)
        previous = self._previous_rows(doc) if self.resume else []
        if self.overwrite and self.heatmaps.is_dir() and _is_ours(self.heatmaps):
            import shutil

            shutil.rmtree(self.heatmaps)
        old = read_batch(self.dir) if self.resume else None
        self.doc = {**doc, "classes": list(classes), "status": "running",
                    "started": (old or {}).get("started", _now()),
                    "resumed": _now() if self.resume else None, "finished": None, "error": None,
                    "pid": os.getpid(), "host": socket.gethostname(),
                    "counts": {"files": doc.get("files"), "files_done": 0, "rows": len(previous),
                               "resumed": len(previous),
                               "ok": sum(r["status"] == "ok" for r in previous),
                               "error": sum(r["status"] != "ok" for r in previous)},
                    "csv": str(self.csv), "json": str(self.json)}
        write_json(self.batch, self.doc)
        if not previous:
            atomic_write_text(self.csv, rows_text([], self.fields, header=True), errors=PATH_ERRORS)
        if not self.default and not self.resume and not is_inside(self.dir, _outputs_root()):
            append_jsonl(_outputs_root() / ELSEWHERE, {"out": str(self.dir)})
        return previous

    def _previous_rows(self, doc: dict) -> list[dict]:
        old = read_batch(self.dir) or {}
        for key, now in (("model", doc["model"]), ("folder", doc["folder"])):
            if old.get(key) and os.path.realpath(old[key]) != os.path.realpath(now):
                what = (f"{display_path(self.dir)} holds a batch of {key} {display_path(old[key])}, not "
                        f"{display_path(now)}: it cannot be continued with another one.")
                raise with_step(ConfigError(f"{what[:-1]}; use another destination or --overwrite."), what,
                                "overwrite_batch")
        for key in _MATCHED_OPTIONS:
            before, now = (old.get("options") or {}).get(key, doc["options"][key]), doc["options"][key]
            if before != now:
                what = f"{display_path(self.dir)} was classified with {key}={before!r}, not {now!r}."
                raise with_step(ConfigError(f"predict.{key}: {what[:-1]}; resume with the same setting, or use "
                                            "--overwrite."), what, "overwrite_batch")
        if not self.csv.exists():
            return []
        rows, torn = read_rows(self.csv, self.fields)
        if torn:  # rewrite without the cut-short record before appending after it
            atomic_write_text(self.csv, rows_text(rows, self.fields, header=True), errors=PATH_ERRORS)
        return rows

    def heatmap_dir(self) -> Path:
        """The heatmaps/ folder, created and marked as HistoDesk output on first use."""
        from engine.data.outputs import mark_output_folder

        return mark_output_folder(self.heatmaps)

    def append(self, rows: list[dict]) -> None:
        """Append finished rows to predictions.csv (flush + fsync)."""
        if rows:
            append_text(self.csv, rows_text(rows, self.fields))

    def update(self, force: bool = False, **counts) -> None:
        """Record progress counts in batch.json (at most once a second unless ``force``)."""
        self.doc["counts"].update(counts)
        now = time.monotonic()
        if force or now - self._last_update >= _UPDATE_EVERY_S:
            self._last_update = now
            write_json(self.batch, self.doc)

    def finish(self, status: str, *, rows: list[dict] | None = None, summary: dict | None = None,
               error: str | None = None) -> None:
        """Write predictions.json (``summary`` + ``rows``) when given, then batch.json with the final ``status``."""
        if rows is not None:
            write_json(self.json, {**(summary or {}), "rows": rows})
        self.doc.update(status=status, finished=_now(), error=error)
        write_json(self.batch, self.doc)

class BatchLifecycle(FolderLifecycle):
    """The lifecycle of a batch folder (:class:`engine.lifecycle.FolderLifecycle`): one process at a time
    (``run.lock`` while it runs), the final status in batch.json; no log of its own. A cancel is recorded and
    raised again (the caller says which rows are kept)."""

    swallow_cancel = False

    def __init__(self, output: BatchOutput, progress: ProgressFn = null_progress):
        super().__init__(output.dir, progress, "predict --resume" if output.resume else "predict")
        self.output = output

    def record_status(self, status: str, **fields) -> None:
        """batch.json's final status ("cancelled", "failed" with the one-line error), once the batch started."""
        if self.output.doc:  # best effort: the lifecycle ignores a second failure (a full disk)
            self.output.finish(status, error=fields.get("error"))


def _outputs_root() -> Path:
    from engine.paths import outputs_dir

    return outputs_dir()


def _is_ours(folder: Path) -> bool:
    from engine.data.outputs import is_marked_folder

    return is_marked_folder(folder) or is_marked_folder(folder.parent)


def _alive(doc: dict) -> bool:
    """Whether the process that wrote a "running" batch.json still runs (unknown elsewhere: assume so)."""
    from engine.run_lock import pid_alive

    pid = doc.get("pid")
    if not isinstance(pid, int) or isinstance(pid, bool) or doc.get("host") != socket.gethostname():
        return True
    return pid_alive(pid) is not False


def list_batches(root: str | os.PathLike | None = None) -> list[dict]:
    """Every batch in the outputs folder (and those written elsewhere), newest first.

    Each is its batch.json plus ``out`` (the folder); a "running" batch whose process is gone reads
    "interrupted" (continue it with ``--resume``).
    """
    root = Path(root) if root else _outputs_root()
    folders = [p for p in sorted(root.iterdir()) if p.is_dir()] if root.is_dir() else []
    for entry in read_jsonl(root / ELSEWHERE):
        if isinstance(entry, dict) and entry.get("out"):
            folders.append(Path(entry["out"]))
    seen, batches = set(), []
    for folder in folders:
        key = os.path.realpath(folder)
        doc = read_batch(folder) if key not in seen else None
        seen.add(key)
        if doc is None:
            continue
        if doc.get("status") == "running" and not _alive(doc):
            doc["status"] = "interrupted"
        batches.append({**doc, "out": str(folder)})
    return sorted(batches, key=lambda d: str(d.get("started") or ""), reverse=True)


def load_batch(out_dir: str | os.PathLike) -> dict:
    """A batch's result in the shape :func:`engine.evaluation.predict.predict_folder` returns.

    From predictions.json when the batch completed, else from batch.json and the rows in predictions.csv
    (an interrupted batch shows what it finished). ConfigError when ``out_dir`` holds no readable batch.
    """
    out = Path(out_dir)
    batch = read_batch(out) or {}
    doc = _read_doc(out / JSON_NAME)
    if doc is None or not isinstance(doc.get("rows"), list):
        if not batch.get("classes") or not (out / CSV_NAME).is_file():
            raise ConfigError(f"{display_path(out)} holds no batch HistoDesk can read (no predictions.json, "
                              "or no batch.json and predictions.csv).")
        doc = {**batch, "rows": read_rows(out / CSV_NAME, csv_fields(batch["classes"]))[0]}
    rows = doc["rows"]
    n_ok = sum(r.get("status") == "ok" for r in rows)
    return {"rows": rows, "classes": list(doc.get("classes") or batch.get("classes") or []), "out": str(out),
            "csv": str(out / CSV_NAME), "json": str(out / JSON_NAME), "batch": str(out / BATCH_NAME),
            "n_ok": n_ok, "n_failed": len(rows) - n_ok, "backend": doc.get("backend") or batch.get("backend"),
            "device": doc.get("device") or batch.get("device"), "model": doc.get("model") or batch.get("model"),
            "folder": doc.get("folder") or batch.get("folder"), "status": batch.get("status", "completed")}
