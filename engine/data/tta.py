"""Test-time augmentation settings (torch-free, shared by evaluation, prediction, explain and deploy)."""

from __future__ import annotations

from engine.options import TTAMode, literal_values
from engine.schema import check_value

TTA_MODES = literal_values(TTAMode)


def tta_mode(tta) -> str | None:
    """A TTA setting as a mode: False/None/"none" -> None, True -> "s3", "s3"/"d4" kept (any case)."""
    if tta is None or tta is False or str(tta).lower() in ("", "none", "off", "false"):
        return None
    if tta is True or str(tta).lower() in ("true", "on"):
        return "s3"
    return check_value(TTAMode, str(tta).lower(), "tta")
