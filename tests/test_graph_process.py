"""The ONNX graph export in a child process: errors come back as the same one-line exceptions, cancel ends it."""

from __future__ import annotations

import multiprocessing
import threading
import time

import pytest

from engine.deploy.graph_process import export_run_graph
from engine.errors import CancelledError, HistoDeskError
from engine.jobs import CancelToken


def test_an_error_in_the_child_comes_back_as_the_same_exception(tmp_path):
    with pytest.raises(HistoDeskError, match="is not a HistoDesk run \\(no config.json\\)") as caught:
        export_run_graph(tmp_path, tmp_path / "m.onnx", image_size=32, binary_single_logit=True)
    assert type(caught.value) is HistoDeskError and "\n" not in str(caught.value)
    assert not (tmp_path / "m.onnx").exists()


@pytest.mark.timeout(120)
def test_cancel_terminates_the_child_soon(tmp_path):
    cancel = CancelToken()
    threading.Timer(0.3, cancel.cancel).start()  # the child is still importing torch then
    start = time.perf_counter()
    with pytest.raises(CancelledError):
        export_run_graph(tmp_path, tmp_path / "m.onnx", image_size=32, binary_single_logit=True, cancel=cancel)
    assert time.perf_counter() - start < 5.0
    assert not [c for c in multiprocessing.active_children() if c.name == "histodesk-onnx-export"]  # reaped
