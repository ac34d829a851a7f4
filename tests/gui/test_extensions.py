"""The extension host: every area registers its object, looked up by type; a broken area is not hidden."""

from __future__ import annotations

import sys

import pytest

pytest.importorskip("pytestqt")

from gui import extensions
from gui.deploy.actions import DeployActions, deploy_actions
from gui.embedding.actions import EmbeddingActions
from gui.explain.actions import ExplainActions
from gui.extensions import Extension, ExtensionHost
from gui.main_window import MainWindow
from gui.results.actions import ResultsActions
from gui.ssl.actions import SSLActions, ssl_actions
from gui.studies.actions import StudyActions

KINDS = (SSLActions, EmbeddingActions, ExplainActions, DeployActions, ResultsActions, StudyActions)


@pytest.fixture
def window(qtbot, tmp_path):
    window = MainWindow(autoload=False, runs_dir=str(tmp_path / "runs"))
    qtbot.addWidget(window)
    return window


def test_every_extension_registers_its_object_and_patches_no_attribute(window):
    assert isinstance(window, ExtensionHost)
    assert window.extensions == list(extensions.EXTENSIONS)
    for kind in KINDS:
        found = window.extension(kind)
        assert isinstance(found, kind) and isinstance(found, Extension) and found.window is window
    assert ssl_actions(window) is window.extension(SSLActions)  # no second install
    assert deploy_actions(window) is window.extension(DeployActions)
    patched = {"ssl_actions", "ssl_wizard", "deploy", "embedding_actions", "explain_actions", "results_actions",
               "study_actions", "report_dialog", "quit_hooks"}
    assert patched.isdisjoint(vars(window)), sorted(patched & set(vars(window)))


def test_a_missing_extension_is_a_lookup_error(window):
    class Unknown(Extension):
        pass

    assert window.find_extension(Unknown) is None
    with pytest.raises(LookupError, match="Unknown"):
        window.extension(Unknown)


def test_a_broken_extension_raises_but_a_missing_one_is_skipped(qtbot, tmp_path, monkeypatch, caplog):
    (tmp_path / "histodesk_broken_ext.py").write_text("raise RuntimeError('broken extension')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(extensions, "EXTENSIONS", ("histodesk_missing_ext", "histodesk_broken_ext"))
    with pytest.raises(RuntimeError, match="broken extension"):
        MainWindow(autoload=False, runs_dir=str(tmp_path / "runs"))
    assert "histodesk_missing_ext" in caplog.text
    sys.modules.pop("histodesk_broken_ext", None)
