#!/usr/bin/env bash
# Build HistoDesk for macOS: PyInstaller HistoDesk.app + a drag-to-Applications .dmg (create-dmg).
# On a Mac (arm64 or x86_64) with Python 3.11:
#   python3.11 -m venv .venv && .venv/bin/pip install -r requirements.txt -r packaging/requirements.txt
#   brew install create-dmg
#   packaging/macos/build_macos.sh
# Output: build/dist/HistoDesk.app and build/HistoDesk-<version>.dmg. Unsigned: users right-click > Open the
# first time (or sign: codesign --deep -s "Developer ID Application: ..." and notarise with notarytool).
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$ROOT"
PY="${PYTHON:-$ROOT/.venv/bin/python}"
VERSION="$("$PY" -c 'import engine; print(engine.__version__)')"
"$PY" packaging/tools/render_icon.py   # resources/icons/histodesk.icns from the SVG
"$PY" -m PyInstaller --noconfirm --clean --workpath build/pyinstaller --distpath build/dist packaging/histodesk.spec
build/dist/HistoDesk.app/Contents/MacOS/histodesk selftest --screenshot build/selftest.png
rm -f "build/HistoDesk-$VERSION.dmg"
create-dmg --volname "HistoDesk $VERSION" --volicon resources/icons/histodesk.icns \
    --window-size 560 340 --icon-size 96 --icon "HistoDesk.app" 140 160 \
    --app-drop-link 420 160 --hide-extension "HistoDesk.app" \
    "build/HistoDesk-$VERSION.dmg" build/dist/HistoDesk.app
echo "dmg: build/HistoDesk-$VERSION.dmg"
