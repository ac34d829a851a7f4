"""Guard against Qt bindings that corrupt the interpreter (PySide6 6.12.0 on
Python 3.11 drops a reference to None on every void call; the app aborts
with 'deallocating None' after a few minutes of use)."""

from __future__ import annotations

import sys

import pytest


def test_void_qt_calls_do_not_leak_references_to_none():
    qt_core = pytest.importorskip("PySide6.QtCore")
    obj = qt_core.QObject()
    before = sys.getrefcount(None)
    for _ in range(2000):
        obj.setObjectName("x")
    assert sys.getrefcount(None) - before > -100
