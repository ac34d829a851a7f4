"""Static checks of the installer recipes (building takes minutes and GBs, so CI does not build)."""

from __future__ import annotations

import ast
import configparser
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PKG = REPO / "packaging"


def test_spec_is_valid_python_and_bundles_what_the_app_needs():
    text = (PKG / "histodesk.spec").read_text()
    ast.parse(text)
    for needle in ('"main.py"', '"resources"', 'source_modules("engine", "gui")',
                   '"pytorch_grad_cam"', '"openTSNE"', '"onnxruntime"', "torchvision", '"cv2.qt"', '"tests"',
                   '"pyz+py"', "BUNDLE(", "console="):
        assert needle in text, needle


def test_build_scripts_parse_and_make_a_deb_with_fast_compression():
    for name in ("build_linux.sh", "smoke_test.sh", "macos/build_macos.sh"):
        script = PKG / name
        assert script.stat().st_mode & 0o111, f"{name} is not executable"
        subprocess.run(["bash", "-n", str(script)], check=True)
    build = (PKG / "build_linux.sh").read_text()
    assert "dpkg-deb" in build and "-Zgzip -z1" in build and "--root-owner-group" in build
    assert "ln -s /opt/histodesk/histodesk" in build and "usr/share/applications" in build
    smoke = (PKG / "smoke_test.sh").read_text()
    for step in ("selftest --screenshot", " train ", " export ", " predict ", "dpkg -x"):
        assert step in smoke, step


def test_deb_control_template_has_the_required_fields():
    fields = dict(line.split(": ", 1) for line in (PKG / "linux" / "control.in").read_text().splitlines()
                  if ": " in line and not line.startswith(" "))
    assert {"Package", "Version", "Architecture", "Maintainer", "Description", "Depends"} <= set(fields)
    assert fields["Package"] == "histodesk" and fields["Version"] == "@VERSION@"


def test_desktop_entry():
    path = PKG / "linux" / "histodesk.desktop"
    entry = configparser.ConfigParser(interpolation=None)
    entry.optionxform = str
    entry.read(path)
    section = entry["Desktop Entry"]
    assert section["Type"] == "Application" and section["Exec"].split()[0] == "histodesk"
    assert section["Icon"] == "histodesk" and section["Categories"].endswith(";")
    if shutil.which("desktop-file-validate"):
        result = subprocess.run(["desktop-file-validate", str(path)], capture_output=True, text=True)
        assert result.returncode == 0 and not result.stdout.strip(), result.stdout


def test_icons():
    from PIL import Image

    icons = REPO / "resources" / "icons"
    with Image.open(icons / "histodesk.png") as img:
        assert img.size == (256, 256) and img.mode == "RGBA"
        assert img.getpixel((128, 128))[3] == 255 and img.getpixel((0, 0))[3] == 0  # opaque tile, round corners
    root = ET.parse(icons / "histodesk.svg").getroot()
    assert root.tag.endswith("svg") and root.get("viewBox") == "0 0 256 256"


def test_other_platform_recipes_and_requirements():
    iss = (PKG / "windows" / "histodesk.iss").read_text()
    assert "[Setup]" in iss and "histodesk.exe" in iss and "{autodesktop}" in iss
    assert "histodesk.spec" in (PKG / "windows" / "build_windows.ps1").read_text()
    mac = (PKG / "macos" / "build_macos.sh").read_text()
    assert "histodesk.spec" in mac and "create-dmg" in mac
    pins = [line for line in (PKG / "requirements.txt").read_text().splitlines() if line and line[0] != "#"]
    assert any(p.startswith("pyinstaller==") for p in pins) and all("==" in p for p in pins)
    assert "pyinstaller" not in (REPO / "requirements.txt").read_text().lower()
    readme = (PKG / "README.md").read_text()
    for word in ("Linux", "Windows", "macOS", "Bundle size", ".deb"):
        assert word in readme, word


def test_frozen_mode_paths(monkeypatch, tmp_path):
    """In a PyInstaller build resources come from sys._MEIPASS; data never goes into the bundle."""
    from engine import paths

    bundle = tmp_path / "bundle"
    (bundle / "resources" / "presets").mkdir(parents=True)
    monkeypatch.setattr(sys, "frozen", True, raising=False)
    monkeypatch.setattr(sys, "_MEIPASS", str(bundle), raising=False)
    monkeypatch.setenv("HISTODESK_HOME", str(tmp_path / "home"))
    assert paths.is_frozen() and paths.resources_dir() == bundle / "resources"
    assert bundle not in paths.runs_dir().parents and paths.runs_dir() == tmp_path / "home" / "runs"


def test_main_supports_frozen_multiprocessing_and_selftest():
    tree = ast.parse((REPO / "main.py").read_text())
    names = {n.attr for n in ast.walk(tree) if isinstance(n, ast.Attribute)}
    assert "freeze_support" in names
    assert "gui.launcher" in {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    launcher = ast.parse((REPO / "gui" / "launcher.py").read_text())  # main.py's dispatch lives there
    assert "selftest" in {n.value for n in ast.walk(launcher) if isinstance(n, ast.Constant)}
