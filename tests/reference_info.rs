//! Cross-checks of the information metrics against the Python reference
//! implementations: scikit-learn's `adjusted_mutual_info_score`, scipy's
//! `spearmanr`, and numpy versions of the histogram entropy (mean over the
//! non-constant columns), RankMe and the ridge-regularised Gaussian entropy
//! written from their definitions in the README.
//!
//! Needs python3 with numpy, scipy and scikit-learn, so the tests are
//! `#[ignore]`d: a plain `cargo test` counts them as ignored in its summary;
//! `cargo test -- --include-ignored` (as CI does) runs them, and there a
//! missing package fails them.

mod common;
use common::require_reference;

use ndarray::Array2;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::StandardNormal;
use serde_json::Value;
use sslwatch::metrics::{
    ami, compute_layer, compute_layer_prescaled, correlation, entropy, rank, EntropyEstimator,
    MetricSettings,
};
use sslwatch::read::write::{npy_bytes_f32, npy_bytes_i64, write_atomic};
use std::path::Path;
use tempfile::TempDir;

/// Run `script` with the data directory as argv[1]; it prints one JSON value.
fn python(script: &str, dir: &Path) -> Value {
    common::python_json(script, [dir])
}

fn write_i64(dir: &Path, name: &str, v: &[i64]) {
    write_atomic(&dir.join(name), &npy_bytes_i64(v)).expect("write labels");
}

fn write_f32(dir: &Path, name: &str, x: &Array2<f32>) {
    write_atomic(&dir.join(name), &npy_bytes_f32(x.view())).expect("write matrix");
}

fn f64s(v: &Value) -> Vec<f64> {
    v.as_array()
        .expect("JSON array")
        .iter()
        .map(|x| x.as_f64().expect("number"))
        .collect()
}

/// Pairs of labelings: balanced, unbalanced, many small clusters, arbitrary ids.
fn labeling_pairs(rng: &mut ChaCha8Rng) -> Vec<(Vec<i64>, Vec<i64>)> {
    let mut pairs = Vec::new();
    // 10 x 10 balanced, b a noisy copy of a (the k-means agreement case).
    let a: Vec<i64> = (0..5000).map(|_| rng.gen_range(0..10)).collect();
    let b = a
        .iter()
        .map(|&l| {
            if rng.gen_bool(0.4) {
                rng.gen_range(0..10)
            } else {
                l
            }
        })
        .collect();
    pairs.push((a, b));
    // Independent 3 vs 17 clusters.
    let a = (0..3000).map(|_| rng.gen_range(0..3)).collect();
    let b = (0..3000).map(|_| rng.gen_range(0..17)).collect();
    pairs.push((a, b));
    // Unbalanced: cluster c has weight 2^-c (sizes ~ n/2, n/4, ...),
    // against 50 near-uniform clusters partly tied to it.
    let a: Vec<i64> = (0..4000)
        .map(|_| {
            let u: f64 = rng.gen_range(1e-12..1.0);
            (-u.log2()).floor().min(11.0) as i64
        })
        .collect();
    let b = a
        .iter()
        .map(|&l| {
            if rng.gen_bool(0.5) {
                l * 4
            } else {
                rng.gen_range(0..50)
            }
        })
        .collect();
    pairs.push((a, b));
    // Many small clusters relative to n, large and negative ids.
    let a = (0..300)
        .map(|_| rng.gen_range(-40..40) * 1_000_003)
        .collect();
    let b = (0..300)
        .map(|_| rng.gen_range(0..25) - 1_000_000_000_000)
        .collect();
    pairs.push((a, b));
    // All-distinct against 7 clusters, and a tiny case.
    let a = (0..1000).collect();
    let b = (0..1000).map(|_| rng.gen_range(0..7)).collect();
    pairs.push((a, b));
    pairs.push((vec![1, 1, 2, 2, 3], vec![5, 6, 5, 6, 6]));
    pairs
}

#[test]
#[ignore = "reference check: needs python3 with numpy, scipy, scikit-learn; run with `cargo test -- --include-ignored`"]
fn ami_matches_scikit_learn() {
    require_reference();
    let dir = TempDir::new().expect("temp dir");
    let mut rng = ChaCha8Rng::seed_from_u64(11);
    let pairs = labeling_pairs(&mut rng);
    for (i, (a, b)) in pairs.iter().enumerate() {
        write_i64(dir.path(), &format!("a{i}.npy"), a);
        write_i64(dir.path(), &format!("b{i}.npy"), b);
    }
    let script = format!(
        r#"
import sys, json, numpy as np
from sklearn.metrics import adjusted_mutual_info_score as ami
d = sys.argv[1]
print(json.dumps([ami(np.load(f"{{d}}/a{{i}}.npy"), np.load(f"{{d}}/b{{i}}.npy"),
                      average_method="arithmetic") for i in range({})]))
"#,
        pairs.len()
    );
    let want = f64s(&python(&script, dir.path()));
    for ((a, b), w) in pairs.iter().zip(want) {
        let got = ami::adjusted_mutual_info(a, b);
        assert!(
            (got - w).abs() < 1e-9,
            "n={} AMI {got} vs sklearn {w}",
            a.len()
        );
    }
}

/// Columns with different scales and offsets, a constant column, and a
/// column of a few repeated values (many values exactly on bin edges).
fn mixed_matrix(rng: &mut ChaCha8Rng, n: usize, d: usize) -> Array2<f32> {
    let mut x = Array2::from_shape_simple_fn((n, d), || rng.sample::<f32, _>(StandardNormal));
    for (j, mut col) in x.columns_mut().into_iter().enumerate() {
        let scale = 0.01 * (1.0 + j as f32).powi(2);
        let offset = j as f32 - 3.0;
        col.mapv_inplace(|v| v * scale + offset);
    }
    x.column_mut(1).fill(2.5);
    x.column_mut(2)
        .mapv_inplace(|v| (v * 4.0).round().clamp(-8.0, 8.0));
    x
}

/// The README's histogram entropy in numpy: H_j over the non-constant
/// columns, their mean; None (JSON null) when every column is constant.
const HIST_PY: &str = r#"
import numpy as np
def hist_entropy(x, bins):
    hs = []
    for col in x.T:
        lo, hi = col.min(), col.max()
        if hi == lo:
            continue
        idx = np.minimum(np.floor((col - lo) / (hi - lo) * bins), bins - 1).astype(np.int64)
        p = np.bincount(idx, minlength=bins) / len(col)
        p = p[p > 0]
        hs.append(float(-(p * np.log2(p)).sum()))
    return float(np.mean(hs)) if hs else None
"#;

/// The README's Gaussian entropy in numpy: covariance (ddof 1) eigenvalues,
/// negatives set to 0, plus the ridge 1e-4 * trace(C) / D.
const GAUSS_PY: &str = r#"
import numpy as np
def gauss_entropy(x):
    c = np.atleast_2d(np.cov(x, rowvar=False, ddof=1))
    lam = np.maximum(np.linalg.eigvalsh(c), 0.0) + 1e-4 * np.trace(c) / c.shape[0]
    return float(0.5 * np.log2(2 * np.pi * np.e * lam).sum())
"#;

/// `x` after a ReLU: every value below 0 becomes exactly 0, and the columns
/// in `dead` are pushed below 0 entirely first (dead units).
fn post_relu(x: &Array2<f32>, dead: &[usize]) -> Array2<f32> {
    let mut y = x.clone();
    for &j in dead {
        y.column_mut(j).mapv_inplace(|v| -v.abs() - 1.0);
    }
    y.mapv(|v| v.max(0.0))
}

#[test]
#[ignore = "reference check: needs python3 with numpy, scipy, scikit-learn; run with `cargo test -- --include-ignored`"]
fn hist_entropy_matches_numpy_definition() {
    require_reference();
    let dir = TempDir::new().expect("temp dir");
    let mut rng = ChaCha8Rng::seed_from_u64(12);
    let x = mixed_matrix(&mut rng, 3000, 12);
    write_f32(dir.path(), "x.npy", &x);
    let script = format!(
        r#"{HIST_PY}
import sys, json
x = np.load(sys.argv[1] + "/x.npy").astype(np.float64)
print(json.dumps([hist_entropy(x, b) for b in (64, 7, 1, 300)]))
"#
    );
    let want = f64s(&python(&script, dir.path()));
    for (bins, w) in [64, 7, 1, 300].into_iter().zip(want) {
        let h = entropy::hist_entropy(x.view(), bins);
        // Column 1 of mixed_matrix is constant.
        assert_eq!(h.constant_columns, 1);
        assert!(
            (h.bits - w).abs() < 1e-9,
            "bins={bins}: {} vs numpy {w}",
            h.bits
        );
    }
}

#[test]
#[ignore = "reference check: needs python3 with numpy, scipy, scikit-learn; run with `cargo test -- --include-ignored`"]
fn hist_entropy_of_a_post_relu_layer_matches_numpy() {
    // A 600 x 256 post-ReLU layer with 46 dead units (18%, as in the
    // SimSiam h layers at epoch 0) and about half exact zeros elsewhere;
    // through compute_layer too, which names the dead units in a warning.
    // And a layer of dead units only: numpy's None, sslwatch's null.
    require_reference();
    let dir = TempDir::new().expect("temp dir");
    let mut rng = ChaCha8Rng::seed_from_u64(16);
    let dead: Vec<usize> = (0..46).map(|i| 2 + 5 * i).collect();
    let x = Array2::from_shape_simple_fn((600, 256), || rng.sample::<f32, _>(StandardNormal));
    let h = post_relu(&x, &dead);
    write_f32(dir.path(), "h.npy", &h);
    let all_dead = Array2::<f32>::from_elem((50, 8), 0.0);
    write_f32(dir.path(), "dead.npy", &all_dead);
    let script = format!(
        r#"{HIST_PY}
import sys, json
d = sys.argv[1]
h = np.load(d + "/h.npy").astype(np.float64)
dead = np.load(d + "/dead.npy").astype(np.float64)
print(json.dumps([[hist_entropy(h, b) for b in (64, 16)], hist_entropy(dead, 64)]))
"#
    );
    let want = python(&script, dir.path());
    let per_bins = f64s(&want[0]);
    for (bins, w) in [64, 16].into_iter().zip(per_bins) {
        let got = entropy::hist_entropy(h.view(), bins);
        assert_eq!(got.constant_columns, 46);
        assert!(
            (got.bits - w).abs() < 1e-9,
            "bins={bins}: {} vs numpy {w}",
            got.bits
        );
        let s = MetricSettings {
            k: Some(2),
            entropy_bins: bins,
            ..MetricSettings::default()
        };
        let (m, _) = compute_layer(h.view(), None, &s).expect("metrics");
        let e = m
            .get(sslwatch::metrics::Metric::EntropyBits)
            .expect("entropy");
        assert!(
            (e - w).abs() < 1e-9,
            "compute_layer bins={bins}: {e} vs numpy {w}"
        );
        assert!(
            m.warnings
                .iter()
                .any(|w| w.starts_with("46 of 256 columns are constant")),
            "{:?}",
            m.warnings
        );
    }
    assert!(want[1].is_null(), "numpy: {}", want[1]);
    assert!(entropy::hist_entropy_bits(all_dead.view(), 64).is_nan());
}

#[test]
#[ignore = "reference check: needs python3 with numpy, scipy, scikit-learn; run with `cargo test -- --include-ignored`"]
fn spearman_matches_scipy_with_ties() {
    require_reference();
    let dir = TempDir::new().expect("temp dir");
    let mut rng = ChaCha8Rng::seed_from_u64(13);
    // Values on a coarse grid (many ties), b partly following a.
    let cases: Vec<(Vec<f64>, Vec<f64>)> = [5usize, 40, 400]
        .into_iter()
        .map(|n| {
            let a: Vec<f64> = (0..n)
                .map(|_| f64::from(rng.gen_range(0..8u8)) * 0.5)
                .collect();
            let b = a
                .iter()
                .map(|&v| (v + rng.gen_range(-1.0..1.0f64)).round())
                .collect();
            (a, b)
        })
        .collect();
    // Exact f64 values travel as JSON (serde_json round-trips them).
    let data = serde_json::to_string(&cases).expect("serialise");
    std::fs::write(dir.path().join("cases.json"), data).expect("write cases");
    let script = r#"
import sys, json
from scipy.stats import spearmanr
cases = json.load(open(sys.argv[1] + "/cases.json"))
print(json.dumps([float(spearmanr(a, b).statistic) for a, b in cases]))
"#;
    let want = f64s(&python(script, dir.path()));
    for ((a, b), w) in cases.iter().zip(want) {
        let got = correlation::spearman(a, b).expect("defined");
        assert!((got - w).abs() < 1e-12, "n={}: {got} vs scipy {w}", a.len());
    }
}

#[test]
#[ignore = "reference check: needs python3 with numpy, scipy, scikit-learn; run with `cargo test -- --include-ignored`"]
fn rankme_and_gauss_match_numpy_spectra() {
    require_reference();
    let dir = TempDir::new().expect("temp dir");
    let mut rng = ChaCha8Rng::seed_from_u64(14);
    // Full rank with uneven column scales and offsets, and an exactly rank-5
    // matrix (a collapsed embedding: 27 of 32 singular values are zero).
    let full = mixed_matrix(&mut rng, 800, 32);
    let left = Array2::from_shape_simple_fn((800, 5), || rng.sample::<f32, _>(StandardNormal));
    let right = Array2::from_shape_simple_fn((5, 32), || rng.sample::<f32, _>(StandardNormal));
    let low = left.dot(&right);
    // Fewer rows than columns.
    let wide = Array2::from_shape_simple_fn((20, 64), || rng.sample::<f32, _>(StandardNormal));
    let mats = [full, low, wide];
    for (i, m) in mats.iter().enumerate() {
        write_f32(dir.path(), &format!("x{i}.npy"), m);
    }
    let script = format!(
        r#"{GAUSS_PY}
import sys, json
out = []
for i in range(3):
    x = np.load(f"{{sys.argv[1]}}/x{{i}}.npy").astype(np.float64)
    s = np.linalg.svd(x, compute_uv=False)
    p = s / s.sum() + 1e-7
    rankme = float(np.exp(-(p * np.log(p)).sum()))
    out.append([rankme, gauss_entropy(x)])
print(json.dumps(out))
"#
    );
    let want = python(&script, dir.path());
    let want = want.as_array().expect("array");
    for (i, (m, w)) in mats.iter().zip(want).enumerate() {
        let w = f64s(w);
        let r = rank::rankme(m.view());
        let g = entropy::gauss_entropy_bits(m.view());
        assert!(
            (r - w[0]).abs() <= 1e-4 * w[0].abs(),
            "matrix {i}: rankme {r} vs numpy {}",
            w[0]
        );
        assert!(
            (g - w[1]).abs() <= 1e-4 * w[1].abs(),
            "matrix {i}: gauss {g} vs numpy {}",
            w[1]
        );
    }
}

#[test]
#[ignore = "reference check: needs python3 with numpy, scipy, scikit-learn; run with `cargo test -- --include-ignored`"]
fn gauss_entropy_of_data_beyond_f32_range_is_numpys_plus_d_log2_scale() {
    // compute_layer on x * 2^40 (and on x stored prescaled by 2^300, data
    // near 1e90 that f32 cannot hold) reports numpy's Gaussian entropy of x
    // plus D * 40 (D * 300) bits.
    require_reference();
    let dir = TempDir::new().expect("temp dir");
    let mut rng = ChaCha8Rng::seed_from_u64(15);
    let x = mixed_matrix(&mut rng, 1500, 24);
    write_f32(dir.path(), "x.npy", &x);
    let script = format!(
        r#"{GAUSS_PY}
import sys, json
x = np.load(sys.argv[1] + "/x.npy").astype(np.float64)
print(json.dumps([gauss_entropy(x)]))
"#
    );
    let want = f64s(&python(&script, dir.path()))[0];
    let s = MetricSettings {
        entropy: EntropyEstimator::Gauss,
        ..MetricSettings::default()
    };
    let big = x.mapv(|v| v * 2f32.powi(40));
    let (m, _) = compute_layer(big.view(), None, &s).expect("metrics");
    let got = m
        .get(sslwatch::metrics::Metric::EntropyBits)
        .expect("entropy");
    let d = x.ncols() as f64;
    assert!(
        (got - (want + d * 40.0)).abs() <= 1e-4 * want.abs().max(1.0),
        "x * 2^40: {got} vs numpy {want} + {d} * 40"
    );
    let (m, _) = compute_layer_prescaled(x.view(), 300, None, &s).expect("metrics");
    let got = m
        .get(sslwatch::metrics::Metric::EntropyBits)
        .expect("entropy");
    assert!(
        (got - (want + d * 300.0)).abs() <= 1e-4 * want.abs().max(1.0),
        "prescaled 2^300: {got} vs numpy {want} + {d} * 300"
    );
}

#[test]
#[ignore = "reference check: needs python3 with numpy, scipy, scikit-learn; run with `cargo test -- --include-ignored`"]
fn gauss_entropy_with_rows_below_dimensions_is_finite_and_matches_numpy() {
    // The SimSiam z/p shape: 359 rows of a 2048-wide layer, where the old
    // 1e-12 floor gave about -26,000 bits for standard normal data; the
    // same rows spread twice as wide have exactly D = 2048 bits more.
    // (compute_layer's warning for N <= D is checked in metrics::tests.)
    require_reference();
    let dir = TempDir::new().expect("temp dir");
    let mut rng = ChaCha8Rng::seed_from_u64(17);
    let a = Array2::from_shape_simple_fn((359, 2048), || rng.sample::<f32, _>(StandardNormal));
    write_f32(dir.path(), "a.npy", &a);
    let script = format!(
        r#"{GAUSS_PY}
import sys, json
print(json.dumps([gauss_entropy(np.load(sys.argv[1] + "/a.npy").astype(np.float64))]))
"#
    );
    let want = f64s(&python(&script, dir.path()))[0];
    let got = entropy::gauss_entropy_bits(a.view());
    assert!(
        (got - want).abs() <= 1e-6 * want.abs(),
        "gauss {got} vs numpy {want}"
    );
    // About -6,600 bits: 358 directions the sample supports (about 3.3 bits
    // each) and 1,690 carrying only the ridge (about -4.6 bits each).
    assert!(got > -8_000.0 && got < -5_000.0, "{got}");
    let wider = entropy::gauss_entropy_bits(a.mapv(|v| v * 2.0).view());
    assert!(
        (wider - (got + 2048.0)).abs() < 1e-9 * got.abs(),
        "{wider} vs {got} + 2048"
    );
}
