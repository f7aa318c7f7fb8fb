"""Benchmark sslwatch's metric set against two Python pipelines on the same data.

Run with `scripts/bench-metrics.sh [--size NxD]` (builds the Rust side first).
Generates an N x D float32 Gaussian mixture with 10 components and labels
(default 10,000 x 512), then, in one run:

* sslwatch per stage (examples/bench_metrics: medians, CPU seconds, each
  GEMM-bound stage's floor at the GEMM rate measured in that run), and the
  whole `sslwatch metrics` process with and without labels (wall, peak RSS);
* scikit-learn: KMeans x2 (n_init=3), silhouette_score, AMI x2,
  LogisticRegression (lbfgs) on a stratified 80/20 split;
* faiss + scikit-learn: faiss k-means x2 (nredo=3), flat inner-product index
  kNN accuracy, scikit-learn silhouette/AMI/probe, numpy histogram entropy
  and covariance eigenvalues.

Above sslwatch's sampling thresholds both sides do the same sampled work:
silhouette over 10,000 rows, kNN accuracy over 10,000 query rows against all
rows. Prints sslwatch vs each reference as ratios (reference / sslwatch),
medians, and the load average before and after.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np
from sklearn.cluster import KMeans
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import adjusted_mutual_info_score, silhouette_score
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

try:
    import faiss
except ImportError:  # reported in the output; the scikit-learn comparison stays
    faiss = None

C = 10
SIL_SAMPLE = 10_000
KNN_SAMPLE = 10_000
KNN_K = 20


def make_data(n, d, seed=0):
    rng = np.random.default_rng(seed)
    centres = rng.normal(0.0, 1.0, size=(C, d)).astype(np.float32)
    labels = rng.integers(0, C, size=n)
    x = centres[labels] * 0.6 + rng.normal(0.0, 1.0, size=(n, d)).astype(np.float32)
    return x.astype(np.float32), labels.astype(np.int64)


def silhouette(x, labels):
    n = x.shape[0]
    if n <= SIL_SAMPLE:
        return silhouette_score(x, labels)
    return silhouette_score(x, labels, sample_size=SIL_SAMPLE, random_state=0)


def probe(x, y):
    xtr, xte, ytr, yte = train_test_split(x, y, test_size=0.2, stratify=y, random_state=0)
    scaler = StandardScaler().fit(xtr)
    clf = LogisticRegression().fit(scaler.transform(xtr), ytr)
    return clf.score(scaler.transform(xte), yte)


def sklearn_pipeline(x, y):
    t = {}
    s = time.perf_counter()
    c1 = KMeans(n_clusters=C, n_init=3, random_state=0).fit(x)
    c2 = KMeans(n_clusters=C, n_init=3, random_state=1).fit(x)
    t["kmeans_x2"] = time.perf_counter() - s
    s = time.perf_counter()
    silhouette(x, c1.labels_)
    t["silhouette"] = time.perf_counter() - s
    s = time.perf_counter()
    adjusted_mutual_info_score(c1.labels_, c2.labels_)
    adjusted_mutual_info_score(c1.labels_, y)
    t["ami_x2"] = time.perf_counter() - s
    s = time.perf_counter()
    t["probe_acc"] = probe(x, y)
    t["probe"] = time.perf_counter() - s
    t["label_free"] = t["kmeans_x2"] + t["silhouette"] + t["ami_x2"]
    t["with_probe"] = t["label_free"] + t["probe"]
    t["inertia"] = float(c1.inertia_)
    return t


def hist_entropy(x, bins=64):
    lo, hi = x.min(axis=0), x.max(axis=0)
    total, varying = 0.0, 0
    for j in range(x.shape[1]):
        if hi[j] <= lo[j]:
            continue
        counts, _ = np.histogram(x[:, j], bins=bins, range=(float(lo[j]), float(hi[j])))
        p = counts[counts > 0] / x.shape[0]
        total += float(-(p * np.log2(p)).sum())
        varying += 1
    return total / max(varying, 1)


def faiss_knn_accuracy(x, y):
    n = x.shape[0]
    u = x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-30)
    u = np.ascontiguousarray(u, dtype=np.float32)
    index = faiss.IndexFlatIP(u.shape[1])
    index.add(u)
    if n <= KNN_SAMPLE:
        q = np.arange(n)
    else:
        q = np.sort(np.random.default_rng(0).choice(n, KNN_SAMPLE, replace=False))
    _, nb = index.search(u[q], KNN_K + 1)
    right = 0
    for qi, row in zip(q, nb):
        row = [j for j in row if j != qi][:KNN_K]
        right += int(np.bincount(y[row], minlength=C).argmax() == y[qi])
    return right / len(q)


def faiss_pipeline(x, y):
    t = {}
    d = x.shape[1]
    s = time.perf_counter()
    ks = []
    for seed in (0, 1):
        km = faiss.Kmeans(d, C, niter=300, nredo=3, seed=seed + 1234, verbose=False)
        km.train(x)
        ks.append(km.index.search(x, 1)[1].ravel())
    t["kmeans_x2"] = time.perf_counter() - s
    s = time.perf_counter()
    silhouette(x, ks[0])
    t["silhouette"] = time.perf_counter() - s
    s = time.perf_counter()
    adjusted_mutual_info_score(ks[0], ks[1])
    t["ami"] = time.perf_counter() - s
    s = time.perf_counter()
    hist_entropy(x)
    t["entropy"] = time.perf_counter() - s
    s = time.perf_counter()
    xc = x.astype(np.float64) - x.mean(axis=0, dtype=np.float64)
    np.linalg.eigvalsh(xc.T @ xc / (x.shape[0] - 1))  # spectrum, alpha, gauss entropy
    np.linalg.eigvalsh(x.T.astype(np.float64) @ x.astype(np.float64))  # RankMe (uncentred)
    del xc
    t["eig"] = time.perf_counter() - s
    t["label_free"] = sum(t[k] for k in ("kmeans_x2", "silhouette", "ami", "entropy", "eig"))
    s = time.perf_counter()
    t["knn_acc"] = faiss_knn_accuracy(x, y)
    t["knn"] = time.perf_counter() - s
    s = time.perf_counter()
    adjusted_mutual_info_score(ks[0], y)
    probe(x, y)
    t["ami_labels_probe"] = time.perf_counter() - s
    t["with_labels"] = t["label_free"] + t["knn"] + t["ami_labels_probe"]
    return t


TIME = "/usr/bin/time"


def run_child(cmd):
    """Wall seconds, peak RSS (MiB, None without /usr/bin/time) and stdout of
    one child process. The RSS comes from /usr/bin/time, which execs the
    command itself: a child forked from this Python process would report
    Python's own resident pages until its exec."""
    with tempfile.NamedTemporaryFile("r") as rss:
        timed = [TIME, "-f", "%M", "-o", rss.name] + cmd if os.path.exists(TIME) else cmd
        s = time.perf_counter()
        p = subprocess.run(timed, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        wall = time.perf_counter() - s
        if p.returncode != 0:
            raise SystemExit(f"{cmd[0]} failed with status {p.returncode}")
        text = rss.read().strip().splitlines()
    kib = float(text[-1]) if text and text[-1].isdigit() else None
    return wall, (kib / 1024.0 if kib else None), p.stdout


def load():
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("bench_binary")
    ap.add_argument("--size", default="10000x512")
    args = ap.parse_args()
    n, d = (int(v) for v in args.size.lower().split("x"))
    reps = int(os.environ.get("BENCH_REPS", "3" if n * d <= 10_000 * 512 else "1"))
    sslwatch = os.environ["SSLWATCH_BIN"]
    x, y = make_data(n, d)
    load_before = load()
    with tempfile.TemporaryDirectory() as tmp:
        xp, yp = os.path.join(tmp, "x.npy"), os.path.join(tmp, "y.npy")
        np.save(xp, x)
        np.save(yp, y)
        ours = json.loads(run_child([args.bench_binary, xp, yp, str(reps)])[2])
        free = [run_child([sslwatch, "metrics", xp, "--json"]) for _ in range(reps)]
        full = [run_child([sslwatch, "metrics", xp, "--labels", yp, "--json"]) for _ in range(reps)]
    metrics = json.loads(full[0][2])
    metrics = metrics[0] if isinstance(metrics, list) else metrics
    proc_free = statistics.median(w for w, _, _ in free)
    proc_full = statistics.median(w for w, _, _ in full)
    rss_free = max((r for _, r, _ in free if r), default=None)
    rss_full = max((r for _, r, _ in full if r), default=None)

    sk_runs = [sklearn_pipeline(x, y) for _ in range(reps)]
    sk = {k: statistics.median(r[k] for r in sk_runs) for k in sk_runs[0]}
    fa = None
    if faiss is not None:
        fa_runs = [faiss_pipeline(x, y) for _ in range(reps)]
        fa = {k: statistics.median(r[k] for r in fa_runs) for k in fa_runs[0]}

    print(f"data: {n} x {d} float32, {C}-component Gaussian mixture, labels; "
          f"{os.cpu_count()} cores, {ours['threads']} sslwatch threads; medians of {reps}")
    print(f"load (1/5/15 min): before {load_before}, after {load()}")
    if faiss is None:
        print("faiss-cpu is not installed (pip install faiss-cpu): faiss comparison skipped")
    cpu = ours.get("cpu", {})
    floor = ours.get("floor", {})
    cfloor = ours.get("cpu_floor", {})
    print(f"GEMM measured in this run: f32 {ours['gemm_f32_gflops']:.0f} GFLOP/s on "
          f"{ours['threads']} threads ({ours['gemm_f32_core_gflops']:.0f} on one), "
          f"f64 {ours['gemm_f64_gflops']:.0f} GFLOP/s (the Gram's triangular update)")
    if ours.get("bf16_gflops"):
        print(f"bf16 products (AVX512-BF16) measured in this run: {ours['bf16_gflops']:.0f} GFLOP/s on "
              f"{ours['threads']} threads ({ours['bf16_core_gflops']:.0f} on one)")
    print("floor: the stage's multiply-adds at that rate (wall) or at one core's rate "
          "(CPU seconds, robust to other load)")
    if ours.get("knn_screened"):
        print("knn: the sampled search screens in bf16, so its floor is at the bf16 rate")
    print(f"{'sslwatch stage':<26}{'wall s':>9}{'floor s':>9}{'x floor':>9}"
          f"{'cpu s':>9}{'floor s':>9}{'x floor':>9}")
    for name in ["kmeans_x2", "silhouette", "ami_agreement", "entropy_hist", "gram_f64",
                 "rankme_eig", "cov_spectrum", "outliers", "uniformity", "map", "ami_labels",
                 "probe", "knn", "compute_layer_label_free", "compute_layer_all"]:
        f, cf, c = floor.get(name), cfloor.get(name), cpu.get(name, float("nan"))
        fs = f"{f:9.3f}{ours[name] / f:9.2f}" if f else f"{'':>18}"
        cs = f"{cf:9.3f}{c / cf:9.2f}" if cf else ""
        print(f"{name:<26}{ours[name]:9.3f}{fs}{c:9.3f}{cs}")

    def row(label, a, b):
        if b is None:
            return f"{label:<44}{a:10.3f}{'-':>10}{'':>9}"
        return f"{label:<44}{a:10.3f}{b:10.3f}{b / a:8.1f}x"

    print(f"\n{'vs scikit-learn':<44}{'sslwatch':>10}{'sklearn':>10}{'ratio':>9}")
    print(row("2x k-means (n_init=3)", ours["kmeans_x2"], sk["kmeans_x2"]))
    print(row("silhouette", ours["silhouette"], sk["silhouette"]))
    print(row("AMI (x2)", ours["ami_agreement"] + ours["ami_labels"], sk["ami_x2"]))
    print(row("probe (sklearn: lbfgs)", ours["probe"], sk["probe"]))
    print(row("whole process, label-free (sklearn: k-means,", proc_free, sk["label_free"]))
    print("  silhouette, AMI)")
    print(row("whole process, labels (sklearn: + probe)", proc_full, sk["with_probe"]))
    if fa is not None:
        print(f"\n{'vs faiss + scikit-learn + numpy':<44}{'sslwatch':>10}{'faiss':>10}{'ratio':>9}")
        print(row("2x k-means (faiss, nredo=3)", ours["kmeans_x2"], fa["kmeans_x2"]))
        print(row("entropy (numpy histogram)", ours["entropy_hist"], fa["entropy"]))
        print(row("spectra (numpy eigvalsh x2)",
                  ours["gram_f64"] + ours["rankme_eig"] + ours["cov_spectrum"], fa["eig"]))
        print(row("knn_acc (faiss flat index)", ours["knn"], fa["knn"]))
        print(row("whole process, label-free", proc_free, fa["label_free"]))
        print(row("whole process, labels (+ kNN, AMI, probe)", proc_full, fa["with_labels"]))
    if rss_full:
        print(f"\npeak RSS, whole `sslwatch metrics` process: {rss_free:.0f} MiB label-free, "
              f"{rss_full:.0f} MiB with labels (input {x.nbytes / 2**20:.0f} MiB: "
              f"{rss_free / (x.nbytes / 2**20):.2f}x and {rss_full / (x.nbytes / 2**20):.2f}x)")
    else:
        print("\npeak RSS: /usr/bin/time not found, not measured")
    q = f" vs faiss {fa['knn_acc']:.4f}" if fa else ""
    print(f"quality: probe_acc sslwatch {metrics['probe_acc']:.4f} vs sklearn {sk['probe_acc']:.4f} "
          f"(different 80/20 splits); knn_acc {metrics['knn_acc']:.4f}{q}; "
          f"kmeans inertia sslwatch {metrics['kmeans_inertia']:.1f} vs sklearn {sk['inertia']:.1f}")


if __name__ == "__main__":
    main()
