#!/usr/bin/env bash
# CI for the Python package: lint it (ruff), build the wheel once (maturin,
# release), install it into a fresh venv (which gets numpy and pytest from
# PyPI, and no Rust), and run tests/python there, outside the checkout, so
# `import sslwatch` and the `sslwatch` command can only be the installed ones.
#
# Usage: scripts/ci-python.sh            (from anywhere)
# Env:   CARGO_TARGET_DIR as usual (the release build is reused on reruns)
#        PYTHON  the interpreter to build and test with (default python3)
set -euo pipefail
cd "$(dirname "$0")/.."
repo="$PWD"
python="${PYTHON:-python3}"
start=$SECONDS

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
pip_quiet=(-q --disable-pip-version-check)

echo "ci-python: maturin and ruff (in a build venv)"
"$python" -m venv "$work/build"
"$work/build/bin/pip" install "${pip_quiet[@]}" "maturin>=1.5,<2" ruff

echo "ci-python: ruff format --check, ruff check (config in pyproject.toml)"
"$work/build/bin/ruff" format --check python tests/python examples/python
"$work/build/bin/ruff" check python tests/python examples/python

echo "ci-python: maturin build --release"
"$work/build/bin/maturin" build --release --locked --quiet --out "$work/wheels"
shopt -s nullglob
wheels=("$work"/wheels/sslwatch-*.whl)
if [ "${#wheels[@]}" -ne 1 ]; then
    echo "ci-python: expected one wheel, found ${#wheels[@]}" >&2
    exit 1
fi
wheel="${wheels[0]}"
echo "ci-python: built $(basename "$wheel") ($(du -h "$wheel" | cut -f1))"

echo "ci-python: fresh venv, pip install the wheel + pytest"
"$python" -m venv "$work/venv"
"$work/venv/bin/pip" install "${pip_quiet[@]}" "$wheel" pytest

echo "ci-python: pytest tests/python"
cd "$work"
SSLWATCH_REQUIRE_INSTALLED=1 "$work/venv/bin/python" -m pytest \
    -p no:cacheprovider -ra --rootdir "$repo" "$repo/tests/python"
echo "ci-python: passed in $((SECONDS - start)) s"
