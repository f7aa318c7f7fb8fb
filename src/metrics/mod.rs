//! Metrics over one embedding matrix. Each metric lives in its own module as
//! pure functions over ndarray views; [`compute_layer`] runs the whole set the
//! way `sslwatch metrics`, `report` and the watcher all use it.

pub mod ami;
pub mod bf16;
pub(crate) mod budget;
pub mod correlation;
pub mod device;
pub mod entropy;
pub mod kmeans;
pub mod knn;
pub mod linalg;
pub mod outliers;
pub mod pairwise;
pub mod probe;
pub mod projection;
pub mod rank;
pub mod registry;
pub(crate) mod scale;
pub mod silhouette;
pub mod spectrum;
pub mod uniformity;
mod workers;

pub use budget::working_set_bytes;
pub use registry::{Metric, Values, View};

use ndarray::{Array2, ArrayView2};
use serde::{Deserialize, Serialize};
use std::time::Instant;

/// Which entropy estimator `entropy_bits` uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum EntropyEstimator {
    /// Per-dimension equal-width histogram entropy, averaged over the
    /// non-constant dimensions (dead units left out, with a warning).
    #[default]
    Hist,
    /// Gaussian differential entropy from the covariance spectrum, with a
    /// ridge of 1e-4 x trace/D on every eigenvalue.
    Gauss,
    /// Kozachenko-Leonenko k=3 nearest-neighbour estimator.
    Knn,
}

impl std::fmt::Display for EntropyEstimator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            EntropyEstimator::Hist => "hist",
            EntropyEstimator::Gauss => "gauss",
            EntropyEstimator::Knn => "knn",
        })
    }
}

/// Checked metric settings (the CLI validates flags into this once).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct MetricSettings {
    /// Number of clusters; `None`: number of distinct labels, else 10.
    pub k: Option<usize>,
    pub n_init: usize,
    pub max_iter: usize,
    pub seed: u64,
    pub entropy: EntropyEstimator,
    pub entropy_bins: usize,
    pub silhouette_sample: usize,
    /// Neighbours for `knn_acc`.
    pub knn_k: usize,
    /// Rows `uniformity` is computed on at most (a seeded sample above).
    #[serde(default = "default_uniformity_sample")]
    pub uniformity_sample: usize,
    /// Rows `knn_acc` (and the knn entropy estimator) use every row as a
    /// query up to; above it a seeded sample of this many queries, each
    /// against all rows. Older caches have no such field: they were exact.
    #[serde(default = "default_knn_sample")]
    pub knn_sample: usize,
    /// Where the heavy kernels run. Not serialised, so not part of the
    /// cache key: device results match the CPU's to float rounding (see
    /// module [`device`]).
    #[serde(skip)]
    pub device: device::Device,
}

fn default_knn_sample() -> usize {
    knn::KNN_EXACT
}

fn default_uniformity_sample() -> usize {
    uniformity::UNIFORMITY_EXACT
}

impl Default for MetricSettings {
    fn default() -> Self {
        MetricSettings {
            k: None,
            n_init: 3,
            max_iter: 300,
            seed: 0,
            entropy: EntropyEstimator::Hist,
            entropy_bins: 64,
            silhouette_sample: silhouette::SILHOUETTE_EXACT,
            knn_k: 20,
            uniformity_sample: uniformity::UNIFORMITY_EXACT,
            knn_sample: knn::KNN_EXACT,
            device: device::Device::Cpu,
        }
    }
}

/// Every metric of one layer. Metric values are by [`Metric`] in
/// [`LayerMetrics::values`] (JSON: one flat `key: value|null` per registry
/// row); a metric that does not apply is `None` (null).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct LayerMetrics {
    /// Finite rows used.
    pub n: usize,
    pub dim: usize,
    pub k: usize,
    #[serde(flatten)]
    pub values: Values,
    pub nonfinite_rows: usize,
    pub seconds: f64,
    /// Why a metric is null or what looked odd (label length mismatch, ...).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
    /// The normalised singular values of the centred matrix, largest
    /// first, at most [`spectrum::SPECTRUM_KEEP`].
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub spectrum: Vec<f64>,
    /// File rows of the strongest outliers (at most
    /// [`outliers::OUTLIER_IDX_KEEP`], farthest first).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub outlier_idx: Vec<u32>,
    /// The embedding map. Not serialised (neither cached nor in `report`'s
    /// JSON: it is thousands of numbers); the watcher's consumers get it
    /// with the milestone's result.
    #[serde(skip)]
    pub map: Option<std::sync::Arc<EmbeddingMap>>,
}

impl LayerMetrics {
    /// The value of `m` (`None` when null).
    pub fn get(&self, m: Metric) -> Option<f64> {
        self.values.get(m)
    }
}

/// Rows drawn on the embedding map (a seeded sample of the finite rows).
pub const MAP_POINTS: usize = 1_000;

/// A 2-D PCA projection of a sample of one layer's rows, for the TUI.
#[derive(Debug, Clone, PartialEq)]
pub struct EmbeddingMap {
    /// PC1, PC2 coordinates of each drawn row.
    pub xy: Vec<[f32; 2]>,
    /// Each point's colour class: an index into `class_names`.
    pub class: Vec<u32>,
    /// What each class is (label values, or cluster numbers).
    pub class_names: Vec<String>,
    /// Whether classes are the labels or the k-means clusters.
    pub by_labels: bool,
    /// Fraction of the variance along PC1 and PC2.
    pub explained: [f64; 2],
}

/// The two clusterings behind silhouette and AMI (for `--save-clusters`).
#[derive(Debug, Clone)]
pub struct Clusterings {
    pub c1: Vec<u32>,
    pub c2: Vec<u32>,
}

/// Why a layer's metrics could not be computed at all.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum MetricsError {
    #[error("diverged: {nonfinite} of {n} rows contain NaN or Inf")]
    Diverged { nonfinite: usize, n: usize },
    #[error("empty: {0}")]
    Empty(String),
    /// The values cannot be measured at any scale (e.g. every value is 0).
    #[error("unrepresentable: {0}")]
    Unrepresentable(String),
}

/// Seed of the second clustering. Each k-means run `r` of a clustering is
/// seeded with a splitmix64 mix of (clustering seed, r) (see
/// `kmeans::run_seed`), so the two clusterings' runs use different seeds.
pub fn second_seed(seed: u64) -> u64 {
    seed ^ 0x9E37_79B9_7F4A_7C15
}

/// Compute every metric of one layer. `x` may hold non-finite rows: they are
/// dropped (and counted); more than half non-finite is [`MetricsError::Diverged`].
/// `labels`, when given, must have one entry per row of `x`; a length
/// mismatch makes the labelled metrics null with a warning.
///
/// Values anywhere in f32's finite range (subnormals too) give the same
/// metrics as the data scaled by any constant, up to f32 rounding of the
/// data itself; the scale-dependent outputs (`kmeans_inertia`, and
/// `entropy_bits` for the gauss and knn estimators) are in the data's units.
/// See [`compute_layer_prescaled`].
pub fn compute_layer(
    x: ArrayView2<f32>,
    labels: Option<&[i64]>,
    settings: &MetricSettings,
) -> Result<(LayerMetrics, Clusterings), MetricsError> {
    compute_layer_prescaled(x, 0, labels, settings)
}

/// [`compute_layer`] for data stored divided by a power of two: the true
/// data is `x * 2^log2_scale`. A reader of f64 files whose values exceed
/// f32's range (1e300, say) divides them by 2^s before converting to f32 and
/// passes s here. Metrics that do not depend on the scale are those of `x`;
/// `kmeans_inertia` (scaled by 2^(2 log2_scale)) and the gauss and knn
/// `entropy_bits` (shifted by D log2_scale bits) are reported for the true
/// data, null with a warning when that value is outside f64's range.
///
/// Internally the rows are measured as they are when their largest |value|
/// is in [2^-32, 2^32), else on a copy multiplied by a power of two that
/// brings it into [1, 2) (module [`scale`]); the check is one pass over the
/// data. Every finite value 0 is [`MetricsError::Unrepresentable`].
pub fn compute_layer_prescaled(
    x: ArrayView2<f32>,
    log2_scale: i32,
    labels: Option<&[i64]>,
    settings: &MetricSettings,
) -> Result<(LayerMetrics, Clusterings), MetricsError> {
    let start = Instant::now();
    let (n_all, dim) = x.dim();
    if n_all == 0 || dim == 0 {
        return Err(MetricsError::Empty(format!("matrix is {n_all} x {dim}")));
    }
    let scanned = scale::scan(x);
    let nonfinite = scanned.nonfinite;
    if nonfinite * 2 > n_all {
        return Err(MetricsError::Diverged {
            nonfinite,
            n: n_all,
        });
    }
    let n = n_all - nonfinite;
    if n < 2 {
        return Err(MetricsError::Empty(format!(
            "{n} finite row(s); at least 2 are needed"
        )));
    }
    if scanned.max_abs == 0.0 {
        return Err(MetricsError::Unrepresentable(format!(
            "every finite value is 0 ({n} rows): no direction or spread to measure"
        )));
    }
    let finite = scanned.finite;
    let mut warnings = Vec::new();

    // Labels must line up with the rows; otherwise only the label-free metrics apply.
    let labels: Option<Vec<i64>> = match labels {
        Some(l) if l.len() == n_all => Some(select(l, &finite)),
        Some(l) => {
            warnings.push(format!(
                "labels have {} entries but the embeddings have {n_all} rows: labelled metrics skipped",
                l.len()
            ));
            None
        }
        None => None,
    };

    // A contiguous matrix of the finite rows, in range (a copy only when needed).
    let shift = scale::shift_for(scanned.max_abs);
    let owned: Option<Array2<f32>> = if nonfinite > 0 || shift != 0 || !x.is_standard_layout() {
        let rows: Vec<usize> = (0..n_all).filter(|&i| finite[i]).collect();
        let (copy, flushed) = scale::scaled_rows(x, &rows, shift);
        if flushed > 0 {
            warnings.push(format!(
                "values span more than f32 can hold at one scale: {flushed} of {n} rows became 0 \
                 when the data was scaled by 2^{} (their values are below 2^-149 of the largest)",
                -shift
            ));
        }
        Some(copy)
    } else {
        None
    };
    let x: ArrayView2<f32> = match &owned {
        Some(a) => a.view(),
        None => x.view(),
    };
    // `x` times 2^true_exp is the true data.
    let true_exp = i64::from(shift) + i64::from(log2_scale);

    let classes = labels.as_ref().map(|l| distinct(l));
    let (k, k_warnings) = resolve_k(settings, n, classes);
    warnings.extend(k_warnings);

    let params = |seed| kmeans::KMeansParams {
        k,
        n_init: settings.n_init.max(1),
        max_iter: settings.max_iter.max(1),
        seed,
    };
    // The GEMM-heavy kernels run on `settings.device` (the CPU by default).
    let dev = device::Kernels::new(settings.device);
    // Both clusterings in one batch: each pass over the rows serves both.
    let [c1, c2] = dev.kmeans_many(
        x,
        &[params(settings.seed), params(second_seed(settings.seed))],
        &mut warnings,
    );
    // The passes' buffers (tens of MiB at 50,000 x 2,048, from the arena)
    // go back now, before the spectrum's matrices set the layer's peak.
    crate::memory::release_free_memory();

    let silhouette = dev.silhouette_score(
        x,
        &c1.labels,
        settings.silhouette_sample,
        settings.seed,
        &mut warnings,
    );
    if silhouette.is_none() {
        warnings.push(format!(
            "silhouette undefined: clustering has {} distinct cluster(s) over {n} rows",
            distinct_u32(&c1.labels)
        ));
    }
    let c1_ids: Vec<i64> = c1.labels.iter().map(|&c| i64::from(c)).collect();
    let c2_ids: Vec<i64> = c2.labels.iter().map(|&c| i64::from(c)).collect();
    let ami_agreement = ami::adjusted_mutual_info(&c1_ids, &c2_ids);
    drop(c2_ids);

    // One eigendecomposition of the centred covariance serves the
    // spectrum, alpha-ReQ, the Gaussian entropy and the map's axes.
    // With N >= D the D x D Gram of x, centred by subtraction, gives the
    // covariance spectrum (one pass over x), and its eigendecomposition
    // RankMe's uncentred eigenvalues too (a rank-one update).
    let (rankme, cov) = if n >= dim {
        rank::rankme_and_spectrum(x, dev.gram(x, &mut warnings), 2)
    } else {
        (rank::rankme(x), spectrum::CovSpectrum::with_axes(x, 2))
    };
    // Differential entropies shift by log2 of the scale per dimension.
    let entropy_shift = dim as f64 * true_exp as f64;
    let entropy_of =
        |rows: ArrayView2<f32>, full: bool, warnings: &mut Vec<String>| match settings.entropy {
            EntropyEstimator::Hist => {
                let h = entropy::hist_entropy(rows, settings.entropy_bins);
                if full {
                    warnings.extend(hist_warning(h.constant_columns, dim));
                }
                h.bits
            }
            EntropyEstimator::Gauss => {
                if full {
                    warnings.extend(gauss_warning(rows.nrows(), dim));
                }
                let reuse = if full { cov.as_ref() } else { None };
                reuse.map_or_else(
                    || entropy::gauss_entropy_bits(rows),
                    spectrum::CovSpectrum::gauss_entropy_bits,
                ) + entropy_shift
            }
            EntropyEstimator::Knn => {
                knn::kl_entropy_bits_sampled(rows, 3, settings.knn_sample, settings.seed)
                    + entropy_shift
            }
        };
    let entropy_bits = entropy_of(x, true, &mut warnings);
    let spectrum_values = cov
        .as_ref()
        .map(|c| c.normalised_singular(spectrum::SPECTRUM_KEEP))
        .unwrap_or_default();
    let alpha_req = cov.as_ref().and_then(spectrum::CovSpectrum::alpha_req);

    // Outliers, and the entropy without them.
    let found = outliers::outliers(x);
    let entropy_inliers = match found.as_ref() {
        None => entropy_bits,
        Some(o) if o.count == 0 || o.mask.len() != n => entropy_bits,
        Some(o) if n - o.count < 2 => f64::NAN,
        // The histogram skips the outliers' rows in place (no copy).
        Some(o) if settings.entropy == EntropyEstimator::Hist => {
            entropy::hist_entropy_bits_masked(x, settings.entropy_bins, Some(&o.mask))
        }
        Some(o) => match outliers::inlier_rows(x, o) {
            Some(inliers) => entropy_of(inliers.view(), false, &mut warnings),
            None => entropy_bits,
        },
    };
    let outlier_frac = found.as_ref().map(|o| o.frac);
    let outlier_idx = found.map(|o| o.file_rows(&finite)).unwrap_or_default();
    drop(finite);

    let unif = uniformity::uniformity_with(x, settings.uniformity_sample.max(2), settings.seed);
    if unif.zero_rows > 0 {
        warnings.push(format!(
            "{} of {n} rows are all zero (no direction): left out of uniformity",
            unif.zero_rows
        ));
    }

    let map = cov.as_ref().and_then(|c| {
        let p = projection::pca_2d_from(c, x, MAP_POINTS, settings.seed)?;
        Some(std::sync::Arc::new(embedding_map(
            p,
            labels.as_deref(),
            &c1.labels,
        )))
    });
    drop(cov);

    let (ami_labels, probe_acc, knn_acc) = match &labels {
        Some(l) => (
            Some(ami::adjusted_mutual_info(&c1_ids, l)),
            probe::probe_accuracy(x, l, settings.seed),
            dev.knn_accuracy_sampled(
                x,
                l,
                settings.knn_k,
                settings.knn_sample,
                settings.seed,
                &mut warnings,
            ),
        ),
        None => (None, None, None),
    };

    // Squared distances scale by the square of the scale.
    let kmeans_inertia = match finite_or_none(c1.inertia) {
        Some(v) => {
            let t = scale::mul_pow2(v, 2 * true_exp);
            let representable = t.is_finite() && (t != 0.0 || v == 0.0);
            if !representable {
                warnings.push(format!(
                    "kmeans_inertia is {v:e} x 2^{} in the data's units, outside f64's range",
                    2 * true_exp
                ));
            }
            representable.then_some(t)
        }
        None => None,
    };

    let mut values = Values::default();
    for (metric, v) in [
        (Metric::EntropyBits, Some(entropy_bits)),
        (Metric::Silhouette, silhouette),
        (Metric::AmiAgreement, Some(ami_agreement)),
        (Metric::ProbeAcc, probe_acc),
        (Metric::Rankme, Some(rankme)),
        (Metric::AmiLabels, ami_labels),
        (Metric::KnnAcc, knn_acc),
        (Metric::AlphaReq, alpha_req),
        (Metric::Uniformity, Some(unif.value)),
        (Metric::OutlierFrac, outlier_frac),
        (Metric::EntropyInliers, Some(entropy_inliers)),
        (Metric::KmeansInertia, kmeans_inertia),
    ] {
        values.set(metric, v);
    }
    let metrics = LayerMetrics {
        n,
        dim,
        k,
        values,
        nonfinite_rows: nonfinite,
        seconds: start.elapsed().as_secs_f64(),
        warnings,
        spectrum: spectrum_values,
        outlier_idx,
        map,
    };
    Ok((
        metrics,
        Clusterings {
            c1: c1.labels,
            c2: c2.labels,
        },
    ))
}

/// The map of a projection: points coloured by their label when labels are
/// given (classes in sorted label order), else by k-means cluster.
fn embedding_map(
    p: projection::Projection,
    labels: Option<&[i64]>,
    clusters: &[u32],
) -> EmbeddingMap {
    let (class, class_names, by_labels) = match labels {
        Some(l) => {
            let names: Vec<i64> = {
                let mut v: Vec<i64> = p.rows.iter().map(|&r| l[r as usize]).collect();
                v.sort_unstable();
                v.dedup();
                v
            };
            let class = p
                .rows
                .iter()
                .map(|&r| names.binary_search(&l[r as usize]).map_or(0, |i| i as u32))
                .collect();
            (class, names.iter().map(i64::to_string).collect(), true)
        }
        None => {
            let class: Vec<u32> = p.rows.iter().map(|&r| clusters[r as usize]).collect();
            let k = class.iter().max().map_or(0, |&m| m as usize + 1);
            (
                class,
                (0..k).map(|c| format!("cluster {c}")).collect(),
                false,
            )
        }
    };
    EmbeddingMap {
        xy: p.xy,
        class,
        class_names,
        by_labels,
        explained: p.explained,
    }
}

/// What the histogram entropy left out: `constant` of `dim` columns are
/// constant (dead units) and are not in the mean; all of them makes it null.
fn hist_warning(constant: usize, dim: usize) -> Option<String> {
    if constant == 0 {
        None
    } else if constant == dim {
        Some(format!(
            "all {dim} columns are constant (dead units): histogram entropy is undefined (null)"
        ))
    } else {
        Some(format!(
            "{constant} of {dim} columns are constant (dead units): left out of the histogram \
             entropy, the mean over the other {} columns",
            dim - constant
        ))
    }
}

/// With `n` <= `dim` rows the covariance has at least `dim - n + 1` zero
/// eigenvalues: the Gaussian entropy there is the ridge's.
fn gauss_warning(n: usize, dim: usize) -> Option<String> {
    (n <= dim).then(|| {
        format!(
            "{n} rows <= {dim} dimensions: Gaussian entropy is regularised (every covariance \
             eigenvalue + {:e} x trace/D; at least {} of {dim} directions carry only that ridge)",
            entropy::GAUSS_RIDGE,
            dim - n + 1
        )
    })
}

/// Most clusters the labels may imply on their own (labels that are really
/// sample ids would make k = n, and k-means with k = n takes forever).
pub const MAX_LABEL_K: usize = 1000;

/// The k that [`compute_layer`] clusters with for `n` finite rows, and why it
/// differs from what was asked. `settings.k` wins when set (reduced to n).
/// Otherwise `label_classes` (the number of distinct labels, when labels are
/// given) sets it, capped at `min(1000, n / 2)` but at least 2; without
/// labels k is 10.
pub fn resolve_k(
    settings: &MetricSettings,
    n: usize,
    label_classes: Option<usize>,
) -> (usize, Vec<String>) {
    let mut warnings = Vec::new();
    let wanted = match (settings.k, label_classes) {
        (Some(k), _) => k,
        (None, Some(classes)) => {
            let cap = MAX_LABEL_K.min(n / 2).max(2);
            if classes > cap {
                warnings.push(format!(
                    "labels have {classes} distinct values; k capped at {cap} (pass --k to choose)"
                ));
                cap
            } else {
                classes
            }
        }
        (None, None) => 10,
    }
    .max(1);
    let k = wanted.min(n.max(1));
    if k < wanted {
        warnings.push(format!(
            "k reduced from {wanted} to {k} (only {n} finite rows)"
        ));
    }
    (k, warnings)
}

fn select(values: &[i64], keep: &[bool]) -> Vec<i64> {
    values
        .iter()
        .zip(keep)
        .filter(|(_, &k)| k)
        .map(|(&v, _)| v)
        .collect()
}

/// Distinct label values (the k labels imply; what the labelled metrics
/// and their memory depend on).
pub fn distinct(labels: &[i64]) -> usize {
    labels
        .iter()
        .collect::<std::collections::HashSet<_>>()
        .len()
}

fn distinct_u32(labels: &[u32]) -> usize {
    labels
        .iter()
        .collect::<std::collections::HashSet<_>>()
        .len()
}

/// JSON has no NaN: a non-finite metric is reported as null.
fn finite_or_none(v: f64) -> Option<f64> {
    v.is_finite().then_some(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sample_id_labels_cap_k_at_1000_with_a_warning() {
        let s = MetricSettings::default();
        let (k, w) = resolve_k(&s, 20_000, Some(20_000));
        assert_eq!(k, 1000);
        assert_eq!(
            w,
            vec!["labels have 20000 distinct values; k capped at 1000 (pass --k to choose)"]
        );
        // n / 2 caps below 1000; at least 2.
        assert_eq!(resolve_k(&s, 300, Some(200)).0, 150);
        assert_eq!(resolve_k(&s, 3, Some(3)).0, 2);
        // Under the cap labels set k, silently; without labels k is 10.
        assert_eq!(resolve_k(&s, 20_000, Some(1000)), (1000, vec![]));
        assert_eq!(resolve_k(&s, 20_000, Some(7)), (7, vec![]));
        assert_eq!(resolve_k(&s, 20_000, None), (10, vec![]));
    }

    #[test]
    fn an_explicit_k_is_kept_and_only_bounded_by_the_rows() {
        let s = MetricSettings {
            k: Some(5000),
            ..MetricSettings::default()
        };
        assert_eq!(resolve_k(&s, 20_000, Some(20_000)), (5000, vec![]));
        let (k, w) = resolve_k(&s, 100, None);
        assert_eq!(k, 100);
        assert_eq!(w, vec!["k reduced from 5000 to 100 (only 100 finite rows)"]);
    }

    #[test]
    fn compute_layer_caps_the_k_of_sample_id_labels() {
        // 40 rows, each its own label: k = min(1000, 40 / 2) = 20.
        let x = Array2::from_shape_fn((40, 3), |(i, j)| ((i * 7 + j * 5) % 11) as f32);
        let labels: Vec<i64> = (0..40).collect();
        let (m, c) =
            compute_layer(x.view(), Some(&labels), &MetricSettings::default()).expect("metrics");
        assert_eq!(m.k, 20);
        assert!(c.c1.iter().all(|&l| l < 20));
        assert!(m.warnings.contains(
            &"labels have 40 distinct values; k capped at 20 (pass --k to choose)".into()
        ));
    }
    /// 20 rows x 64 columns, every column varying (a fixed pattern).
    fn wide() -> Array2<f32> {
        Array2::from_shape_fn((20, 64), |(i, j)| ((i * i + i * j + j) % 17) as f32)
    }

    #[test]
    fn gauss_on_fewer_rows_than_dimensions_warns_that_it_is_regularised() {
        let s = MetricSettings {
            entropy: EntropyEstimator::Gauss,
            ..MetricSettings::default()
        };
        let (m, _) = compute_layer(wide().view(), None, &s).expect("metrics");
        assert!(
            m.get(Metric::EntropyBits).is_some_and(f64::is_finite),
            "{m:?}"
        );
        let want = "20 rows <= 64 dimensions: Gaussian entropy is regularised (every covariance \
                    eigenvalue + 1e-4 x trace/D; at least 45 of 64 directions carry only that ridge)";
        assert!(m.warnings.contains(&want.to_string()), "{:?}", m.warnings);
        // The other estimators say nothing about it, nor does gauss when N > D.
        let (m, _) =
            compute_layer(wide().view(), None, &MetricSettings::default()).expect("metrics");
        assert!(
            !m.warnings.iter().any(|w| w.contains("regularised")),
            "{:?}",
            m.warnings
        );
        let tall = wide().t().to_owned();
        let (m, _) = compute_layer(tall.view(), None, &s).expect("metrics");
        assert!(
            !m.warnings.iter().any(|w| w.contains("regularised")),
            "{:?}",
            m.warnings
        );
    }

    #[test]
    fn hist_leaves_dead_units_out_and_says_how_many() {
        // Columns 0 and 3 of 4 are dead (constant); columns 1 and 2 are the
        // post-ReLU pair of entropy::tests (0.811278 and 1 bit with 2 bins).
        let x = ndarray::array![
            [0.0f32, 0.0, 0.0, 0.0],
            [0.0, 0.0, 1.0, 0.0],
            [0.0, 0.0, 2.0, 0.0],
            [0.0, 2.0, 3.0, 0.0]
        ];
        let s = MetricSettings {
            k: Some(2),
            entropy_bins: 2,
            ..MetricSettings::default()
        };
        let (m, _) = compute_layer(x.view(), None, &s).expect("metrics");
        let h1 = -(0.75f64 * 0.75f64.log2() + 0.25 * 0.25f64.log2());
        let got = m.get(Metric::EntropyBits).expect("entropy");
        assert!((got - (h1 + 1.0) / 2.0).abs() < 1e-12, "{got}");
        let want = "2 of 4 columns are constant (dead units): left out of the histogram entropy, \
                    the mean over the other 2 columns";
        assert!(m.warnings.contains(&want.to_string()), "{:?}", m.warnings);
    }

    #[test]
    fn hist_of_only_constant_columns_is_null_with_a_warning() {
        let x = Array2::from_shape_fn((6, 3), |(_, j)| j as f32 + 1.0);
        let (m, _) = compute_layer(x.view(), None, &MetricSettings::default()).expect("metrics");
        assert_eq!(m.get(Metric::EntropyBits), None);
        let want = "all 3 columns are constant (dead units): histogram entropy is undefined (null)";
        assert!(m.warnings.contains(&want.to_string()), "{:?}", m.warnings);
    }
}
