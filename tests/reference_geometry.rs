//! Cross-checks of the geometry metrics of issue 11 against numpy, scipy and
//! scikit-learn written from their definitions in the README: the spectrum
//! (`np.linalg.svd` of the centred data), alpha-ReQ (`np.linalg.eigvalsh`
//! of `np.cov(ddof=1)` and `np.polyfit`), uniformity
//! (`scipy.spatial.distance.pdist(..., "sqeuclidean")`), the outliers
//! (`np.median` robust z-scores) and the PCA map (`sklearn.decomposition.PCA`).
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
use sslwatch::metrics::outliers::{outliers, OUTLIER_IDX_KEEP};
use sslwatch::metrics::projection::pca_2d;
use sslwatch::metrics::spectrum::{CovSpectrum, SPECTRUM_KEEP};
use sslwatch::metrics::uniformity::uniformity;
use sslwatch::read::write::{npy_bytes_f32, write_atomic};
use std::path::Path;
use std::sync::OnceLock;
use tempfile::TempDir;

/// Run `script` with the data directory as argv[1]; it prints one JSON value.
fn python(script: &str, dir: &Path) -> Value {
    common::python_json(script, [dir])
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

fn normal(rng: &mut ChaCha8Rng, n: usize, d: usize) -> Array2<f32> {
    Array2::from_shape_simple_fn((n, d), || rng.sample::<f32, _>(StandardNormal))
}

/// The shapes checked: N > D with uneven column scales and offsets, N < D,
/// a low-rank matrix, planted outliers (with a zero row), and a matrix
/// where over half the rows coincide (MAD = 0).
fn matrices() -> Vec<Array2<f32>> {
    let mut rng = ChaCha8Rng::seed_from_u64(21);
    let mut tall = normal(&mut rng, 700, 40);
    for (j, mut col) in tall.columns_mut().into_iter().enumerate() {
        let scale = 1.0 / (1.0 + j as f32).sqrt();
        col.mapv_inplace(|v| v * scale + j as f32 * 0.1);
    }
    let wide = normal(&mut rng, 60, 150);
    let left = normal(&mut rng, 500, 6);
    let right = normal(&mut rng, 6, 32);
    let low = left.dot(&right) + normal(&mut rng, 500, 32).mapv(|v| 1e-3 * v);
    let mut planted = normal(&mut rng, 900, 16);
    for i in (0..900).step_by(60) {
        planted.row_mut(i).mapv_inplace(|v| v * 9.0);
    }
    planted.row_mut(7).fill(0.0);
    let mut collapsed = Array2::<f32>::from_elem((200, 8), 0.5);
    for i in 0..80 {
        let r = normal(&mut rng, 1, 8);
        collapsed.row_mut(i * 2 + 1).assign(&r.row(0));
    }
    vec![tall, wide, low, planted, collapsed]
}

/// Everything numpy computes per matrix, from the definitions.
const REFERENCE_PY: &str = r#"
import sys, json, numpy as np
from scipy.spatial.distance import pdist
from sklearn.decomposition import PCA
d = sys.argv[1]
out = []
for i in range(5):
    x = np.load(f"{d}/x{i}.npy").astype(np.float64)
    n, dim = x.shape
    # Spectrum: singular values of the centred matrix, normalised, top 64.
    s = np.linalg.svd(x - x.mean(axis=0), compute_uv=False)
    sv = (s / s.sum())[:64]
    # alpha-ReQ: covariance eigenvalues (ddof 1), decreasing; r of them
    # at least 1e-6 of the largest, at most min(n - 1, dim).
    lam = np.sort(np.linalg.eigvalsh(np.atleast_2d(np.cov(x.T, ddof=1))))[::-1]
    lam = lam[:min(n - 1, dim)]
    r = int(np.sum(lam >= 1e-6 * lam[0]))
    alpha = float(-np.polyfit(np.log(np.arange(1, r + 1)), np.log(lam[:r]), 1)[0]) if r >= 2 else None
    # Uniformity over the non-zero rows.
    norms = np.linalg.norm(x, axis=1)
    u = x[norms > 0] / norms[norms > 0][:, None]
    unif = float(np.log(np.mean(np.exp(-2 * pdist(u, "sqeuclidean")))))
    # Outliers: robust z of the distance to the coordinate-wise median.
    dist = np.linalg.norm(x - np.median(x, axis=0), axis=1)
    med = np.median(dist)
    mad = np.median(np.abs(dist - med))
    with np.errstate(divide="ignore", invalid="ignore"):
        z = (dist - med) / (1.4826 * mad)
    flagged = np.nonzero(z > 5)[0]
    order = flagged[np.lexsort((flagged, -dist[flagged]))]
    # PCA: sklearn's coordinates, and the axes with the README's sign rule.
    pca = PCA(n_components=2, svd_solver="full").fit(x)
    coords = pca.transform(x)
    comps = pca.components_.copy()
    for c in comps:
        if c[np.argmax(np.abs(c))] < 0:
            c *= -1
    signed = (x - x.mean(axis=0)) @ comps.T
    # entropy_inliers: the histogram entropy (64 bins, constant columns
    # left out) of the rows that are not outliers.
    keep = np.ones(n, dtype=bool)
    keep[flagged] = False
    xi = x[keep]
    hs = []
    for j in range(dim):
        col = xi[:, j]
        lo, hi = col.min(), col.max()
        if hi <= lo:
            continue
        b = np.minimum(np.floor((col - lo) / (hi - lo) * 64).astype(np.int64), 63)
        p = np.bincount(b, minlength=64) / len(col)
        p = p[p > 0]
        hs.append(float(-(p * np.log2(p)).sum()))
    ent_inl = float(np.mean(hs)) if hs else None
    out.append({
        "entropy_inliers": ent_inl,
        "sv": sv.tolist(), "alpha": alpha, "uniformity": unif,
        "outliers": order.tolist(), "frac": len(flagged) / n,
        "abs_xy": np.abs(coords).tolist(), "xy": signed.tolist(),
        "ratio": pca.explained_variance_ratio_.tolist(),
    })
print(json.dumps(out))
"#;

/// numpy's values for [`matrices`], computed once for all the tests here
/// (one python run; the tests wait for it).
fn reference() -> &'static [Value] {
    static REF: OnceLock<Vec<Value>> = OnceLock::new();
    REF.get_or_init(|| {
        let dir = TempDir::new().expect("temp dir");
        for (i, m) in matrices().iter().enumerate() {
            write_f32(dir.path(), &format!("x{i}.npy"), m);
        }
        python(REFERENCE_PY, dir.path())
            .as_array()
            .expect("array")
            .clone()
    })
}

#[test]
#[ignore = "reference check: needs python3 with numpy, scipy, scikit-learn; run with `cargo test -- --include-ignored`"]
fn spectrum_and_alpha_req_match_numpy() {
    require_reference();
    let mats = matrices();
    let want = reference();
    for (i, (m, w)) in mats.iter().zip(want).enumerate() {
        let s = CovSpectrum::of(m.view()).expect("spectrum");
        let got = s.normalised_singular(SPECTRUM_KEEP);
        let sv = f64s(&w["sv"]);
        assert_eq!(got.len(), sv.len(), "matrix {i}");
        for (k, (g, v)) in got.iter().zip(&sv).enumerate() {
            assert!(
                (g - v).abs() <= 1e-6 * v + 1e-8,
                "matrix {i} value {k}: {g} vs numpy {v}"
            );
        }
        match (s.alpha_req(), w["alpha"].as_f64()) {
            (Some(a), Some(b)) => assert!(
                (a - b).abs() <= 1e-6 * b.abs(),
                "matrix {i}: alpha {a} vs numpy {b}"
            ),
            (a, b) => assert_eq!(a, b, "matrix {i}"),
        }
    }
}

#[test]
#[ignore = "reference check: needs python3 with numpy, scipy, scikit-learn; run with `cargo test -- --include-ignored`"]
fn uniformity_matches_scipy_pdist() {
    require_reference();
    let mats = matrices();
    let want = reference();
    for (i, (m, w)) in mats.iter().zip(want).enumerate() {
        let u = uniformity(m.view(), 0);
        let v = w["uniformity"].as_f64().expect("number");
        assert!(
            (u.value - v).abs() <= 1e-6 * v.abs(),
            "matrix {i}: {} vs scipy {v}",
            u.value
        );
        // Matrix 3 has one zero row, left out.
        assert_eq!(u.zero_rows, usize::from(i == 3), "matrix {i}");
    }
}

#[test]
#[ignore = "reference check: needs python3 with numpy, scipy, scikit-learn; run with `cargo test -- --include-ignored`"]
fn compute_layer_reports_outliers_and_the_entropy_without_them_as_numpy() {
    require_reference();
    use sslwatch::metrics::{compute_layer, Metric, MetricSettings};
    let mats = matrices();
    let want = reference();
    // The planted-outlier matrix: outlier_frac, outlier_idx (file rows) and
    // entropy_inliers through compute_layer, as the report prints them.
    let (m, _) = compute_layer(mats[3].view(), None, &MetricSettings::default()).expect("metrics");
    let w = &want[3];
    assert_eq!(m.get(Metric::OutlierFrac), w["frac"].as_f64());
    let order: Vec<u32> = w["outliers"]
        .as_array()
        .expect("array")
        .iter()
        .map(|v| v.as_u64().expect("index") as u32)
        .collect();
    assert_eq!(m.outlier_idx, order[..order.len().min(OUTLIER_IDX_KEEP)]);
    let got = m.get(Metric::EntropyInliers).expect("entropy_inliers");
    let exp = w["entropy_inliers"].as_f64().expect("number");
    assert!((got - exp).abs() <= 1e-9 * exp.abs(), "{got} vs {exp}");
    // The planted far rows stretch the histogram ranges: without them the
    // entropy differs, so the test compares two distinct numbers.
    let full = m.get(Metric::EntropyBits).expect("entropy");
    assert!((full - got).abs() > 1e-3, "{full} vs {got}");
}

#[test]
#[ignore = "reference check: needs python3 with numpy, scipy, scikit-learn; run with `cargo test -- --include-ignored`"]
fn outliers_match_numpy_medians() {
    require_reference();
    let mats = matrices();
    let want = reference();
    for (i, (m, w)) in mats.iter().zip(want).enumerate() {
        let o = outliers(m.view()).expect("outliers");
        let order: Vec<u32> = w["outliers"]
            .as_array()
            .expect("array")
            .iter()
            .map(|v| v.as_u64().expect("index") as u32)
            .collect();
        assert_eq!(o.count, order.len(), "matrix {i}");
        assert_eq!(
            o.idx,
            order[..order.len().min(OUTLIER_IDX_KEEP)],
            "matrix {i}"
        );
        let flagged: Vec<u32> = (0..m.nrows() as u32)
            .filter(|&r| o.mask[r as usize])
            .collect();
        let mut sorted = order.clone();
        sorted.sort_unstable();
        assert_eq!(flagged, sorted, "matrix {i}");
        assert_eq!(o.frac, w["frac"].as_f64().expect("number"), "matrix {i}");
    }
    // The planted rows (every 60th, 15 of them) are found, and the
    // collapsed matrix's MAD = 0 rule flags its 80 distinct rows.
    let planted = outliers(mats[3].view()).expect("outliers");
    assert!((0..900).step_by(60).all(|r| planted.mask[r]));
    assert_eq!(outliers(mats[4].view()).expect("outliers").count, 80);
}

#[test]
#[ignore = "reference check: needs python3 with numpy, scipy, scikit-learn; run with `cargo test -- --include-ignored`"]
fn pca_map_matches_scikit_learn() {
    require_reference();
    let mats = matrices();
    let want = reference();
    for (i, (m, w)) in mats.iter().zip(want).enumerate() {
        let p = pca_2d(m.view(), m.nrows(), 0).expect("map");
        assert_eq!(p.rows.len(), m.nrows());
        let ratio = f64s(&w["ratio"]);
        for (k, (got, want)) in p.explained.iter().zip(&ratio).enumerate() {
            assert!(
                (got - want).abs() <= 1e-9,
                "matrix {i} PC{}: {got} vs sklearn {want}",
                k + 1
            );
        }
        let abs_xy: Vec<Vec<f64>> = w["abs_xy"]
            .as_array()
            .expect("rows")
            .iter()
            .map(f64s)
            .collect();
        let xy: Vec<Vec<f64>> = w["xy"].as_array().expect("rows").iter().map(f64s).collect();
        let scale = abs_xy.iter().flatten().fold(0.0f64, |a, &b| a.max(b));
        for (r, got) in p.xy.iter().enumerate() {
            for k in 0..2 {
                let g = f64::from(got[k]);
                assert!(
                    (g.abs() - abs_xy[r][k]).abs() <= 1e-5 * scale,
                    "matrix {i} row {r} PC{}: {g} vs sklearn +-{}",
                    k + 1,
                    abs_xy[r][k]
                );
                assert!(
                    (g - xy[r][k]).abs() <= 1e-5 * scale,
                    "matrix {i} row {r} PC{} sign rule: {g} vs {}",
                    k + 1,
                    xy[r][k]
                );
            }
        }
    }
}
