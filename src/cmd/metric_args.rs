//! Metric flags shared by `metrics`, `report` and `watch`, checked once into
//! [`MetricSettings`].

use super::UsageError;
use sslwatch::memory::{human_bytes, parse_size, physical_memory, MemoryBudget};
use sslwatch::metrics::device::{self, DeviceRequest};
use sslwatch::metrics::{EntropyEstimator, MetricSettings};
use std::ops::RangeInclusive;

/// The ranges every numeric metric flag is checked against, so that no
/// flag can ask for an absurd allocation or an endless computation.
pub const K_RANGE: RangeInclusive<usize> = 1..=10_000;
pub const N_INIT_RANGE: RangeInclusive<usize> = 1..=100;
pub const ENTROPY_BINS_RANGE: RangeInclusive<usize> = 2..=1024;
pub const SILHOUETTE_SAMPLE_RANGE: RangeInclusive<usize> = 2..=200_000;
/// `--uniformity-sample` (50,000 rows are 1.25e9 pairs).
pub const UNIFORMITY_SAMPLE_RANGE: RangeInclusive<usize> = 2..=50_000;
/// `--knn-sample` (queries; each costs N D multiply-adds).
pub const KNN_SAMPLE_RANGE: RangeInclusive<usize> = 1..=10_000_000;
/// The smallest `--max-memory`.
pub const MIN_BUDGET: u64 = 16 << 20;

/// `--flag V: must be between A and B` (exit code 2).
fn check_range(flag: &str, v: usize, range: RangeInclusive<usize>) -> Result<(), UsageError> {
    if range.contains(&v) {
        Ok(())
    } else {
        Err(UsageError(format!(
            "--{flag} {v}: must be between {} and {}",
            range.start(),
            range.end()
        )))
    }
}

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
    #[arg(long, default_value_t = sslwatch::metrics::silhouette::SILHOUETTE_EXACT)]
    pub silhouette_sample: usize,
    /// Rows uniformity is computed on: exact up to this many, above it on
    /// a seeded sample of this many (its cost grows with the square).
    #[arg(long, value_name = "ROWS", default_value_t = sslwatch::metrics::uniformity::UNIFORMITY_EXACT)]
    pub uniformity_sample: usize,
    /// Rows kNN accuracy (and `--entropy knn`) use every row as a query up
    /// to; above it a seeded sample of this many queries, each against all
    /// rows (standard error sqrt(p (1 - p) / ROWS)).
    #[arg(long, value_name = "ROWS", default_value_t = sslwatch::metrics::knn::KNN_EXACT)]
    pub knn_sample: usize,
    /// Memory one milestone layer may cost (decoded array plus the metrics'
    /// working set), checked from the file's header before anything is read;
    /// a layer over it is one error naming the file. Default: the smaller of
    /// 2 GiB and a quarter of physical memory. Examples: 512M, 4G.
    #[arg(long, value_name = "SIZE")]
    pub max_memory: Option<String>,
    /// Where the heavy metric kernels run (k-means, silhouette, kNN
    /// accuracy, the Gram matrix of RankMe and the spectrum): cpu, cuda (a
    /// GPU through libtorch; needs a build with `--features cuda`), or auto
    /// (cuda when this build and libtorch see a GPU, else cpu).
    #[arg(long, value_enum, default_value_t = DeviceArg::Cpu)]
    pub device: DeviceArg,
}

#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeviceArg {
    Cpu,
    Cuda,
    Auto,
}

impl From<DeviceArg> for DeviceRequest {
    fn from(d: DeviceArg) -> DeviceRequest {
        match d {
            DeviceArg::Cpu => DeviceRequest::Cpu,
            DeviceArg::Cuda => DeviceRequest::Cuda,
            DeviceArg::Auto => DeviceRequest::Auto,
        }
    }
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
        if let Some(k) = self.k {
            check_range("k", k, K_RANGE)?;
        }
        check_range("n-init", self.n_init, N_INIT_RANGE)?;
        check_range("entropy-bins", self.entropy_bins, ENTROPY_BINS_RANGE)?;
        check_range(
            "silhouette-sample",
            self.silhouette_sample,
            SILHOUETTE_SAMPLE_RANGE,
        )?;
        check_range(
            "uniformity-sample",
            self.uniformity_sample,
            UNIFORMITY_SAMPLE_RANGE,
        )?;
        check_range("knn-sample", self.knn_sample, KNN_SAMPLE_RANGE)?;
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
            uniformity_sample: self.uniformity_sample,
            knn_sample: self.knn_sample,
            device: self.resolved_device()?.0,
            ..MetricSettings::default()
        })
    }

    /// What `--device auto` chose, for the command to say once (`None`
    /// for an explicit device, or auto in a build without CUDA).
    pub fn device_note(&self) -> Result<Option<String>, UsageError> {
        Ok(self.resolved_device()?.1)
    }

    fn resolved_device(&self) -> Result<(device::Device, Option<String>), UsageError> {
        device::resolve(self.device.into()).map_err(|e| UsageError(e.to_string()))
    }
}

impl MetricArgs {
    /// The memory budget: `--max-memory`, checked against this machine.
    pub fn budget(&self) -> Result<MemoryBudget, UsageError> {
        let Some(text) = &self.max_memory else {
            return Ok(MemoryBudget::default());
        };
        let bytes = parse_size(text).map_err(|e| UsageError(format!("--max-memory {e}")))?;
        let max = physical_memory().unwrap_or(u64::MAX);
        if bytes < MIN_BUDGET || bytes > max {
            return Err(UsageError(format!(
                "--max-memory {text}: must be between {} and {} (this machine's memory)",
                human_bytes(MIN_BUDGET),
                human_bytes(max)
            )));
        }
        Ok(MemoryBudget(bytes))
    }
}
