"""First launch timing (issue 13.9): with a fresh HISTODESK_HOME (no demo yet) the window is painted within 2 s
and usable within 5 s; torch is imported only after the paint, in the background.

The app is started offscreen in a subprocess with HISTODESK_STARTUP_TRACE=1 and prints ``<event> <seconds since
start> cpu=<CPU seconds>``. On a loaded machine (more runnable processes than cores) a late wall-clock time is
accepted when the app's own CPU time stays within the limit: the slowness is then the machine's.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PAINTED_S, USABLE_S = 2.0, 5.0


def _trace(tmp_path: Path, until: str = "runtime", timeout_s: float = 120.0) -> dict[str, dict[str, str]]:
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", HISTODESK_STARTUP_TRACE="1",
               HISTODESK_HOME=str(tmp_path / "home"), XDG_CONFIG_HOME=str(tmp_path / "config"))
    proc = subprocess.Popen([sys.executable, "main.py"], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, text=True)
    events: dict[str, dict[str, str]] = {}
    deadline = time.monotonic() + timeout_s
    try:
        for line in proc.stdout:  # type: ignore[union-attr]
            name, seconds, *rest = line.split()
            events[name] = {"s": seconds, **dict(item.split("=", 1) for item in rest)}
            if name == until or time.monotonic() > deadline:
                break
    finally:
        proc.terminate()
        proc.wait(30)
    return events


def _loaded() -> bool:
    return os.getloadavg()[0] > (os.cpu_count() or 1)


def _within(event: dict[str, str], limit: float) -> bool:
    return float(event["s"]) < limit or (_loaded() and float(event["cpu"]) < limit)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the trace's process start time is read from /proc")
def test_first_launch_paints_in_2s_is_usable_in_5s_and_imports_torch_after(tmp_path):
    events = _trace(tmp_path)
    print(events, "load", os.getloadavg())  # the figures, with -s
    painted, usable = events["painted"], events["usable"]
    assert painted["torch"] == "0"  # heavy imports wait for the first paint
    assert _within(painted, PAINTED_S), f"first paint after {painted['s']} s ({painted['cpu']} s CPU)"
    assert _within(usable, USABLE_S), f"usable after {usable['s']} s ({usable['cpu']} s CPU)"
    assert usable["menus"].split(",")[0] == "File" and usable["menus"].endswith(",Help")
    assert "runtime" in events  # the background probe (torch, device) ended
    assert float(events["runtime"]["s"]) > float(usable["s"])
