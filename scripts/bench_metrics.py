"""Benchmark sslwatch's metric set against scikit-learn on the same data.

Run with `scripts/bench-metrics.sh` (builds the Rust side first). Generates a
10,000 x 512 float32 Gaussian mixture with 10 components and labels, times
scikit-learn's equivalent pipeline and sslwatch's, and prints the ratio.
"""

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

N, D, C = 10_000, 512, 10
REPS = int(os.environ.get("BENCH_REPS", "3"))


def make_data(seed=0):
    rng = np.random.default_rng(seed)
    centres = rng.normal(0.0, 1.0, size=(C, D)).astype(np.float32)
    labels = rng.integers(0, C, size=N)
    x = centres[labels] * 0.6 + rng.normal(0.0, 1.0, size=(N, D)).astype(np.float32)
    return x.astype(np.float32), labels.astype(np.int64)


def sklearn_pipeline(x, y):
    times = {}
    t = time.perf_counter()
    c1 = KMeans(n_clusters=C, n_init=3, random_state=0).fit(x)
    c2 = KMeans(n_clusters=C, n_init=3, random_state=1).fit(x)
    times["kmeans_x2"] = time.perf_counter() - t
    t = time.perf_counter()
    silhouette_score(x, c1.labels_)
    times["silhouette"] = time.perf_counter() - t
    t = time.perf_counter()
    adjusted_mutual_info_score(c1.labels_, c2.labels_)
    adjusted_mutual_info_score(c1.labels_, y)
    times["ami_x2"] = time.perf_counter() - t
    t = time.perf_counter()
    xtr, xte, ytr, yte = train_test_split(x, y, test_size=0.2, stratify=y, random_state=0)
    scaler = StandardScaler().fit(xtr)
    clf = LogisticRegression().fit(scaler.transform(xtr), ytr)
    acc = clf.score(scaler.transform(xte), yte)
    times["probe"] = time.perf_counter() - t
    times["label_free"] = times["kmeans_x2"] + times["silhouette"] + times["ami_x2"]
    times["with_probe"] = times["label_free"] + times["probe"]
    times["probe_acc"] = acc
    times["inertia"] = float(c1.inertia_)
    return times


def main():
    binary = sys.argv[1]
    x, y = make_data()
    with tempfile.TemporaryDirectory() as tmp:
        xp, yp = os.path.join(tmp, "x.npy"), os.path.join(tmp, "y.npy")
        np.save(xp, x)
        np.save(yp, y)
        ours = json.loads(
            subprocess.run([binary, xp, yp, str(max(REPS, 3))], check=True,
                           capture_output=True, text=True).stdout)
        metrics = json.loads(
            subprocess.run([os.environ["SSLWATCH_BIN"], "metrics", xp, "--labels", yp, "--json"],
                           check=True, capture_output=True, text=True).stdout)
    runs = [sklearn_pipeline(x, y) for _ in range(REPS)]
    sk = {k: statistics.median(r[k] for r in runs) for k in runs[0]}

    print(f"data: {N} x {D} float32, {C}-component Gaussian mixture, labels; "
          f"{os.cpu_count()} cores; medians of {REPS} (scikit-learn) and {max(REPS, 3)} (sslwatch)")
    print(f"{'stage':<26}{'sslwatch s':>12}{'sklearn s':>12}{'ratio':>9}")
    rows = [
        ("2x k-means (n_init=3)", ours["kmeans_x2"], sk["kmeans_x2"]),
        ("silhouette", ours["silhouette"], sk["silhouette"]),
        ("AMI (x2)", ours["ami_agreement"] + ours["ami_labels"], sk["ami_x2"]),
        ("probe", ours["probe"], sk["probe"]),
        ("entropy (hist)", ours["entropy_hist"], None),
        ("rankme", ours["rankme"], None),
        ("knn_acc", ours["knn"], None),
        ("all label-free", ours["label_free"], sk["label_free"]),
        ("label-free + probe", ours["label_free_plus_probe"], sk["with_probe"]),
    ]
    for name, a, b in rows:
        ratio = f"{b / a:8.1f}x" if b else ""
        bs = f"{b:12.3f}" if b else f"{'-':>12}"
        print(f"{name:<26}{a:12.3f}{bs}{ratio}")
    print(f"compute_layer (everything, incl. knn_acc): {ours['compute_layer_all']:.3f} s")
    print(f"peak RSS (sslwatch bench process): {ours['peak_rss_mib']:.0f} MiB "
          f"(input {x.nbytes / 2**20:.0f} MiB; budget 3x input + 64 = {3 * x.nbytes / 2**20 + 64:.0f} MiB)")
    m = metrics
    print(f"quality: probe_acc sslwatch {m['probe_acc']:.4f} vs sklearn {sk['probe_acc']:.4f} "
          f"(different 80/20 splits); kmeans inertia sslwatch {m['kmeans_inertia']:.1f} "
          f"vs sklearn {sk['inertia']:.1f}")


if __name__ == "__main__":
    main()
