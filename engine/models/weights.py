"""Pretrained weights: random init, ImageNet (local file or timm/Hugging Face hub), or a file.

``pretrained`` is one of

- ``"none"``: random initialisation (deterministic under ``torch.manual_seed``);
- ``"imagenet"``: first ``<weights_dir>/<name>.safetensors`` (or ``.pth``),
  for the S3 hybrid also one file per backbone (``efficientnetv2_s.*``,
  ``vit_b16.*``); else timm's own download + cache
  (``timm.create_model(tag, pretrained=True)``). When that fails (offline,
  ``HF_HUB_OFFLINE``, any download error) a
  :class:`~engine.errors.WeightsUnavailableError` says how to fix it; there is
  never a silent fallback to random weights;
- a path to a local weights file (see :mod:`engine.models.weights_io`).

:func:`weights_status` is the cheap check the GUI wizard shows.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from engine import registry
from engine.errors import WeightsUnavailableError
from engine.models.base import HistoModel, PretrainedPart
from engine.models.weights_io import WEIGHT_SUFFIXES, LoadReport, load_state_dict_into, read_state_dict
from engine.paths import weights_dir

_TRUE = ("1", "true", "yes", "on")


@dataclass(frozen=True)
class WeightsStatus:
    """Whether ImageNet weights for a model can be had now, from where, and a message for users."""

    available: bool
    source: str  # "local", "cache", "download" or "none"
    message: str


def hub_offline() -> bool:
    """True when ``HF_HUB_OFFLINE`` forbids downloads."""
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in _TRUE


def hub_reachable(timeout: float = 3.0) -> bool:
    """Whether the Hugging Face endpoint answers a TCP connection within ``timeout`` seconds.

    Lets an offline machine fail in seconds instead of after huggingface_hub's
    retries (about 45 s). Behind a proxy (``HTTPS_PROXY``) it answers True and
    leaves the decision to the download itself.
    """
    import socket
    from urllib.parse import urlparse

    from huggingface_hub import constants

    if any(os.environ.get(v) for v in ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy")):
        return True
    url = urlparse(constants.ENDPOINT)
    try:
        with socket.create_connection((url.hostname or "", url.port or 443), timeout=timeout):
            return True
    except OSError:
        return False


def local_weights_file(name: str) -> Path | None:
    """``<weights_dir>/<name>.safetensors`` (or ``.pth``, ``.pt``, ``.bin``) if present."""
    folder = weights_dir()
    return next((folder / f"{name}{s}" for s in WEIGHT_SUFFIXES if (folder / f"{name}{s}").is_file()), None)


def hub_cached_file(tag: str) -> str | None:
    """The cached timm/Hugging Face file for timm weights ``tag``, without touching the network."""
    import timm
    from huggingface_hub import try_to_load_from_cache

    cfg = timm.models.get_pretrained_cfg(tag)
    if cfg is None:
        return None
    if cfg.hf_hub_id:
        names = [cfg.hf_hub_filename] if cfg.hf_hub_filename else ["model.safetensors", "pytorch_model.bin"]
        for filename in names:
            found = try_to_load_from_cache(cfg.hf_hub_id, filename)
            if isinstance(found, str):
                return found
    if isinstance(cfg.url, str) and cfg.url:
        import torch.hub

        path = Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(cfg.url)
        if path.is_file():
            return str(path)
    return None


def _part_models(name: str) -> list[str]:
    """Registry names whose ImageNet weights ``name`` needs ([] for models trained from scratch)."""
    info = registry.meta("model", name)
    if info.get("parts"):
        return list(info["parts"].values())
    return [name] if info.get("pretrained_tag") else []


def _fix_hint(name: str) -> str:
    folder = weights_dir()
    hint = f"put a file at {folder / (name + '.safetensors')}"
    parts = [p for p in _part_models(name) if p != name]
    if parts:
        hint += " (or one per backbone: " + ", ".join(str(folder / f"{p}.safetensors") for p in parts) + ")"
    return hint + ", pass a local weights file, or choose random initialisation explicitly (pretrained: none)"


def unavailable_message(name: str, reason: str = "") -> str:
    """The message of the error raised when ImageNet weights for ``name`` cannot be had."""
    if not _part_models(name):
        return (f"{name} has no ImageNet weights (it is trained from scratch in its study): use "
                "pretrained: none, or pass a local weights file of your own.")
    why = f" ({reason})" if reason else ""
    return f"ImageNet weights for {name} are not available offline{why}; {_fix_hint(name)}."


def _part_status(part: str) -> tuple[str, str] | None:
    local = local_weights_file(part)
    if local:
        return "local", str(local)
    cached = hub_cached_file(registry.meta("model", part)["pretrained_tag"])
    return ("cache", cached) if cached else None


def weights_status(name: str) -> WeightsStatus:
    """Cheap check, without downloading, of whether ``pretrained="imagenet"`` works for ``name``."""
    parts = _part_models(name)
    if not parts:
        return WeightsStatus(False, "none", unavailable_message(name))
    local = local_weights_file(name)
    if local:
        return WeightsStatus(True, "local", f"local file {local}")
    found = {p: _part_status(p) for p in parts}
    hits = {p: status for p, status in found.items() if status}
    if len(hits) == len(found):
        sources = sorted({s for s, _ in hits.values()})
        where = "; ".join(f"{p}: {s} {path}" for p, (s, path) in hits.items())
        return WeightsStatus(True, "+".join(sources), f"available ({where})")
    tags = ", ".join(registry.meta("model", p)["pretrained_tag"] for p, f in found.items() if not f)
    return WeightsStatus(False, "download", f"not cached (timm {tags}): downloaded when online; not available "
                                            "offline: choose a local file or random init")


def _load_part_from_hub(model_name: str, part: PretrainedPart) -> None:
    """Copy timm's pretrained weights for ``part.timm_tag`` into ``part.module``."""
    import timm

    if hub_cached_file(part.timm_tag) is None:
        if hub_offline():
            raise WeightsUnavailableError(unavailable_message(
                model_name, f"HF_HUB_OFFLINE is set and timm weights {part.timm_tag} are not in the cache"))
        if not hub_reachable():
            raise WeightsUnavailableError(unavailable_message(
                model_name, f"the Hugging Face hub cannot be reached to download timm weights {part.timm_tag}"))
    try:
        source = timm.create_model(part.timm_tag, pretrained=True, num_classes=0, **part.timm_kwargs)
    except Exception as exc:  # network, hub, cache or format errors: all mean "not available"
        raise WeightsUnavailableError(unavailable_message(
            model_name, f"download of timm weights {part.timm_tag} failed: {type(exc).__name__}: {exc}")) from exc
    part.module.load_state_dict(source.state_dict())


def load_weights(model: HistoModel, path: str | os.PathLike) -> LoadReport:
    """Load a local weights file (full model, bare backbone or nested checkpoint) into ``model``."""
    prefixes = [f"{part}." for part in model.backbone_parts()]
    return load_state_dict_into(model, read_state_dict(path), str(path), prefixes)


def load_imagenet(model: HistoModel) -> LoadReport | list[LoadReport]:
    """ImageNet-initialise every backbone part of ``model`` (local files first, then timm's hub)."""
    parts = model.pretrained_parts()
    if not parts:
        raise WeightsUnavailableError(unavailable_message(model.name))
    own = local_weights_file(model.name)
    if own:
        return load_weights(model, own)
    reports: list[LoadReport] = []
    for part in parts.values():
        local = local_weights_file(part.registry_name)
        if local:
            reports.append(load_weights(model, local))
        else:
            _load_part_from_hub(model.name, part)
            reports.append(LoadReport(f"timm {part.timm_tag}", loaded=list(part.module.state_dict())))
    return reports[0] if len(reports) == 1 else reports


def check_pretrained_early(name: str, pretrained: Any) -> None:
    """Fail before building a model whose ImageNet weights are sure to be unavailable."""
    if pretrained == "imagenet":
        status = weights_status(name)
        if not status.available and (status.source == "none" or hub_offline()):
            raise WeightsUnavailableError(unavailable_message(
                name, "" if status.source == "none" else "HF_HUB_OFFLINE is set and they are not in the cache"))


def apply_pretrained(model: HistoModel, pretrained: Any) -> LoadReport | list[LoadReport] | None:
    """Initialise ``model`` as ``pretrained`` says (``"none"``, ``"imagenet"`` or a file path)."""
    if pretrained == "none":
        return None
    if pretrained == "imagenet":
        return load_imagenet(model)
    return load_weights(model, pretrained)
