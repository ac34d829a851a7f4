"""What the app runs on (PyTorch, CUDA, the training device), found in the background after the first paint.

Importing torch takes seconds, so the window never waits for it: :class:`RuntimeInfo` imports torch in a
:class:`~gui.tasks.TaskRunner` thread and emits :attr:`ready` with what it found, then imports the model
registry (timm) the same way. Until then the status bar and Help > About say "checking...". The PyTorch
version itself is read from the installed package's metadata, which needs no import.
"""

from __future__ import annotations

import importlib.metadata
from typing import Any

from PySide6.QtCore import Signal

from gui.extensions import Extension, ExtensionHost
from gui.tasks import TaskRunner

CHECKING = "checking..."


def installed_version(package: str) -> str:
    """The installed version of ``package`` from its metadata (no import), or "not installed"."""
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def probe_runtime() -> dict[str, str]:
    """Import torch; describe its CUDA build and availability and the device training would use."""
    import torch

    from engine.training.devices import describe_device, select_device

    if torch.cuda.is_available():
        cuda = f"{torch.version.cuda} ({torch.cuda.get_device_name(0)})"
    else:
        cuda = f"not available (PyTorch built with CUDA {torch.version.cuda})" if torch.version.cuda \
            else "not available (CPU-only PyTorch build)"
    return {"torch": torch.__version__, "cuda": cuda, "device": describe_device(select_device())}


def warm_imports() -> None:
    """Import the model registry (timm: seconds of imports) and the views' other heavy modules
    (:data:`gui.preload.HEAVY_MODULES`), so that a first job, wizard or view need not wait for them."""
    from gui.preload import import_heavy_modules

    import_heavy_modules()


class RuntimeInfo(Extension):
    """The runtime facts (``info``: torch, cuda, device), probed once in the background by :meth:`start`."""

    ready = Signal(object)  # the info dict (values are one-line messages when the probe failed)

    def __init__(self, window: ExtensionHost):
        super().__init__(window)
        self.info: dict[str, str] | None = None
        self._runner = TaskRunner(self, name="histodesk-runtime")
        self._started = False

    def start(self) -> None:
        """Start the probe (once); :attr:`ready` follows in the GUI thread."""
        if self._started:
            return
        self._started = True
        self._runner.submit(probe_runtime, on_done=self._finish, on_error=self._fail)

    def value(self, key: str) -> str:
        """``info[key]``, or "checking..." while the probe runs."""
        return CHECKING if self.info is None else self.info.get(key, "?")

    def _finish(self, info: dict[str, Any]) -> None:
        self.info = {key: str(value) for key, value in info.items()}
        self.ready.emit(self.info)
        self._runner.submit(warm_imports)  # a failure here shows again, as one line, where the models are used

    def _fail(self, message: str) -> None:
        self._finish({"torch": installed_version("torch"), "cuda": f"unknown ({message})",
                      "device": f"unknown ({message})"})

    def shutdown(self) -> None:
        """Drop a probe still running (the app is closing)."""
        self._runner.shutdown()
