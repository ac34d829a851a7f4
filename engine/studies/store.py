"""Studies on disk: ``<runs_dir>/studies/<id>/`` and the functions that list and read them.

Layout::

    <runs_dir>/studies/<id>/
        config.json      the validated StudyConfig (kind resolved)
        catalog.json     the dataset scanned once for every run
        split.json       the shared split (seeds, label efficiency), or
        splits/fold-<i>.json   one per fold (k-fold)
        results.json     status, one row per run, aggregates; rewritten atomically after every run
        pooled/<recipe>-s<seed>/   k-fold: pooled out-of-fold evaluation.json + predictions.csv
        runs/            the run folders (ordinary runs: evaluate, explain, export work on them)
        run.lock         the one process running the study
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from engine.errors import ConfigError, HistoDeskError
from engine.io_utils import read_json, write_json

STUDIES = "studies"
RESULTS = "results.json"


def studies_dir(runs_dir: str | Path | None = None) -> Path:
    """``<runs_dir>/studies`` (the default runs folder when None)."""
    from engine.paths import runs_dir as default_runs_dir

    return Path(runs_dir or default_runs_dir()) / STUDIES


def create_study_dir(name: str, runs_dir: str | Path | None = None) -> Path:
    """A new, uniquely named study folder ``<runs_dir>/studies/<stamp>-<name>``."""
    from engine.runs import Run

    base = studies_dir(runs_dir)
    base.mkdir(parents=True, exist_ok=True)
    path = Run.create(name, base).path
    (path / "checkpoints").rmdir()  # a study is not a run: its runs live in runs/
    return path


def is_study(path: str | Path) -> bool:
    """True for a study folder (it has a study config.json)."""
    path = Path(path)
    return (path / "config.json").is_file() and (path / RESULTS).is_file()


def load_study(path: str | Path) -> dict:
    """A study's results.json (``path``: the study folder or the file), with ``"path"`` set to its folder."""
    path = Path(path)
    file = path / RESULTS if path.is_dir() else path
    if not file.is_file():
        raise ConfigError(f"{path} is not a study (no {RESULTS}); choose a folder under <runs>/studies/.")
    try:
        study = read_json(file)
    except (OSError, ValueError) as exc:
        raise HistoDeskError(f"{file} is unreadable ({exc}); the study's runs are still in "
                             f"{file.parent / 'runs'}.") from None
    study["path"] = str(file.parent)
    return study


def write_results(path: Path, results: dict) -> None:
    """Write results.json atomically (the ``path`` key is not stored; a deleted study folder is not recreated)."""
    write_json(Path(path) / RESULTS, {k: v for k, v in results.items() if k != "path"}, parents=False)


def study_status(path: str | Path, results: dict | None = None) -> str:
    """The study's status as shown to users: "interrupted" when it says running but nobody holds its lock."""
    from engine.run_lock import lock_held

    try:
        status = (results if results is not None else load_study(path)).get("status") or "unknown"
    except HistoDeskError:
        return "unreadable"
    if status in ("preparing", "running") and not lock_held(path):
        return "interrupted"
    return status


def list_studies(runs_dir: str | Path | None = None) -> list[dict]:
    """Every study under ``<runs_dir>/studies``, newest first: ``{name, path, kind, status, preset, dataset,
    recipes, n_runs, n_done, created, finished}`` (label-efficiency studies included)."""
    base = studies_dir(runs_dir)
    if not base.is_dir():
        return []
    out: list[dict[str, Any]] = []
    for folder in sorted((p for p in base.iterdir() if is_study(p)), key=lambda p: p.name, reverse=True):
        try:
            study = load_study(folder)
        except HistoDeskError:
            out.append({"name": folder.name, "path": str(folder), "status": "unreadable"})
            continue
        config = study.get("config") or {}
        out.append({"name": folder.name, "path": str(folder), "kind": study.get("kind"),
                    "status": study_status(folder, study), "preset": config.get("preset"),
                    "dataset": config.get("dataset"), "recipes": [r.get("name") for r in config.get("recipes", [])],
                    "n_runs": study.get("n_runs"), "n_done": sum(r.get("status") == "completed"
                                                                for r in study.get("rows", [])),
                    "created": study.get("created"), "finished": study.get("finished")})
    return out
