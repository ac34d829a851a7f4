"""The one preset loader: training, SSL and study presets are YAML files validated by their kind's schema.

=========  =========================  ==================================================
kind       folder (resources/)        schema
=========  =========================  ==================================================
train      ``presets``                :class:`engine.training.config.TrainConfig`
ssl        ``ssl_presets``            :class:`engine.ssl.config.SSLConfig`
study      ``study_presets``          :class:`engine.studies.config.StudyConfig`
=========  =========================  ==================================================

Each file holds a ``description`` (for menus and listings) and settings.
:func:`preset_dict` returns the settings with ``preset`` set to the name and
checks them against the kind's schema first, so a broken preset is refused
with a :class:`~engine.errors.ConfigError` naming the preset and the field.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

from engine.errors import ConfigError
from engine.io_utils import load_config_file
from engine.paths import resources_dir
from engine.schema import validate

#: kind -> (folder under resources/, "module:SchemaClass", what the listing calls it)
KINDS: dict[str, tuple[str, str, str]] = {
    "train": ("presets", "engine.training.config:TrainConfig", "preset"),
    "ssl": ("ssl_presets", "engine.ssl.config:SSLConfig", "SSL preset"),
    "study": ("study_presets", "engine.studies.config:StudyConfig", "study preset"),
}


def _kind(kind: str) -> tuple[str, str, str]:
    if kind not in KINDS:
        raise ConfigError(f"Unknown preset kind '{kind}'; use one of {', '.join(KINDS)}.")
    return KINDS[kind]


def presets_dir(kind: str) -> Path:
    """Folder holding the presets of ``kind`` (YAML files)."""
    return resources_dir() / _kind(kind)[0]


def preset_names(kind: str) -> list[str]:
    """Names of the presets of ``kind``, sorted, e.g. ``preset_names("train")[0] == "demo"``."""
    return sorted(p.stem for p in presets_dir(kind).glob("*.yaml"))


def _load(kind: str, name: str) -> dict[str, Any]:
    if name not in preset_names(kind):
        raise ConfigError(f"Unknown {_kind(kind)[2]} '{name}'. Available: {', '.join(preset_names(kind))}.")
    data = load_config_file(presets_dir(kind) / f"{name}.yaml")
    if not isinstance(data, dict):
        raise ConfigError(f"{_kind(kind)[2]} '{name}': expected a mapping of settings.")
    return data


def schema_class(kind: str) -> type:
    """The schema that validates a ``kind`` preset (imported on first use)."""
    module, _, cls = _kind(kind)[1].partition(":")
    return getattr(importlib.import_module(module), cls)


def preset_description(kind: str, name: str) -> str:
    """One-paragraph description of preset ``name`` of ``kind`` (whitespace folded), for menus and listings."""
    return " ".join(str(_load(kind, name).get("description", "")).split())


def preset_dict(kind: str, name: str) -> dict[str, Any]:
    """The settings of preset ``name`` of ``kind`` (``preset`` set to ``name``), checked by the kind's schema.

    The description is kept only where the schema has a field for it (a study's).
    """
    data = _load(kind, name)
    cls = schema_class(kind)
    fields = getattr(cls, "__dataclass_fields__", {})
    if "description" in fields:
        data["description"] = " ".join(str(data.get("description", "")).split())
    else:
        data.pop("description", None)
    data["preset"] = name
    validate(cls, data, f"{_kind(kind)[2]} '{name}'")
    return data
