//! The checked settings of a training run, and `run.json`.
//!
//! The CLI parses raw flags; [`TrainConfig::validate`] checks them once.
//! Everything that shapes the result is in [`TrainConfig`] and recorded in
//! `run.json`, which `--resume` reads back; how the run executes (device,
//! threads, progress output) is in [`RunOptions`] and can change between a
//! run and its resumption.

use super::TrainError;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// The self-supervised method.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Method {
    /// SimCLR (Chen et al. 2020): NT-Xent over the other 2B-2 views.
    Simclr,
    /// MoCo v2 (Chen et al. 2020): momentum key encoder and a queue of keys.
    Moco,
    /// SimSiam (Chen & He 2021): predictor, stop-gradient, no negatives.
    Simsiam,
}

/// The data set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DatasetKind {
    /// scikit-learn's 1,797 8x8 digits, shipped with sslwatch.
    Digits,
    /// Procedurally generated 32x32 RGB shapes, 10 classes.
    Shapes,
    /// CIFAR-10, binary version (`cifar-10-batches-bin`).
    Cifar10,
    /// CIFAR-100, binary version (`cifar-100-binary`), fine labels.
    Cifar100,
    /// One subdirectory of PNG/JPEG images per class.
    Folder,
}

/// The backbone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Arch {
    /// ResNet-18, CIFAR variant: 3x3 stem, no max-pool, 512-d output.
    Resnet18,
    /// A 4-layer conv net (32-64-128-256), 256-d output, for CPUs.
    Small,
}

/// Where to compute.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeviceChoice {
    /// CUDA when libtorch sees a GPU, else the CPU.
    Auto,
    Cpu,
    Cuda,
}

impl Method {
    pub fn name(self) -> &'static str {
        match self {
            Method::Simclr => "simclr",
            Method::Moco => "moco",
            Method::Simsiam => "simsiam",
        }
    }
}

impl DatasetKind {
    pub fn name(self) -> &'static str {
        match self {
            DatasetKind::Digits => "digits",
            DatasetKind::Shapes => "shapes",
            DatasetKind::Cifar10 => "cifar10",
            DatasetKind::Cifar100 => "cifar100",
            DatasetKind::Folder => "folder",
        }
    }

    /// Whether the data set needs `--data-dir`.
    pub fn needs_data_dir(self) -> bool {
        matches!(
            self,
            DatasetKind::Cifar10 | DatasetKind::Cifar100 | DatasetKind::Folder
        )
    }
}

impl Arch {
    pub fn name(self) -> &'static str {
        match self {
            Arch::Resnet18 => "resnet18",
            Arch::Small => "small",
        }
    }
}

/// Training samples per class the default probe learns from. With 5,000
/// samples the probe of digits starts at 0.975 from random weights and
/// ends at 0.98-0.99: no room to move, correlations against it are noise.
/// A fixed few-shot set keeps random features far from the ceiling (see
/// the README's probe protocol for the measured numbers).
pub const DEFAULT_PROBE_PER_CLASS: usize = 3;

/// Everything that determines what a run computes; written to `run.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainConfig {
    pub method: Method,
    pub dataset: DatasetKind,
    pub arch: Arch,
    pub seed: u64,
    /// Directory of the data (cifar10, cifar100, folder).
    pub data_dir: Option<PathBuf>,
    /// Training images generated for `shapes` (the evaluation split is a
    /// fifth of it, at least 100).
    pub shapes_size: usize,
    /// Side in pixels that `folder` images are resized to.
    pub image_size: i64,
    pub epochs: u32,
    pub batch_size: usize,
    /// Learning rate for a batch of 256; the rate used is
    /// `base_lr * batch_size / 256` ([`TrainConfig::lr`]).
    pub base_lr: f64,
    pub momentum: f64,
    pub weight_decay: f64,
    /// Linear warm-up from 0, then cosine decay to 0 at the last epoch.
    pub warmup_epochs: u32,
    /// Softmax temperature (SimCLR: 0.5, MoCo v2: 0.2; unused by SimSiam).
    pub temperature: f64,
    /// MoCo: momentum of the key encoder.
    pub moco_momentum: f64,
    /// MoCo: number of keys in the queue.
    pub queue_size: usize,
    /// Output width of the projector.
    pub proj_dim: i64,
    /// Hidden width of the projector; 0 means the backbone's width.
    pub proj_hidden: i64,
    /// SimSiam: bottleneck width of the predictor.
    pub pred_hidden: i64,
    /// Milestones at epoch 0, every this many epochs, and at the last epoch.
    pub milestone_every: u32,
    /// Evaluation samples embedded at each milestone (None: the whole test split).
    pub eval_size: Option<usize>,
    /// The linear probe learns from this many training samples of each
    /// class (a fixed few-shot set, the same for every run on the data).
    /// `None` (run.json written before this setting existed, or
    /// `--probe-size`): `probe_size` samples drawn without regard to class.
    #[serde(default)]
    pub probe_per_class: Option<usize>,
    /// Training samples the linear probe learns from when `probe_per_class`
    /// is `None`.
    pub probe_size: usize,
    /// Write milestones as float16 instead of float32.
    pub half_milestones: bool,
}

impl TrainConfig {
    /// The published defaults of `method`, on `dataset` with `arch`.
    pub fn new(method: Method, dataset: DatasetKind, arch: Arch) -> Self {
        let (temperature, proj_dim, proj_hidden) = match method {
            Method::Simclr => (0.5, 128, 0),
            Method::Moco => (0.2, 128, 0),
            Method::Simsiam => (0.5, 2048, 2048),
        };
        TrainConfig {
            method,
            dataset,
            arch,
            seed: 0,
            data_dir: None,
            shapes_size: 10_000,
            image_size: 32,
            epochs: 100,
            batch_size: 256,
            base_lr: 0.06,
            momentum: 0.9,
            weight_decay: 5e-4,
            warmup_epochs: 10,
            temperature,
            moco_momentum: 0.99,
            queue_size: 4096,
            proj_dim,
            proj_hidden,
            pred_hidden: 512,
            milestone_every: 10,
            eval_size: None,
            probe_per_class: Some(DEFAULT_PROBE_PER_CLASS),
            probe_size: 5_000,
            half_milestones: false,
        }
    }

    /// The learning rate actually used: `base_lr * batch_size / 256`.
    pub fn lr(&self) -> f64 {
        self.base_lr * self.batch_size as f64 / 256.0
    }

    /// Check that the settings can work, in words a user understands.
    pub fn validate(&self) -> Result<(), TrainError> {
        let bad = |m: String| Err(TrainError::Config(m));
        if self.dataset.needs_data_dir() && self.data_dir.is_none() {
            return bad(format!(
                "--dataset {} needs --data-dir (the extracted {})",
                self.dataset.name(),
                match self.dataset {
                    DatasetKind::Cifar10 => "cifar-10-batches-bin directory",
                    DatasetKind::Cifar100 => "cifar-100-binary directory",
                    _ => "directory with one subdirectory of images per class",
                }
            ));
        }
        if self.batch_size < 2 {
            return bad(format!(
                "--batch-size must be at least 2 (got {})",
                self.batch_size
            ));
        }
        if !(self.base_lr > 0.0 && self.base_lr.is_finite()) {
            return bad(format!("--lr must be positive (got {})", self.base_lr));
        }
        if !(0.0..1.0).contains(&self.momentum) {
            return bad(format!(
                "--momentum must be in [0, 1) (got {})",
                self.momentum
            ));
        }
        if !(self.weight_decay >= 0.0 && self.weight_decay.is_finite()) {
            return bad(format!(
                "--weight-decay must be 0 or more (got {})",
                self.weight_decay
            ));
        }
        if !(self.temperature > 0.0 && self.temperature.is_finite()) {
            return bad(format!(
                "--temperature must be positive (got {})",
                self.temperature
            ));
        }
        if !(0.0..=1.0).contains(&self.moco_momentum) {
            return bad(format!(
                "--moco-momentum must be in [0, 1] (got {})",
                self.moco_momentum
            ));
        }
        if self.queue_size == 0 {
            return bad("--queue must be at least 1".into());
        }
        if self.proj_dim < 1 || self.proj_hidden < 0 || self.pred_hidden < 1 {
            return bad("--proj-dim and --pred-hidden must be at least 1, --proj-hidden at least 0 (0: the backbone's width)".into());
        }
        if self.milestone_every == 0 {
            return bad("--milestone-every must be at least 1".into());
        }
        if self.eval_size == Some(0) {
            return bad("--eval-size must be at least 1".into());
        }
        if self.probe_per_class == Some(0) {
            return bad("--probe-per-class must be at least 1".into());
        }
        if self.probe_size < 2 {
            return bad(format!(
                "--probe-size must be at least 2 (got {})",
                self.probe_size
            ));
        }
        if self.dataset == DatasetKind::Shapes && self.shapes_size < 10 {
            return bad(format!(
                "--shapes-size must be at least 10 (got {})",
                self.shapes_size
            ));
        }
        if !(8..=512).contains(&self.image_size) {
            return bad(format!(
                "--image-size must be between 8 and 512 (got {})",
                self.image_size
            ));
        }
        Ok(())
    }

    /// Whether `epoch` (completed epochs, 0 = before training) gets a milestone.
    pub fn is_milestone(&self, epoch: u32) -> bool {
        epoch == 0 || epoch.is_multiple_of(self.milestone_every) || epoch == self.epochs
    }

    /// The milestone directory name of `epoch`: `epoch_0020`.
    pub fn milestone_name(epoch: u32) -> String {
        format!("epoch_{epoch:04}")
    }
}

/// How a run executes; may differ between a run and its resumption.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// The run directory (`ROOT/RUN`).
    pub out: PathBuf,
    /// Continue from `out/checkpoints/last.ot`.
    pub resume: bool,
    pub device: DeviceChoice,
    /// libtorch's intra-op threads.
    pub threads: usize,
    /// No progress bar and no per-epoch lines on stderr.
    pub quiet: bool,
}

/// `run.json`: the settings plus what the watcher likes to show.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunJson {
    pub sslwatch_version: String,
    /// The learning rate used (`base_lr * batch_size / 256`).
    pub lr: f64,
    pub train_size: usize,
    pub eval_size_used: usize,
    pub classes: usize,
    /// libtorch's intra-op threads of the latest session: a resumption
    /// uses the same number unless told otherwise, because another count
    /// sums in another order (results then differ in the 7th digit).
    #[serde(default)]
    pub threads: Option<usize>,
    #[serde(flatten)]
    pub config: TrainConfig,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn milestones_at_zero_every_k_and_last() {
        let mut c = TrainConfig::new(Method::Simclr, DatasetKind::Digits, Arch::Small);
        c.epochs = 7;
        c.milestone_every = 3;
        let got: Vec<u32> = (0..=7).filter(|&e| c.is_milestone(e)).collect();
        assert_eq!(got, vec![0, 3, 6, 7]);
        assert_eq!(TrainConfig::milestone_name(20), "epoch_0020");
    }

    #[test]
    fn lr_scales_with_batch() {
        let mut c = TrainConfig::new(Method::Moco, DatasetKind::Digits, Arch::Small);
        c.base_lr = 0.06;
        c.batch_size = 512;
        assert!((c.lr() - 0.12).abs() < 1e-12);
    }

    #[test]
    fn cifar_needs_data_dir() {
        let c = TrainConfig::new(Method::Simclr, DatasetKind::Cifar10, Arch::Small);
        let err = c.validate().unwrap_err().to_string();
        assert!(err.contains("--data-dir"), "{err}");
    }

    #[test]
    fn run_json_round_trips() {
        let c = TrainConfig::new(Method::Simsiam, DatasetKind::Shapes, Arch::Resnet18);
        let rj = RunJson {
            sslwatch_version: "x".into(),
            lr: c.lr(),
            train_size: 10,
            eval_size_used: 2,
            classes: 10,
            threads: Some(2),
            config: c.clone(),
        };
        let text = serde_json::to_string(&rj).unwrap();
        assert!(text.contains("\"method\":\"simsiam\""), "{text}");
        let back: RunJson = serde_json::from_str(&text).unwrap();
        assert_eq!(back.config, c);
    }
}
