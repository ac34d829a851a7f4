"""Exporting a run to ONNX from the GUI never blocks the GUI thread for more than 100 ms (issue 13).

torch's ONNX exporter holds the GIL for hundreds of milliseconds (``_optimize_graph``); the export runs it in
a child process (:mod:`engine.deploy.graph_process`), so the GUI thread keeps ticking. The 10 ms
:class:`StallMonitor` runs from the click on Export until the report shows and the dialog closes; a stalled
export is measured once (:func:`tests.gui.test_view_stalls.measure`, its limit scaled by the machine's load),
as the first export of the process is the one the exporter stalled most. The engine's first-job modules are
imported first, and the export's own (onnx, onnxruntime): start-up's cost, as in the other stall tests.
"""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest

from tests.gui.main_window_fixture import shown_main_window

from gui.deploy.actions import DeployActions
from tests.gui.stall_monitor import warm_engine_imports
from tests.gui.test_view_stalls import measure
from tests.helpers import tiny_config, tiny_demo

pytest.importorskip("pytestqt")

#: What an export imports in its worker thread (a first import holds the GIL: start-up's cost, see
#: stall_monitor.warm_engine_imports); torch's exporter itself is not imported here.
EXPORT_MODULES = ("engine.deploy.export", "engine.deploy.quantize", "onnx", "onnxruntime")

@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A finished basic-CNN run as S1 trains it (128 px, Dense 256: an 8M-weight layer whose constant folding
    the exporter does with the GIL held), with the export's modules imported."""
    from engine.training.job import train

    root = tmp_path_factory.mktemp("export-stall")
    data = tiny_demo(root, patients_per_class=2, images=2)
    run = train(tiny_config(data, root / "runs", epochs=1, data={"image_size": 128}, model={"head_hidden": 256}))
    warm_engine_imports()
    for name in EXPORT_MODULES:
        importlib.import_module(name)
    return {"run": str(run.path), "runs_dir": str(root / "runs")}


@pytest.fixture
def window(qtbot, trained):
    """A shown main window on the run's folder."""
    with shown_main_window(qtbot, trained["runs_dir"], painted=True) as win:
        yield win


@pytest.mark.timeout(300)
def test_export_does_not_stall_the_gui(qtbot, window, trained, tmp_path):
    out = tmp_path / "packages"

    def start_export():
        dialog = window.extension(DeployActions).open_export_dialog(run_dir=trained["run"])
        dialog.out_field.set_path(str(out))
        dialog.export_button.click()
        return dialog

    def done(dialog) -> bool:
        assert "failed" not in dialog.report_label.text().lower(), dialog.report_label.text()
        return dialog.result is not None

    # Measured once: the exporter's stall was worst on the first export of a process (~500 ms on a 2-core
    # Xeon, ~60-90 ms on later ones), which a second measurement would hide. The limit scales with the load.
    dialog = measure(qtbot, "export to ONNX", start_export, done, timeout_ms=240000)
    dialog.accept()
    assert dialog.result["max_prob_diff"] <= 1e-4 and Path(dialog.result["package"]).is_dir()
