//! Cross-checks k-means and silhouette against scikit-learn on the same data.
//!
//! Each case writes the rows (and labels) as `.npy`, runs a short Python
//! snippet, and compares: silhouette to 1e-5 relative (exact, unsampled),
//! a sampled silhouette to within 0.02 of scikit-learn's exact value, and our
//! k-means inertia (n_init = 3) to at most 1% above `KMeans(n_init=3,
//! random_state=0)`. The tests need python3 with
//! scikit-learn, so they are `#[ignore]`d: a plain `cargo test` counts them
//! as ignored; `cargo test -- --include-ignored` (as CI does) runs them, and
//! there a missing package fails them.

mod common;
use common::require_reference;

use ndarray::Array2;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};
use sslwatch::metrics::{kmeans, silhouette};
use sslwatch::read::write::{npy_bytes_f32, npy_bytes_i64, write_atomic};
use std::ffi::OsStr;
use std::path::Path;
use tempfile::TempDir;

const SNIPPET: &str = r#"
import sys, json
import numpy as np
from sklearn.cluster import KMeans
from sklearn.metrics import silhouette_score
x = np.load(sys.argv[1])
labels = np.load(sys.argv[2])
k = int(sys.argv[3])
out = {"silhouette": float(silhouette_score(x, labels))}
if k > 0:
    out["inertia"] = float(KMeans(n_clusters=k, n_init=3, random_state=0).fit(x).inertia_)
print(json.dumps(out))
"#;

struct Reference {
    silhouette: f64,
    inertia: Option<f64>,
}

/// scikit-learn's exact silhouette of `labels`, and (k > 0) its k-means inertia.
fn reference(dir: &Path, x: &Array2<f32>, labels: &[u32], k: usize) -> Reference {
    let xp = dir.join("x.npy");
    let lp = dir.join("labels.npy");
    write_atomic(&xp, &npy_bytes_f32(x.view())).expect("write x.npy");
    let l: Vec<i64> = labels.iter().map(|&v| i64::from(v)).collect();
    write_atomic(&lp, &npy_bytes_i64(&l)).expect("write labels.npy");
    let k = k.to_string();
    let v = common::python_json(SNIPPET, [xp.as_os_str(), lp.as_os_str(), OsStr::new(&k)]);
    Reference {
        silhouette: v["silhouette"].as_f64().expect("silhouette number"),
        inertia: v.get("inertia").and_then(|i| i.as_f64()),
    }
}

/// `n` rows in `d` dimensions around `c` centres N(0, spread²), unit noise;
/// returns the rows and each row's component.
fn mixture(seed: u64, n: usize, d: usize, c: usize, spread: f32) -> (Array2<f32>, Vec<u32>) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let centres = Array2::<f32>::from_shape_fn((c, d), |_| {
        let z: f32 = StandardNormal.sample(&mut rng);
        spread * z
    });
    let mut labels = Vec::with_capacity(n);
    let mut x = Array2::<f32>::zeros((n, d));
    for mut row in x.rows_mut() {
        let j = rng.gen_range(0..c);
        labels.push(j as u32);
        for (v, &m) in row.iter_mut().zip(centres.row(j)) {
            let noise: f32 = StandardNormal.sample(&mut rng);
            *v = m + noise;
        }
    }
    (x, labels)
}

fn assert_close(ours: f64, theirs: f64, what: &str) {
    // 1e-5 relative; near zero, 1e-6 absolute.
    let tol = 1e-5 * theirs.abs().max(0.1);
    assert!(
        (ours - theirs).abs() <= tol,
        "{what}: ours {ours} vs scikit-learn {theirs}"
    );
}

fn params(k: usize) -> kmeans::KMeansParams {
    kmeans::KMeansParams {
        k,
        n_init: 3,
        max_iter: 300,
        seed: 0,
    }
}

/// Compare our k-means inertia and the silhouette of our clustering.
fn check_kmeans_and_silhouette(name: &str, x: &Array2<f32>, k: usize) {
    let dir = TempDir::new().expect("temp dir");
    let ours = kmeans::kmeans(x.view(), &params(k));
    let r = reference(dir.path(), x, &ours.labels, k);
    let sk_inertia = r.inertia.expect("inertia requested");
    assert!(
        ours.inertia <= sk_inertia * 1.01,
        "{name}: inertia {} vs scikit-learn {}",
        ours.inertia,
        sk_inertia
    );
    let s = silhouette::silhouette_score(x.view(), &ours.labels, usize::MAX, 0)
        .expect("silhouette defined");
    assert_close(s, r.silhouette, name);
}

#[test]
#[ignore = "reference check: needs python3 with numpy, scipy, scikit-learn; run with `cargo test -- --include-ignored`"]
fn separated_mixture_matches_scikit_learn() {
    require_reference();
    let (x, _) = mixture(1, 500, 8, 4, 5.0);
    check_kmeans_and_silhouette("500 x 8, 4 separated components", &x, 4);
}

#[test]
#[ignore = "reference check: needs python3 with numpy, scipy, scikit-learn; run with `cargo test -- --include-ignored`"]
fn overlapping_mixture_matches_scikit_learn() {
    require_reference();
    // Centres about as far apart as the noise: many local optima.
    let (x, _) = mixture(2, 1200, 16, 6, 0.6);
    check_kmeans_and_silhouette("1200 x 16, 6 overlapping components", &x, 6);
}

#[test]
#[ignore = "reference check: needs python3 with numpy, scipy, scikit-learn; run with `cargo test -- --include-ignored`"]
fn structureless_noise_matches_scikit_learn() {
    require_reference();
    let (x, _) = mixture(3, 400, 5, 1, 0.0);
    check_kmeans_and_silhouette("400 x 5 Gaussian noise, k = 5", &x, 5);
}

#[test]
#[ignore = "reference check: needs python3 with numpy, scipy, scikit-learn; run with `cargo test -- --include-ignored`"]
fn larger_set_exact_and_sampled_silhouette() {
    require_reference();
    // 3000 x 64 (more than one row block of every kernel), sampling off.
    let (x, labels) = mixture(4, 3000, 64, 8, 0.4);
    check_kmeans_and_silhouette("3000 x 64, 8 components", &x, 8);

    // Silhouette of the generating labels: exact, then sampled (1000 rows).
    let dir = TempDir::new().expect("temp dir");
    let r = reference(dir.path(), &x, &labels, 0);
    let exact = silhouette::silhouette_score(x.view(), &labels, 3000, 0).expect("defined");
    assert_close(exact, r.silhouette, "3000 x 64 true labels");
    for seed in 0..3 {
        let sampled = silhouette::silhouette_score(x.view(), &labels, 1000, seed).expect("defined");
        assert!(
            (sampled - r.silhouette).abs() <= 0.02,
            "sampled (seed {seed}) {sampled} vs exact {}",
            r.silhouette
        );
        assert_ne!(sampled, exact, "1000 of 3000 rows is a sample");
    }
}

#[test]
#[ignore = "reference check: needs python3 with numpy, scipy, scikit-learn; run with `cargo test -- --include-ignored`"]
fn singleton_clusters_and_sparse_label_ids_match_scikit_learn() {
    require_reference();
    let (x, mut labels) = mixture(5, 300, 6, 3, 2.0);
    // Sparse ids, and two rows alone in their clusters (they score 0).
    for l in labels.iter_mut() {
        *l = *l * 10 + 3;
    }
    labels[17] = 1000;
    labels[250] = 7;
    let dir = TempDir::new().expect("temp dir");
    let r = reference(dir.path(), &x, &labels, 0);
    let s = silhouette::silhouette_score(x.view(), &labels, usize::MAX, 0).expect("defined");
    assert_close(s, r.silhouette, "singletons and sparse ids");
}

#[test]
#[ignore = "reference check: needs python3 with numpy, scipy, scikit-learn; run with `cargo test -- --include-ignored`"]
fn far_from_origin_rows_keep_their_precision() {
    require_reference();
    // Every coordinate offset by 1000: distances are ~1, |x|² ~ 10^7, the
    // regime where an uncentred f32 expansion would lose all digits.
    let (mut x, labels) = mixture(6, 400, 10, 3, 1.5);
    x.mapv_inplace(|v| v + 1000.0);
    let dir = TempDir::new().expect("temp dir");
    let r = reference(dir.path(), &x, &labels, 3);
    let s = silhouette::silhouette_score(x.view(), &labels, usize::MAX, 0).expect("defined");
    assert_close(s, r.silhouette, "offset rows");
    let ours = kmeans::kmeans(x.view(), &params(3));
    let sk = r.inertia.expect("inertia requested");
    assert!(
        ours.inertia <= sk * 1.01,
        "inertia {} vs {}",
        ours.inertia,
        sk
    );
}
