//! The trainer behind `sslwatch train` (feature `train`, needs libtorch).
//!
//! It trains SimCLR, MoCo-v2 or SimSiam on a small image data set and writes
//! the run layout that the watcher reads: `run.json` and `labels.npy` at the
//! start, then at epoch 0 and every `milestone_every` epochs the evaluation
//! embeddings under `milestones/epoch_NNNN/` and one line of `scalars.jsonl`
//! per epoch (loss, learning rate, speed and, at milestones, the linear-probe
//! accuracy).
//!
//! - [`config`]: the checked settings ([`TrainConfig`]) and `run.json`.
//! - [`data`]: data sets (digits, shapes, CIFAR-10/100, image folders).
//! - [`augment`]: batched augmentations on tensors (two views per image).
//! - [`models`]: backbones (CIFAR ResNet-18, a small conv net) and MLP heads.
//! - [`methods`]: the three losses and their extra state (MoCo's queue).
//! - [`optim`]: SGD with momentum and the warm-up + cosine schedule.
//! - [`export`], [`checkpoint`], [`probe`]: what the loop writes.
//! - [`trainer`]: the loop itself.

pub mod augment;
pub mod checkpoint;
pub mod config;
pub mod data;
pub mod error;
pub mod export;
pub mod methods;
pub mod models;
pub mod optim;
pub mod pace;
pub mod probe;
pub mod trainer;

pub use config::{Arch, DatasetKind, DeviceChoice, Method, TrainConfig};
pub use error::TrainError;
pub use trainer::{train, Outcome, Progress};

/// libtorch's random generator is global to the process: unit tests that
/// depend on its exact draws take turns.
#[cfg(test)]
static TEST_RNG: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Hold libtorch's generator for the rest of a unit test.
#[cfg(test)]
pub(crate) fn rng_lock() -> std::sync::MutexGuard<'static, ()> {
    TEST_RNG.lock().unwrap_or_else(|e| e.into_inner())
}
