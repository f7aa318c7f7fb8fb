#!/usr/bin/env bash
# CI for the trainer (feature `train`): install libtorch (cached in the
# user's cache directory between runs), build, run the trainer's tests and
# a smoke training, and check the run it writes.
#
# Usage: scripts/ci-train.sh            (from the repository root)
# Env:   LIBTORCH  use this libtorch instead of installing one
#        CI_TRAIN_PROFILE=dev  build without --release (quicker to build,
#                              libtorch does the compute either way)
#        CARGO_TARGET_DIR as usual
set -euo pipefail
cd "$(dirname "$0")/.."

if [ -z "${LIBTORCH:-}" ]; then
    eval "$(scripts/install-libtorch.sh | tail -n 1)"
fi
export LIBTORCH
echo "ci-train: LIBTORCH=$LIBTORCH" >&2

if [ "${CI_TRAIN_PROFILE:-release}" = dev ]; then
    profile=() outdir=debug
else
    profile=(--release) outdir=release
fi
cargo clippy --features train --all-targets -- -D warnings
cargo build "${profile[@]}" --features train
cargo test "${profile[@]}" --features train --lib train::
cargo test "${profile[@]}" --features train --test train
# The metric device kernels (--device cuda|auto) on libtorch's CPU, held to
# the CPU kernels; and scripts/gpu-check.sh's benchmark on a small size.
cargo test "${profile[@]}" --features train --lib metrics::device
cargo run "${profile[@]}" --features train --example bench_device -- \
    --size 3000x64 --device torch-cpu --repeats 1

target="${CARGO_TARGET_DIR:-target}"
bin="$target/$outdir/sslwatch"
root="$(mktemp -d)"
trap 'rm -rf "$root"' EXIT

# the binary finds libtorch through its rpath, without LD_LIBRARY_PATH
"$bin" train --method simclr --dataset digits --arch small --epochs 2 \
    --milestone-every 1 --warmup-epochs 0 --out "$root/digits/simclr-s0" --quiet

python3 - "$root/digits/simclr-s0" <<'PY'
import json, math, pathlib, sys
run = pathlib.Path(sys.argv[1])
problems = []
for e in range(3):
    m = run / "milestones" / f"epoch_{e:04d}"
    for layer in ("h.npy", "z.npy"):
        if not (m / layer).is_file():
            problems.append(f"missing {m / layer}")
for f in ("labels.npy", "run.json", "scalars.jsonl", "checkpoints/last.ot"):
    if not (run / f).is_file():
        problems.append(f"missing {run / f}")
meta = json.loads((run / "run.json").read_text())
if meta.get("method") != "simclr" or meta.get("arch") != "small":
    problems.append(f"run.json: unexpected {meta}")
lines = [json.loads(l) for l in (run / "scalars.jsonl").read_text().splitlines()]
steps = [l["step"] for l in lines]
if steps != [0, 1, 2]:
    problems.append(f"scalars.jsonl steps {steps}, expected [0, 1, 2]")
for l in lines:
    acc = l.get("probe_acc")
    if not isinstance(acc, (int, float)) or not math.isfinite(acc):
        problems.append(f"scalars.jsonl: probe_acc not numeric in {l}")
for l in lines[1:]:
    if not math.isfinite(l.get("loss", float("nan"))):
        problems.append(f"scalars.jsonl: loss not numeric in {l}")
if problems:
    print("ci-train: FAILED\n  " + "\n  ".join(problems), file=sys.stderr)
    sys.exit(1)
print("ci-train: smoke run complete:", ", ".join(f"epoch {l['step']}: probe_acc {l['probe_acc']:.3f}" for l in lines))
PY

# The watcher's engine reads what the trainer wrote: 3 milestones x 2 layers,
# each complete (status ok) with numeric metrics.
"$bin" report "$root" --format json --no-cache > "$root/report.jsonl"
python3 - "$root/report.jsonl" <<'PY'
import json, math, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
results = [r for r in rows if "status" in r]
problems = []
keys = sorted((r["step"], r["layer"]) for r in results)
if keys != [(s, l) for s in (0, 1, 2) for l in ("h", "z")]:
    problems.append(f"report rows {keys}, expected steps 0-2 x layers h, z")
for r in results:
    if r["status"] != "ok":
        problems.append(f"step {r['step']} {r['layer']}: {r.get('error')}")
        continue
    for k in ("entropy_bits", "silhouette", "ami_agreement", "ami_labels", "probe_acc", "rankme"):
        v = r.get(k)
        if not isinstance(v, (int, float)) or not math.isfinite(v):
            problems.append(f"step {r['step']} {r['layer']}: {k} = {v!r}")
if problems:
    print("ci-train: report FAILED\n  " + "\n  ".join(problems), file=sys.stderr)
    sys.exit(1)
print(f"ci-train: report on the smoke run: {len(results)} results, all numeric")
PY
"$bin" report "$root" --no-cache

# A minimal study end to end: train one method x one seed for two epochs
# through `sslwatch study`, then its analysis (JSON) must cover that run.
"$bin" study "$root/study" --methods simclr --seeds 1 --epochs 2 --milestone-every 1 \
    --no-cache --format json > "$root/study.json"
python3 - "$root/study.json" "$root/study" <<'PY'
import json, pathlib, sys
s = json.load(open(sys.argv[1]))
run = pathlib.Path(sys.argv[2]) / "digits" / "simclr-s0"
problems = []
if s.get("runs") != 1:
    problems.append(f"runs = {s.get('runs')}, expected 1")
if not (run / "milestones" / "epoch_0002" / "h.npy").is_file():
    problems.append(f"study did not train {run}")
rows = [r for r in s.get("rows", []) if r["method"] == "simclr" and r["layer"] == "h"]
if len(rows) != 1 or rows[0]["milestones"] != 3:
    problems.append(f"expected one simclr/h row with 3 milestones, got {rows}")
elif rows[0]["probe_source"] != "trainer":
    problems.append(f"probe source {rows[0]['probe_source']}, expected trainer")
if len(s.get("findings", [])) != 4:
    problems.append(f"{len(s.get('findings', []))} findings, expected 4")
if problems:
    print("ci-train: study FAILED\n  " + "\n  ".join(problems), file=sys.stderr)
    sys.exit(1)
print("ci-train: minimal study:", ", ".join(f"{f['verdict']}" for f in s["findings"]))
PY
# a second call only reports (the run is complete): no training
"$bin" study "$root/study" --methods simclr --seeds 1 --epochs 2 --milestone-every 1 --no-cache \
    2> "$root/study2.err" | tail -n 8
grep -q "already trained" "$root/study2.err" || { echo "ci-train: second study call retrained" >&2; cat "$root/study2.err" >&2; exit 1; }
