#!/usr/bin/env bash
# Before opening the desktop app on Linux: are the system libraries Qt's xcb platform plugin needs installed?
# When one is missing, prints one line with the exact apt-get (Debian/Ubuntu) and dnf (Fedora) install
# commands and exits 1. Only checks where the window will use X11 (DISPLAY set, QT_QPA_PLATFORM unset or xcb).
# The list and the check live in gui/qt_libs.py (no Qt import); HISTODESK_LDCONFIG_OUTPUT names a file read
# instead of `ldconfig -p` (tests). Usage: scripts/check_qt_libs.sh [python]  (default: .venv/bin/python)
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(uname -s)" = "Linux" ] || exit 0
[ -n "${DISPLAY:-}" ] || exit 0
case "${QT_QPA_PLATFORM:-xcb}" in xcb*) ;; *) exit 0 ;; esac
exec "${1:-.venv/bin/python}" -m gui.qt_libs
