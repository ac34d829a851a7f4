"""gui.qt_libs and scripts/check_qt_libs.sh: the Qt xcb system libraries check before the window opens (issue 13.10)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from gui.qt_libs import XCB_LIBS, advice, missing_libs, needs_xcb, warn_before_qt

ROOT = Path(__file__).resolve().parents[1]
FRESH_DEBIAN = ("libxcb-cursor.so.0", "libxcb-icccm.so.4", "libxcb-keysyms.so.1")
EXPECTED = ("'sudo apt-get install libxcb-cursor0 libxcb-icccm4 libxcb-keysyms1' (Debian/Ubuntu) or "
            "'sudo dnf install xcb-util-cursor xcb-util-wm xcb-util-keysyms' (Fedora)")


def _listing(tmp_path, without=()) -> Path:
    """A fake ``ldconfig -p`` output with every library but ``without``."""
    lines = [f"{len(XCB_LIBS)} libs found in cache `/etc/ld.so.cache'"]
    lines += [f"\t{name} (libc6,x86-64) => /lib/x86_64-linux-gnu/{name}" for name in XCB_LIBS if name not in without]
    path = tmp_path / "ldconfig.txt"
    path.write_text("\n".join(lines) + "\n")
    return path


def test_missing_libraries_and_the_exact_commands(tmp_path):
    listing = _listing(tmp_path, FRESH_DEBIAN).read_text()
    assert missing_libs(listing) == list(FRESH_DEBIAN)
    line = advice(missing_libs(listing))
    assert EXPECTED in line and "\n" not in line
    assert missing_libs(_listing(tmp_path).read_text()) == []
    assert missing_libs("") == []  # no ldconfig: nothing is claimed missing
    shared = advice(["libxcb-shm.so.0", "libxcb-xkb.so.1"])  # one Fedora package for both
    assert "'sudo dnf install libxcb'" in shared and "libxcb-shm0 libxcb-xkb1" in shared


def test_only_where_qt_loads_xcb():
    assert needs_xcb({"DISPLAY": ":0"}, "linux")
    assert needs_xcb({"DISPLAY": ":0", "QT_QPA_PLATFORM": "xcb"}, "linux")
    assert not needs_xcb({"DISPLAY": ":0", "QT_QPA_PLATFORM": "offscreen"}, "linux")
    assert not needs_xcb({}, "linux")
    assert not needs_xcb({"DISPLAY": ":0"}, "darwin")


def test_launcher_check_prints_once(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(sys, "platform", "linux")
    monkeypatch.setenv("DISPLAY", ":99")
    monkeypatch.delenv("QT_QPA_PLATFORM", raising=False)
    monkeypatch.delenv("HISTODESK_QT_LIBS_CHECKED", raising=False)
    monkeypatch.setenv("HISTODESK_LDCONFIG_OUTPUT", str(_listing(tmp_path, FRESH_DEBIAN)))
    warn_before_qt()
    assert EXPECTED in capsys.readouterr().err
    monkeypatch.setenv("HISTODESK_QT_LIBS_CHECKED", "1")  # run.sh said it already
    warn_before_qt()
    assert capsys.readouterr().err == ""


@pytest.mark.skipif(sys.platform != "linux", reason="the check runs on Linux only")
def test_script_prints_the_commands_when_a_library_is_missing(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("QT_QPA_PLATFORM", "HISTODESK_QT_LIBS_CHECKED")}
    script = [str(ROOT / "scripts" / "check_qt_libs.sh"), sys.executable]

    def run(**extra):
        return subprocess.run(script, env={**env, **extra}, capture_output=True, text=True, timeout=60)

    missing = str(_listing(tmp_path, FRESH_DEBIAN))
    done = run(DISPLAY=":99", HISTODESK_LDCONFIG_OUTPUT=missing)
    assert done.returncode == 1 and EXPECTED in done.stderr and done.stderr.count("\n") == 1
    complete = tmp_path / "all"
    complete.mkdir()
    ok = run(DISPLAY=":99", HISTODESK_LDCONFIG_OUTPUT=str(_listing(complete)))
    assert ok.returncode == 0 and ok.stderr == ""
    offscreen = run(DISPLAY=":99", HISTODESK_LDCONFIG_OUTPUT=missing, QT_QPA_PLATFORM="offscreen")
    assert offscreen.returncode == 0 and offscreen.stderr == ""
    env.pop("DISPLAY", None)
    headless = run(HISTODESK_LDCONFIG_OUTPUT=missing)  # no display: run.sh trains headless, nothing to check
    assert headless.returncode == 0 and headless.stderr == ""
