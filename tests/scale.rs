//! The metrics of `compute_layer` do not depend on the scale of the data,
//! anywhere in f32's range: the same blobs at 1, 1e18, 1e-30, 1e38 and at
//! f32 subnormals give the same silhouette, AMI, entropies, RankMe, probe and
//! kNN accuracy and the same clusterings; the scale-dependent outputs
//! (k-means inertia, Gaussian and kNN entropy) follow the scale.

use ndarray::Array2;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::StandardNormal;
use sslwatch::metrics::{
    compute_layer, compute_layer_prescaled, Clusterings, EntropyEstimator, LayerMetrics,
    MetricSettings, MetricsError,
};

/// Three blobs of 100 points in 6-D around unit vectors, jitter 0.05, so the
/// largest |value| is about 1.2 (x 1e38 stays below f32's 3.4e38), and labels.
fn blobs() -> (Array2<f32>, Vec<i64>) {
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    let n = 300;
    let mut x = Array2::<f32>::zeros((n, 6));
    let mut labels = Vec::new();
    for i in 0..n {
        let c = i % 3;
        for j in 0..6 {
            let centre = if j == 2 * c { 1.0 } else { 0.0 };
            x[[i, j]] = centre + 0.05 * rng.sample::<f32, _>(StandardNormal);
        }
        labels.push(c as i64);
    }
    (x, labels)
}

/// `blobs` rounded to multiples of 2^-8: times any power of two down to
/// 2^-141 (subnormals with 8 bits) every value is exact.
fn dyadic_blobs() -> (Array2<f32>, Vec<i64>) {
    let (x, labels) = blobs();
    (x.mapv(|v| (v * 256.0).round() / 256.0), labels)
}

fn scaled(x: &Array2<f32>, c: f64) -> Array2<f32> {
    x.mapv(|v| (f64::from(v) * c) as f32)
}

fn settings(entropy: EntropyEstimator) -> MetricSettings {
    MetricSettings {
        k: Some(3),
        entropy,
        ..MetricSettings::default()
    }
}

fn run(x: &Array2<f32>, labels: &[i64], s: &MetricSettings) -> (LayerMetrics, Clusterings) {
    compute_layer(x.view(), Some(labels), s).expect("metrics")
}

/// Relative difference, |a - b| / max(|a|, |b|, 1e-300).
fn rel(a: f64, b: f64) -> f64 {
    (a - b).abs() / a.abs().max(b.abs()).max(1e-300)
}

/// Every scale-free metric within `tol` (relative) and the same clusterings.
fn assert_same_metrics(
    what: &str,
    (base, bc): &(LayerMetrics, Clusterings),
    (got, gc): &(LayerMetrics, Clusterings),
    tol: f64,
) {
    let pairs = [
        (
            "silhouette",
            base.get(sslwatch::metrics::Metric::Silhouette),
            got.get(sslwatch::metrics::Metric::Silhouette),
        ),
        (
            "ami_agreement",
            base.get(sslwatch::metrics::Metric::AmiAgreement),
            got.get(sslwatch::metrics::Metric::AmiAgreement),
        ),
        (
            "ami_labels",
            base.get(sslwatch::metrics::Metric::AmiLabels),
            got.get(sslwatch::metrics::Metric::AmiLabels),
        ),
        (
            "probe_acc",
            base.get(sslwatch::metrics::Metric::ProbeAcc),
            got.get(sslwatch::metrics::Metric::ProbeAcc),
        ),
        (
            "knn_acc",
            base.get(sslwatch::metrics::Metric::KnnAcc),
            got.get(sslwatch::metrics::Metric::KnnAcc),
        ),
        (
            "rankme",
            base.get(sslwatch::metrics::Metric::Rankme),
            got.get(sslwatch::metrics::Metric::Rankme),
        ),
    ];
    for (name, b, g) in pairs {
        let b = b.unwrap_or_else(|| panic!("{what}: base {name} is null"));
        let g = g.unwrap_or_else(|| panic!("{what}: {name} is null ({:?})", got.warnings));
        assert!(rel(b, g) <= tol, "{what}: {name} {g} vs {b}");
    }
    assert_eq!(bc.c1, gc.c1, "{what}: clustering 1");
    assert_eq!(bc.c2, gc.c2, "{what}: clustering 2");
    assert_eq!((base.n, base.k), (got.n, got.k), "{what}");
}

#[test]
fn blobs_give_the_same_metrics_from_1e_minus_30_to_1e38() {
    let (x, labels) = blobs();
    let s = settings(EntropyEstimator::Hist);
    let base = run(&x, &labels, &s);
    assert!(
        base.0
            .get(sslwatch::metrics::Metric::Silhouette)
            .expect("silhouette")
            > 0.8
    );
    assert_eq!(
        base.0.get(sslwatch::metrics::Metric::AmiAgreement),
        Some(1.0)
    );
    let inertia = base
        .0
        .get(sslwatch::metrics::Metric::KmeansInertia)
        .expect("inertia");
    let hist = base
        .0
        .get(sslwatch::metrics::Metric::EntropyBits)
        .expect("entropy");
    for c in [1e18, 1e19, 1e-30, 1e38, 2.5e38] {
        let got = run(&scaled(&x, c), &labels, &s);
        let what = format!("x * {c:e}");
        assert_same_metrics(&what, &base, &got, 1e-6);
        let h = got
            .0
            .get(sslwatch::metrics::Metric::EntropyBits)
            .expect("entropy");
        assert!(rel(h, hist) <= 1e-6, "{what}: hist entropy {h} vs {hist}");
        // Inertia is in the data's units: c^2 times the base (in f64).
        let i = got
            .0
            .get(sslwatch::metrics::Metric::KmeansInertia)
            .expect("inertia");
        assert!(rel(i, inertia * c * c) <= 1e-5, "{what}: inertia {i}");
        assert!(got.0.warnings.is_empty(), "{what}: {:?}", got.0.warnings);
    }
}

#[test]
fn powers_of_two_give_identical_metrics_even_as_subnormals() {
    // Exact scalings: the rescaled copy is the base data bit for bit (or, in
    // the range measured as is, every kernel is exact under the scaling).
    let (x, labels) = dyadic_blobs();
    for est in [
        EntropyEstimator::Hist,
        EntropyEstimator::Gauss,
        EntropyEstimator::Knn,
    ] {
        let s = settings(est);
        let base = run(&x, &labels, &s);
        let h0 = base
            .0
            .get(sslwatch::metrics::Metric::EntropyBits)
            .expect("entropy");
        let i0 = base
            .0
            .get(sslwatch::metrics::Metric::KmeansInertia)
            .expect("inertia");
        for e in [-140i32, -100, -40, 20, 40, 100, 126] {
            let got = run(&scaled(&x, 2f64.powi(e)), &labels, &s);
            let what = format!("{est} x * 2^{e}");
            assert_same_metrics(&what, &base, &got, 1e-9);
            let h = got
                .0
                .get(sslwatch::metrics::Metric::EntropyBits)
                .expect("entropy");
            let want = match est {
                EntropyEstimator::Hist => h0,
                // D log2(scale) bits more.
                _ => h0 + 6.0 * f64::from(e),
            };
            assert!(
                (h - want).abs() <= 1e-9 * want.abs().max(1.0),
                "{what}: {h} vs {want}"
            );
            let i = got
                .0
                .get(sslwatch::metrics::Metric::KmeansInertia)
                .expect("inertia");
            assert!(rel(i, i0 * 2f64.powi(2 * e)) <= 1e-9, "{what}: inertia {i}");
        }
    }
}

#[test]
fn rounded_subnormals_keep_the_clusterings() {
    // x * 1e-40 is subnormal and rounded to multiples of 2^-149 (about 3
    // decimal digits of the jitter survive): the same clusterings, metrics
    // equal to the precision the data kept.
    let (x, labels) = blobs();
    let s = settings(EntropyEstimator::Hist);
    let base = run(&x, &labels, &s);
    let got = run(&scaled(&x, 1e-40), &labels, &s);
    assert_same_metrics("x * 1e-40", &base, &got, 1e-3);
    let (h0, h) = (
        base.0.get(sslwatch::metrics::Metric::EntropyBits).unwrap(),
        got.0.get(sslwatch::metrics::Metric::EntropyBits).unwrap(),
    );
    assert!(rel(h, h0) <= 1e-2, "hist entropy {h} vs {h0}");
}

#[test]
fn prescaled_data_reports_scale_dependent_metrics_in_true_units() {
    let (x, labels) = dyadic_blobs();
    let s = settings(EntropyEstimator::Gauss);
    let base = run(&x, &labels, &s);
    let (h0, i0) = (
        base.0
            .get(sslwatch::metrics::Metric::EntropyBits)
            .expect("entropy"),
        base.0
            .get(sslwatch::metrics::Metric::KmeansInertia)
            .expect("inertia"),
    );
    // True data x * 2^300 (about 1e90, beyond f32): f32 values x, exponent 300.
    let got = compute_layer_prescaled(x.view(), 300, Some(&labels), &s).expect("metrics");
    assert_same_metrics("prescaled 2^300", &base, &got, 1e-12);
    assert_eq!(
        got.0.get(sslwatch::metrics::Metric::EntropyBits),
        Some(h0 + 6.0 * 300.0)
    );
    assert_eq!(
        got.0.get(sslwatch::metrics::Metric::KmeansInertia),
        Some(i0 * 2f64.powi(600))
    );
    // 2^1000 squared is beyond f64: inertia null, with a warning saying why.
    let huge = compute_layer_prescaled(x.view(), 1000, Some(&labels), &s).expect("metrics");
    assert_eq!(huge.0.get(sslwatch::metrics::Metric::KmeansInertia), None);
    assert!(
        huge.0
            .warnings
            .iter()
            .any(|w| w.contains("kmeans_inertia") && w.contains("outside f64's range")),
        "{:?}",
        huge.0.warnings
    );
    assert_eq!(
        huge.0.get(sslwatch::metrics::Metric::EntropyBits),
        Some(h0 + 6.0 * 1000.0)
    );
    // Prescaled by 0 is compute_layer.
    let zero = compute_layer_prescaled(x.view(), 0, Some(&labels), &s).expect("metrics");
    assert_eq!(
        zero.0.get(sslwatch::metrics::Metric::EntropyBits),
        base.0.get(sslwatch::metrics::Metric::EntropyBits)
    );
    assert_eq!(zero.1.c1, base.1.c1);
}

#[test]
fn all_zero_data_is_an_error_not_nonsense() {
    let x = Array2::<f32>::zeros((50, 4));
    let err = compute_layer(x.view(), None, &MetricSettings::default()).expect_err("all zero");
    assert!(matches!(err, MetricsError::Unrepresentable(_)), "{err:?}");
    assert!(err.to_string().contains("every finite value is 0"), "{err}");
    // Zeros plus non-finite rows are no better.
    let mut y = Array2::<f32>::zeros((50, 4));
    y[[3, 1]] = f32::NAN;
    assert!(matches!(
        compute_layer(y.view(), None, &MetricSettings::default()),
        Err(MetricsError::Unrepresentable(_))
    ));
}

#[test]
fn rows_flushed_to_zero_by_the_rescale_are_reported() {
    // Values near f32's maximum force a rescale by 2^-127; rows of 1e-30
    // fall below 2^-149 of the scale and become zero there.
    let (x, _) = blobs();
    let mut y = scaled(&x, 1e38);
    for i in 0..5 {
        y.row_mut(i).fill(1e-30);
    }
    let (m, _) = compute_layer(y.view(), None, &MetricSettings::default()).expect("metrics");
    assert!(
        m.warnings
            .iter()
            .any(|w| w.contains("5 of 300 rows became 0")),
        "{:?}",
        m.warnings
    );
}
