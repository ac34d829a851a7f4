"""Study presets: YAML files in ``resources/study_presets`` validated by the study schema.

A preset reproduces one of the reference comparisons (methods.md S1, S2, S4)
as a grid of recipes; the dataset, folds, seeds and tiny-trial settings
(``epochs``, ``image_size``, ``max_images``, ``batch_size``) come from the
user as overrides.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from engine.errors import ConfigError
from engine.io_utils import load_config_file
from engine.paths import resources_dir
from engine.studies.config import StudyConfig
from engine.training.config import deep_merge


def study_presets_dir() -> Path:
    """Folder of the study presets (YAML)."""
    return resources_dir() / "study_presets"


def study_preset_names() -> list[str]:
    """Names of the study presets, e.g. ``s1``."""
    return sorted(p.stem for p in study_presets_dir().glob("*.yaml"))


def study_preset_dict(name: str) -> dict[str, Any]:
    """The settings of study preset ``name`` (``preset`` set); ConfigError when unknown."""
    if name not in study_preset_names():
        raise ConfigError(f"Unknown study preset '{name}'. Available: {', '.join(study_preset_names())}.")
    data = load_config_file(study_presets_dir() / f"{name}.yaml")
    data["description"] = " ".join(str(data.get("description", "")).split())
    return {**data, "preset": name}


def study_preset_description(name: str) -> str:
    """One-paragraph description of a study preset, for menus and listings."""
    return study_preset_dict(name)["description"]


def build_study_config(preset: str | None = None, *overrides: dict[str, Any]) -> StudyConfig:
    """A study preset (or nothing), then each override dict merged in order, validated once."""
    data: dict[str, Any] = study_preset_dict(preset) if preset else {}
    for override in overrides:
        data = deep_merge(data, override or {})
    return StudyConfig.from_dict(data)
