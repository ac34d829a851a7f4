"""Where HistoDesk keeps its data: user data dir, runs, image cache, batch outputs, weights.

``HISTODESK_HOME`` overrides the base folder (tests point it at a temp dir).
Defaults follow each platform's convention: ``~/.local/share/histodesk`` on
Linux (or ``$XDG_DATA_HOME``), ``~/Library/Application Support/HistoDesk`` on
macOS and ``%LOCALAPPDATA%\\HistoDesk`` on Windows.
"""

from __future__ import annotations

import importlib.resources
import os
import sys
from pathlib import Path


def data_home() -> Path:
    """The base folder for HistoDesk's data, created on first use."""
    env = os.environ.get("HISTODESK_HOME")
    if env:
        base = Path(env)
    elif sys.platform == "darwin":
        base = Path.home() / "Library" / "Application Support" / "HistoDesk"
    elif os.name == "nt":
        base = Path(os.environ.get("LOCALAPPDATA", Path.home())) / "HistoDesk"
    else:
        xdg = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
        base = Path(xdg) / "histodesk"
    base.mkdir(parents=True, exist_ok=True)
    return base


def _sub(name: str) -> Path:
    path = data_home() / name
    path.mkdir(parents=True, exist_ok=True)
    return path


def runs_dir() -> Path:
    """Default folder holding one sub-folder per run."""
    return _sub("runs")


def cache_dir() -> Path:
    """Folder of decoded images cached at training resolution."""
    return _sub("cache")


def datasets_dir() -> Path:
    """Folder where generated datasets (the demo) are written."""
    return _sub("datasets")


def outputs_dir() -> Path:
    """Folder of batch classification results: one sub-folder per batch (never inside a source folder)."""
    return _sub("outputs")


def weights_dir() -> Path:
    """Folder searched for local pretrained weights files."""
    return _sub("weights")


def is_frozen() -> bool:
    """True inside a packaged (PyInstaller) build of HistoDesk."""
    return bool(getattr(sys, "frozen", False))


def repo_root() -> Path:
    """The source tree's root (the folder holding ``engine/`` and ``resources/``).

    In a packaged build it is the read-only bundle folder (``sys._MEIPASS``):
    HistoDesk never writes there; runs and caches go to :func:`data_home`.
    """
    if is_frozen() and hasattr(sys, "_MEIPASS"):
        return Path(sys._MEIPASS)
    return Path(__file__).resolve().parent.parent


def resources_dir() -> Path:
    """The ``resources/`` folder: presets, icons, style sheets.

    Found beside the imported ``engine`` package, so it holds from the source tree (``<repo>/resources``),
    installed with pip (package data ``engine/resources``, which pyproject.toml maps from the top-level
    ``resources/``; read through :mod:`importlib.resources`) and packaged (``<bundle>/resources``).
    """
    if not is_frozen():
        installed = Path(str(importlib.resources.files("engine") / "resources"))
        if installed.is_dir():
            return installed
    return repo_root() / "resources"
