"""Checkpoints: weights as safetensors, training state via torch.save.

The training state only holds tensors, numbers, strings, lists and dicts, so
it loads with ``torch.load(weights_only=True)``: a checkpoint can never run
code. Writes go through a temp file and ``os.replace`` (atomic).
"""

from __future__ import annotations

import io
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from engine.errors import HistoDeskError
from engine.io_utils import atomic_write_bytes


def save_weights(model: torch.nn.Module, path: str | Path) -> None:
    """Atomically save a model's state dict as safetensors."""
    path = Path(path)
    state = {k: v.detach().to("cpu").contiguous() for k, v in model.state_dict().items()}
    tmp = path.with_name(f".{path.name}.tmp")
    save_file(state, str(tmp))
    tmp.replace(path)


def load_weights(model: torch.nn.Module, path: str | Path, strict: bool = True) -> None:
    """Load safetensors weights written by :func:`save_weights` into ``model``."""
    device = next(model.parameters()).device
    state = load_file(str(path), device=str(device) if device.type != "mps" else "cpu")
    model.load_state_dict(state, strict=strict)


def save_state(state: dict, path: str | Path) -> None:
    """Atomically save a training-state dict."""
    buf = io.BytesIO()
    torch.save(state, buf)
    atomic_write_bytes(path, buf.getvalue())


def load_state(path: str | Path) -> dict:
    """Load a training state with ``weights_only=True``."""
    path = Path(path)
    if not path.exists():
        raise HistoDeskError(f"No checkpoint at {path}: this run cannot be resumed (it never finished an epoch).")
    return torch.load(path, map_location="cpu", weights_only=True)


def state_dict_to_cpu(state):
    """Recursively move tensors of a (nested) state dict to CPU."""
    if isinstance(state, torch.Tensor):
        return state.detach().to("cpu")
    if isinstance(state, dict):
        return {k: state_dict_to_cpu(v) for k, v in state.items()}
    if isinstance(state, (list, tuple)):
        return type(state)(state_dict_to_cpu(v) for v in state)
    return state
