"""The software environment a report states: package versions, device, seeds and the source commit."""

from __future__ import annotations

import platform
import subprocess
import sys
from importlib import metadata
from pathlib import Path

#: Distributions whose versions a report lists (import name differs for some: scikit-learn is sklearn).
PACKAGES = ("torch", "torchvision", "timm", "onnxruntime", "numpy", "scikit-learn", "opencv-python-headless",
            "pydantic", "matplotlib", "fpdf2")


def package_version(name: str) -> str:
    """The installed version of distribution ``name``, or "not installed"."""
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "not installed"


def git_commit(folder: str | Path | None = None, timeout: float = 5.0) -> str:
    """``git rev-parse HEAD`` of the source tree (``folder``: default the repository root), or "unknown"."""
    from engine.paths import repo_root

    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=str(folder or repo_root()), capture_output=True,
                             text=True, timeout=timeout, check=False)
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    commit = out.stdout.strip()
    return commit if out.returncode == 0 and len(commit) >= 7 else "unknown"


def environment() -> dict:
    """HistoDesk version, Python, platform, package versions and the source commit of this process."""
    from engine import __version__

    return {"histodesk": __version__, "python": platform.python_version(), "platform": platform.platform(),
            "executable": sys.executable, "packages": {name: package_version(name) for name in PACKAGES},
            "git_commit": git_commit()}
