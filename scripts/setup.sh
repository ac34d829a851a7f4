#!/usr/bin/env bash
# Create or update HistoDesk's virtual environment (.venv) with pinned dependencies.
# Usage: scripts/setup.sh [runtime|dev]   (dev adds the test tools)
# Idempotent: it reinstalls only when the requirements files change.
set -euo pipefail
cd "$(dirname "$0")/.."
kind="${1:-runtime}"
req=requirements.txt
[ "$kind" = "dev" ] && req=requirements-dev.txt  # its plain pins, installed on top of requirements.txt

pick_python() {
  for py in "${PYTHON:-}" python3.11 python3.12 python3.10 python3 python; do
    [ -n "$py" ] || continue
    if command -v "$py" >/dev/null 2>&1 && "$py" -c 'import sys; sys.exit(not (3, 10) <= sys.version_info[:2] < (3, 14))' 2>/dev/null; then
      echo "$py"; return
    fi
  done
  echo "HistoDesk needs Python 3.10-3.13 (set PYTHON=/path/to/python)." >&2
  exit 1
}

if [ ! -x .venv/bin/python ]; then
  py=$(pick_python)
  echo "Creating .venv with $($py --version)..."
  "$py" -m venv .venv
fi
stamp=".venv/.histodesk-$kind.sha"
want=$(cat requirements.txt "$req" | sha256sum | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "Installing dependencies ($req); the first time this downloads PyTorch and takes a few minutes..."
  .venv/bin/python -m pip install --disable-pip-version-check -q --upgrade pip >/dev/null 2>&1 || true
  .venv/bin/python -m pip install --disable-pip-version-check -q -r requirements.txt -r "$req"
  echo "$want" > "$stamp"
fi
