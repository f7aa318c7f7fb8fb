//! Each milestone file's life, as a plain state machine: the engine tells it
//! what it saw (a scan found a file with a stamp, a second look, a header,
//! a worker's answer, a file gone) and the time, and it answers with the
//! [`Effect`]s to carry out (queue, warn, emit, look again). It never reads
//! the clock or a file, so its rules are tested with a fake clock.
//!
//! ```text
//! Seen --(unchanged for the settle interval, header complete)--> Queued --> Computing --> Done
//!  |  \--(header promises more than is there)--> Incomplete --(grows)--> Seen      \--> Failed
//!  \--(changed)--> Seen (looks + 1)          (retries back off; "incomplete for" warnings)
//! ```
//! A new version (stamp) of a Done or Failed file starts again at Seen.

use super::cache::LabelsId;
use super::event::{stamp_time, EngineEvent, MilestoneKey, MilestoneResult};
use super::queue::Item;
use crate::runs::{FileStamp, MilestoneFile, MilestoneFormat};
use std::collections::{BTreeSet, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Longest wait between looks at an incomplete file.
pub const MAX_RETRY: Duration = Duration::from_secs(5);
/// A startup file still changing after this many looks is being written:
/// it no longer holds back `CaughtUp`.
pub const BUSY_LOOKS: u32 = 3;

/// Labels a milestone is computed with: their identity and content.
pub type Labels = (LabelsId, Arc<Vec<i64>>);

/// What the engine is to do.
#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    /// Put this file on the work queue (its labels wait here until
    /// [`Tracker::start`]).
    Queue(Item),
    /// Take this file off the work queue.
    Unqueue(PathBuf),
    /// Read the file's header(s) and answer with [`Tracker::probed`].
    Probe(PathBuf),
    /// A file seen for the first time: if this version is in the cache,
    /// answer with [`Tracker::cached`] (nothing to do otherwise).
    TryCache(PathBuf),
    /// Tell consumers.
    Emit(Box<EngineEvent>),
    /// Say this (the engine says each file and message once).
    Warn { file: PathBuf, message: String },
    /// Run [`Tracker::due`] again no later than this.
    LookAt(Instant),
    /// A file vanished between two looks: re-scan soon.
    Rescan,
}

/// The labels that apply to a file's run, as the engine found them.
#[derive(Debug, Clone)]
pub enum LabelsNow {
    /// The run has none (or they are unusable, already said).
    None,
    /// Its labels file is still being written.
    NotReady,
    Ready(LabelsId, Arc<Vec<i64>>),
}

/// What reading a file's header(s) found.
#[derive(Debug)]
pub enum Probed {
    /// Shorter than its header promises.
    Incomplete,
    /// Not there any more.
    Gone,
    /// Unreadable: the error text (it names the file).
    Unreadable(String),
    /// Complete per its headers.
    Complete {
        /// The most one of its wanted layers needs.
        cost: u64,
        labels: LabelsNow,
        /// This version's results from the cache, when there (looked up
        /// only when the labels are not [`LabelsNow::NotReady`]).
        cached: Option<Vec<MilestoneResult>>,
    },
}

/// What a worker said about the version it was given.
#[derive(Debug)]
pub enum Said {
    /// The file changed while it was read.
    Changed,
    /// Shorter than its header promises (rewritten in place?).
    Incomplete,
    /// Unreadable: the error text.
    ReadFailed(String),
    /// The results of its wanted layers.
    Layers(Vec<MilestoneResult>),
}

/// Where one milestone file is in its life.
#[derive(Debug, Clone, PartialEq)]
enum Stage {
    /// Waiting for a second look (`looks` looks so far saw it change).
    Seen {
        since: Instant,
        looks: u32,
    },
    /// Shorter than its header promises: look again after `retry`.
    /// `first` is when it was first found incomplete, `said` how long it
    /// had been at the last "still incomplete" warning.
    Incomplete {
        since: Instant,
        retry: Duration,
        first: Instant,
        said: Duration,
    },
    Queued {
        labels: Option<Labels>,
    },
    Computing,
    /// Results are out for this version.
    Done,
    /// Its read error is out for this version; waits for a new version.
    Failed,
}

/// One milestone file the engine knows.
pub struct FileEntry {
    pub run: String,
    pub step: u64,
    pub step_name: String,
    pub format: MilestoneFormat,
    pub stamp: FileStamp,
    stage: Stage,
    /// Arrived after the startup scan (goes before the backlog).
    fresh: bool,
    /// The most one of its wanted layers needs (from the headers; 0 until
    /// they are read): decides the lane.
    cost: u64,
    /// What consumers currently hold for this file.
    results: Vec<MilestoneResult>,
}

/// Every milestone file's stage, and the startup files `CaughtUp` waits for.
pub struct Tracker {
    settle: Duration,
    stall_after: Duration,
    files: HashMap<PathBuf, FileEntry>,
    /// Startup files not yet settled.
    startup: HashSet<PathBuf>,
}

impl Tracker {
    /// Files are read once unchanged for `settle`; a file still incomplete
    /// after `stall_after` is said (again each time the wait doubles).
    pub fn new(settle: Duration, stall_after: Duration) -> Tracker {
        Tracker {
            settle,
            stall_after,
            files: HashMap::new(),
            startup: HashSet::new(),
        }
    }

    pub fn file(&self, path: &Path) -> Option<&FileEntry> {
        self.files.get(path)
    }

    /// A scan found `file` in `run` (`initial`: the startup scan).
    pub fn scanned(
        &mut self,
        run: &str,
        file: MilestoneFile,
        initial: bool,
        now: Instant,
    ) -> Vec<Effect> {
        let path = file.path;
        let Some(e) = self.files.get_mut(&path) else {
            if initial {
                self.startup.insert(path.clone());
            }
            self.files.insert(
                path.clone(),
                FileEntry {
                    run: run.to_string(),
                    step: file.step,
                    step_name: file.step_name,
                    format: file.format,
                    stamp: file.stamp,
                    stage: Stage::Seen {
                        since: now,
                        looks: 0,
                    },
                    fresh: !initial,
                    cost: 0,
                    results: Vec::new(),
                },
            );
            return vec![Effect::TryCache(path)];
        };
        if e.stamp == file.stamp {
            return Vec::new();
        }
        e.stamp = file.stamp;
        e.fresh = true;
        let looks = match e.stage {
            Stage::Seen { looks, .. } => looks + 1,
            _ => 0,
        };
        let reported = !e.results.is_empty() && matches!(e.stage, Stage::Done | Stage::Failed);
        e.stage = Stage::Seen { since: now, looks };
        let mut out = vec![Effect::Unqueue(path.clone())];
        if reported {
            // Its results stand until the new version's replace them.
            out.push(Effect::Emit(Box::new(EngineEvent::Changed {
                run: e.run.clone(),
                step: e.step,
                file: path,
            })));
        }
        out
    }

    /// A scan is over: files not `present` are gone. A step that had
    /// results is said to be removed when its run is still there
    /// (`run_alive`), and what remains of it is given back.
    pub fn scan_finished(
        &mut self,
        present: &HashSet<PathBuf>,
        run_alive: impl Fn(&str) -> bool,
        now: Instant,
    ) -> Vec<Effect> {
        let gone: Vec<PathBuf> = self
            .files
            .keys()
            .filter(|p| !present.contains(*p))
            .cloned()
            .collect();
        self.files_gone(gone, run_alive, now)
    }

    /// A look at part of ROOT is over: these files are gone (paths the
    /// tracker does not know are ignored). As [`Tracker::scan_finished`].
    pub fn files_gone(
        &mut self,
        gone: Vec<PathBuf>,
        run_alive: impl Fn(&str) -> bool,
        now: Instant,
    ) -> Vec<Effect> {
        let mut out = vec![Effect::LookAt(now + self.settle)];
        let mut affected: BTreeSet<(String, u64)> = BTreeSet::new();
        for p in gone {
            self.startup.remove(&p);
            if let Some(e) = self.files.remove(&p) {
                if !e.results.is_empty() {
                    affected.insert((e.run, e.step));
                }
                out.push(Effect::Unqueue(p));
            }
        }
        for (run, step) in affected {
            if run_alive(&run) {
                self.remove_step(&run, step, None, &mut out);
            }
        }
        out
    }

    /// A run's labels changed: results computed with the old ones are stale.
    pub fn labels_changed(&mut self, run: &str, now: Instant) -> Vec<Effect> {
        let mut out = Vec::new();
        for (p, e) in self.files.iter_mut() {
            if e.run == run
                && matches!(
                    e.stage,
                    Stage::Queued { .. } | Stage::Computing | Stage::Done
                )
            {
                e.stage = Stage::Seen {
                    since: now,
                    looks: 0,
                };
                out.push(Effect::Unqueue(p.clone()));
            }
        }
        out
    }

    /// Files whose next look is due at `now`.
    pub fn due(&self, now: Instant) -> Vec<PathBuf> {
        self.files
            .iter()
            .filter(|(_, e)| self.look_time(e).is_some_and(|t| t <= now))
            .map(|(p, _)| p.clone())
            .collect()
    }

    /// When the next look is due, if any file waits for one.
    pub fn next_look(&self) -> Option<Instant> {
        self.files.values().filter_map(|e| self.look_time(e)).min()
    }

    fn look_time(&self, e: &FileEntry) -> Option<Instant> {
        match e.stage {
            Stage::Seen { since, .. } => Some(since + self.settle),
            Stage::Incomplete { since, retry, .. } => Some(since + retry),
            _ => None,
        }
    }

    /// `path` was renamed into place (the watcher said so): its writer
    /// finished it under another name, so the settle interval is not
    /// waited for; it gets its second look now. Only a file just seen
    /// (no look saw it change) qualifies.
    pub fn arrived(&mut self, path: &Path, now: Instant) -> Vec<Effect> {
        let Some(e) = self.files.get_mut(path) else {
            return Vec::new();
        };
        match (&e.stage, now.checked_sub(self.settle)) {
            (Stage::Seen { looks: 0, .. }, Some(since)) => {
                e.stage = Stage::Seen { since, looks: 0 };
                vec![Effect::LookAt(now)]
            }
            _ => Vec::new(),
        }
    }

    /// A second look at `path` found `stamp` (`None`: not there).
    pub fn look(&mut self, path: &Path, stamp: Option<FileStamp>, now: Instant) -> Vec<Effect> {
        let Some(e) = self.files.get_mut(path) else {
            return Vec::new();
        };
        let Some(stamp) = stamp else {
            // Gone: the re-scan decides what that means.
            e.stage = Stage::Seen {
                since: now,
                looks: 0,
            };
            return vec![Effect::Rescan];
        };
        let (looks, waiting) = match e.stage {
            Stage::Seen { looks, .. } => (looks, None),
            Stage::Incomplete {
                retry, first, said, ..
            } => (0, Some((retry, first, said))),
            _ => return Vec::new(),
        };
        if stamp != e.stamp {
            e.stamp = stamp;
            e.stage = Stage::Seen {
                since: now,
                looks: looks + 1,
            };
            return Vec::new();
        }
        let Some((retry, first, said)) = waiting else {
            return vec![Effect::Probe(path.to_path_buf())];
        };
        // Unchanged since it was found incomplete: still incomplete.
        let waited = now.saturating_duration_since(first);
        let due = if said.is_zero() {
            self.stall_after
        } else {
            said * 2
        };
        let stalled = waited >= due;
        e.stage = Stage::Incomplete {
            since: now,
            retry: (retry * 2).min(MAX_RETRY),
            first,
            said: if stalled { waited } else { said },
        };
        if !stalled {
            return Vec::new();
        }
        vec![Effect::Warn {
            file: path.to_path_buf(),
            message: format!(
                "incomplete for {}: shorter than its header promises and not growing (disk full, or the writer stopped?)",
                human_duration(waited)
            ),
        }]
    }

    /// What the headers said after a [`Effect::Probe`].
    pub fn probed(&mut self, path: &Path, probed: Probed, now: Instant) -> Vec<Effect> {
        let settle = self.settle;
        let Some(e) = self.files.get_mut(path) else {
            return Vec::new();
        };
        let Stage::Seen { looks, .. } = e.stage else {
            return Vec::new();
        };
        match probed {
            Probed::Incomplete => {
                e.stage = Stage::Incomplete {
                    since: now,
                    retry: settle * 2,
                    first: now,
                    said: Duration::ZERO,
                };
                Vec::new()
            }
            Probed::Gone => vec![Effect::Rescan],
            Probed::Unreadable(msg) => self.failed(path, msg),
            Probed::Complete {
                cost,
                labels,
                cached,
            } => {
                e.cost = cost;
                let labels = match labels {
                    LabelsNow::NotReady => {
                        e.stage = Stage::Seen { since: now, looks };
                        return Vec::new();
                    }
                    LabelsNow::None => None,
                    LabelsNow::Ready(id, l) => Some((id, l)),
                };
                match cached {
                    Some(results) => self.cached(path, results),
                    None => {
                        e.stage = Stage::Queued { labels };
                        vec![Effect::Queue(Item {
                            path: path.to_path_buf(),
                            run: e.run.clone(),
                            step: e.step,
                            fresh: e.fresh,
                            cost: e.cost,
                        })]
                    }
                }
            }
        }
    }

    /// This version's results came from the cache.
    pub fn cached(&mut self, path: &Path, results: Vec<MilestoneResult>) -> Vec<Effect> {
        let Some(e) = self.files.get_mut(path) else {
            return Vec::new();
        };
        e.stage = Stage::Done;
        self.startup.remove(path);
        self.set_results(path, results)
    }

    /// A queued file goes to a worker: its version, format and labels.
    /// `None` when it is no longer queued.
    pub fn start(&mut self, path: &Path) -> Option<(FileStamp, MilestoneFormat, Option<Labels>)> {
        let e = self.files.get_mut(path)?;
        if !matches!(e.stage, Stage::Queued { .. }) {
            return None;
        }
        let Stage::Queued { labels } = std::mem::replace(&mut e.stage, Stage::Computing) else {
            return None;
        };
        Some((e.stamp, e.format.clone(), labels))
    }

    /// The file a worker computed, when `stamp` is still its version and it
    /// is still being computed (else the answer is stale and is dropped).
    pub fn computing(&self, path: &Path, stamp: FileStamp) -> Option<&FileEntry> {
        self.files
            .get(path)
            .filter(|e| e.stamp == stamp && matches!(e.stage, Stage::Computing))
    }

    /// A worker's answer about version `stamp` of `path`.
    pub fn worker_said(
        &mut self,
        path: &Path,
        stamp: FileStamp,
        said: Said,
        now: Instant,
    ) -> Vec<Effect> {
        if self.computing(path, stamp).is_none() {
            return Vec::new(); // a newer version is on its way through
        }
        match said {
            Said::Changed | Said::Incomplete => {
                if let Some(e) = self.files.get_mut(path) {
                    e.stage = Stage::Seen {
                        since: now,
                        looks: 0,
                    };
                }
                vec![Effect::LookAt(now + self.settle)]
            }
            Said::ReadFailed(msg) => self.failed(path, msg),
            Said::Layers(results) => {
                if let Some(e) = self.files.get_mut(path) {
                    e.stage = Stage::Done;
                }
                self.startup.remove(path);
                self.set_results(path, results)
            }
        }
    }

    /// Its read error is the file's one result until a new version.
    fn failed(&mut self, path: &Path, msg: String) -> Vec<Effect> {
        let Some(e) = self.files.get_mut(path) else {
            return Vec::new();
        };
        e.stage = Stage::Failed;
        let r = MilestoneResult {
            key: MilestoneKey {
                run: e.run.clone(),
                step: e.step,
                layer: e.format.error_layer().to_string(),
            },
            step_name: e.step_name.clone(),
            file: path.to_path_buf(),
            cached: false,
            modified: stamp_time(&e.stamp),
            outcome: Err(msg),
        };
        self.startup.remove(path);
        self.set_results(path, vec![r])
    }

    /// Replace what consumers hold for `path` with `results`.
    fn set_results(&mut self, path: &Path, results: Vec<MilestoneResult>) -> Vec<Effect> {
        let mut out = Vec::new();
        let Some(e) = self.files.get_mut(path) else {
            return out;
        };
        // The kept copy has no embedding map: maps go to consumers once
        // (they are large), the numbers stay for re-sending.
        let kept = results
            .iter()
            .cloned()
            .map(|mut r| {
                if let Ok(m) = &mut r.outcome {
                    m.map = None;
                }
                r
            })
            .collect();
        let old = std::mem::replace(&mut e.results, kept);
        let (run, step) = (e.run.clone(), e.step);
        let dropped = old
            .iter()
            .any(|o| !results.iter().any(|n| n.key.layer == o.key.layer));
        if dropped {
            self.remove_step(&run, step, Some(path), &mut out);
        }
        out.extend(
            results
                .into_iter()
                .map(|r| Effect::Emit(Box::new(EngineEvent::Result(Box::new(r))))),
        );
        out
    }

    /// Tell consumers a step is gone, then give back what remains of it
    /// (other files of the same step), except `skip`.
    fn remove_step(&self, run: &str, step: u64, skip: Option<&Path>, out: &mut Vec<Effect>) {
        out.push(Effect::Emit(Box::new(EngineEvent::MilestoneRemoved {
            run: run.to_string(),
            step,
        })));
        let mut again: Vec<MilestoneResult> = self
            .files
            .iter()
            .filter(|(p, e)| e.run == run && e.step == step && Some(p.as_path()) != skip)
            .flat_map(|(_, e)| e.results.iter().cloned())
            .collect();
        again.sort_by(|a, b| a.key.cmp(&b.key));
        out.extend(
            again
                .into_iter()
                .map(|r| Effect::Emit(Box::new(EngineEvent::Result(Box::new(r))))),
        );
    }

    /// Whether every startup file has settled: computed, loaded, failed,
    /// found incomplete, or still changing after [`BUSY_LOOKS`] looks. When
    /// it has, `Some` with what to say first: in `once` mode, each file not
    /// reported.
    pub fn catch_up(&mut self, once: bool) -> Option<Vec<Effect>> {
        // Called on every turn of the engine's loop: drop the startup
        // files that are through until one is not, so that each file is
        // looked at about once (not all of them on every turn, which made
        // catching up on many files quadratic).
        while let Some(p) = self.startup.iter().next().cloned() {
            let holds_back = self.files.get(&p).is_some_and(|e| match e.stage {
                Stage::Seen { looks, .. } => looks < BUSY_LOOKS,
                Stage::Queued { .. } | Stage::Computing => true,
                Stage::Incomplete { .. } | Stage::Done | Stage::Failed => false,
            });
            if holds_back {
                return None;
            }
            self.startup.remove(&p);
        }
        let mut left: Vec<PathBuf> = Vec::new();
        if once {
            left = self
                .files
                .iter()
                .filter(|(_, e)| !matches!(e.stage, Stage::Done | Stage::Failed))
                .map(|(p, _)| p.clone())
                .collect();
            left.sort();
        }
        Some(
            left.into_iter()
                .map(|file| Effect::Warn {
                    file,
                    message: "still being written (incomplete): not reported".into(),
                })
                .collect(),
        )
    }
}

/// `45 s`, `3 min`, `2 h 5 min`.
fn human_duration(d: Duration) -> String {
    let s = d.as_secs();
    match s {
        0..=119 => format!("{s} s"),
        120..=7199 => format!("{} min", s / 60),
        _ => format!("{} h {} min", s / 3600, (s % 3600) / 60),
    }
}

#[cfg(test)]
mod tests {
    //! Time is injected: every call gets `t0 + seconds`, nothing reads the clock.
    use super::*;
    use crate::metrics::LayerMetrics;

    const SETTLE: Duration = Duration::from_secs(1);
    const STALL: Duration = Duration::from_secs(120);

    struct Fake {
        t0: Instant,
        tracker: Tracker,
    }

    impl Fake {
        fn new() -> Fake {
            Fake {
                t0: Instant::now(),
                tracker: Tracker::new(SETTLE, STALL),
            }
        }

        fn at(&self, secs: f64) -> Instant {
            self.t0 + Duration::from_secs_f64(secs)
        }

        fn scan(&mut self, path: &str, size: u64, initial: bool, secs: f64) -> Vec<Effect> {
            let now = self.at(secs);
            self.tracker.scanned("r", file(path, size), initial, now)
        }

        fn look(&mut self, path: &str, size: u64, secs: f64) -> Vec<Effect> {
            let now = self.at(secs);
            self.tracker.look(Path::new(path), Some(stamp(size)), now)
        }

        fn complete(&mut self, path: &str, secs: f64) -> Vec<Effect> {
            let probed = Probed::Complete {
                cost: 7,
                labels: LabelsNow::None,
                cached: None,
            };
            let now = self.at(secs);
            self.tracker.probed(Path::new(path), probed, now)
        }

        fn due(&self, secs: f64) -> Vec<PathBuf> {
            let mut d = self.tracker.due(self.at(secs));
            d.sort();
            d
        }

        /// Scan, settle and compute `path` (size `size`) to Done.
        fn done(&mut self, path: &str, size: u64, initial: bool) {
            self.scan(path, size, initial, 0.0);
            assert_eq!(self.look(path, size, 1.0), [Effect::Probe(path.into())]);
            assert!(matches!(self.complete(path, 1.0)[..], [Effect::Queue(_)]));
            assert!(self.tracker.start(Path::new(path)).is_some());
            let results = vec![result(path, "h")];
            let now = self.at(2.0);
            let said = Said::Layers(results);
            let out = self
                .tracker
                .worker_said(Path::new(path), stamp(size), said, now);
            assert_eq!(out.len(), 1, "{out:?}");
        }
    }

    fn stamp(size: u64) -> FileStamp {
        FileStamp {
            size,
            mtime_ns: size,
            ino: 1,
            ctime_ns: size,
        }
    }

    fn file(path: &str, size: u64) -> MilestoneFile {
        MilestoneFile {
            step: 20,
            step_name: "epoch_0020".into(),
            path: path.into(),
            format: MilestoneFormat::LayerNpy("h".into()),
            stamp: stamp(size),
        }
    }

    fn result(path: &str, layer: &str) -> MilestoneResult {
        MilestoneResult {
            key: MilestoneKey {
                run: "r".into(),
                step: 20,
                layer: layer.into(),
            },
            step_name: "epoch_0020".into(),
            file: path.into(),
            cached: false,
            modified: None,
            outcome: Ok(LayerMetrics::default()),
        }
    }

    fn queued(effects: &[Effect]) -> usize {
        effects
            .iter()
            .filter(|e| matches!(e, Effect::Queue(_)))
            .count()
    }

    fn warnings(effects: &[Effect]) -> Vec<String> {
        effects
            .iter()
            .filter_map(|e| match e {
                Effect::Warn { message, .. } => Some(message.clone()),
                _ => None,
            })
            .collect()
    }

    fn events(effects: &[Effect]) -> Vec<EngineEvent> {
        effects
            .iter()
            .filter_map(|e| match e {
                Effect::Emit(ev) => Some((**ev).clone()),
                _ => None,
            })
            .collect()
    }

    const P: &str = "/root/r/milestones/epoch_0020/h.npy";

    #[test]
    fn a_growing_file_is_not_read_until_unchanged_for_the_settle_interval() {
        let mut f = Fake::new();
        assert_eq!(f.scan(P, 10, false, 0.0), [Effect::TryCache(P.into())]);
        assert!(f.due(0.9).is_empty(), "not before the settle interval");
        assert_eq!(f.due(1.0), [PathBuf::from(P)]);
        // Grew since the scan: no header read, the wait starts again.
        assert!(f.look(P, 20, 1.0).is_empty());
        assert!(f.due(1.9).is_empty());
        assert_eq!(f.tracker.next_look(), Some(f.at(2.0)));
        assert!(f.look(P, 30, 2.0).is_empty());
        // Unchanged for a whole settle interval: now its header is read.
        assert_eq!(f.look(P, 30, 3.0), [Effect::Probe(P.into())]);
        let out = f.complete(P, 3.0);
        assert_eq!(queued(&out), 1, "{out:?}");
        match &out[0] {
            Effect::Queue(item) => {
                assert_eq!((item.run.as_str(), item.step, item.cost), ("r", 20, 7));
                assert!(item.fresh, "found while watching");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_file_renamed_into_place_is_read_without_the_settle_wait() {
        const Q: &str = "/root/r/milestones/epoch_0021/h.npy";
        let mut f = Fake::new();
        f.scan(P, 100, false, 0.0);
        let out = f.tracker.arrived(Path::new(P), f.at(0.01));
        assert_eq!(out, [Effect::LookAt(f.at(0.01))]);
        assert_eq!(f.due(0.01), [PathBuf::from(P)], "due now, not at 1 s");
        let out = f.look(P, 100, 0.01);
        assert_eq!(out, [Effect::Probe(P.into())]);
        // A file a look already saw change is not an arrival.
        f.scan(Q, 100, false, 0.0);
        f.look(Q, 200, 1.0);
        assert!(f.tracker.arrived(Path::new(Q), f.at(1.01)).is_empty());
        assert!(!f.due(1.01).contains(&PathBuf::from(Q)));
    }

    #[test]
    fn a_file_seen_complete_twice_is_queued_once() {
        let mut f = Fake::new();
        let mut all = f.scan(P, 10, true, 0.0);
        all.extend(f.look(P, 10, 1.0));
        all.extend(f.complete(P, 1.0));
        // The next scans and looks see the same version.
        all.extend(f.scan(P, 10, false, 1.5));
        assert!(f.due(60.0).is_empty(), "a queued file needs no look");
        all.extend(f.look(P, 10, 2.0));
        all.extend(f.scan(P, 10, false, 3.0));
        assert_eq!(queued(&all), 1, "{all:?}");
        let Some((s, format, labels)) = f.tracker.start(Path::new(P)) else {
            panic!("queued");
        };
        assert_eq!(
            (s, format, labels.is_none()),
            (stamp(10), file(P, 1).format, true)
        );
        assert!(f.tracker.start(Path::new(P)).is_none(), "handed out once");
    }

    #[test]
    fn incomplete_retries_back_off_and_the_warning_repeats_when_the_wait_doubles() {
        let mut f = Fake::new();
        f.scan(P, 10, false, 0.0);
        assert_eq!(f.look(P, 10, 1.0), [Effect::Probe(P.into())]);
        let now = f.at(1.0);
        assert!(f
            .tracker
            .probed(Path::new(P), Probed::Incomplete, now)
            .is_empty());
        // Found incomplete at t = 1: retries after 2 s (twice the settle
        // interval), then 4 s, then every 5 s (MAX_RETRY).
        let mut looks = Vec::new();
        let mut said = Vec::new();
        while looks.len() < 110 {
            let t = f.tracker.next_look().expect("waits for a look");
            let secs = (t - f.t0).as_secs_f64();
            looks.push(secs.round() as u64);
            for w in warnings(&f.look(P, 10, secs)) {
                said.push((secs.round() as u64, w));
            }
        }
        assert_eq!(looks[..5], [3, 7, 12, 17, 22]);
        assert!(looks.windows(2).skip(2).all(|w| w[1] - w[0] == 5));
        // Said once it has been incomplete for 120 s (the first look at or
        // after t = 121, which is t = 122: waited 121 s), then each time the
        // wait doubles: at least 242 s (t = 247), then 492 s (t = 497).
        let when: Vec<u64> = said.iter().map(|(t, _)| *t).collect();
        assert_eq!(when, [122, 247, 497]);
        assert!(
            said[0].1.starts_with(
                "incomplete for 2 min: shorter than its header promises and not growing"
            ),
            "{}",
            said[0].1
        );
        assert!(
            said[1].1.starts_with("incomplete for 4 min:"),
            "{}",
            said[1].1
        );
        assert!(
            said[2].1.starts_with("incomplete for 8 min:"),
            "{}",
            said[2].1
        );
    }

    #[test]
    fn an_incomplete_file_that_grows_is_seen_again() {
        let mut f = Fake::new();
        f.scan(P, 10, false, 0.0);
        f.look(P, 10, 1.0);
        let now = f.at(1.0);
        f.tracker.probed(Path::new(P), Probed::Incomplete, now);
        assert!(f.look(P, 99, 3.0).is_empty());
        assert!(f.due(3.9).is_empty(), "settles again");
        assert_eq!(f.look(P, 99, 4.0), [Effect::Probe(P.into())]);
    }

    #[test]
    fn a_new_stamp_after_done_says_changed_and_requeues() {
        let mut f = Fake::new();
        f.done(P, 10, true);
        assert!(f.scan(P, 10, false, 5.0).is_empty(), "same version");
        let out = f.scan(P, 11, false, 6.0);
        let changed = EngineEvent::Changed {
            run: "r".into(),
            step: 20,
            file: P.into(),
        };
        assert_eq!(
            out,
            [Effect::Unqueue(P.into()), Effect::Emit(Box::new(changed))]
        );
        assert!(f.due(6.9).is_empty());
        assert_eq!(f.look(P, 11, 7.0), [Effect::Probe(P.into())]);
        assert_eq!(queued(&f.complete(P, 7.0)), 1);
    }

    #[test]
    fn removing_a_file_after_done_removes_its_milestone_and_gives_back_the_rest() {
        let mut f = Fake::new();
        let z = "/root/r/milestones/epoch_0020/z.npy";
        f.done(P, 10, true);
        f.done(z, 10, true);
        let present: HashSet<PathBuf> = [PathBuf::from(z)].into();
        let now = f.at(9.0);
        let out = f.tracker.scan_finished(&present, |_| true, now);
        assert_eq!(
            events(&out),
            [
                EngineEvent::MilestoneRemoved {
                    run: "r".into(),
                    step: 20
                },
                EngineEvent::Result(Box::new(result(z, "h"))),
            ]
        );
        assert!(out.contains(&Effect::Unqueue(P.into())));
        assert!(f.tracker.file(Path::new(P)).is_none());
        // A step of a run that is gone itself says nothing more.
        let out = f.tracker.scan_finished(&HashSet::new(), |_| false, now);
        assert!(events(&out).is_empty(), "{out:?}");
    }

    #[test]
    fn a_file_removed_before_any_result_removes_nothing() {
        let mut f = Fake::new();
        f.scan(P, 10, true, 0.0);
        let now = f.at(0.5);
        let out = f.tracker.scan_finished(&HashSet::new(), |_| true, now);
        assert!(events(&out).is_empty(), "{out:?}");
        assert_eq!(out[0], Effect::LookAt(f.at(1.5)));
    }

    #[test]
    fn a_failed_file_waits_for_a_new_stamp() {
        let mut f = Fake::new();
        f.scan(P, 10, true, 0.0);
        f.look(P, 10, 1.0);
        let now = f.at(1.0);
        let out = f
            .tracker
            .probed(Path::new(P), Probed::Unreadable("bad magic".into()), now);
        match &events(&out)[..] {
            [EngineEvent::Result(r)] => {
                assert_eq!(r.key.layer, "h");
                assert_eq!(r.outcome, Err("bad magic".to_string()));
            }
            other => panic!("{other:?}"),
        }
        assert!(f.due(1000.0).is_empty(), "never looked at again");
        assert!(f.look(P, 10, 1000.0).is_empty());
        assert!(f.scan(P, 10, false, 1000.0).is_empty(), "same version");
        let out = f.scan(P, 12, false, 1001.0);
        assert!(matches!(events(&out)[..], [EngineEvent::Changed { .. }]));
        assert_eq!(f.look(P, 12, 1002.0), [Effect::Probe(P.into())]);
    }

    #[test]
    fn a_startup_file_still_changing_after_three_looks_stops_holding_back_caught_up() {
        let mut f = Fake::new();
        f.scan(P, 1, true, 0.0);
        assert!(f.tracker.catch_up(false).is_none());
        for (look, secs) in [1.0, 2.0, 3.0].into_iter().enumerate() {
            assert!(f.tracker.catch_up(false).is_none(), "after {look} looks");
            f.look(P, 2 + look as u64, secs);
        }
        assert_eq!(f.tracker.catch_up(false), Some(vec![]));
    }

    #[test]
    fn caught_up_waits_for_queued_and_computing_files_and_says_the_unfinished_once() {
        let mut f = Fake::new();
        let z = "/root/r/milestones/epoch_0020/z.npy";
        f.scan(P, 10, true, 0.0);
        f.scan(z, 10, true, 0.0);
        f.look(P, 10, 1.0);
        f.complete(P, 1.0);
        f.look(z, 10, 1.0);
        let now = f.at(1.0);
        f.tracker.probed(Path::new(z), Probed::Incomplete, now);
        assert!(f.tracker.catch_up(true).is_none(), "P is queued");
        f.tracker.start(Path::new(P));
        assert!(f.tracker.catch_up(true).is_none(), "P is computing");
        let now = f.at(2.0);
        f.tracker
            .worker_said(Path::new(P), stamp(10), Said::Layers(vec![]), now);
        let out = f.tracker.catch_up(true).expect("settled");
        assert_eq!(
            out,
            [Effect::Warn {
                file: z.into(),
                message: "still being written (incomplete): not reported".into()
            }]
        );
    }

    #[test]
    fn a_worker_answer_about_an_old_version_is_dropped() {
        let mut f = Fake::new();
        f.scan(P, 10, false, 0.0);
        f.look(P, 10, 1.0);
        f.complete(P, 1.0);
        f.tracker.start(Path::new(P));
        f.scan(P, 11, false, 1.5);
        let now = f.at(2.0);
        let said = Said::Layers(vec![result(P, "h")]);
        assert!(f
            .tracker
            .worker_said(Path::new(P), stamp(10), said, now)
            .is_empty());
        // The current version, changed while it was read, is looked at again.
        f.look(P, 11, 2.5);
        f.complete(P, 2.5);
        f.tracker.start(Path::new(P));
        let out = f
            .tracker
            .worker_said(Path::new(P), stamp(11), Said::Changed, now);
        assert_eq!(out, [Effect::LookAt(f.at(3.0))]);
        assert_eq!(f.due(3.0), [PathBuf::from(P)]);
    }

    #[test]
    fn new_labels_send_done_files_back_to_be_read_again() {
        let mut f = Fake::new();
        f.done(P, 10, true);
        let now = f.at(5.0);
        assert_eq!(
            f.tracker.labels_changed("r", now),
            [Effect::Unqueue(P.into())]
        );
        assert_eq!(f.look(P, 10, 6.0), [Effect::Probe(P.into())]);
        assert!(f.tracker.labels_changed("other", now).is_empty());
    }

    #[test]
    fn labels_still_being_written_hold_the_file_back() {
        let mut f = Fake::new();
        f.scan(P, 10, false, 0.0);
        f.look(P, 10, 1.0);
        let probed = Probed::Complete {
            cost: 1,
            labels: LabelsNow::NotReady,
            cached: None,
        };
        let now = f.at(1.0);
        assert!(f.tracker.probed(Path::new(P), probed, now).is_empty());
        assert_eq!(f.tracker.next_look(), Some(f.at(2.0)));
    }

    #[test]
    fn a_cached_version_is_done_without_computing() {
        let mut f = Fake::new();
        f.scan(P, 10, true, 0.0);
        let out = f.tracker.cached(Path::new(P), vec![result(P, "h")]);
        assert_eq!(
            events(&out),
            [EngineEvent::Result(Box::new(result(P, "h")))]
        );
        assert!(f.due(100.0).is_empty());
        assert_eq!(f.tracker.catch_up(false), Some(vec![]));
    }

    #[test]
    fn durations_read_as_people_say_them() {
        assert_eq!(human_duration(Duration::from_secs(45)), "45 s");
        assert_eq!(human_duration(Duration::from_secs(125)), "2 min");
        assert_eq!(human_duration(Duration::from_secs(7500)), "2 h 5 min");
    }
}
