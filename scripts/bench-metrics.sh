#!/usr/bin/env bash
# Benchmark the metric set against scikit-learn (same data, same run).
# Usage: scripts/bench-metrics.sh   (BENCH_REPS=N for more repeats)
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -c "import sklearn, numpy" 2>/dev/null || python3 -m pip install -q numpy scipy scikit-learn threadpoolctl
cargo build --release --quiet --example bench_metrics --bin sslwatch
echo "load: $(cut -d' ' -f1-3 /proc/loadavg) (check the machine is idle)"
# Some machines here set OPENBLAS_CORETYPE/OPENBLAS_L2_SIZE for old OpenBLAS builds;
# they slow a current numpy, so the reference runs without them.
env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE SSLWATCH_BIN=target/release/sslwatch \
  python3 scripts/bench_metrics.py target/release/examples/bench_metrics
