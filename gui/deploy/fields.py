"""Small pieces shared by the deploy dialogs: model discovery (and the shared path field).

``completed_runs`` lives in :mod:`gui.run_lists` (shared with the explain dialogs); it is re-exported here.
"""

from __future__ import annotations

from pathlib import Path

from gui.path_field import PathFieldWidget
from gui.run_lists import completed_runs

__all__ = ["PathFieldWidget", "completed_runs", "model_kind", "packages_in"]


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
