"""Reading weights files safely and fitting their tensors into a model.

``.safetensors`` files are read with :func:`safetensors.torch.load_file`;
``.pth/.pt/.bin`` files only through ``torch.load(weights_only=True)``, which
refuses pickles that would import or call arbitrary Python (a malicious
checkpoint raises :class:`~engine.errors.UntrustedFileError`). A state dict
may be that of the whole :class:`HistoModel`, of a bare timm backbone (keys
without our ``backbone.`` / ``effnet.`` / ``vit.`` prefix) or nested under
``"state_dict"`` / ``"model"`` (training checkpoints).
"""

from __future__ import annotations

import logging
import os
import pickle
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from engine.errors import ConfigError, UntrustedFileError, WeightsUnavailableError
from engine.failures import first_line

log = logging.getLogger(__name__)

TORCH_SUFFIXES = (".pth", ".pt", ".bin")
WEIGHT_SUFFIXES = (".safetensors",) + TORCH_SUFFIXES
_NESTING_KEYS = ("state_dict", "model_state_dict", "model", "module")
_WRAPPER_PREFIXES = ("module.", "_orig_mod.")


def _reason(exc: BaseException) -> str:
    return first_line(str(exc), 160) or type(exc).__name__


def load_safetensors(path: str | os.PathLike, device: str = "cpu") -> dict[str, torch.Tensor]:
    """The tensors of a ``.safetensors`` file; :class:`UntrustedFileError` naming it when it is not one
    (a pickle renamed .safetensors, a truncated or corrupted file). OS errors pass unchanged."""
    from safetensors.torch import load_file

    try:
        return load_file(str(path), device=device)
    except OSError:
        raise
    except Exception as exc:  # safetensors raises its own error types
        raise UntrustedFileError(f"{path} is not a valid safetensors file ({_reason(exc)}): it is truncated, "
                                 "corrupted or another kind of file; it was not loaded.") from exc


def torch_load_weights_only(path: str | os.PathLike) -> Any:
    """``torch.load(path, weights_only=True)`` on the CPU; :class:`UntrustedFileError` naming the file when
    it holds Python objects that could run code (never executed) or is not a readable PyTorch file."""
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        raise UntrustedFileError(
            f"Refused {path}: it contains Python objects that could run code when loaded, not just "
            "tensors. Only plain state dicts are accepted; re-save the weights with "
            "torch.save(model.state_dict(), path) or as .safetensors from a trusted environment."
        ) from exc
    except OSError:
        raise
    except Exception as exc:
        raise UntrustedFileError(f"{path} is not a readable PyTorch file ({_reason(exc)}); it was not "
                                 "loaded.") from exc


def read_state_dict(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """The tensors stored in a weights file, on the CPU, un-nested."""
    path = Path(path)
    if not path.is_file():
        raise WeightsUnavailableError(f"Weights file not found: {path}.")
    suffix = path.suffix.lower()
    if suffix == ".safetensors":
        obj: Any = load_safetensors(path)
    elif suffix in TORCH_SUFFIXES:
        obj = torch_load_weights_only(path)
    else:
        raise ConfigError(f"Unsupported weights file type '{path.suffix}' ({path}); "
                          f"use one of {', '.join(WEIGHT_SUFFIXES)}.")
    return unwrap_state_dict(obj, str(path))


def unwrap_state_dict(obj: Any, source: str = "weights") -> dict[str, torch.Tensor]:
    """Dig a state dict out of ``{"state_dict": ...}`` / ``{"model": ...}`` nesting; strip DDP/compile prefixes."""
    for _ in range(3):
        if not isinstance(obj, dict):
            break
        inner = next((obj[k] for k in _NESTING_KEYS if isinstance(obj.get(k), dict)), None)
        if inner is None:
            break
        obj = inner
    tensors = {k: v for k, v in obj.items() if isinstance(k, str) and isinstance(v, torch.Tensor)} \
        if isinstance(obj, dict) else {}
    if not tensors:
        raise WeightsUnavailableError(f"{source} holds no tensors (not a state dict).")
    for prefix in _WRAPPER_PREFIXES:
        if all(k.startswith(prefix) for k in tensors):
            tensors = {k[len(prefix):]: v for k, v in tensors.items()}
    return tensors


@dataclass
class LoadReport:
    """What loading a weights file did: tensors loaded, missing, unexpected, skipped (shape)."""

    source: str
    prefix: str = ""
    loaded: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)

    def summary(self) -> str:
        """One line for logs and the GUI."""
        where = f" as '{self.prefix.rstrip('.')}'" if self.prefix else ""
        parts = [f"loaded {len(self.loaded)} tensors from {self.source}{where}"]
        for label, keys in (("missing", self.missing), ("unexpected", self.unexpected),
                            ("skipped (shape differs)", self.skipped)):
            if keys:
                shown = ", ".join(keys[:5]) + (", ..." if len(keys) > 5 else "")
                parts.append(f"{len(keys)} {label}: {shown}")
        return "; ".join(parts)


def _adapt_pos_embed(model: nn.Module, key: str, value: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Resample a ViT ``pos_embed`` to the model's patch grid (another image size)."""
    if not key.endswith("pos_embed") or value.ndim != 3 or target.ndim != 3 or value.shape[-1] != target.shape[-1]:
        return value
    from timm.layers import resample_abs_pos_embed

    owner = model.get_submodule(key.rsplit(".", 1)[0]) if "." in key else model
    grid = getattr(getattr(owner, "patch_embed", None), "grid_size", None)
    if grid is None:
        return value
    prefix = 0 if getattr(owner, "no_embed_class", False) else int(getattr(owner, "num_prefix_tokens", 1))
    return resample_abs_pos_embed(value, new_size=list(grid), num_prefix_tokens=prefix)


def _fit(model: nn.Module, state: dict[str, torch.Tensor], prefix: str) -> tuple[dict, list[str], list[str]]:
    """(tensors that fit, keys skipped for shape, keys unknown to the model) under ``prefix``."""
    target = model.state_dict()
    fits, skipped, unexpected = {}, [], []
    for key, value in state.items():
        name = prefix + key
        if name not in target:
            unexpected.append(name)
            continue
        if value.shape != target[name].shape:
            value = _adapt_pos_embed(model, name, value, target[name])
        if value.shape == target[name].shape:
            fits[name] = value
        else:
            skipped.append(name)
    return fits, skipped, unexpected


def _head_prefixes(model: nn.Module) -> tuple[str, ...]:
    head_modules = getattr(model, "head_modules", None)
    heads = head_modules() if head_modules is not None else []
    return tuple(f"{name}." for name, m in model.named_modules() if name and any(m is h for h in heads))


def load_state_dict_into(model: nn.Module, state: dict[str, torch.Tensor], source: str,
                         prefixes: list[str] | None = None, min_backbone_fraction: float = 0.5) -> LoadReport:
    """Load the tensors of ``state`` that fit ``model``; return a :class:`LoadReport`.

    Tries the keys as they are and under each prefix in ``prefixes`` (a bare
    backbone's keys get ``backbone.``) and keeps the reading that fits most
    tensors. Tensors whose shape differs (another classifier) are skipped.
    Raises WeightsUnavailableError when nothing fits, or when fewer than
    ``min_backbone_fraction`` of the non-head tensors (of the matched part,
    for a bare backbone) would be loaded: the file is for another architecture.
    """
    best = max(((p, *_fit(model, state, p)) for p in ["", *(prefixes or [])]), key=lambda r: len(r[1]))
    prefix, fits, skipped, unexpected = best
    target, head_prefixes = model.state_dict(), _head_prefixes(model)
    body = [k for k in target if k.startswith(prefix) and not k.startswith(head_prefixes)
            and not k.endswith("num_batches_tracked")]
    body_loaded = sum(1 for k in body if k in fits)
    if not fits or (body and body_loaded < min_backbone_fraction * len(body)):
        raise WeightsUnavailableError(
            f"The weights in {source} do not fit {getattr(model, 'name', type(model).__name__)}: only "
            f"{body_loaded} of {len(body)} backbone tensors match by name and shape. Choose the file made "
            "for this model, or another model.")
    result = model.load_state_dict(fits, strict=False)
    # A bare backbone file answers for its own part only; other parts' keys are not "missing" from it.
    in_scope = [k for k in result.missing_keys if k.startswith(prefix) or k.startswith(head_prefixes)]
    report = LoadReport(source, prefix, sorted(fits), sorted(in_scope), sorted(unexpected), sorted(skipped))
    body_missing = any(not k.startswith(head_prefixes) for k in report.missing)
    (log.warning if (body_missing or report.skipped) else log.info)("%s", report.summary())
    return report
