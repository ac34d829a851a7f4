"""Persistent app settings (QSettings, INI format): recent datasets, window state.

Organisation and application are both "HistoDesk". Tests redirect the files with
``QSettings.setPath(QSettings.IniFormat, QSettings.UserScope, tmp)``.
"""

from __future__ import annotations

from PySide6.QtCore import QByteArray, QSettings

ORGANIZATION = "HistoDesk"
APPLICATION = "HistoDesk"
MAX_RECENT = 8


def app_settings() -> QSettings:
    """The app's user-scope settings store (always INI, on every platform)."""
    return QSettings(QSettings.Format.IniFormat, QSettings.Scope.UserScope, ORGANIZATION, APPLICATION)


def _as_list(value) -> list[str]:
    if value is None or value == "":
        return []
    if isinstance(value, str):
        return [value]
    return [str(v) for v in value]


def recent_datasets() -> list[str]:
    """Recently opened dataset paths, newest first (at most :data:`MAX_RECENT`)."""
    return _as_list(app_settings().value("datasets/recent"))[:MAX_RECENT]


def add_recent_dataset(path: str) -> list[str]:
    """Put ``path`` first in the recent list and remember it as the last dataset."""
    items = [path] + [p for p in recent_datasets() if p != path]
    items = items[:MAX_RECENT]
    s = app_settings()
    s.setValue("datasets/recent", items)
    s.setValue("datasets/last", path)
    return items


def clear_recent_datasets() -> None:
    """Forget the recent datasets list."""
    app_settings().remove("datasets/recent")


def last_dataset() -> str | None:
    """The dataset open when the app last ran, or None on first launch."""
    value = app_settings().value("datasets/last")
    return str(value) if value else None


def is_first_launch() -> bool:
    """True when no settings were ever written (no window state, no dataset)."""
    return not app_settings().contains("datasets/last") and not app_settings().contains("window/geometry")


def save_window(geometry: QByteArray, state: QByteArray) -> None:
    """Remember the main window's geometry and dock/toolbar state."""
    s = app_settings()
    s.setValue("window/geometry", geometry)
    s.setValue("window/state", state)


def window_geometry() -> tuple[QByteArray | None, QByteArray | None]:
    """The saved (geometry, state), each None when absent."""
    s = app_settings()
    return s.value("window/geometry"), s.value("window/state")
