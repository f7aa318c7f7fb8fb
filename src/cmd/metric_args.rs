//! Metric flags shared by `metrics`, `report` and `watch`, checked once into
//! [`MetricSettings`].

use super::UsageError;
use sslwatch::metrics::{EntropyEstimator, MetricSettings};

#[derive(clap::Args, Debug, Clone)]
pub struct MetricArgs {
    /// Clusters for k-means (default: number of distinct labels, else 10).
    #[arg(long)]
    pub k: Option<usize>,
    /// k-means runs per clustering; the lowest-inertia one is kept.
    #[arg(long, default_value_t = 3)]
    pub n_init: usize,
    /// Seed of the first clustering (the second uses a seed derived from it).
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Entropy estimator.
    #[arg(long, value_enum, default_value_t = EntropyArg::Hist)]
    pub entropy: EntropyArg,
    /// Bins per dimension for the `hist` entropy estimator.
    #[arg(long, default_value_t = 64)]
    pub entropy_bins: usize,
    /// Rows above which silhouette is computed on a seeded sample of this many.
    #[arg(long, default_value_t = 20_000)]
    pub silhouette_sample: usize,
}

#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntropyArg {
    Hist,
    Gauss,
    Knn,
}

impl MetricArgs {
    /// Validate the flags into the settings the engine uses.
    pub fn settings(&self) -> Result<MetricSettings, UsageError> {
        if self.k == Some(0) {
            return Err(UsageError("--k must be at least 1".into()));
        }
        if self.n_init == 0 {
            return Err(UsageError("--n-init must be at least 1".into()));
        }
        if self.entropy_bins < 2 {
            return Err(UsageError("--entropy-bins must be at least 2".into()));
        }
        if self.silhouette_sample < 2 {
            return Err(UsageError("--silhouette-sample must be at least 2".into()));
        }
        Ok(MetricSettings {
            k: self.k,
            n_init: self.n_init,
            seed: self.seed,
            entropy: match self.entropy {
                EntropyArg::Hist => EntropyEstimator::Hist,
                EntropyArg::Gauss => EntropyEstimator::Gauss,
                EntropyArg::Knn => EntropyEstimator::Knn,
            },
            entropy_bins: self.entropy_bins,
            silhouette_sample: self.silhouette_sample,
            ..MetricSettings::default()
        })
    }
}
