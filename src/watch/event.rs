//! The one stream of typed events the engine emits. Every front end (report,
//! TUI, demo) is a consumer of this stream; none computes metrics itself.

use crate::metrics::LayerMetrics;
use crate::runs::FileStamp;
// A run's side-file types live with their readers in `runs`; the engine's
// events carry them, so they stay reachable from here.
pub use crate::runs::meta::{RunMeta, ScalarPoint};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use std::time::{Duration, SystemTime};

/// How the engine learns about file changes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum WatchMode {
    /// The OS's native watcher (inotify on Linux).
    Native,
    /// Polling every `interval` (the engine's own incremental look, see
    /// `runs::tree`); `reason` says why
    /// (`--poll`, a network filesystem, the native watcher failed).
    Poll { interval: Duration, reason: String },
}

/// A run: any directory under ROOT holding a `milestones/` directory.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunInfo {
    /// Path relative to ROOT, `/`-separated (e.g. `cifar10/simclr-s0`).
    pub name: String,
    pub dir: PathBuf,
    pub meta: RunMeta,
    /// Whether labels apply to this run (the nearest `labels.npy` upward
    /// from its directory, see `runs::layout::LabelsLookup`).
    pub has_labels: bool,
}

/// Identifies one computed result: (run, step, layer).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct MilestoneKey {
    pub run: String,
    /// The last run of digits in the milestone's name.
    pub step: u64,
    /// The layer name (`h`, `z`, `p`, `emb`, an npz array name).
    pub layer: String,
}

/// The outcome of one (run, step, layer).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MilestoneResult {
    pub key: MilestoneKey,
    /// The milestone's name as on disk (`epoch_0020`).
    pub step_name: String,
    pub file: PathBuf,
    /// Loaded from the cache rather than computed now.
    pub cached: bool,
    /// The milestone file's modification time, from the stamp the engine
    /// read it at (cached results too): when the trainer wrote it. `None`
    /// where the filesystem gives no time. The alerts' stale rule and the
    /// TUI's live marker compare the newest of a run's with the clock.
    #[serde(default)]
    pub modified: Option<SystemTime>,
    /// The metrics, or the error text (naming the file and the problem).
    pub outcome: Result<LayerMetrics, String>,
}

/// The modification time a [`FileStamp`] holds (`None` when unknown: 0).
pub(crate) fn stamp_time(stamp: &FileStamp) -> Option<SystemTime> {
    (stamp.mtime_ns > 0)
        .then(|| SystemTime::UNIX_EPOCH.checked_add(Duration::from_nanos(stamp.mtime_ns)))
        .flatten()
}

#[cfg(test)]
impl MilestoneResult {
    /// A computed (not cached) result of `run`'s `layer` at `step`, for
    /// tests: the file is `/r/RUN/milestones/STEP/LAYER.npy`, no mtime.
    pub(crate) fn for_test(
        run: &str,
        step: u64,
        layer: &str,
        outcome: Result<LayerMetrics, String>,
    ) -> MilestoneResult {
        MilestoneResult {
            key: MilestoneKey {
                run: run.into(),
                step,
                layer: layer.into(),
            },
            step_name: step.to_string(),
            file: PathBuf::from(format!("/r/{run}/milestones/{step}/{layer}.npy")),
            cached: false,
            modified: None,
            outcome,
        }
    }
}

/// Everything the engine tells its consumers.
#[derive(Debug, Clone, PartialEq)]
pub enum EngineEvent {
    /// The engine is watching `root` in `mode`.
    Started { root: PathBuf, mode: WatchMode },
    /// The watch mode changed (e.g. native watcher failed, now polling).
    Mode(WatchMode),
    /// A run appeared, or its metadata changed.
    RunFound(RunInfo),
    /// A run disappeared (directory deleted or renamed away).
    RunRemoved { run: String },
    /// Lines read from the run's `scalars.jsonl` since the last such
    /// event: only the keys anything shows (`runs::meta::SCALAR_KEYS`),
    /// lines with none of them left out. `from_start`: the file was read
    /// from its start (first look, replaced, shrank or removed), these
    /// points replace the earlier ones; otherwise they follow them.
    /// Consumers keep the history (bounded, `runs::meta::MAX_SCALAR_POINTS`).
    Scalars {
        run: String,
        points: Vec<ScalarPoint>,
        from_start: bool,
    },
    /// Milestone files waiting to be computed (queue length changed).
    Queue { pending: usize },
    /// Work on one milestone file started.
    Computing {
        run: String,
        step: u64,
        file: PathBuf,
    },
    /// A result (or a per-file error) for one (run, step, layer).
    Result(Box<MilestoneResult>),
    /// A milestone (all its layers) disappeared.
    MilestoneRemoved { run: String, step: u64 },
    /// A milestone file whose results are out changed on disk: it is
    /// recomputed, and its new results replace the old ones.
    Changed {
        run: String,
        step: u64,
        file: PathBuf,
    },
    /// A problem that is not a result (unreadable labels, bad run.json,
    /// watcher trouble). Shown once per file and message.
    Warning { file: PathBuf, message: String },
    /// Everything present at startup has been computed or loaded.
    CaughtUp,
}
