#!/usr/bin/env bash
# Set up (first time only) and start HistoDesk on the built-in demo dataset.
# With no display it trains and evaluates the demo preset headless instead.
set -euo pipefail
cd "$(dirname "$0")"
scripts/setup.sh runtime
exec .venv/bin/python main.py "$@"
