"""Layering rules from architecture.md: engine/ never imports Qt or gui/."""

from __future__ import annotations

import ast
import pkgutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
FORBIDDEN = ("PySide6", "PyQt5", "PyQt6", "shiboken6", "gui", "pyqtgraph")


def _engine_modules() -> list[str]:
    import engine

    return ["engine"] + [m.name for m in pkgutil.walk_packages(engine.__path__, "engine.")]


def test_engine_source_has_no_qt_imports():
    offenders = []
    for path in (REPO / "engine").rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module]
            offenders += [f"{path.relative_to(REPO)}: {n}" for n in names if n.split(".")[0] in FORBIDDEN]
    assert not offenders, offenders


def test_importing_every_engine_module_loads_no_qt():
    code = (
        "import importlib, sys\n"
        f"for m in {_engine_modules()!r}: importlib.import_module(m)\n"
        f"bad = [m for m in sys.modules if m.split('.')[0] in {FORBIDDEN!r}]\n"
        "assert not bad, bad\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]


def test_classifying_with_a_package_does_not_import_torch_or_the_statistics_stack():
    """The ONNX predict path loads neither torch nor scikit-learn/scipy (seconds of start-up per batch)."""
    code = (
        "import sys\n"
        "import engine.deploy.predictors, engine.deploy.package, engine.evaluation.predict\n"
        "bad = [m for m in ('torch', 'sklearn', 'scipy') if m in sys.modules]\n"
        "assert not bad, bad\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
