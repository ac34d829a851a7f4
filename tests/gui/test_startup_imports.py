"""Start-up cost: importing the main window and the GUI extensions must not pull torch/timm."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

MODULES = ("gui.main_window", "gui.extensions", "gui.ssl.actions", "gui.embedding.actions",
           "gui.explain.actions", "gui.deploy.actions", "gui.ssl.widgets", "gui.wizard.fields", "gui.images",
           "gui.run_lists", "gui.start_here", "gui.help", "gui.startup", "gui.runtime_info", "gui.app")


@pytest.mark.parametrize("module", MODULES)
def test_importing_gui_module_does_not_import_torch(module):
    code = (f"import {module}, sys; "
            "heavy = sorted(m for m in ('torch', 'timm', 'torchvision') if m in sys.modules); "
            "print(','.join(heavy))")
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "", f"importing {module} pulled in {result.stdout.strip()}"


def test_wizard_package_still_exposes_train_wizard():
    import gui.wizard

    from gui.wizard.train_wizard import TrainWizard

    assert gui.wizard.TrainWizard is TrainWizard
