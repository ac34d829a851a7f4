"""Name -> factory registries (models, importers, SSL methods, CAMs, ...).

Modelled on timm's ``_registry.py``: ``@register("model", "resnet18")``
decorates a factory, ``create("model", "resnet18", **kw)`` builds one and
``names("model")`` lists them. The modules that fill a registry are imported
lazily the first time that kind is asked for, so importing ``engine`` stays
cheap and adding a method is one new file plus one line in ``_PROVIDERS``.
"""

from __future__ import annotations

import importlib
from typing import Any, Callable

from engine.errors import ConfigError

# kind -> modules that register entries of that kind when imported.
_PROVIDERS: dict[str, tuple[str, ...]] = {
    "importer": ("engine.data.importers",),
    "model": ("engine.models",),
    "ssl": ("engine.ssl.methods",),
    "cam": ("engine.explain.cams",),
}

_ENTRIES: dict[str, dict[str, Callable[..., Any]]] = {}
_META: dict[str, dict[str, dict[str, Any]]] = {}


def register(kind: str, name: str | None = None, **meta: Any) -> Callable:
    """Decorator registering ``fn`` under ``kind``/``name`` with optional metadata."""

    def deco(fn: Callable[..., Any]) -> Callable[..., Any]:
        key = name or fn.__name__
        _ENTRIES.setdefault(kind, {})[key] = fn
        _META.setdefault(kind, {})[key] = dict(meta)
        return fn

    return deco


def _load(kind: str) -> None:
    for module in _PROVIDERS.get(kind, ()):
        importlib.import_module(module)


def names(kind: str) -> list[str]:
    """Registered names of ``kind``, in registration order."""
    _load(kind)
    return list(_ENTRIES.get(kind, {}))


def get(kind: str, name: str) -> Callable[..., Any]:
    """The factory registered as ``kind``/``name``; ConfigError if unknown."""
    _load(kind)
    entries = _ENTRIES.get(kind, {})
    if name not in entries:
        known = ", ".join(entries) or "none"
        raise ConfigError(f"Unknown {kind} '{name}'. Choose one of: {known}.")
    return entries[name]


def meta(kind: str, name: str) -> dict[str, Any]:
    """Metadata given to :func:`register` for ``kind``/``name``."""
    get(kind, name)
    return dict(_META[kind][name])


def create(kind: str, name: str, **kwargs: Any) -> Any:
    """Build the ``kind`` called ``name`` with keyword arguments."""
    return get(kind, name)(**kwargs)
