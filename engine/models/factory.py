"""``create_model`` and registry look-ups for models (timm's ``_factory.py``)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from engine import registry
from engine.errors import ConfigError
from engine.models.base import HistoModel
from engine.models.weights import apply_pretrained, check_pretrained_early


def model_names() -> list[str]:
    """Registered model names, in registration order."""
    return registry.names("model")


def model_info(name: str) -> dict[str, Any]:
    """Registry metadata of ``name``: family, default_size, pretrained_tag, description..."""
    return {"name": name, **registry.meta("model", name)}


def normalize_pretrained(pretrained: str | os.PathLike | None) -> str | Path:
    """``"none"``, ``"imagenet"`` or a :class:`Path` to a weights file."""
    if pretrained is None or isinstance(pretrained, bool):
        return "imagenet" if pretrained else "none"
    if isinstance(pretrained, os.PathLike):
        return Path(pretrained)
    if not isinstance(pretrained, str):
        raise ConfigError(f"model.pretrained must be 'none', 'imagenet' or a file path, got {pretrained!r}.")
    word = pretrained.strip().lower()
    if word in ("", "none", "random"):
        return "none"
    if word == "imagenet":
        return "imagenet"
    return Path(pretrained).expanduser()


def create_model(name: str, num_classes: int = 2, *, pretrained: str | os.PathLike | None = "none",
                 binary_single_logit: bool = True, head_hidden: int | None = None, dropout: float = 0.0,
                 image_size: int = 224, in_chans: int = 3) -> HistoModel:
    """Build registry model ``name`` with a head for ``num_classes`` and initialise its weights.

    ``pretrained``: ``"none"`` (random init), ``"imagenet"`` (local file in
    ``weights_dir()`` or timm's hub; WeightsUnavailableError when neither
    works) or a local weights file. ``binary_single_logit``: one logit for
    two classes (BCE) instead of two (cross-entropy). ``head_hidden``: hidden
    width of an MLP head (for ``basic_cnn`` the width of its Dense layer;
    for the hybrid that of its classifier). ``dropout``: dropout on the
    features entering the head; the studies' own dropouts are part of the
    architectures. What was loaded is in ``model.weights_report``.
    """
    factory = registry.get("model", name)
    mode = normalize_pretrained(pretrained)
    check_pretrained_early(name, mode)
    model = factory(num_classes, binary_single_logit=binary_single_logit, head_hidden=head_hidden,
                    dropout=float(dropout or 0.0), image_size=int(image_size), in_chans=int(in_chans))
    model.weights_report = apply_pretrained(model, mode)
    return model
