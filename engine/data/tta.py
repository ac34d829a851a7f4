"""Test-time augmentation settings (torch-free, shared by evaluation, prediction, explain and deploy)."""

from __future__ import annotations

from engine.errors import ConfigError

TTA_MODES = ("s3", "d4")


def tta_mode(tta) -> str | None:
    """A TTA setting as a mode: False/None/"none" -> None, True -> "s3", "s3"/"d4" kept (any case)."""
    if tta is None or tta is False or str(tta).lower() in ("", "none", "off", "false"):
        return None
    if tta is True or str(tta).lower() in ("true", "on"):
        return "s3"
    if str(tta).lower() not in TTA_MODES:
        raise ConfigError(f"Unknown TTA mode '{tta}'; use 's3' (7 views) or 'd4' (8 views).")
    return str(tta).lower()
