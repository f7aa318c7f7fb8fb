//! Metrics over one embedding matrix. Each metric lives in its own module as
//! pure functions over ndarray views; [`compute_layer`] runs the whole set the
//! way `sslwatch metrics`, `report` and the watcher all use it.

pub mod ami;
pub mod correlation;
pub mod entropy;
pub mod kmeans;
pub mod knn;
pub mod linalg;
pub mod pairwise;
pub mod probe;
pub mod rank;
pub mod silhouette;

use ndarray::{Array2, ArrayView2, Axis};
use serde::{Deserialize, Serialize};
use std::time::Instant;

/// Which entropy estimator `entropy_bits` uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum EntropyEstimator {
    /// Per-dimension equal-width histogram entropy, averaged over dimensions.
    #[default]
    Hist,
    /// Gaussian differential entropy from the covariance spectrum.
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
            silhouette_sample: 20_000,
            knn_k: 20,
        }
    }
}

/// Every metric of one layer. Metrics that do not apply are `None` (JSON null).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct LayerMetrics {
    /// Finite rows used.
    pub n: usize,
    pub dim: usize,
    pub k: usize,
    pub entropy_bits: Option<f64>,
    pub silhouette: Option<f64>,
    pub ami_agreement: Option<f64>,
    pub ami_labels: Option<f64>,
    pub probe_acc: Option<f64>,
    pub knn_acc: Option<f64>,
    pub rankme: Option<f64>,
    pub kmeans_inertia: Option<f64>,
    pub nonfinite_rows: usize,
    pub seconds: f64,
    /// Why a metric is null or what looked odd (label length mismatch, ...).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
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
pub fn compute_layer(
    x: ArrayView2<f32>,
    labels: Option<&[i64]>,
    settings: &MetricSettings,
) -> Result<(LayerMetrics, Clusterings), MetricsError> {
    let start = Instant::now();
    let (n_all, dim) = x.dim();
    if n_all == 0 || dim == 0 {
        return Err(MetricsError::Empty(format!("matrix is {n_all} x {dim}")));
    }
    let finite: Vec<bool> = x
        .axis_iter(Axis(0))
        .map(|row| row.iter().all(|v| v.is_finite()))
        .collect();
    let nonfinite = finite.iter().filter(|f| !**f).count();
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

    // A contiguous matrix of the finite rows (a copy only when needed).
    let owned: Option<Array2<f32>> = if nonfinite > 0 {
        let rows: Vec<usize> = (0..n_all).filter(|&i| finite[i]).collect();
        Some(x.select(Axis(0), &rows))
    } else if !x.is_standard_layout() {
        Some(x.as_standard_layout().into_owned())
    } else {
        None
    };
    let x: ArrayView2<f32> = match &owned {
        Some(a) => a.view(),
        None => x.view(),
    };

    let wanted_k = settings
        .k
        .or_else(|| labels.as_ref().map(|l| distinct(l)))
        .unwrap_or(10)
        .max(1);
    let k = wanted_k.min(n);
    if k < wanted_k {
        warnings.push(format!(
            "k reduced from {wanted_k} to {k} (only {n} finite rows)"
        ));
    }

    let params = |seed| kmeans::KMeansParams {
        k,
        n_init: settings.n_init.max(1),
        max_iter: settings.max_iter.max(1),
        seed,
    };
    // Both clusterings in one batch: each pass over the rows serves both.
    let [c1, c2] = kmeans::kmeans_many(
        x,
        &[params(settings.seed), params(second_seed(settings.seed))],
    );

    let silhouette =
        silhouette::silhouette_score(x, &c1.labels, settings.silhouette_sample, settings.seed);
    if silhouette.is_none() {
        warnings.push(format!(
            "silhouette undefined: clustering has {} distinct cluster(s) over {n} rows",
            distinct_u32(&c1.labels)
        ));
    }
    let c1_ids: Vec<i64> = c1.labels.iter().map(|&c| i64::from(c)).collect();
    let c2_ids: Vec<i64> = c2.labels.iter().map(|&c| i64::from(c)).collect();
    let ami_agreement = ami::adjusted_mutual_info(&c1_ids, &c2_ids);

    let entropy_bits = match settings.entropy {
        EntropyEstimator::Hist => entropy::hist_entropy_bits(x, settings.entropy_bins),
        EntropyEstimator::Gauss => entropy::gauss_entropy_bits(x),
        EntropyEstimator::Knn => entropy::knn_entropy_bits(x, 3),
    };
    let rankme = rank::rankme(x);

    let (ami_labels, probe_acc, knn_acc) = match &labels {
        Some(l) => (
            Some(ami::adjusted_mutual_info(&c1_ids, l)),
            probe::probe_accuracy(x, l, settings.seed),
            knn::knn_accuracy(x, l, settings.knn_k),
        ),
        None => (None, None, None),
    };

    let metrics = LayerMetrics {
        n,
        dim,
        k,
        entropy_bits: finite_or_none(entropy_bits),
        silhouette: silhouette.and_then(finite_or_none),
        ami_agreement: finite_or_none(ami_agreement),
        ami_labels: ami_labels.and_then(finite_or_none),
        probe_acc: probe_acc.and_then(finite_or_none),
        knn_acc: knn_acc.and_then(finite_or_none),
        rankme: finite_or_none(rankme),
        kmeans_inertia: finite_or_none(c1.inertia),
        nonfinite_rows: nonfinite,
        seconds: start.elapsed().as_secs_f64(),
        warnings,
    };
    Ok((
        metrics,
        Clusterings {
            c1: c1.labels,
            c2: c2.labels,
        },
    ))
}

fn select(values: &[i64], keep: &[bool]) -> Vec<i64> {
    values
        .iter()
        .zip(keep)
        .filter(|(_, &k)| k)
        .map(|(&v, _)| v)
        .collect()
}

fn distinct(labels: &[i64]) -> usize {
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
