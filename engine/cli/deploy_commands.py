"""CLI sub-commands: ONNX export and model packages."""

from __future__ import annotations

REGISTRARS: list = []
