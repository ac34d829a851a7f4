"""pyproject.toml: entry points, the one version number, the package list and the resources (no install)."""

from __future__ import annotations

import fnmatch
import importlib
import importlib.util
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())
SETUPTOOLS = PYPROJECT["tool"]["setuptools"]


def _entry_point(target: str):
    module, _, attr = target.partition(":")
    return getattr(importlib.import_module(module), attr)


@pytest.mark.parametrize("group,name", [("scripts", "histodesk"), ("gui-scripts", "histodesk-gui")])
def test_entry_points_resolve_to_callables(group, name):
    assert callable(_entry_point(PYPROJECT["project"][group][name]))


def test_cli_entry_point_prints_the_one_version(capsys):
    from engine import __version__

    with pytest.raises(SystemExit) as exc:
        _entry_point(PYPROJECT["project"]["scripts"]["histodesk"])(["--version"])
    assert exc.value.code == 0 and capsys.readouterr().out.strip() == f"HistoDesk {__version__}"


def test_version_is_single_sourced():
    from engine import __version__
    from gui.app import about_html

    assert "version" in PYPROJECT["project"]["dynamic"] and "version" not in PYPROJECT["project"]
    assert SETUPTOOLS["dynamic"]["version"] == {"attr": "engine.__version__"}
    assert re.fullmatch(r"\d+\.\d+\.\d+", __version__) and f"HistoDesk {__version__}" in about_html()
    literal = re.compile(re.escape(__version__) + r"(?![\d])")
    recipes = [p for p in (REPO / "packaging").rglob("*") if p.is_file() and p.suffix != ".md"]
    recipes += [REPO / "gui" / "app.py", REPO / "gui" / "main_window.py", REPO / "engine" / "cli" / "main.py"]
    assert [str(p.relative_to(REPO)) for p in recipes if literal.search(p.read_text(errors="ignore"))] == []


def test_dependencies_come_from_the_requirements_files():
    dynamic = SETUPTOOLS["dynamic"]
    assert dynamic["dependencies"] == {"file": ["requirements.txt"]}
    assert dynamic["optional-dependencies"]["dev"] == {"file": ["requirements-dev.txt"]}
    for name in ("requirements.txt", "requirements-dev.txt"):  # setuptools reads pins only: no -r/-e lines
        lines = [line.strip() for line in (REPO / name).read_text().splitlines()]
        assert all(not line.startswith("-") for line in lines), name
        assert all("==" in line for line in lines if line and not line.startswith("#")), name


def test_every_package_and_resource_folder_is_listed():
    on_disk = {".".join(p.parent.relative_to(REPO).parts) for top in ("engine", "gui")
               for p in (REPO / top).rglob("__init__.py")}
    resource_dirs = sorted(p for p in (REPO / "resources").iterdir() if p.is_dir())
    on_disk |= {"engine.resources"} | {f"engine.resources.{p.name}" for p in resource_dirs}
    assert set(SETUPTOOLS["packages"]) == on_disk, "add new packages to pyproject.toml's [tool.setuptools]"
    assert SETUPTOOLS["package-dir"] == {"engine.resources": "resources"}
    for folder in resource_dirs:
        patterns = SETUPTOOLS["package-data"][f"engine.resources.{folder.name}"]
        unshipped = [f.name for f in folder.iterdir() if f.is_file() and not any(fnmatch.fnmatch(f.name, pattern)
                                                                                 for pattern in patterns)]
        assert unshipped == [], f"resources/{folder.name}: {unshipped} not in package-data"


def test_resources_are_found_from_the_source_tree():
    from engine.paths import resources_dir

    assert resources_dir() == REPO / "resources"
    assert (resources_dir() / "presets" / "demo.yaml").is_file()


def test_resources_are_found_in_the_installed_layout(tmp_path):
    """Installed, resources/ is package data engine/resources beside engine/paths.py: lay that out and ask
    the app's own function from a fresh interpreter that cannot see the source tree."""
    site = tmp_path / "site-packages"
    (site / "engine").mkdir(parents=True)
    for name in ("__init__.py", "paths.py"):
        shutil.copy(REPO / "engine" / name, site / "engine" / name)
    shutil.copytree(REPO / "resources", site / "engine" / "resources")
    code = "from engine.paths import resources_dir; print(resources_dir())"
    out = subprocess.run([sys.executable, "-I", "-c", f"import sys; sys.path.insert(0, {str(site)!r}); {code}"],
                         capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert Path(out.stdout.strip()) == site / "engine" / "resources"


def test_linux_build_is_cpu_first_with_a_named_cuda_variant():
    build = (REPO / "packaging" / "build_linux.sh").read_text()
    assert 'VARIANT="${VARIANT:-cpu}"' in build and "https://download.pytorch.org/whl/cpu" in build
    assert "NAME=histodesk-cuda" in build and "dist-cuda" in build and '"cuda None"' in build
    smoke = (REPO / "packaging" / "smoke_test.sh").read_text()
    assert 'VARIANT="${VARIANT:-cpu}"' in smoke and "libtorch_cuda" in smoke and "--version" in smoke


def test_torchvision_without_ops_strips_and_guards(tmp_path):
    """The CPU-build helper on a stand-in torchvision: compiled parts removed, the two registrations guarded."""
    script = REPO / "packaging" / "tools" / "torchvision_without_ops.py"
    spec = importlib.util.spec_from_file_location("tv_tool", script)
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    folder = tmp_path / "torchvision"
    (tmp_path / "torchvision.libs").mkdir(parents=True)
    folder.mkdir()
    for name in ("_C.so", "image.so", "utils.py"):
        (folder / name).write_text("")
    body = "\n\ndef meta(dets, scores, iou_threshold):\n    return dets\n\n\n"
    (folder / "_meta_registrations.py").write_text("".join(line + body for line in tool.UNGUARDED))
    assert sorted(tool.remove_compiled(folder)) == ["_C.so", "image.so", "torchvision.libs"]
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["_meta_registrations.py", "torchvision", "utils.py"]
    assert tool.guard_registrations(folder) == 2 and tool.guard_registrations(folder) == 0
    text = (folder / "_meta_registrations.py").read_text()
    compile(text, "_meta_registrations.py", "exec")
    assert text.count("if torchvision.extension._has_ops() else") == 2
