"""Checkpoints: weights as safetensors, training state via torch.save.

The training state only holds tensors, numbers, strings, lists and dicts, so
it loads with ``torch.load(weights_only=True)``: a checkpoint can never run
code. Writes go through a temp file and ``os.replace`` (atomic) and never
create a missing folder (a run folder deleted during training stays deleted).
Reads refuse a malicious, truncated or foreign file with
:class:`~engine.errors.UntrustedFileError` naming it.
"""

from __future__ import annotations

import errno
import io
import os
from pathlib import Path

import torch
from safetensors.torch import save

from engine.errors import HistoDeskError, UntrustedFileError
from engine.io_utils import atomic_write_bytes


def save_weights(model: torch.nn.Module, path: str | Path) -> None:
    """Atomically save a model's state dict as safetensors (the folder must exist)."""
    state = {k: v.detach().to("cpu").contiguous() for k, v in model.state_dict().items()}
    atomic_write_bytes(path, save(state), parents=False)


def load_weights(model: torch.nn.Module, path: str | Path, strict: bool = True) -> None:
    """Load safetensors weights written by :func:`save_weights` into ``model``."""
    from engine.models.weights_io import load_safetensors

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT), str(path))
    device = next(model.parameters()).device
    state = load_safetensors(path, device=str(device) if device.type != "mps" else "cpu")
    try:
        model.load_state_dict(state, strict=strict)
    except RuntimeError as exc:
        raise UntrustedFileError(f"The weights in {path} do not fit this run's model "
                                 f"({str(exc).splitlines()[0]}); the file was changed or belongs to another "
                                 "run.") from exc


def save_state(state: dict, path: str | Path) -> None:
    """Atomically save a training-state dict (the folder must exist)."""
    buf = io.BytesIO()
    torch.save(state, buf)
    atomic_write_bytes(path, buf.getvalue(), parents=False)


def load_state(path: str | Path) -> dict:
    """Load a training state with ``weights_only=True`` (UntrustedFileError for anything else)."""
    from engine.models.weights_io import torch_load_weights_only

    path = Path(path)
    if not path.exists():
        raise HistoDeskError(f"No checkpoint at {path}: this run cannot be resumed (it never finished an epoch).")
    state = torch_load_weights_only(path)
    if not isinstance(state, dict) or "epoch" not in state:
        raise UntrustedFileError(f"{path} is not a HistoDesk training checkpoint; it was not loaded.")
    return state


def state_dict_to_cpu(state):
    """Recursively move tensors of a (nested) state dict to CPU."""
    if isinstance(state, torch.Tensor):
        return state.detach().to("cpu")
    if isinstance(state, dict):
        return {k: state_dict_to_cpu(v) for k, v in state.items()}
    if isinstance(state, (list, tuple)):
        return type(state)(state_dict_to_cpu(v) for v in state)
    return state
