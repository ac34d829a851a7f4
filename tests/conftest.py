"""Shared pytest fixtures: an isolated HistoDesk home, sample data, speed."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("HF_HUB_OFFLINE", "1")  # never wait on the network in tests

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path_factory, monkeypatch):
    """Point HISTODESK_HOME at a per-session temp dir so tests never touch ~."""
    home = tmp_path_factory.getbasetemp() / "histodesk-home"
    monkeypatch.setenv("HISTODESK_HOME", str(home))
    yield home


@pytest.fixture(scope="session", autouse=True)
def _few_threads():
    """Keep torch from oversubscribing the 2-core CI machine."""
    try:
        import torch

        torch.set_num_threads(2)
    except ImportError:  # pragma: no cover
        pass


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The real sample images in ../shared/data (see its README)."""
    if not SHARED_DATA.exists():
        pytest.skip("../shared/data is not present")
    return SHARED_DATA
