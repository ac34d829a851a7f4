"""Runs on disk: one folder per run, readable by the CLI, the GUI and scripts.

Layout (architecture.md, "Runs on disk")::

    <runs_dir>/<run id>/
        config.json        everything needed to repeat the run, seed included
        catalog.json       the scanned dataset
        split.json         train/val/test assignment + leakage audit
        metrics.jsonl      one line per epoch
        checkpoints/last.pt          training state (torch.load(weights_only=True))
        checkpoints/best.safetensors best weights so far
        model.safetensors  final weights (best epoch when restore_best)
        predictions.csv    per-image predictions on every split
        evaluation.json    full metrics per split (curves, confusion, report)
        summary.json       status and headline figures
        train.log          human-readable log
        run.lock           the one process writing the run (engine/run_lock.py)

Every JSON write is atomic; the GUI lists runs by reading these folders.
Writes never recreate a deleted run folder: they raise RunVanishedError.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from engine.errors import HistoDeskError, RunVanishedError
from engine.io_utils import (PATH_ERRORS, append_jsonl, atomic_write_text, read_json, read_jsonl, to_jsonable,
                             write_json)
from engine.logs import dispatch, format_line, run_record
from engine.paths import runs_dir as default_runs_dir
from engine.run_lock import lock_held

#: Summary statuses of a run that a live process is writing.
ACTIVE_STATUSES = ("preparing", "running")


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", text).strip("-")[:60] or "run"


@dataclass
class Run:
    """A run folder and typed access to its files."""

    path: Path

    def __post_init__(self) -> None:
        self.path = Path(self.path)

    @classmethod
    def create(cls, name: str, runs_dir: str | Path | None = None) -> "Run":
        """Make a new, uniquely named run folder."""
        base = Path(runs_dir) if runs_dir else default_runs_dir()
        stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
        stem = f"{stamp}-{_slug(name)}"
        base.mkdir(parents=True, exist_ok=True)
        path, n = base / stem, 1
        while True:  # mkdir claims the name atomically: two processes never share a run folder
            try:
                path.mkdir()
                break
            except FileExistsError:
                n += 1
                path = base / f"{stem}-{n}"
        (path / "checkpoints").mkdir()
        return cls(path)

    @classmethod
    def open(cls, path: str | os.PathLike) -> "Run":
        """Open an existing run folder; HistoDeskError if it is not one."""
        path = Path(path)
        if not (path / "config.json").exists():
            raise HistoDeskError(f"{path} is not a HistoDesk run (no config.json).")
        return cls(path)

    # --- file locations -------------------------------------------------
    @property
    def id(self) -> str:
        """The folder name, used as the run's id."""
        return self.path.name

    def file(self, name: str) -> Path:
        """Path of a file inside the run."""
        return self.path / name

    @property
    def last_checkpoint(self) -> Path:
        """Training state written after every epoch."""
        return self.path / "checkpoints" / "last.pt"

    @property
    def best_weights(self) -> Path:
        """Weights of the best epoch so far."""
        return self.path / "checkpoints" / "best.safetensors"

    @property
    def model_weights(self) -> Path:
        """Final weights of the run."""
        return self.path / "model.safetensors"

    # --- guarded writes ---------------------------------------------------
    def check_present(self) -> None:
        """Raise :class:`RunVanishedError` when the run folder is gone (deleted or moved)."""
        if not self.path.is_dir():
            raise RunVanishedError(f"The run folder {self.path} was deleted or moved while a job was writing it; "
                                   "the job stopped and did not recreate it.")

    def _guarded(self, write, *args, **kwargs) -> None:
        """Call ``write``; a write that fails because the folder vanished raises RunVanishedError."""
        self.check_present()
        try:
            write(*args, **kwargs)
        except FileNotFoundError:
            self.check_present()
            raise

    # --- JSON files -----------------------------------------------------
    def read(self, name: str, default: Any = None) -> Any:
        """Read a JSON file of the run, or ``default`` when absent; CorruptFileError (from :func:`read_json`,
        naming the file and the line) when it is damaged."""
        p = self.file(name)
        try:
            return read_json(p)
        except FileNotFoundError:
            return default
        except IsADirectoryError as exc:
            raise HistoDeskError(f"{p} is a folder, not a run file.") from exc

    def write(self, name: str, obj: Any) -> None:
        """Atomically write a JSON file of the run (never recreating a deleted run folder)."""
        self._guarded(write_json, self.file(name), obj, parents=False)

    @property
    def config(self) -> dict:
        """The run's config.json."""
        return self.read("config.json", {})

    @property
    def summary(self) -> dict:
        """The run's summary.json (status and headline figures)."""
        return self.read("summary.json", {})

    def update_summary(self, *, drop: tuple[str, ...] = (), **fields: Any) -> dict:
        """Merge ``fields`` into summary.json and remove the keys in ``drop`` (e.g. a stale error)."""
        data = self.summary
        data.update(fields)
        for key in drop:
            data.pop(key, None)
        self.write("summary.json", data)
        return data

    def metrics(self) -> list[dict]:
        """Per-epoch rows of metrics.jsonl."""
        return read_jsonl(self.file("metrics.jsonl"))

    def append_metrics(self, row: dict) -> None:
        """Append one epoch's metrics."""
        self._guarded(append_jsonl, self.file("metrics.jsonl"), row)

    def rewrite_metrics(self, rows: list[dict]) -> None:
        """Replace metrics.jsonl by ``rows`` (used when resuming)."""
        self._guarded(atomic_write_text, self.file("metrics.jsonl"),
                      "".join(json.dumps(to_jsonable(r)) + "\n" for r in rows), parents=False)

    def log(self, message: str) -> None:
        """Append a timestamped line (``[HH:MM:SS] message``) to train.log.

        The line is a record of the ``engine.run`` logger, formatted and then handed to the logging handlers
        by :mod:`engine.logs`; it is written here, so a full disk or a deleted run folder raises as any other
        write of the run does.
        """
        record = run_record(message, self.path)
        self._guarded(_append_text, self.file("train.log"), format_line(record) + "\n")
        dispatch(record)


def _append_text(path: Path, text: str) -> None:
    with open(path, "a", encoding="utf-8", errors=PATH_ERRORS) as fh:  # file names keep their exact bytes
        fh.write(text)


def effective_status(run: Run) -> str:
    """The run's status as shown to users: summary.json's, "interrupted" when it says preparing/running but
    no live process holds the run's lock (killed, crashed, machine rebooted), "unreadable" when corrupt."""
    try:
        status = run.summary.get("status") or "unknown"
    except (HistoDeskError, OSError, AttributeError):
        return "unreadable"
    if status in ACTIVE_STATUSES and not lock_held(run.path):
        return "interrupted"
    return status


def list_runs(runs_dir: str | Path | None = None) -> list[Run]:
    """All runs in ``runs_dir``, newest first (started from the app or the CLI)."""
    base = Path(runs_dir) if runs_dir else default_runs_dir()
    if not base.exists():
        return []
    runs = [Run(p) for p in base.iterdir() if (p / "config.json").exists()]
    return sorted(runs, key=lambda r: r.id, reverse=True)
