#!/usr/bin/env bash
# Set up (first time only) and run HistoDesk's test suite (offscreen Qt, CPU).
set -euo pipefail
cd "$(dirname "$0")"
scripts/setup.sh dev
export QT_QPA_PLATFORM=offscreen
exec .venv/bin/python -m pytest "$@"
