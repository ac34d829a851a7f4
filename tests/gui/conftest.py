"""Qt fixtures for the GUI tests: offscreen platform, isolated QSettings, tiny data."""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


@pytest.fixture(scope="session")
def qapp_args():
    """Arguments for pytest-qt's QApplication."""
    return ["histodesk-tests"]


@pytest.fixture(scope="module", autouse=True)
def main_thread_gc(qapp):
    """Collect garbage on the GUI thread only, as the app does (gui/main_thread_gc.py); CPython's own
    collection is given back after each GUI test module, so the engine tests run as usual."""
    from gui.main_thread_gc import MainThreadCollector

    collector = MainThreadCollector(qapp)
    yield collector
    collector.stop()
    collector.deleteLater()


@pytest.fixture(autouse=True)
def isolated_settings(tmp_path, qapp):
    """Point QSettings (INI, user scope) at a fresh temp folder for every test."""
    from PySide6.QtCore import QSettings

    from gui.app import configure_pyqtgraph

    QSettings.setDefaultFormat(QSettings.Format.IniFormat)
    QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, str(tmp_path / "settings"))
    configure_pyqtgraph()
    yield tmp_path / "settings"


@pytest.fixture(scope="session")
def tiny_data(tmp_path_factory):
    """A tiny demo dataset (3 patients per class, 3 images per magnification, 64x48)."""
    from engine.data.demo import generate_demo

    return generate_demo(tmp_path_factory.mktemp("gui-data") / "d", patients_per_class=3,
                         images_per_patient_mag=3, size=(64, 48))


@pytest.fixture
def tiny_config(tiny_data, tmp_path):
    """A TrainConfig that trains the basic CNN at 32 px for 2 epochs into a temp runs folder."""
    from engine.training.config import TrainConfig

    return TrainConfig.from_dict({
        "name": "tiny", "seed": 1, "epochs": 2, "batch_size": 8, "runs_dir": str(tmp_path / "runs"),
        "data": {"path": str(tiny_data), "image_size": 32, "normalize": "unit"},
        "model": {"name": "basic_cnn", "pretrained": "none", "head_hidden": 16},
    })


@pytest.fixture(scope="session")
def two_runs(tmp_path_factory):
    """Two tiny runs (basic_cnn, simple_cnn, 1 epoch) on the same data and split: the same test images;
    ``(runs folder, [Run, Run])``. Shared by the results and trustworthy-results tests (a few seconds to train)."""
    from engine.training.job import train
    from tests.helpers import tiny_config, tiny_demo

    base = tmp_path_factory.mktemp("two-runs")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HISTODESK_HOME", str(base / "home"))
        data = tiny_demo(base, patients_per_class=4, images=2)
        runs = [train(tiny_config(data, base / "runs", name=name, seed=seed, epochs=1, model={"name": name},
                                  evaluation={"n_bootstrap": 200}))
                for name, seed in (("basic_cnn", 0), ("simple_cnn", 1))]
    assert all(r.summary["status"] == "completed" for r in runs)
    return base / "runs", runs
