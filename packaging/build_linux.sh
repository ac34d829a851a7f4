#!/usr/bin/env bash
# Build HistoDesk for Linux: a PyInstaller one-folder bundle and a .deb package.
#
#   packaging/build_linux.sh            # bundle + .deb   (outputs under build/, gitignored)
#   SKIP_PYI=1 packaging/build_linux.sh # reuse build/dist/histodesk, only (re)make the .deb
#
# Needs the project venv (.venv) with packaging/requirements.txt installed.
# Prints the build time and sizes; the .deb uses fast compression (gzip -1) because
# the bundle carries CUDA-enabled torch (several GB).
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
PY="${PYTHON:-$ROOT/.venv/bin/python}"
VERSION="$("$PY" -c 'import engine; print(engine.__version__)')"
ARCH="$(dpkg --print-architecture 2>/dev/null || echo amd64)"
OUT="$ROOT/build"
DIST="$OUT/dist/histodesk"
DEB="$OUT/histodesk_${VERSION}_${ARCH}.deb"
COMPRESS="${DEB_COMPRESS:--Zgzip -z1}"
mkdir -p "$OUT"

start=$(date +%s)
if [[ "${SKIP_PYI:-0}" != "1" ]]; then
    echo "== PyInstaller one-folder build (this takes a while)"
    "$PY" -m PyInstaller --noconfirm --clean --log-level WARN \
        --workpath "$OUT/pyinstaller" --distpath "$OUT/dist" packaging/histodesk.spec
fi
pyi_done=$(date +%s)
[[ -x "$DIST/histodesk" ]] || { echo "no bundle at $DIST" >&2; exit 1; }

echo "== .deb package"
STAGE="$OUT/deb/histodesk_${VERSION}_${ARCH}"
rm -rf "$STAGE"
mkdir -p "$STAGE/DEBIAN" "$STAGE/opt" "$STAGE/usr/bin" "$STAGE/usr/share/applications" \
         "$STAGE/usr/share/icons/hicolor/256x256/apps" "$STAGE/usr/share/icons/hicolor/scalable/apps"
cp -al "$DIST" "$STAGE/opt/histodesk" 2>/dev/null || cp -a "$DIST" "$STAGE/opt/histodesk"
ln -s /opt/histodesk/histodesk "$STAGE/usr/bin/histodesk"
install -m 644 packaging/linux/histodesk.desktop "$STAGE/usr/share/applications/histodesk.desktop"
install -m 644 resources/icons/histodesk.png "$STAGE/usr/share/icons/hicolor/256x256/apps/histodesk.png"
install -m 644 resources/icons/histodesk.svg "$STAGE/usr/share/icons/hicolor/scalable/apps/histodesk.svg"
SIZE_KB=$(du -sk "$STAGE" | cut -f1)
sed -e "s/@VERSION@/$VERSION/" -e "s/@ARCH@/$ARCH/" -e "s/@SIZE_KB@/$SIZE_KB/" \
    packaging/linux/control.in > "$STAGE/DEBIAN/control"
install -m 755 packaging/linux/postinst "$STAGE/DEBIAN/postinst"
install -m 755 packaging/linux/postrm "$STAGE/DEBIAN/postrm"
# shellcheck disable=SC2086
dpkg-deb --root-owner-group $COMPRESS --build "$STAGE" "$DEB"
end=$(date +%s)

echo "== summary"
echo "pyinstaller_s=$((pyi_done - start)) deb_s=$((end - pyi_done)) total_s=$((end - start))"
echo "bundle=$(du -sh "$DIST" | cut -f1) ($DIST)"
echo "deb=$(du -sh "$DEB" | cut -f1) ($DEB)"
