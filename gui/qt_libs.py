"""Are the system libraries of Qt's xcb platform plugin (the Linux X11 desktop) installed? Imports no Qt.

A missing one (a fresh Debian has no libxcb-cursor0, libxcb-icccm4 or libxcb-keysyms1) makes Qt print
"could not load the Qt platform plugin" and abort the process, which Python cannot catch; so the
launcher (and ``run.sh``, through ``scripts/check_qt_libs.sh``) checks ``ldconfig -p`` first and prints
one line with the exact install commands for Debian/Ubuntu and Fedora. ``python -m gui.qt_libs``
runs the check (exit status 1 when something is missing). ``HISTODESK_LDCONFIG_OUTPUT`` names a file
read instead of running ``ldconfig -p`` (tests).
"""

from __future__ import annotations

import os
import subprocess
import sys

# soname the xcb plugin links against (readelf -d libqxcb.so, PySide6 6.11): Debian/Ubuntu package, Fedora package
XCB_LIBS: dict[str, tuple[str, str]] = {
    "libxcb.so.1": ("libxcb1", "libxcb"),
    "libxcb-cursor.so.0": ("libxcb-cursor0", "xcb-util-cursor"),
    "libxcb-icccm.so.4": ("libxcb-icccm4", "xcb-util-wm"),
    "libxcb-image.so.0": ("libxcb-image0", "xcb-util-image"),
    "libxcb-keysyms.so.1": ("libxcb-keysyms1", "xcb-util-keysyms"),
    "libxcb-render-util.so.0": ("libxcb-render-util0", "xcb-util-renderutil"),
    "libxcb-util.so.1": ("libxcb-util1", "xcb-util"),
    "libxcb-randr.so.0": ("libxcb-randr0", "libxcb"),
    "libxcb-render.so.0": ("libxcb-render0", "libxcb"),
    "libxcb-shape.so.0": ("libxcb-shape0", "libxcb"),
    "libxcb-shm.so.0": ("libxcb-shm0", "libxcb"),
    "libxcb-sync.so.1": ("libxcb-sync1", "libxcb"),
    "libxcb-xfixes.so.0": ("libxcb-xfixes0", "libxcb"),
    "libxcb-xkb.so.1": ("libxcb-xkb1", "libxcb"),
    "libxkbcommon.so.0": ("libxkbcommon0", "libxkbcommon"),
    "libxkbcommon-x11.so.0": ("libxkbcommon-x11-0", "libxkbcommon-x11"),
    "libX11.so.6": ("libx11-6", "libX11"),
    "libX11-xcb.so.1": ("libx11-xcb1", "libX11-xcb"),
    "libGL.so.1": ("libgl1", "libglvnd-glx"),
}


def needs_xcb(environ=None, platform: str | None = None) -> bool:
    """True where Qt will load the xcb plugin: Linux, an X display, and ``QT_QPA_PLATFORM`` unset or xcb."""
    environ = os.environ if environ is None else environ
    if (platform or sys.platform) != "linux" or getattr(sys, "frozen", False):  # a packaged app carries its own
        return False
    wanted = environ.get("QT_QPA_PLATFORM", "")
    return bool(environ.get("DISPLAY")) and (wanted == "" or wanted.startswith("xcb"))


def ldconfig_output() -> str:
    """The dynamic linker's cache listing (``ldconfig -p``), or "" when it cannot be read."""
    fake = os.environ.get("HISTODESK_LDCONFIG_OUTPUT")
    if fake:
        with open(fake, encoding="utf-8", errors="replace") as fh:
            return fh.read()
    for ldconfig in ("ldconfig", "/sbin/ldconfig", "/usr/sbin/ldconfig"):
        try:
            done = subprocess.run([ldconfig, "-p"], capture_output=True, text=True, timeout=5, check=False)
        except (OSError, subprocess.SubprocessError):
            continue
        if done.returncode == 0:
            return done.stdout
    return ""


def missing_libs(listing: str) -> list[str]:
    """The sonames of :data:`XCB_LIBS` absent from an ``ldconfig -p`` listing (none when it is empty: unknown)."""
    present = {line.split()[0] for line in listing.splitlines()[1:] if line.strip()}
    if not present:
        return []
    return [name for name in XCB_LIBS if name not in present]


def advice(missing: list[str]) -> str:
    """One line naming the missing libraries and the exact apt-get and dnf commands that install them."""
    debian = " ".join(dict.fromkeys(XCB_LIBS[name][0] for name in missing))
    fedora = " ".join(dict.fromkeys(XCB_LIBS[name][1] for name in missing))
    return (f"HistoDesk's window needs system libraries that are missing ({', '.join(missing)}): install them with "
            f"'sudo apt-get install {debian}' (Debian/Ubuntu) or 'sudo dnf install {fedora}' (Fedora).")


def check(stream=None) -> bool:
    """Print :func:`advice` to ``stream`` (stderr) when a library is missing; True when none is (or unknown)."""
    missing = missing_libs(ldconfig_output())
    if missing:
        print(advice(missing), file=stream or sys.stderr)
    return not missing


def warn_before_qt() -> None:
    """The launcher's check before Qt starts: only where Qt will load xcb, and once (run.sh may have done it)."""
    if needs_xcb() and not os.environ.get("HISTODESK_QT_LIBS_CHECKED"):
        check()


if __name__ == "__main__":
    sys.exit(0 if check() else 1)
