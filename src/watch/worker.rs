//! A metric worker: reads one milestone file, computes each wanted layer,
//! drops the embeddings, and reports back. At most `workers` (1-2) run at
//! once; the metrics themselves use rayon's pool for all cores.

use super::cache::LabelsId;
use crate::metrics::{LayerMetrics, MetricSettings};
use crate::read::read_embeddings;
use crate::runs::{FileStamp, MilestoneFormat};
use crossbeam_channel::{Receiver, Sender};
use ndarray::ArrayView2;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::PathBuf;
use std::sync::Arc;

/// The metric computation, injectable so tests can use a cheap fake.
pub type ComputeFn = Arc<
    dyn Fn(ArrayView2<f32>, Option<&[i64]>, &MetricSettings) -> Result<LayerMetrics, String>
        + Send
        + Sync,
>;

/// [`crate::metrics::compute_layer`] as a [`ComputeFn`].
pub fn default_compute() -> ComputeFn {
    Arc::new(|x, labels, settings| {
        crate::metrics::compute_layer(x, labels, settings)
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
    pub compute: ComputeFn,
}

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
        /// The wanted layers' outcomes, in file order.
        results: Vec<(String, Result<LayerMetrics, String>)>,
    },
}

pub struct Done {
    pub path: PathBuf,
    pub stamp: FileStamp,
    pub labels: Option<LabelsId>,
    pub outcome: Outcome,
}

pub fn run(jobs: Receiver<Job>, done: Sender<Done>) {
    for job in jobs {
        let outcome = work(&job);
        let d = Done {
            path: job.path,
            stamp: job.stamp,
            labels: job.labels.map(|(id, _)| id),
            outcome,
        };
        if done.send(d).is_err() {
            break;
        }
    }
}

fn work(job: &Job) -> Outcome {
    let layers = match read_embeddings(&job.path) {
        Ok(l) => l,
        Err(e) if e.is_incomplete() => return Outcome::Incomplete,
        Err(e) => return Outcome::ReadFailed(e.to_string()),
    };
    if FileStamp::read(&job.path) != Some(job.stamp) {
        return Outcome::Changed;
    }
    let name_of = |name: String| match &job.format {
        MilestoneFormat::Npz => name,
        other => other.known_layer().map(str::to_string).unwrap_or(name),
    };
    let file_layers: Vec<String> = layers.iter().map(|l| name_of(l.name.clone())).collect();
    let labels = job.labels.as_ref().map(|(_, l)| l.as_slice());
    let mut results = Vec::new();
    for (layer, name) in layers.into_iter().zip(file_layers.iter()) {
        if job.layer_filter.as_ref().is_some_and(|f| f != name) {
            continue;
        }
        let computed = catch_unwind(AssertUnwindSafe(|| {
            (job.compute)(layer.data.view(), labels, &job.settings)
        }));
        // The embeddings are dropped here; only the metric values live on.
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
        results.push((name.clone(), outcome));
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
