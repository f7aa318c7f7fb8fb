#!/usr/bin/env bash
# Install libtorch (PyTorch 2.11.0, the version tch 0.24 expects) from PyPI
# into a virtualenv, and print the LIBTORCH value to export.
#
# Usage: scripts/install-libtorch.sh [--cuda] [VENV_DIR]
#   VENV_DIR defaults to ${XDG_CACHE_HOME:-~/.cache}/sslwatch/libtorch-venv;
#   an existing venv with torch 2.11.0 is reused (no download).
#   --cuda installs torch with all its CUDA dependencies (about 2.7 GB),
#   needed for `--features cuda`. Without it only the CPU side of the wheel is
#   usable, plus the two CUDA runtime libraries libtorch_cpu links against
#   (cudart and cupti, about 540 MB with the torch wheel).
#
# The last line printed is `export LIBTORCH=...`, so
#   eval "$(scripts/install-libtorch.sh | tail -n 1)"
# sets it in the current shell. Progress goes to stderr.
set -euo pipefail

TORCH_VERSION=2.11.0
CUDA_TOOLKIT='cuda-toolkit[cudart,cupti]==13.0.2'

cuda=0
venv=""
for arg in "$@"; do
    case "$arg" in
        --cuda) cuda=1 ;;
        -h|--help) sed -n '2,16p' "$0"; exit 0 ;;
        -*) echo "install-libtorch: unknown option $arg" >&2; exit 2 ;;
        *) venv="$arg" ;;
    esac
done
if [ -z "$venv" ]; then
    venv="${XDG_CACHE_HOME:-$HOME/.cache}/sslwatch/libtorch-venv"
fi

python="${PYTHON:-python3}"
if ! command -v "$python" >/dev/null 2>&1; then
    echo "install-libtorch: $python not found; set PYTHON to a Python 3 interpreter" >&2
    exit 1
fi

if [ ! -x "$venv/bin/python" ]; then
    echo "install-libtorch: creating virtualenv $venv" >&2
    mkdir -p "$(dirname "$venv")"
    "$python" -m venv "$venv"
fi
vpy="$venv/bin/python"

# site-packages of the venv, e.g. lib/python3.11/site-packages
site="$("$vpy" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
torch_dir="$site/torch"

installed_version() {
    "$vpy" -m pip show torch 2>/dev/null | sed -n 's/^Version: //p'
}

have="$(installed_version || true)"
if [ "${have%%+*}" = "$TORCH_VERSION" ] && [ -f "$torch_dir/lib/libtorch_cpu.so" ]; then
    echo "install-libtorch: torch $have already installed in $venv" >&2
else
    if [ "$cuda" = 1 ]; then
        echo "install-libtorch: installing torch==$TORCH_VERSION with CUDA dependencies" >&2
        "$vpy" -m pip install --disable-pip-version-check "torch==$TORCH_VERSION" >&2
    else
        echo "install-libtorch: installing torch==$TORCH_VERSION (no deps) and $CUDA_TOOLKIT" >&2
        "$vpy" -m pip install --disable-pip-version-check --no-deps "torch==$TORCH_VERSION" >&2
    fi
fi
# libtorch_cpu needs libcudart and libcupti even on CPU-only machines.
if ! "$vpy" -m pip show cuda-toolkit >/dev/null 2>&1 && [ "$cuda" = 0 ]; then
    "$vpy" -m pip install --disable-pip-version-check "$CUDA_TOOLKIT" >&2
fi

if [ ! -f "$torch_dir/lib/libtorch_cpu.so" ]; then
    echo "install-libtorch: $torch_dir/lib/libtorch_cpu.so is missing after install" >&2
    exit 1
fi
echo "install-libtorch: done; libtorch is in $torch_dir" >&2
echo "export LIBTORCH=$torch_dir"
