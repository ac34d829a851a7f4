"""Device selection: CUDA, then Apple MPS, then CPU; mixed-precision policy."""

from __future__ import annotations

import torch

from engine.errors import ConfigError


def select_device(preference: str = "auto") -> torch.device:
    """The device to train on: ``auto`` picks CUDA, then MPS, then CPU."""
    pref = (preference or "auto").lower()
    if pref == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        mps = getattr(torch.backends, "mps", None)
        if mps is not None and mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if pref.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError("CUDA was requested but no CUDA GPU is available; use device 'auto' or 'cpu'.")
    if pref == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise ConfigError("Apple MPS was requested but is not available; use device 'auto' or 'cpu'.")
    if pref not in ("cpu", "mps") and not pref.startswith("cuda"):
        raise ConfigError(f"Unknown device '{preference}': use auto, cpu, cuda or mps.")
    return torch.device(pref)


def use_amp(setting: str, device: torch.device) -> bool:
    """Whether to train in fp16 mixed precision (only ever on CUDA)."""
    setting = (setting or "auto").lower()
    if setting not in ("auto", "on", "off"):
        raise ConfigError(f"amp must be auto, on or off (got '{setting}').")
    return device.type == "cuda" and setting in ("auto", "on")


def describe_device(device: torch.device) -> str:
    """Human-readable device name, e.g. ``cuda (NVIDIA H100)``."""
    if device.type == "cuda":
        return f"cuda ({torch.cuda.get_device_name(device)})"
    if device.type == "mps":
        return "mps (Apple GPU)"
    return f"cpu ({torch.get_num_threads()} threads)"
