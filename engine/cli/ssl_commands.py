"""CLI sub-commands: Self-supervised pretraining, downstream evaluation and label efficiency."""

from __future__ import annotations

REGISTRARS: list = []
