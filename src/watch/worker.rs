//! A metric worker: opens one milestone file, checks each wanted layer
//! against the memory budget from its header, then reads and computes the
//! layers one at a time (never two decoded at once), and reports back.
//! The engine runs one general worker (two on 4+ cores) and one small-job
//! lane; the metrics themselves use rayon's pool for all cores.

use super::cache::LabelsId;
use crate::memory::{LayerNeed, MemoryBudget};
use crate::metrics::{LayerMetrics, MetricSettings};
use crate::read::{EmbeddingFile, ReadError};
use crate::runs::{FileStamp, MilestoneFormat};
use crossbeam_channel::{Receiver, Sender};
use ndarray::ArrayView2;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::PathBuf;
use std::sync::Arc;

/// The metric computation, injectable so tests can use a cheap fake. The
/// `i32` is the layer's `log2_scale` (see [`crate::read::Layer`]).
pub type ComputeFn = Arc<
    dyn Fn(ArrayView2<f32>, i32, Option<&[i64]>, &MetricSettings) -> Result<LayerMetrics, String>
        + Send
        + Sync,
>;

/// [`crate::metrics::compute_layer_prescaled`] as a [`ComputeFn`].
pub fn default_compute() -> ComputeFn {
    Arc::new(|x, log2_scale, labels, settings| {
        crate::metrics::compute_layer_prescaled(x, log2_scale, labels, settings)
            .map(|(m, _)| m)
            .map_err(|e| e.to_string())
    })
}

pub struct Job {
    pub path: PathBuf,
    pub stamp: FileStamp,
    pub format: MilestoneFormat,
    pub labels: Option<(LabelsId, Arc<Vec<i64>>)>,
    pub layer_filter: Option<String>,
    pub settings: Arc<MetricSettings>,
    pub budget: MemoryBudget,
    pub compute: ComputeFn,
    /// Which lane runs it (returned in [`Done`]).
    pub lane: Lane,
}

/// The general workers take any job; the small lane only jobs whose
/// estimated cost is under [`SMALL_JOB`], so new small milestones reach the
/// screen while a big one computes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lane {
    General,
    Small,
}

/// A milestone whose every layer needs at most this much (matrix plus
/// working set) is a small job.
pub const SMALL_JOB: u64 = 64 << 20;

pub enum Outcome {
    /// The file changed while it was read: look again later.
    Changed,
    /// Shorter than its header promises (rewritten in place?): look again later.
    Incomplete,
    /// Unreadable: the error names the file.
    ReadFailed(String),
    Layers {
        /// Every layer the file holds.
        file_layers: Vec<String>,
        /// The wanted layers' index in `file_layers` and outcome, in file order.
        results: Vec<(usize, Result<LayerMetrics, String>)>,
    },
}

pub struct Done {
    pub path: PathBuf,
    pub stamp: FileStamp,
    pub labels: Option<LabelsId>,
    pub lane: Lane,
    pub outcome: Outcome,
}

pub fn run(jobs: Receiver<Job>, done: Sender<Done>) {
    for job in jobs {
        let outcome = work(&job);
        let d = Done {
            path: job.path,
            stamp: job.stamp,
            labels: job.labels.map(|(id, _)| id),
            lane: job.lane,
            outcome,
        };
        if done.send(d).is_err() {
            break;
        }
    }
}

fn work(job: &Job) -> Outcome {
    let fail = |e: ReadError| {
        if e.is_incomplete() {
            Outcome::Incomplete
        } else {
            Outcome::ReadFailed(e.to_string())
        }
    };
    let mut file = match EmbeddingFile::open(&job.path) {
        Ok(f) => f,
        Err(e) => return fail(e),
    };
    let file_layers = job.format.layers(file.arrays());
    let labels = job.labels.as_ref().map(|(_, l)| l.as_slice());
    let classes = labels.map(crate::metrics::distinct);
    let mut results = Vec::new();
    for (i, name) in file_layers.iter().enumerate() {
        if job.layer_filter.as_ref().is_some_and(|f| f != name) {
            continue;
        }
        let (rows, cols) = file.arrays()[i].matrix_dims().unwrap_or((usize::MAX, 1));
        let need = LayerNeed::of(rows, cols, classes, &job.settings);
        if let Err(why) = job.budget.check(need) {
            results.push((
                i,
                Err(format!(
                    "{}: layer {name}: {rows} x {cols} {why}",
                    job.path.display()
                )),
            ));
            continue;
        }
        let layer = match file.read_layer(i) {
            Ok(l) => l,
            Err(e) => return fail(e),
        };
        let computed = catch_unwind(AssertUnwindSafe(|| {
            (job.compute)(layer.data.view(), layer.log2_scale, labels, &job.settings)
        }));
        // The embeddings are dropped here, before the next layer is read;
        // only the metric values live on.
        drop(layer);
        let outcome = match computed {
            Ok(Ok(m)) => Ok(m),
            Ok(Err(e)) => Err(format!("{}: layer {name}: {e}", job.path.display())),
            Err(panic) => Err(format!(
                "{}: layer {name}: internal error (please report): {}",
                job.path.display(),
                panic_text(&panic)
            )),
        };
        results.push((i, outcome));
    }
    if FileStamp::read(&job.path) != Some(job.stamp) {
        return Outcome::Changed;
    }
    Outcome::Layers {
        file_layers,
        results,
    }
}

fn panic_text(p: &Box<dyn std::any::Any + Send>) -> String {
    p.downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| p.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "panic".into())
}
