#!/usr/bin/env bash
# The GPU check, for a machine with an NVIDIA GPU (sized for under 10
# minutes on an H200 box with 16 cores, libtorch already downloaded):
#   1. libtorch with CUDA (scripts/install-libtorch.sh --cuda, its own venv),
#   2. a release build with --features cuda (binary and examples/bench_device),
#   3. the device kernels' tests on this build: each comparison with the
#      CPU kernels runs on libtorch's CPU and on cuda:0, and the resolve
#      test checks that --device auto picks cuda:0 here,
#   4. the 50,000 x 2,048 metrics benchmark on the CPU kernels and on cuda:
#      both medians, the ratio, and each metric's absolute difference,
#   5. the trainer's 1-epoch resnet18 CUDA smoke run, then `report
#      --device cuda` on the run it wrote.
# Everything goes to stdout; paste the numbers into README's "GPU backend".
#
# Usage: scripts/gpu-check.sh [--size NxD] [--repeats R]
# Env:   LIBTORCH  a CUDA libtorch to use instead of installing one
#        CARGO_TARGET_DIR as usual
set -euo pipefail
cd "$(dirname "$0")/.."

size=50000x2048
repeats=3
while [ $# -gt 0 ]; do
    case "$1" in
        --size) size="$2"; shift 2 ;;
        --repeats) repeats="$2"; shift 2 ;;
        -h|--help) sed -n '2,18p' "$0"; exit 0 ;;
        *) echo "gpu-check: unknown argument $1" >&2; exit 2 ;;
    esac
done

step() { echo; echo "== gpu-check: $* ($(date -u +%H:%M:%S), load $(cut -d' ' -f1-3 /proc/loadavg))"; }

step "machine"
nproc
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader \
    || { echo "gpu-check: nvidia-smi failed: no GPU or no driver" >&2; exit 1; }

if [ -z "${LIBTORCH:-}" ]; then
    step "libtorch with CUDA"
    # A venv of its own: the CPU-only one (no CUDA libraries) is reused as
    # it is by install-libtorch.sh, even with --cuda.
    venv="${XDG_CACHE_HOME:-$HOME/.cache}/sslwatch/libtorch-cuda-venv"
    eval "$(scripts/install-libtorch.sh --cuda "$venv" | tail -n 1)"
fi
export LIBTORCH
echo "LIBTORCH=$LIBTORCH"

step "release build with --features cuda"
cargo build --release --features cuda --bin sslwatch --example bench_device
target="${CARGO_TARGET_DIR:-target}"
bin="$target/release/sslwatch"
bench="$target/release/examples/bench_device"

step "device kernel tests (--features cuda)"
cargo test --release --features cuda --lib metrics::device

step "metrics benchmark $size: cpu kernels vs cuda, median of $repeats"
"$bench" --size "$size" --device cuda --repeats "$repeats"

step "trainer: 1 epoch of SimCLR on resnet18, --device cuda"
root="$(mktemp -d)"
trap 'rm -rf "$root"' EXIT
start=$(date +%s%N)
"$bin" train --method simclr --arch resnet18 --dataset digits --epochs 1 \
    --milestone-every 1 --warmup-epochs 0 --device cuda \
    --out "$root/digits/simclr-r18" --quiet
ms=$(( ($(date +%s%N) - start) / 1000000 ))
echo "train: $((ms / 1000)).$(printf %03d $((ms % 1000))) s wall (1 epoch, digits, resnet18, cuda, process start to exit)"
ls "$root/digits/simclr-r18/milestones"

step "report --device cuda on the smoke run"
"$bin" report "$root" --no-cache --device cuda

step "done"
