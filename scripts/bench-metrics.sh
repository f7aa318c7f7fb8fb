#!/usr/bin/env bash
# Benchmark the metric set against scikit-learn and faiss + scikit-learn
# (same data, same run): per-stage times with their GEMM floors, the whole
# `sslwatch metrics` process with and without labels, ratios, load.
# Usage: scripts/bench-metrics.sh [--size NxD]   (default 10000x512; e.g. --size 50000x2048)
#        BENCH_REPS=N for more repeats (default 3, 1 above 10000x512)
set -euo pipefail
cd "$(dirname "$0")/.."
size=10000x512
while [ $# -gt 0 ]; do
  case "$1" in
    --size) size="${2:?--size needs NxD}"; shift 2 ;;
    --size=*) size="${1#--size=}"; shift ;;
    *) echo "usage: scripts/bench-metrics.sh [--size NxD]" >&2; exit 2 ;;
  esac
done
[[ "$size" =~ ^[0-9]+x[0-9]+$ ]] || { echo "--size $size: expected NxD, e.g. 50000x2048" >&2; exit 2; }
python3 -c "import sklearn, numpy" 2>/dev/null || python3 -m pip install -q numpy scipy scikit-learn threadpoolctl
# The second reference; without it the script says so and keeps scikit-learn.
python3 -c "import faiss" 2>/dev/null || python3 -m pip install -q faiss-cpu || true
cargo build --release --quiet --example bench_metrics --bin sslwatch
echo "load: $(cut -d' ' -f1-3 /proc/loadavg) (check the machine is idle)"
# Some machines here set OPENBLAS_CORETYPE/OPENBLAS_L2_SIZE for old OpenBLAS builds;
# they slow a current numpy, so the reference runs without them.
env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE SSLWATCH_BIN=target/release/sslwatch \
  python3 scripts/bench_metrics.py target/release/examples/bench_metrics --size "$size"
