#!/usr/bin/env bash
# Build the PortraitCam desktop bundle (one folder: dist/PortraitCam/) with PyInstaller.
#
#   bash packaging/build.sh            # create/refresh the build venv, build, print the bundle size
#   bash packaging/build.sh --check    # ... then run the bundle headless on the sample clip
#
# The build venv holds requirements.txt + PyInstaller only, so training and test packages (torch,
# onnx, pytest) are not installed there and cannot be swept into the bundle. BUILD_VENV=... overrides it.
set -euo pipefail
cd "$(dirname "$0")/.."

VENV="${BUILD_VENV:-.venv-build}"
CHECK=0
for arg in "$@"; do
    case "$arg" in
        --check) CHECK=1 ;;
        *) echo "usage: bash packaging/build.sh [--check]" >&2; exit 2 ;;
    esac
done

if [[ "$(uname -s)" == MINGW* || "$(uname -s)" == MSYS* || "$(uname -s)" == CYGWIN* ]]; then
    PYTHON="${PYTHON:-py -3.11}"
    VENV_BIN="$VENV/Scripts"
else
    PYTHON="${PYTHON:-python3}"
    VENV_BIN="$VENV/bin"
fi

start=$SECONDS
if [[ ! -x "$VENV_BIN/python" && ! -x "$VENV_BIN/python.exe" ]]; then
    echo "Creating build environment $VENV" >&2
    $PYTHON -m venv "$VENV"
fi
"$VENV_BIN/python" -m pip install --quiet --upgrade pip
"$VENV_BIN/python" -m pip install --quiet -r packaging/requirements.txt
echo "Build environment ready ($((SECONDS - start)) s)" >&2

build_start=$SECONDS
"$VENV_BIN/python" -m PyInstaller --noconfirm --clean --log-level WARN \
    --distpath dist --workpath build/pyinstaller packaging/portraitcam.spec
echo "PyInstaller finished ($((SECONDS - build_start)) s)" >&2

BUNDLE=dist/PortraitCam
[[ -d dist/PortraitCam.app ]] && BUNDLE=dist/PortraitCam.app
echo "Bundle: $BUNDLE  size: $(du -sh "$BUNDLE" | cut -f1)  (total time $((SECONDS - start)) s)"

if [[ "$CHECK" == 1 ]]; then
    "$VENV_BIN/python" packaging/check_bundle.py
fi
