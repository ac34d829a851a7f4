#!/usr/bin/env bash
# Smoke-test the packaged (frozen) HistoDesk on Linux, offscreen.
#
#   packaging/smoke_test.sh              # CPU build: reuse build/dist + build/histodesk_*.deb when present, else build them
#   REBUILD=1 packaging/smoke_test.sh    # always rebuild first
#   VARIANT=cuda packaging/smoke_test.sh # the CUDA build (build/dist-cuda, build/histodesk-cuda_*.deb)
#
# 0. the CPU build carries no NVIDIA/CUDA library (that is what makes it small),
# 1. the frozen app opens its main window (hidden `histodesk selftest --screenshot`),
# 2. the frozen app trains a tiny demo run, exports it to an ONNX package (parity-checked)
#    and batch-classifies a folder with the package (`histodesk predict`); the CSV is checked,
# 3. the .deb is unpacked into a temp root (dpkg -x) and that copy runs the self-test and a prediction,
# 4. the desktop entry is validated (desktop-file-validate, when installed).
# Output is meant to be kept in benchmarks/results/packaging_smoke.txt.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
export VARIANT="${VARIANT:-cpu}"
if [[ "$VARIANT" == cuda ]]; then DIST_ROOT="$ROOT/build/dist-cuda" NAME=histodesk-cuda; else DIST_ROOT="$ROOT/build/dist" NAME=histodesk; fi
APP="$DIST_ROOT/histodesk/histodesk"
DEB="$(ls -t "$ROOT"/build/${NAME}_*.deb 2>/dev/null | head -1 || true)"
if [[ "${REBUILD:-0}" == "1" || ! -x "$APP" || -z "$DEB" ]]; then
    packaging/build_linux.sh
    DEB="$(ls -t "$ROOT"/build/${NAME}_*.deb | head -1)"
fi
WORK="$(mktemp -d /tmp/histodesk-smoke-XXXXXX)"
export HISTODESK_HOME="$WORK/home" QT_QPA_PLATFORM=offscreen XDG_CONFIG_HOME="$WORK/config"
fail() { echo "SMOKE FAIL: $*"; exit 1; }
step() { echo; echo "== $*"; }
elapsed() { local t0=$1; echo "$(( $(date +%s) - t0 )) s"; }

echo "HistoDesk packaging smoke test, $(date -u '+%Y-%m-%d %H:%M UTC'), $(uname -sm)"
echo "bundle: $(du -sh "$(dirname "$APP")" | cut -f1)  deb: $(du -h "$DEB" | cut -f1) ($(basename "$DEB"))"

if [[ "$VARIANT" == cpu ]]; then
    step "0. CPU build: no NVIDIA/CUDA libraries in the bundle"
    CUDA_LIBS="$(find "$(dirname "$APP")" \( -name 'libtorch_cuda*' -o -name 'libc10_cuda*' -o -name 'libcudnn*' \
        -o -name 'libcublas*' -o -name 'libnccl*' -o -name 'libcudart*' -o -path '*/nvidia/*' \) | head -5)"
    [[ -z "$CUDA_LIBS" ]] || fail "CUDA libraries in the CPU bundle: $CUDA_LIBS"
    echo "none found; largest parts: $(du -sm "$(dirname "$APP")"/_internal/* | sort -rn | head -6 \
        | awk '{n = split($2, p, "/"); printf "%s %d MB, ", p[n], $1}')"
fi

step "1. frozen app: open the main window offscreen"
t0=$(date +%s)
"$APP" selftest --screenshot "$WORK/selftest.png" 2>&1 | grep -v propagateSizeHints | tee "$WORK/selftest.txt"
[[ -s "$WORK/selftest.png" ]] || fail "no screenshot"
grep -q "frozen=True" "$WORK/selftest.txt" || fail "not running frozen"
for actions in gui/*/actions.py; do  # every GUI area of the source tree must be in the bundle
    area="gui.$(basename "$(dirname "$actions")").actions"
    grep -q "$area" "$WORK/selftest.txt" || fail "GUI extension $area missing from the bundle"
done
echo "screenshot $(python3 -c "import struct,sys; d=open(sys.argv[1],'rb').read(24); print('%dx%d' % struct.unpack('>II', d[16:24]))" "$WORK/selftest.png") PNG; first start $(elapsed "$t0")"

VERSION_LINE="$("$APP" --version)"
WANT="HistoDesk $(sed -n 's/^__version__ = "\(.*\)"$/\1/p' engine/__init__.py)"
[[ "$VERSION_LINE" == "$WANT" && "$DEB" == *"_${WANT#HistoDesk }_"* ]] || fail "version: '$VERSION_LINE', $DEB, want $WANT"
echo "histodesk --version: $VERSION_LINE (= engine.__version__ = the .deb's version)"

step "2a. frozen app: train a tiny demo run (1 epoch, 64 px)"
t0=$(date +%s)
"$APP" train --preset demo --data demo --epochs 1 --image-size 64 --workers 0 --runs-dir "$WORK/runs" --name smoke \
    > "$WORK/train.log" 2>&1 || { tail -20 "$WORK/train.log"; fail "train"; }
tail -3 "$WORK/train.log"
RUN="$(ls -d "$WORK"/runs/*/ | head -1)"
echo "run: $RUN ($(elapsed "$t0"))"

step "2b. frozen app: export the run to an ONNX package (parity-checked)"
t0=$(date +%s)
"$APP" export "$RUN" --out "$WORK/packages" 2>&1 | grep -v '^\s*$' | tail -4
PKG="$(ls -d "$WORK"/packages/*.hdpkg | head -1)"
[[ -f "$PKG/model.onnx" && -f "$PKG/package.json" ]] || fail "no package"
echo "export took $(elapsed "$t0")"

step "2c. frozen app: classify a folder with the package"
IMGS="$WORK/incoming"
mkdir -p "$IMGS/sub"
find "$HISTODESK_HOME/datasets" -name '*.png' | sort | awk 'NR % 9 == 0' | head -12 | while read -r f; do
    cp "$f" "$IMGS/$( [[ $((RANDOM % 2)) == 0 ]] && echo sub/ )$(basename "$f")"; done
printf 'not an image' > "$IMGS/broken.png"
N=$(find "$IMGS" -name '*.png' | wc -l)
t0=$(date +%s)
"$APP" predict "$PKG" "$IMGS" --out "$WORK/predictions" 2>&1 | grep -v '^\s*$' | tail -3
python3 - "$WORK/predictions/predictions.csv" "$N" <<'PY' || fail "CSV check"
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1], newline="")))
n = int(sys.argv[2])
ok = [r for r in rows if r["status"] == "ok"]
bad = [r for r in rows if r["status"] == "error"]
assert len(rows) == n, (len(rows), n)
assert len(bad) == 1 and bad[0]["path"].endswith("broken.png") and bad[0]["reason"], bad
for r in ok:
    p = [float(v) for k, v in r.items() if k.startswith("p_")]
    assert abs(sum(p) - 1) < 1e-4 and r["class"] and 0 <= float(r["prob"]) <= 1, r
print(f"CSV ok: {len(rows)} rows = {n} files; {len(ok)} classified, {len(bad)} error "
      f"({bad[0]['reason'][:60]}...); columns {list(rows[0])}")
PY
echo "predict took $(elapsed "$t0")"

step "3. .deb: unpack into a temp root and run from there"
dpkg-deb --info "$DEB" | grep -E 'Package|Version|Installed-Size|Depends' || true
dpkg -x "$DEB" "$WORK/root"
for f in opt/histodesk/histodesk usr/share/applications/histodesk.desktop \
         usr/share/icons/hicolor/256x256/apps/histodesk.png usr/share/icons/hicolor/scalable/apps/histodesk.svg; do
    [[ -e "$WORK/root/$f" ]] || fail "missing $f in the .deb"
done
[[ "$(readlink "$WORK/root/usr/bin/histodesk")" == "/opt/histodesk/histodesk" ]] || fail "bad /usr/bin symlink"
echo "layout ok: /opt/histodesk, /usr/bin/histodesk -> /opt/histodesk/histodesk, desktop entry, icons"
"$WORK/root/opt/histodesk/histodesk" selftest --screenshot "$WORK/selftest-deb.png"
"$WORK/root/opt/histodesk/histodesk" predict "$PKG" "$IMGS" --out "$WORK/predictions-deb" --tta 2>&1 | tail -1
[[ $(wc -l < "$WORK/predictions-deb/predictions.csv") -eq $((N + 1)) ]] || fail "deb predict rows"
echo "deb copy: predict with TTA wrote $N rows"
[[ "${KEEP:-0}" == "1" ]] || rm -rf "$WORK/root"  # the unpacked copy is as big as the bundle

step "4. desktop entry"
if command -v desktop-file-validate >/dev/null; then
    desktop-file-validate "$WORK/root/usr/share/applications/histodesk.desktop" && echo "desktop-file-validate: ok"
else
    echo "desktop-file-validate not installed (apt-get install desktop-file-utils); skipped"
fi
echo
echo "SMOKE OK (work folder $WORK)"
