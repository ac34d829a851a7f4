#!/usr/bin/env bash
# Set up (first time only) and start HistoDesk on the built-in demo dataset.
# With no display it trains and evaluates the demo preset headless instead.
set -euo pipefail
cd "$(dirname "$0")"
scripts/setup.sh runtime
if [ $# -eq 0 ]; then  # opening the window: say which Qt system libraries are missing, if any
  scripts/check_qt_libs.sh || true
  export HISTODESK_QT_LIBS_CHECKED=1  # the app does not repeat the message
fi
exec .venv/bin/python main.py "$@"
