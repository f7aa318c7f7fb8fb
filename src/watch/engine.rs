//! The engine: one thread that owns all state. Watcher signals (debounced)
//! trigger a stat-only re-scan; new or changed files go through readiness
//! checks, then the cache, then the work queue; workers send results back;
//! everything consumers need leaves on one [`EngineEvent`] channel.
//!
//! Each milestone file's life (settling, retries, what to queue, what to
//! say) is decided by the [`Tracker`], which takes the time and returns
//! effects; `Core` does the I/O around it: scans, stats, headers, labels,
//! run.json and scalars, the cache, the queue and the workers' channels.

use super::cache::{self, Cache, LabelsId, Lookup, RecordAt};
use super::event::{stamp_time, EngineEvent, MilestoneKey, MilestoneResult, RunInfo, WatchMode};
use super::fswatch::{self, Dirty, FsSignal, FsWatch};
use super::queue::{Item, Queue};
use super::tracker::{Effect, LabelsNow, Probed, Said, Tracker};
use super::worker::{self, ComputeFn, Done, Job, Lane, Outcome, SMALL_JOB};
use crate::memory::{LayerNeed, MemoryBudget};
use crate::metrics::{LayerMetrics, MetricSettings};
use crate::read::{check_complete, read_labels, ArrayInfo};
use crate::runs::meta::{read_run_json, ScalarsFile, ScalarsRead};
use crate::runs::tree::{Delta, Look, Tree};
use crate::runs::{fs_calls, scan_root, FileStamp, MilestoneFormat, RunMeta, RunScan};
use crossbeam_channel::{never, select, unbounded, Receiver, Sender};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// A file must be unchanged (size, mtime, change time, inode) for this long
/// before it is read, by default (`--settle`): writers that create the
/// full-size file first and fill it (`np.lib.format.open_memmap`,
/// preallocating writers) pass every header and length check long before
/// their data is final.
pub const DEFAULT_SETTLE: Duration = Duration::from_secs(1);
/// The settle interval's floor and ceiling.
pub const SETTLE_RANGE: (Duration, Duration) =
    (Duration::from_millis(50), Duration::from_secs(3600));
/// The shortest wait between two looks at a run.json that did not parse.
pub const STABLE_FOR: Duration = Duration::from_millis(200);
/// A file still shorter than its header promises after this long is said
/// (and again each time the wait doubles), by default.
pub const DEFAULT_STALL_AFTER: Duration = Duration::from_secs(120);
/// Quiet time after the last file event before re-scanning ...
const DEBOUNCE: Duration = Duration::from_millis(200);
/// ... but never wait longer than this under a steady stream of events.
const MAX_DEBOUNCE: Duration = Duration::from_secs(1);
/// With a native watcher, a poll's look this often even without events
/// (lost events); with `full_rescan`, a full walk.
const SAFETY_RESCAN: Duration = Duration::from_secs(30);
/// A full walk this often, in every mode: what a poll's look does not
/// notice (a file rewritten in place in a run quiet for longer than
/// `runs::tree::LIVE_FOR`, see there) is found within this time. Its cost
/// is one stat per file and directory under ROOT every 10 minutes.
pub const FULL_WALK_EVERY: Duration = Duration::from_secs(600);

/// How the engine learns about changes.
#[derive(Debug, Clone, PartialEq)]
pub enum WatchChoice {
    /// Native watcher, falling back to polling on network filesystems or failure.
    Auto,
    /// Poll at this interval (`--poll`): the engine's own incremental look.
    Poll(Duration),
    /// No watching: scan, compute everything, emit `CaughtUp` and stop.
    Once,
}

/// Where results are cached.
#[derive(Debug, Clone, PartialEq)]
pub enum CacheChoice {
    /// The user's cache directory (`~/.cache/sslwatch/roots`).
    Default,
    /// `--cache-dir`.
    Dir(PathBuf),
    /// `--no-cache`.
    Off,
}

/// Everything the engine needs.
#[derive(Clone)]
pub struct EngineConfig {
    pub root: PathBuf,
    pub settings: MetricSettings,
    pub watch: WatchChoice,
    pub cache: CacheChoice,
    /// Only this layer (`--layer`).
    pub layer_filter: Option<String>,
    /// General workers; 0: 2 on 4+ cores, else 1. A small-job lane runs
    /// beside them.
    pub workers: usize,
    pub compute: ComputeFn,
    /// How long a file must stay unchanged before it is read.
    pub settle: Duration,
    /// What one milestone layer may cost in memory.
    pub budget: MemoryBudget,
    /// When a file that stays incomplete is said.
    pub stall_after: Duration,
    /// Every look walks the whole tree, polling runs notify's PollWatcher
    /// besides, and renamed files wait the settle interval too: how the
    /// engine worked before issue 14, kept for the watcher benchmark's
    /// comparison and as an escape hatch.
    pub full_rescan: bool,
}

impl EngineConfig {
    /// Defaults: native watching with fallback, default cache, all layers.
    pub fn new(root: impl Into<PathBuf>, settings: MetricSettings) -> EngineConfig {
        EngineConfig {
            root: root.into(),
            settings,
            watch: WatchChoice::Auto,
            cache: CacheChoice::Default,
            layer_filter: None,
            workers: 0,
            compute: worker::default_compute(),
            settle: DEFAULT_SETTLE,
            budget: MemoryBudget::default(),
            stall_after: DEFAULT_STALL_AFTER,
            full_rescan: false,
        }
    }
}

/// What watching has cost so far: the engine thread's file-system calls
/// (looks at ROOT and readiness checks) and its looks.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WatchCost {
    pub stats: u64,
    pub lists: u64,
    /// Looks at ROOT (full walks included).
    pub looks: u64,
    pub full_walks: u64,
}

#[derive(Default)]
struct CostCounters {
    stats: AtomicU64,
    lists: AtomicU64,
    looks: AtomicU64,
    full_walks: AtomicU64,
}

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    // The OS error is in the message, not a `source`: a chain prints it once.
    #[error("{}: cannot watch: {error}", path.display())]
    Root {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error("{}: not a directory", .0.display())]
    NotADirectory(PathBuf),
    #[error("cache directory {} is inside ROOT {}: sslwatch never writes into the training directory; choose another --cache-dir or --no-cache", cache.display(), root.display())]
    CacheInsideRoot { cache: PathBuf, root: PathBuf },
    #[error("cannot start the file watcher: {0}")]
    Watcher(String),
    #[error("cannot start the engine thread: {0}")]
    Thread(std::io::Error),
}

/// A running engine. Dropping it stops the engine.
pub struct EngineHandle {
    events: Receiver<EngineEvent>,
    cost: Arc<CostCounters>,
    stop: Option<Sender<()>>,
    thread: Option<JoinHandle<()>>,
    cache_path: Option<PathBuf>,
    root: PathBuf,
}

impl EngineHandle {
    /// The event stream. It disconnects when the engine stops (after
    /// `CaughtUp` in [`WatchChoice::Once`]).
    pub fn events(&self) -> Receiver<EngineEvent> {
        self.events.clone()
    }

    /// The cache file in use, if any.
    pub fn cache_path(&self) -> Option<&Path> {
        self.cache_path.as_deref()
    }

    /// ROOT, canonicalised.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// What watching has cost so far (updated after each turn of the
    /// engine's loop).
    pub fn watch_cost(&self) -> WatchCost {
        let c = &self.cost;
        WatchCost {
            stats: c.stats.load(Ordering::Relaxed),
            lists: c.lists.load(Ordering::Relaxed),
            looks: c.looks.load(Ordering::Relaxed),
            full_walks: c.full_walks.load(Ordering::Relaxed),
        }
    }

    /// Stop the engine thread. Metric workers finish the milestone they are
    /// on in the background; their results are dropped.
    pub fn stop(&mut self) {
        self.stop.take();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for EngineHandle {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Start the engine on `cfg.root`.
pub struct Engine;

impl Engine {
    pub fn start(cfg: EngineConfig) -> Result<EngineHandle, EngineError> {
        let root = cfg.root.canonicalize().map_err(|error| EngineError::Root {
            path: cfg.root.clone(),
            error,
        })?;
        if !root.is_dir() {
            return Err(EngineError::NotADirectory(cfg.root.clone()));
        }
        std::fs::read_dir(&root).map_err(|error| EngineError::Root {
            path: cfg.root.clone(),
            error,
        })?;
        let (tx, rx) = unbounded();
        let mut warnings: Vec<(PathBuf, String)> = Vec::new();

        let cache_dir = match &cfg.cache {
            CacheChoice::Off => None,
            CacheChoice::Dir(dir) => {
                if absolute(dir).starts_with(&root) {
                    return Err(EngineError::CacheInsideRoot {
                        cache: dir.clone(),
                        root,
                    });
                }
                Some(dir.clone())
            }
            CacheChoice::Default => match cache::default_dir() {
                Some(dir) if absolute(&dir).starts_with(&root) => {
                    warnings.push((dir, "the cache directory is inside ROOT: caching is off (sslwatch never writes into the training directory)".into()));
                    None
                }
                other => other,
            },
        };
        // An unusable cache is one warning, never a reason not to start.
        let cache = cache_dir.map(|dir| {
            let opened = Cache::open(cache::cache_file(&dir, &root), &cfg.settings);
            if let Some(w) = opened.warning {
                warnings.push((opened.cache.path().to_path_buf(), format!("cache: {w}")));
            }
            opened.cache
        });
        let cache_path = cache.as_ref().map(|c| c.path().to_path_buf());

        let (fs_tx, fs_rx) = unbounded();
        let (watcher, mode) = match &cfg.watch {
            WatchChoice::Once => (
                None,
                WatchMode::Poll {
                    interval: Duration::ZERO,
                    reason: "single scan, no --follow".into(),
                },
            ),
            WatchChoice::Auto | WatchChoice::Poll(_) => {
                let poll = match cfg.watch {
                    WatchChoice::Poll(d) => Some(d),
                    _ => None,
                };
                let (w, msgs) = fswatch::start(&root, poll, fs_tx.clone(), !cfg.full_rescan)
                    .map_err(|e| EngineError::Watcher(format!("{}: {e}", root.display())))?;
                warnings.extend(msgs.into_iter().map(|m| (root.clone(), m)));
                let mode = w.mode.clone();
                (Some(w), mode)
            }
        };

        let workers = match cfg.workers {
            0 => match std::thread::available_parallelism().map(|n| n.get()) {
                Ok(n) if n >= 4 => 2,
                _ => 1,
            },
            n => n,
        };
        let (job_tx, job_rx) = unbounded::<Job>();
        let (small_tx, small_rx) = unbounded::<Job>();
        let (done_tx, done_rx) = unbounded::<Done>();
        let lanes = (0..workers)
            .map(|i| (format!("sslwatch-worker-{i}"), job_rx.clone()))
            .chain(std::iter::once(("sslwatch-small".to_string(), small_rx)));
        for (name, jr) in lanes {
            let dt = done_tx.clone();
            std::thread::Builder::new()
                .name(name)
                .spawn(move || worker::run(jr, dt))
                .map_err(EngineError::Thread)?;
        }
        let (stop_tx, stop_rx) = crossbeam_channel::bounded::<()>(0);

        let _ = tx.send(EngineEvent::Started {
            root: root.clone(),
            mode,
        });
        let once = cfg.watch == WatchChoice::Once;
        let cost = Arc::new(CostCounters::default());
        let mut core = Core {
            tree: Tree::new(&root),
            full_rescan: cfg.full_rescan,
            cost: cost.clone(),
            root_id: dir_id(&root),
            root: root.clone(),
            root_gone: false,
            watch: cfg.watch.clone(),
            settings: Arc::new(cfg.settings),
            layer_filter: cfg.layer_filter,
            compute: cfg.compute,
            budget: cfg.budget,
            tx,
            cache,
            runs: BTreeMap::new(),
            tracker: Tracker::new(cfg.settle, cfg.stall_after),
            queue: Queue::default(),
            busy: 0,
            busy_small: false,
            workers,
            job_tx,
            small_tx,
            labels: HashMap::new(),
            warned: HashSet::new(),
            caught_up: false,
            last_pending: None,
            ready_due: None,
            dirty: None,
            dirty_dirs: Dirty::Clean,
            arrived: HashSet::new(),
            watcher_trouble: None,
            closed: false,
        };
        for (file, msg) in warnings {
            core.warn(&file, msg);
        }
        let thread = std::thread::Builder::new()
            .name("sslwatch-engine".into())
            .spawn(move || core.run(watcher, fs_tx, fs_rx, done_rx, stop_rx, once))
            .map_err(EngineError::Thread)?;
        Ok(EngineHandle {
            events: rx,
            cost,
            stop: Some(stop_tx),
            thread: Some(thread),
            cache_path,
            root,
        })
    }
}

/// A directory's (device, inode): tells a re-created ROOT from the old one.
fn dir_id(p: &Path) -> Option<(u64, u64)> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        std::fs::metadata(p).ok().map(|m| (m.dev(), m.ino()))
    }
    #[cfg(not(unix))]
    {
        let _ = p;
        None
    }
}

fn absolute(p: &Path) -> PathBuf {
    // The directory may not exist yet: canonicalise its deepest existing ancestor.
    let mut existing = p.to_path_buf();
    let mut rest = Vec::new();
    while !existing.exists() {
        match (existing.file_name(), existing.parent()) {
            (Some(name), Some(parent)) => {
                rest.push(name.to_os_string());
                existing = parent.to_path_buf();
            }
            _ => break,
        }
    }
    let mut out = existing.canonicalize().unwrap_or(existing);
    if out.as_os_str().is_empty() {
        out = std::env::current_dir().unwrap_or_default();
    }
    out.extend(rest.iter().rev());
    out
}

struct RunState {
    info: RunInfo,
    run_json: Option<FileStamp>,
    /// A run.json that failed to parse, waiting for a second look before the warning.
    run_json_retry: Option<Instant>,
    scalars: ScalarsFile,
    scalars_stamp: Option<FileStamp>,
    warned_bad_scalars: bool,
    labels: Option<(PathBuf, FileStamp)>,
}

/// A labels file's version and its content (or why it cannot be used).
type LoadedLabels = (FileStamp, Result<Arc<Vec<i64>>, String>);

/// Which look a re-scan takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Sweep {
    /// Walk everything.
    Full,
    /// A poll cycle (directory stamps, live runs).
    Poll,
    /// Where the watcher's events since the last look said (a poll's look
    /// when they named nothing, a full walk when they said anywhere).
    Events,
}

struct Core {
    root: PathBuf,
    /// What the last look found, for the next look to pay only for changes.
    tree: Tree,
    /// Walk everything every time (see `EngineConfig::full_rescan`).
    full_rescan: bool,
    cost: Arc<CostCounters>,
    /// ROOT's (device, inode) when the watcher was armed.
    root_id: Option<(u64, u64)>,
    /// ROOT is missing: look for it every second and re-arm when it is back.
    root_gone: bool,
    watch: WatchChoice,
    settings: Arc<MetricSettings>,
    layer_filter: Option<String>,
    compute: ComputeFn,
    budget: MemoryBudget,
    tx: Sender<EngineEvent>,
    cache: Option<Cache>,
    runs: BTreeMap<String, RunState>,
    /// Every milestone file's stage (the rules; this struct does the I/O).
    tracker: Tracker,
    queue: Queue,
    /// General workers busy.
    busy: usize,
    /// The small-job lane is busy.
    busy_small: bool,
    workers: usize,
    job_tx: Sender<Job>,
    small_tx: Sender<Job>,
    /// Loaded labels by path: the version and its content (or why not).
    labels: HashMap<PathBuf, LoadedLabels>,
    warned: HashSet<(PathBuf, String)>,
    caught_up: bool,
    last_pending: Option<usize>,
    ready_due: Option<Instant>,
    /// First and last file event since the last re-scan.
    dirty: Option<(Instant, Instant)>,
    /// Where those events happened.
    dirty_dirs: Dirty,
    /// Files the watcher saw renamed into place since the last look.
    arrived: HashSet<PathBuf>,
    /// The first error the watcher reported since the last look.
    watcher_trouble: Option<String>,
    closed: bool,
}

impl Core {
    fn run(
        mut self,
        mut watcher: Option<FsWatch>,
        fs_tx: Sender<FsSignal>,
        fs_rx: Receiver<FsSignal>,
        done_rx: Receiver<Done>,
        stop_rx: Receiver<()>,
        once: bool,
    ) {
        let mut fs_rx = if watcher.is_some() { fs_rx } else { never() };
        self.rescan(true, Sweep::Full);
        let mut last_scan = Instant::now();
        let mut last_full = last_scan;
        loop {
            self.readiness(Instant::now());
            self.dispatch();
            self.check_caught_up(once);
            self.publish_cost();
            if self.closed || (once && self.caught_up) {
                break;
            }
            // Polling is this loop's timer (no notify PollWatcher).
            let poll_every = match watcher.as_ref().map(|w| &w.mode) {
                Some(WatchMode::Poll { interval, .. }) if !self.full_rescan => Some(*interval),
                _ => None,
            };
            let next_look = last_scan + poll_every.unwrap_or(SAFETY_RESCAN);
            let now = Instant::now();
            let mut due = (now + Duration::from_secs(1)).min(next_look);
            if let Some(r) = self.ready_due {
                due = due.min(r);
            }
            if let Some((first, last)) = self.dirty {
                due = due.min((last + DEBOUNCE).min(first + MAX_DEBOUNCE));
            }
            let timeout = due
                .saturating_duration_since(now)
                .max(Duration::from_millis(5));
            select! {
                recv(stop_rx) -> _ => break,
                recv(fs_rx) -> sig => match sig {
                    Ok(s) => self.on_fs(s),
                    Err(_) => {
                        fs_rx = never();
                        self.warn_root("the file watcher stopped; re-scanning every 30 s".into());
                    }
                },
                recv(done_rx) -> d => if let Ok(d) = d {
                    self.on_done(d);
                    // Idle (nothing computing, nothing queued): hand the
                    // milestones' memory back. Not during a backlog, where
                    // the next milestone would only fault it in again.
                    if self.busy == 0 && !self.busy_small && self.queue.len() == 0 {
                        crate::memory::release_free_memory();
                    }
                },
                default(timeout) => {}
            }
            // Take a burst of events at once.
            while let Ok(s) = fs_rx.try_recv() {
                self.on_fs(s);
            }
            if let Some(msg) = self.watcher_trouble.take() {
                self.fall_back_to_polling(&mut watcher, &fs_tx, msg);
            }
            if !once && self.root_replaced() {
                self.rearm(&mut watcher, &fs_tx);
                last_scan = Instant::now();
                last_full = last_scan;
            }
            let now = Instant::now();
            let debounced = self
                .dirty
                .is_some_and(|(first, last)| now >= last + DEBOUNCE || now >= first + MAX_DEBOUNCE);
            if !once && !self.full_rescan && now >= last_full + FULL_WALK_EVERY {
                self.rescan(false, Sweep::Full);
                (last_scan, last_full) = (now, now);
            } else if debounced {
                self.rescan(false, Sweep::Events);
                last_scan = now;
            } else if !once && now >= next_look {
                let sweep = if self.full_rescan {
                    Sweep::Full
                } else {
                    Sweep::Poll
                };
                self.rescan(false, sweep);
                last_scan = now;
            }
        }
        drop(watcher);
    }

    /// Tell the handle what this thread's file-system calls add up to.
    fn publish_cost(&self) {
        let calls = fs_calls();
        self.cost.stats.store(calls.stats, Ordering::Relaxed);
        self.cost.lists.store(calls.lists, Ordering::Relaxed);
    }

    fn emit(&mut self, ev: EngineEvent) {
        if self.tx.send(ev).is_err() {
            self.closed = true;
        }
    }

    /// A warning, once per file and message.
    fn warn(&mut self, file: &Path, message: String) {
        if self.warned.insert((file.to_path_buf(), message.clone())) {
            self.emit(EngineEvent::Warning {
                file: file.to_path_buf(),
                message,
            });
        }
    }

    /// Carry out what the tracker decided, in order.
    fn apply(&mut self, effects: Vec<Effect>, now: Instant) {
        for effect in effects {
            match effect {
                Effect::Queue(item) => self.queue.push(item),
                Effect::Unqueue(path) => {
                    self.queue.remove(&path);
                }
                Effect::Probe(path) => {
                    let probed = self.probe(&path);
                    let more = self.tracker.probed(&path, probed, now);
                    self.apply(more, now);
                }
                Effect::TryCache(path) => self.try_cache_now(&path, now),
                Effect::Emit(ev) => self.emit(*ev),
                Effect::Warn { file, message } => self.warn(&file, message),
                Effect::LookAt(t) => {
                    self.ready_due = Some(self.ready_due.map_or(t, |d| d.min(t)));
                }
                Effect::Rescan => {
                    self.dirty.get_or_insert((now, now));
                }
            }
        }
    }

    fn on_fs(&mut self, s: FsSignal) {
        let now = Instant::now();
        if let FsSignal::Arrived(paths) = s {
            // The `Changed` before it marked the look.
            self.arrived.extend(paths);
            return;
        }
        self.dirty_dirs.add(&s);
        if let FsSignal::Trouble(msg) = s {
            self.warn_root(format!("file watcher: {msg}"));
            self.watcher_trouble.get_or_insert(msg);
        }
        self.dirty = Some(match self.dirty {
            Some((first, _)) => (first, now),
            None => (now, now),
        });
    }

    /// ROOT is back after it disappeared (or a re-scan found another
    /// directory at its path): the old watcher watches nothing. Stats ROOT
    /// only while it is gone, not on every turn of the loop.
    fn root_replaced(&self) -> bool {
        self.root_gone && dir_id(&self.root).is_some()
    }

    /// A warning about ROOT itself.
    fn warn_root(&mut self, message: String) {
        let root = self.root.clone();
        self.warn(&root, message);
    }

    /// Use `w` from now on and tell consumers its mode.
    fn use_watcher(&mut self, watcher: &mut Option<FsWatch>, w: FsWatch) {
        let mode = w.mode.clone();
        *watcher = Some(w);
        self.emit(EngineEvent::Mode(mode));
    }

    /// Watch the new ROOT with a new watcher (as chosen at start), then
    /// re-scan it.
    fn rearm(&mut self, watcher: &mut Option<FsWatch>, tx: &Sender<FsSignal>) {
        self.root_gone = false;
        self.root_id = dir_id(&self.root);
        let poll = match self.watch {
            WatchChoice::Poll(d) => Some(d),
            _ => None,
        };
        *watcher = None;
        match fswatch::start(&self.root, poll, tx.clone(), !self.full_rescan) {
            Ok((w, msgs)) => {
                for m in msgs {
                    self.warn_root(m);
                }
                self.use_watcher(watcher, w);
            }
            Err(e) => self.warn_root(format!(
                "ROOT is back but cannot be watched ({e}); re-scanning every 30 s"
            )),
        }
        self.warn_root("ROOT was re-created: watching the new directory".into());
        self.tree = Tree::new(&self.root);
        self.rescan(false, Sweep::Full);
    }

    /// A native watcher that reports errors (typically the inotify watch
    /// limit on a big tree) may be missing changes: poll instead.
    fn fall_back_to_polling(
        &mut self,
        watcher: &mut Option<FsWatch>,
        tx: &Sender<FsSignal>,
        msg: String,
    ) {
        if !matches!(watcher.as_ref().map(|w| &w.mode), Some(WatchMode::Native)) {
            return;
        }
        let reason = format!("native watcher failed: {msg}");
        let engine_polls = !self.full_rescan;
        match fswatch::start_polling(
            &self.root,
            fswatch::DEFAULT_POLL,
            reason,
            tx.clone(),
            engine_polls,
        ) {
            Ok(w) => self.use_watcher(watcher, w),
            Err(e) => self.warn_root(format!(
                "cannot start polling either ({e}); re-scanning every 30 s"
            )),
        }
    }

    fn rel(&self, p: &Path) -> String {
        p.strip_prefix(&self.root)
            .unwrap_or(p)
            .to_string_lossy()
            .replace('\\', "/")
    }

    /// Look at ROOT again (stat only, see [`Sweep`]) and reconcile what
    /// changed with what we know.
    fn rescan(&mut self, initial: bool, sweep: Sweep) {
        let dirty = match sweep {
            // Timers leave what events said to the debounced look.
            Sweep::Poll => Dirty::Clean,
            Sweep::Full | Sweep::Events => {
                self.dirty = None;
                self.dirty_dirs.take()
            }
        };
        let now = Instant::now();
        let looked = if self.full_rescan {
            scan_root(&self.root).map(Delta::from)
        } else {
            let look = match (sweep, &dirty) {
                (Sweep::Full, _) | (_, Dirty::All) => Look::Full,
                (Sweep::Events, Dirty::Dirs(dirs)) => Look::Dirty(dirs),
                _ => Look::Poll,
            };
            self.tree.look(look, now)
        };
        self.cost.looks.fetch_add(1, Ordering::Relaxed);
        let delta = match looked {
            Ok(d) => {
                // Another directory at ROOT's path (deleted and re-created
                // between two looks): the loop re-arms the watcher on it.
                if dir_id(&self.root) != self.root_id {
                    self.root_gone = true;
                }
                d
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let root = self.root.clone();
                if !self.root_gone {
                    self.root_gone = true;
                    // Said each time it goes, not once per session.
                    self.warned.retain(|(p, _)| p != &root);
                    self.emit(EngineEvent::Warning {
                        file: root.clone(),
                        message: "ROOT disappeared: waiting for it to come back".into(),
                    });
                }
                Delta::from(crate::runs::Scan::default())
            }
            Err(e) => {
                // A transient failure (NFS hiccup) must not drop every run.
                self.warn_root(format!("cannot list ROOT: {e}"));
                return;
            }
        };
        if delta.full {
            self.cost.full_walks.fetch_add(1, Ordering::Relaxed);
        }
        self.reconcile(delta, initial, now);
        // Renamed into place: complete, no settle wait (see `Tracker::arrived`).
        if sweep != Sweep::Poll && !self.full_rescan {
            for path in std::mem::take(&mut self.arrived) {
                let effects = self.tracker.arrived(&path, now);
                self.apply(effects, now);
            }
        }
    }

    /// Take in what a look found changed.
    fn reconcile(&mut self, delta: Delta, initial: bool, now: Instant) {
        for note in &delta.notes {
            self.warn(&note.path, note.message.clone());
        }
        if delta.is_empty() {
            return;
        }
        let mut present: HashSet<PathBuf> = HashSet::new();
        let mut names: HashSet<String> = HashSet::new();
        for scan in delta.runs {
            names.insert(scan.name.clone());
            self.reconcile_run(&scan, now);
            for f in scan.files {
                if let (Some(filter), Some(layer)) = (&self.layer_filter, f.format.known_layer()) {
                    if filter != layer {
                        continue;
                    }
                }
                present.insert(f.path.clone());
                let effects = self.tracker.scanned(&scan.name, f, initial, now);
                self.apply(effects, now);
            }
        }
        // Runs that are gone: after a full walk, every run it did not find.
        let gone_runs: Vec<String> = if delta.full {
            self.runs
                .keys()
                .filter(|r| !names.contains(*r))
                .cloned()
                .collect()
        } else {
            delta.removed
        };
        for run in gone_runs {
            if self.runs.remove(&run).is_some() {
                self.queue.remove_run(&run);
                self.emit(EngineEvent::RunRemoved { run });
            }
        }
        // Files that are gone, and the steps they leave.
        let runs = &self.runs;
        let alive = |r: &str| runs.contains_key(r);
        let effects = if delta.full {
            self.tracker.scan_finished(&present, alive, now)
        } else {
            self.tracker.files_gone(delta.gone, alive, now)
        };
        self.apply(effects, now);
    }

    fn reconcile_run(&mut self, scan: &RunScan, now: Instant) {
        let is_new = !self.runs.contains_key(&scan.name);
        if is_new {
            self.runs.insert(
                scan.name.clone(),
                RunState {
                    info: RunInfo {
                        name: scan.name.clone(),
                        dir: scan.dir.clone(),
                        meta: RunMeta::default(),
                        has_labels: scan.labels.is_some(),
                    },
                    run_json: None,
                    run_json_retry: None,
                    scalars: ScalarsFile::default(),
                    scalars_stamp: None,
                    warned_bad_scalars: false,
                    labels: scan.labels.clone(),
                },
            );
        }
        let mut announce = is_new;

        // run.json
        let json_path = scan.dir.join("run.json");
        let Some(run) = self.runs.get_mut(&scan.name) else {
            return;
        };
        if scan.run_json != run.run_json {
            run.run_json = scan.run_json;
            let meta = match scan.run_json {
                None => Ok(RunMeta::default()),
                Some(_) => read_run_json(&json_path),
            };
            match meta {
                Ok(m) => {
                    run.run_json_retry = None;
                    if m != run.info.meta {
                        run.info.meta = m;
                        announce = true;
                    }
                }
                // Maybe half-written: warn only if a second look agrees.
                Err(_) => run.run_json_retry = Some(now + STABLE_FOR),
            }
        }

        // labels
        if scan.labels != run.labels {
            run.labels = scan.labels.clone();
            if run.info.has_labels != scan.labels.is_some() {
                run.info.has_labels = scan.labels.is_some();
                announce = true;
            }
            // Results computed with other labels are stale.
            let effects = self.tracker.labels_changed(&scan.name, now);
            self.apply(effects, now);
        }
        let Some(run) = self.runs.get_mut(&scan.name) else {
            return;
        };
        if announce {
            let info = run.info.clone();
            self.emit(EngineEvent::RunFound(info));
        }

        // scalars.jsonl
        let Some(run) = self.runs.get_mut(&scan.name) else {
            return;
        };
        if scan.scalars != run.scalars_stamp {
            run.scalars_stamp = scan.scalars;
            let path = scan.dir.join("scalars.jsonl");
            // Only what was appended is read and sent on.
            let had = run.scalars.points_read > 0;
            let read = match scan.scalars {
                None => {
                    run.scalars = ScalarsFile::default();
                    Ok(ScalarsRead {
                        points: Vec::new(),
                        from_start: true,
                    })
                }
                Some(s) => run.scalars.update(&path, s.size, s.ino),
            };
            let bad = (!run.warned_bad_scalars && run.scalars.bad_lines > 0).then(|| {
                run.warned_bad_scalars = true;
                format!(
                    "skipped lines that are not JSON objects ({})",
                    run.scalars.first_bad.clone().unwrap_or_default()
                )
            });
            if let Ok(read) = read {
                if !read.points.is_empty() || (read.from_start && had) {
                    self.emit(EngineEvent::Scalars {
                        run: scan.name.clone(),
                        points: read.points,
                        from_start: read.from_start,
                    });
                }
            }
            if let Some(msg) = bad {
                self.warn(&path, msg);
            }
        }
    }

    /// A file seen for the first time whose version is in the cache needs no
    /// second look: it was complete when it was computed.
    fn try_cache_now(&mut self, path: &Path, now: Instant) {
        if self.cache.is_none() {
            return;
        }
        let Some(run) = self.tracker.file(path).map(|e| e.run.clone()) else {
            return;
        };
        let labels = match self.labels_for(&run) {
            LabelsNow::Ready(id, l) => Some((id, l)),
            LabelsNow::None => None,
            LabelsNow::NotReady => return,
        };
        if let Some(results) = self.cached(path, labels.as_ref().map(|(id, _)| id)) {
            let effects = self.tracker.cached(path, results);
            self.apply(effects, now);
        }
    }

    /// The labels that apply to `run` now, loading them if needed.
    fn labels_for(&mut self, run: &str) -> LabelsNow {
        let Some((path, stamp)) = self.runs.get(run).and_then(|r| r.labels.clone()) else {
            return LabelsNow::None;
        };
        let cached = self
            .labels
            .get(&path)
            .filter(|(s, _)| *s == stamp)
            .map(|(_, r)| r.clone());
        let loaded = match cached {
            Some(r) => r,
            None => match check_complete(&path).and_then(|_| read_labels(&path, self.budget.0)) {
                Err(e) if e.is_incomplete() => return LabelsNow::NotReady,
                Err(e) => {
                    let r = Err(e.to_string());
                    self.labels.insert(path.clone(), (stamp, r.clone()));
                    r
                }
                Ok(v) => {
                    let r = Ok(Arc::new(v));
                    self.labels.insert(path.clone(), (stamp, r.clone()));
                    r
                }
            },
        };
        match loaded {
            Ok(v) => LabelsNow::Ready(
                LabelsId {
                    path: self.rel(&path),
                    stamp,
                },
                v,
            ),
            Err(msg) => {
                self.warn(&path, format!("{msg}; labelled metrics skipped"));
                LabelsNow::None
            }
        }
    }

    /// Second looks: files whose two looks agree and whose header promises
    /// no more than is there go to the cache or the queue.
    fn readiness(&mut self, now: Instant) {
        if self.ready_due.is_none_or(|d| now < d) {
            return;
        }
        self.ready_due = None;
        let mut next: Option<Instant> = None;
        let mut due_next = |t: Instant| next = Some(next.map_or(t, |n: Instant| n.min(t)));

        // Half-written run.json files get one more look before their warning.
        let retry: Vec<String> = self
            .runs
            .iter()
            .filter_map(|(n, r)| r.run_json_retry.map(|t| (n, t)))
            .filter_map(|(n, t)| {
                if t <= now {
                    Some(n.clone())
                } else {
                    due_next(t);
                    None
                }
            })
            .collect();
        for name in retry {
            let Some(run) = self.runs.get_mut(&name) else {
                continue;
            };
            run.run_json_retry = None;
            let path = run.info.dir.join("run.json");
            match read_run_json(&path) {
                Ok(m) => {
                    if m != run.info.meta {
                        run.info.meta = m;
                        let info = run.info.clone();
                        self.emit(EngineEvent::RunFound(info));
                    }
                }
                Err(e) => self.warn(&path, format!("{e}: metadata ignored")),
            }
        }

        for path in self.tracker.due(now) {
            // The tracker knows the rules; the look itself is a stat.
            let stamp = FileStamp::read(&path);
            let effects = self.tracker.look(&path, stamp, now);
            self.apply(effects, now);
        }
        if let Some(t) = self.tracker.next_look() {
            due_next(t);
        }
        self.ready_due = next;
    }

    /// Read `path`'s header(s) for the tracker: complete or not, and if
    /// complete, its cost, its run's labels and its cached results.
    fn probe(&mut self, path: &Path) -> Probed {
        let Some(e) = self.tracker.file(path) else {
            return Probed::Gone;
        };
        let (format, run) = (e.format.clone(), e.run.clone());
        let arrays = match format.container().probe(path) {
            Err(err) if err.is_incomplete() => return Probed::Incomplete,
            Err(err) if err.is_not_found() => return Probed::Gone,
            Err(err) => return Probed::Unreadable(err.to_string()),
            Ok(arrays) => arrays,
        };
        let labels = self.labels_for(&run);
        let classes = match &labels {
            LabelsNow::Ready(_, l) => Some(crate::metrics::distinct(l)),
            _ => None,
        };
        let cost = self.cost_of(&format, &arrays, classes);
        let cached = match &labels {
            LabelsNow::NotReady => None,
            LabelsNow::None => self.cached(path, None),
            LabelsNow::Ready(id, _) => self.cached(path, Some(id)),
        };
        Probed::Complete {
            cost,
            labels,
            cached,
        }
    }

    /// The most one wanted layer of a file needs, from its headers.
    fn cost_of(
        &self,
        format: &MilestoneFormat,
        arrays: &[ArrayInfo],
        classes: Option<usize>,
    ) -> u64 {
        arrays
            .iter()
            .filter(|a| {
                let name = format.layer_name(&a.name);
                self.layer_filter.as_deref().is_none_or(|f| f == name)
            })
            .map(|a| match a.matrix_dims() {
                Some((n, d)) => LayerNeed::of(n, d, classes, &self.settings).total(),
                None => u64::MAX,
            })
            .max()
            .unwrap_or(0)
    }

    /// This version's results, when the cache has them for these labels.
    fn cached(&self, path: &Path, labels: Option<&LabelsId>) -> Option<Vec<MilestoneResult>> {
        let e = self.tracker.file(path)?;
        let rel = self.rel(path);
        let records = self.cache.as_ref()?.lookup(&Lookup {
            file: &rel,
            stamp: e.stamp,
            labels,
            layer_filter: self.layer_filter.as_deref(),
        })?;
        let results = records
            .into_iter()
            .map(|r| MilestoneResult {
                key: MilestoneKey {
                    run: e.run.clone(),
                    step: e.step,
                    layer: r.layer,
                },
                step_name: e.step_name.clone(),
                file: path.to_path_buf(),
                cached: true,
                modified: stamp_time(&e.stamp),
                outcome: match (r.metrics, r.error) {
                    (Some(m), _) => Ok(m),
                    (None, e) => Err(e.unwrap_or_else(|| "unknown error".into())),
                },
            })
            .collect();
        Some(results)
    }

    fn dispatch(&mut self) {
        while self.busy < self.workers {
            let Some(item) = self.queue.pop() else { break };
            if !self.send_job(item, Lane::General) {
                return;
            }
        }
        // The small lane: a new small milestone need not wait for a big one.
        if !self.busy_small {
            if let Some(item) = self.queue.pop_where(|i| i.cost > 0 && i.cost <= SMALL_JOB) {
                self.send_job(item, Lane::Small);
            }
        }
        let pending = self.queue.len();
        if self.last_pending != Some(pending) {
            self.last_pending = Some(pending);
            self.emit(EngineEvent::Queue { pending });
        }
    }

    /// Hand `item` to a lane; false when the workers are gone.
    fn send_job(&mut self, item: Item, lane: Lane) -> bool {
        let Some((stamp, format, labels)) = self.tracker.start(&item.path) else {
            return true;
        };
        let job = Job {
            path: item.path.clone(),
            stamp,
            format,
            labels,
            layer_filter: self.layer_filter.clone(),
            settings: self.settings.clone(),
            budget: self.budget,
            compute: self.compute.clone(),
            lane,
        };
        let tx = match lane {
            Lane::General => &self.job_tx,
            Lane::Small => &self.small_tx,
        };
        if tx.send(job).is_err() {
            self.closed = true;
            return false;
        }
        match lane {
            Lane::General => self.busy += 1,
            Lane::Small => self.busy_small = true,
        }
        let ev = EngineEvent::Computing {
            run: item.run,
            step: item.step,
            file: item.path,
        };
        self.emit(ev);
        true
    }

    fn on_done(&mut self, d: Done) {
        match d.lane {
            Lane::General => self.busy = self.busy.saturating_sub(1),
            Lane::Small => self.busy_small = false,
        }
        let now = Instant::now();
        let said = match d.outcome {
            Outcome::Changed => Said::Changed,
            Outcome::Incomplete => Said::Incomplete,
            Outcome::ReadFailed(msg) => Said::ReadFailed(msg),
            Outcome::Layers {
                file_layers,
                results,
            } => {
                let Some(e) = self.tracker.computing(&d.path, d.stamp) else {
                    return; // a newer version is on its way through
                };
                let (run, step, step_name, stamp) =
                    (e.run.clone(), e.step, e.step_name.clone(), e.stamp);
                let rel = self.rel(&d.path);
                if let Some(cache) = self.cache.as_mut() {
                    let hash = cache::layers_hash(&file_layers);
                    let records = results
                        .iter()
                        .map(|(i, outcome)| {
                            let at = RecordAt {
                                run: &run,
                                step,
                                step_name: &step_name,
                                file: &rel,
                                stamp,
                                labels: d.labels.as_ref(),
                                index: *i,
                                count: file_layers.len(),
                                layers_hash: &hash,
                            };
                            cache.record(at, &file_layers[*i], outcome)
                        })
                        .collect();
                    if let Err(err) = cache.append(records) {
                        let p = cache.path().to_path_buf();
                        self.warn(
                            &p,
                            format!("cannot write the cache ({err}); results are no longer cached"),
                        );
                    }
                }
                let out: Vec<MilestoneResult> = results
                    .into_iter()
                    .map(
                        |(i, outcome): (usize, Result<LayerMetrics, String>)| MilestoneResult {
                            key: MilestoneKey {
                                run: run.clone(),
                                step,
                                layer: file_layers[i].clone(),
                            },
                            step_name: step_name.clone(),
                            file: d.path.clone(),
                            cached: false,
                            modified: stamp_time(&stamp),
                            outcome,
                        },
                    )
                    .collect();
                Said::Layers(out)
            }
        };
        let effects = self.tracker.worker_said(&d.path, d.stamp, said, now);
        self.apply(effects, now);
    }

    fn check_caught_up(&mut self, once: bool) {
        if self.caught_up {
            return;
        }
        let Some(effects) = self.tracker.catch_up(once) else {
            return;
        };
        self.apply(effects, Instant::now());
        self.caught_up = true;
        self.emit(EngineEvent::CaughtUp);
    }
}
