//! Metrics over one embedding matrix. Each metric lives in its own module as
//! pure functions over ndarray views; [`compute_layer`] runs the whole set the
//! way `sslwatch metrics`, `report` and the watcher all use it.

pub mod ami;
pub mod correlation;
pub mod entropy;
pub mod kmeans;
pub mod knn;
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

/// Seed of the second clustering, disjoint from the first's seeds
/// (each k-means run `r` of a clustering uses `seed + r`).
pub fn second_seed(seed: u64) -> u64 {
    seed ^ 0x9E37_79B9_7F4A_7C15
}
