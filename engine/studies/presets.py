"""Study presets: YAML files in ``resources/study_presets`` (kind ``"study"`` of :mod:`engine.presets`).

A preset reproduces one of the reference comparisons (methods.md S1, S2, S4)
as a grid of recipes; the dataset, folds, seeds and tiny-trial settings
(``epochs``, ``image_size``, ``max_images``, ``batch_size``) come from the
user as overrides.
"""

from __future__ import annotations

from typing import Any

from engine.presets import preset_dict
from engine.studies.config import StudyConfig
from engine.training.config import deep_merge


def build_study_config(preset: str | None = None, *overrides: dict[str, Any]) -> StudyConfig:
    """A study preset (or nothing), then each override dict merged in order, validated once."""
    data: dict[str, Any] = preset_dict("study", preset) if preset else {}
    for override in overrides:
        data = deep_merge(data, override or {})
    return StudyConfig.from_dict(data)
