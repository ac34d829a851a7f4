"""Run, study and external-evaluation folders written directly (no training), for listing and ranking tests."""

from __future__ import annotations

import os
import socket
import time
from pathlib import Path

from engine.io_utils import write_json
from engine.runs import Run


def headline(auc: float, acc: float, width: float = 0.05) -> dict:
    """summary.json headline figures of one split, with intervals."""
    return {"roc_auc": auc, "accuracy": acc, "roc_auc_ci": [auc - width, min(1.0, auc + width)],
            "accuracy_ci": [acc - width, min(1.0, acc + width)], "ci_level": 0.95, "ci_unit": "patient", "n": 40}


def fake_run(runs_dir: Path, name: str, *, val: tuple | None = None, test: tuple | None = None,
             status: str = "completed", model: str = "basic_cnn", live_lock: bool = False, exact: bool = False) -> Run:
    """A run folder (``<stamp>-<name>``, or ``<name>`` when ``exact``) whose summary.json holds ``val`` / ``test``
    = (AUC, accuracy) headlines."""
    if exact:
        (Path(runs_dir) / name).mkdir(parents=True)
    run = Run(Path(runs_dir) / name) if exact else Run.create(name, runs_dir)
    run.write("config.json", {"name": name, "model": {"name": model}, "epochs": 2})
    metrics = {k: headline(*v) for k, v in (("val", val), ("test", test)) if v is not None}
    run.update_summary(status=status, model=model, metrics=metrics, epochs_run=2, split_mode="patient")
    if status == "running":
        pid = os.getpid() if live_lock else 2 ** 22 + 11
        write_json(run.path / "run.lock", {"pid": pid, "host": socket.gethostname(), "started_ts": time.time(),
                                           "command": "train"})
    return run


def fake_study(runs_dir: Path, name: str, runs: list[tuple[str, tuple, tuple]]) -> Path:
    """``<runs_dir>/studies/<name>`` with one completed run per ``(run name, val, test)``."""
    path = Path(runs_dir) / "studies" / name
    (path / "runs").mkdir(parents=True)
    write_json(path / "config.json", {"kind": "seeds", "dataset": "demo", "recipes": [{"name": "cnn"}]})
    rows = []
    for run_name, val, test in runs:
        run = fake_run(path / "runs", run_name, val=val, test=test, exact=True)
        rows.append({"key": run_name, "recipe": "cnn", "seed": 0, "status": "completed", "run": str(run.path)})
    write_json(path / "results.json", {"name": name, "kind": "seeds", "status": "completed", "rows": rows,
                                       "n_runs": len(rows), "config": {"recipes": [{"name": "cnn"}]}})
    return path


def fake_external(run: Run, name: str, auc: float, acc: float, n_images: int = 30) -> Path:
    """An external evaluation folder of ``run`` (meta.json with its headline)."""
    folder = run.path / "external" / name
    folder.mkdir(parents=True)
    write_json(folder / "meta.json", {"name": name, "dataset": "/data/other", "n_images": n_images, "n_unmapped": 2,
                                      "date": "2026-01-01 10:00:00", "headline": headline(auc, acc)})
    return folder
