#!/usr/bin/env bash
# Build HistoDesk for Linux: a PyInstaller one-folder bundle and a .deb package.
#
#   packaging/build_linux.sh                # CPU build (the default): build/dist/histodesk + build/histodesk_<v>_<arch>.deb
#   VARIANT=cuda packaging/build_linux.sh   # CUDA build:  build/dist-cuda/histodesk + build/histodesk-cuda_<v>_<arch>.deb
#   SKIP_PYI=1 packaging/build_linux.sh     # reuse the variant's bundle, only (re)make the .deb
#
# Each variant is built in its own venv under build/ (gitignored), made on first use from
# requirements.txt (all pins but torch/torchvision) + packaging/requirements.txt (PyInstaller) + that
# variant's PyTorch. PYTHON=/path/to/python skips the venv and builds with that interpreter as it is.
#
# Where PyTorch comes from (recorded in the build's summary and in packaging/README.md):
#   cpu  (default): the PyTorch CPU wheel index, TORCH_CPU_INDEX (default https://download.pytorch.org/whl/cpu),
#        TORCH_CPU_SPEC (default "torch==2.14.1+cpu torchvision==0.29.1+cpu": requirements.txt's versions).
#        No NVIDIA libraries: the bundle is ~1 GB instead of ~4.6 GB.
#        Override for a machine without that index, e.g. (what the recorded build used):
#          TORCH_CPU_INDEX= TORCH_CPU_SPEC="/opt/wheels/torch-2.13.0+cpu-cp311-cp311-manylinux_2_28_x86_64.whl torchvision==0.28.0" \
#          TORCHVISION_OPS=none packaging/build_linux.sh
#        TORCH_CPU_INDEX empty = pip's configured indexes and find-links. TORCHVISION_OPS=none runs
#        packaging/tools/torchvision_without_ops.py: for a CUDA-built torchvision beside a CPU torch (its
#        compiled ops cannot load there; HistoDesk uses only its pure-Python parts).
#   cuda: requirements.txt's torch/torchvision from PyPI (Linux wheels are CUDA builds): ~4.6 GB bundle.
#
# DEB_COMPRESS: dpkg-deb options (default "-Zxz -z6" for cpu: ~half the size of gzip; "-Zgzip -z1" for cuda,
# whose multi-GB NVIDIA libraries would take long to xz on a small machine).
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
VARIANT="${VARIANT:-cpu}"
OUT="$ROOT/build"
case "$VARIANT" in
    cpu)  NAME=histodesk;      DIST_ROOT="$OUT/dist";      COMPRESS="${DEB_COMPRESS:--Zxz -z6}" ;;
    cuda) NAME=histodesk-cuda; DIST_ROOT="$OUT/dist-cuda"; COMPRESS="${DEB_COMPRESS:--Zgzip -z1}" ;;
    *) echo "VARIANT must be cpu or cuda, not '$VARIANT'" >&2; exit 2 ;;
esac
TORCH_CPU_INDEX="${TORCH_CPU_INDEX-https://download.pytorch.org/whl/cpu}"
TORCH_CPU_SPEC="${TORCH_CPU_SPEC:-torch==2.14.1+cpu torchvision==0.29.1+cpu}"
mkdir -p "$OUT"

# The build venv for this variant, made once (delete build/venv-<variant> to remake it).
make_venv() {
    local venv="$OUT/venv-$VARIANT" runtime="$OUT/requirements-no-torch.txt"
    if [[ ! -x "$venv/bin/python" ]]; then
        echo "== build venv $venv ($VARIANT PyTorch)" >&2
        python3 -m venv "$venv"
        grep -v -E '^(torch|torchvision)==' requirements.txt > "$runtime"
        if [[ "$VARIANT" == cpu ]]; then
            # shellcheck disable=SC2086
            "$venv/bin/pip" install -q ${TORCH_CPU_INDEX:+--index-url "$TORCH_CPU_INDEX"} $TORCH_CPU_SPEC >&2
            "$venv/bin/pip" install -q -r "$runtime" -r packaging/requirements.txt >&2
            if [[ "${TORCHVISION_OPS:-}" == none ]]; then
                "$venv/bin/python" packaging/tools/torchvision_without_ops.py >&2
            fi
        else
            "$venv/bin/pip" install -q -r requirements.txt -r packaging/requirements.txt >&2
        fi
    fi
    echo "$venv/bin/python"
}
PY="${PYTHON:-$(make_venv)}"
TORCH="$("$PY" -c 'import torch, torchvision; print(torch.__version__, "cuda", torch.version.cuda, "+ torchvision", torchvision.__version__)')"
if [[ "$VARIANT" == cpu && "$TORCH" != *"cuda None"* ]]; then
    echo "the cpu variant needs a CPU-only torch, found: $TORCH" >&2; exit 1
fi
VERSION="$("$PY" -c 'import engine; print(engine.__version__)')"
ARCH="$(dpkg --print-architecture 2>/dev/null || echo amd64)"
DIST="$DIST_ROOT/histodesk"
DEB="$OUT/${NAME}_${VERSION}_${ARCH}.deb"

start=$(date +%s)
if [[ "${SKIP_PYI:-0}" != "1" ]]; then
    echo "== PyInstaller one-folder build, $VARIANT variant, $TORCH (this takes a while)"
    "$PY" -m PyInstaller --noconfirm --clean --log-level WARN \
        --workpath "$OUT/pyinstaller-$VARIANT" --distpath "$DIST_ROOT" packaging/histodesk.spec
fi
pyi_done=$(date +%s)
[[ -x "$DIST/histodesk" ]] || { echo "no bundle at $DIST" >&2; exit 1; }

echo "== .deb package ($NAME, dpkg-deb $COMPRESS)"
STAGE="$OUT/deb/${NAME}_${VERSION}_${ARCH}"
rm -rf "$STAGE"
mkdir -p "$STAGE/DEBIAN" "$STAGE/opt" "$STAGE/usr/bin" "$STAGE/usr/share/applications" \
         "$STAGE/usr/share/icons/hicolor/256x256/apps" "$STAGE/usr/share/icons/hicolor/scalable/apps"
cp -al "$DIST" "$STAGE/opt/histodesk" 2>/dev/null || cp -a "$DIST" "$STAGE/opt/histodesk"
ln -s /opt/histodesk/histodesk "$STAGE/usr/bin/histodesk"
install -m 644 packaging/linux/histodesk.desktop "$STAGE/usr/share/applications/histodesk.desktop"
install -m 644 resources/icons/histodesk.png "$STAGE/usr/share/icons/hicolor/256x256/apps/histodesk.png"
install -m 644 resources/icons/histodesk.svg "$STAGE/usr/share/icons/hicolor/scalable/apps/histodesk.svg"
SIZE_KB=$(du -sk "$STAGE" | cut -f1)
if [[ "$VARIANT" == cpu ]]; then
    CONFLICTS="histodesk-cuda"; TORCH_NOTE="CPU-only PyTorch (no NVIDIA libraries; the histodesk-cuda package trains on NVIDIA GPUs)"
else
    CONFLICTS="histodesk"; TORCH_NOTE="CUDA-capable PyTorch (runs on the CPU where there is no NVIDIA GPU)"
fi
sed -e "s/^Package: histodesk$/Package: $NAME/" -e "s/@CONFLICTS@/$CONFLICTS/" -e "s/@VERSION@/$VERSION/" -e "s/@ARCH@/$ARCH/" \
    -e "s/@SIZE_KB@/$SIZE_KB/" -e "s/@TORCH_NOTE@/$TORCH_NOTE/" packaging/linux/control.in > "$STAGE/DEBIAN/control"
install -m 755 packaging/linux/postinst "$STAGE/DEBIAN/postinst"
install -m 755 packaging/linux/postrm "$STAGE/DEBIAN/postrm"
# shellcheck disable=SC2086
dpkg-deb --root-owner-group $COMPRESS --build "$STAGE" "$DEB"
end=$(date +%s)

echo "== summary ($VARIANT variant)"
echo "torch: $TORCH"
echo "pyinstaller_s=$((pyi_done - start)) deb_s=$((end - pyi_done)) total_s=$((end - start))"
echo "bundle=$(du -sh "$DIST" | cut -f1) ($(du -sb "$DIST" | cut -f1) bytes, $DIST)"
echo "deb=$(du -sh "$DEB" | cut -f1) ($(stat -c %s "$DEB") bytes, $DEB)"
