"""CLI sub-commands: CAM heatmaps, test-time augmentation and robustness."""

from __future__ import annotations

REGISTRARS: list = []
