"""Small pieces shared by the deploy dialogs: model discovery (and the shared path field)."""

from __future__ import annotations

from pathlib import Path

from gui.path_field import PathFieldWidget

__all__ = ["PathFieldWidget", "completed_runs", "model_kind", "packages_in"]


def completed_runs(runs_dir: str | None) -> list:
    """Finished training runs with saved weights in ``runs_dir`` (newest first)."""
    from engine.runs import list_runs

    runs = []
    for run in list_runs(runs_dir):
        try:
            summary = run.summary
        except Exception:  # noqa: BLE001 - a half-written run is skipped, never fatal
            continue
        if summary.get("status") == "completed" and summary.get("kind", "train") != "ssl" \
                and run.model_weights.exists():
            runs.append(run)
    return runs


def packages_in(folder: str | Path) -> list[Path]:
    """Model packages (``*.hdpkg`` folders) directly inside ``folder``."""
    from engine.deploy.manifest import is_package

    folder = Path(folder)
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.glob("*.hdpkg") if is_package(p))


def model_kind(path: str | Path) -> str | None:
    """"package", "run" or None for a folder that is neither."""
    from engine.deploy.manifest import is_package

    path = Path(path)
    if is_package(path):
        return "package"
    if (path / "config.json").is_file() and (path / "model.safetensors").is_file():
        return "run"
    return None
