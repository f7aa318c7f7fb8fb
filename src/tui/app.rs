//! The UI's whole state and the one function that changes it,
//! [`App::update`]. Nothing here draws or reads the clock: the caller passes
//! `now`, so tests can drive time.

use super::event::Event;
use super::keys::{self, Action};
use super::series;
use crate::metrics::LayerMetrics;
use crate::runs::analysis::{summarize, LayerSummary, ProbeChoice};
use crate::runs::{RunMeta, ScalarPoint};
use crate::watch::event::{EngineEvent, MilestoneResult, RunInfo, WatchMode};
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyEventKind};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::PathBuf;
use std::time::{Duration, Instant, SystemTime};

/// Milestones kept per run; the oldest steps are dropped beyond this.
pub const MAX_MILESTONES_PER_RUN: usize = 10_000;
/// Problems kept in the errors pane; the oldest are dropped beyond this.
pub const MAX_PROBLEMS: usize = 1_000;
/// A run whose last milestone arrived within this long is "live".
pub const LIVE_FOR: Duration = Duration::from_secs(300);
/// How long a notice (what a key just did) stays in the footer.
pub const NOTICE_FOR: Duration = Duration::from_secs(6);

/// Options the user chose on the command line.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Options {
    /// `--ascii`: no braille or block glyphs.
    pub ascii: bool,
    /// False under `NO_COLOR`.
    pub color: bool,
    /// `--layer`: the layer to show first.
    pub layer: Option<String>,
    /// `--probe-source`: the probe accuracy of the probe curve and the
    /// detail's correlations.
    pub probe: ProbeChoice,
    /// The alert rules (`--alert`, `--no-alerts`, `--stale-after`).
    pub alerts: AlertConfig,
    /// `--bell`: ring the terminal bell when an alert fires.
    pub bell: bool,
}

use crate::alerts::{Alert, AlertConfig, Alerts};
pub use crate::metrics::Metric;
use crate::metrics::{EmbeddingMap, View};
use std::sync::Arc;

/// One value per milestone, in step order (`None`: missing there).
pub type Series = Vec<(u64, Option<f64>)>;

/// The metrics the grid has columns for (and h/l cycle), in registry order.
pub fn grid_metrics() -> Vec<Metric> {
    Metric::in_view(View::Grid).collect()
}

/// Everything the run detail lists: every metric shown anywhere.
pub fn detail_metrics() -> Vec<Metric> {
    Metric::ALL
        .into_iter()
        .filter(|m| !m.def().views.is_empty())
        .collect()
}

/// The main screen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Screen {
    Grid,
    Compare,
}

/// What can be open over the main screen; Esc closes the topmost.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Overlay {
    Detail,
    Errors,
    Help,
    Spectrum,
    Map,
}

/// One milestone of a run: its layers' results.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Milestone {
    pub step_name: String,
    pub layers: BTreeMap<String, Result<LayerMetrics, String>>,
}

/// Everything known about one run: metric values only, never embeddings.
#[derive(Debug, Clone, PartialEq)]
pub struct RunState {
    pub info: RunInfo,
    /// By step.
    pub milestones: BTreeMap<u64, Milestone>,
    /// The trainer's `probe_acc` from `scalars.jsonl`, by step (see
    /// [`ProbeChoice`]).
    pub scalar_probe: BTreeMap<u64, f64>,
    /// When the last new result arrived after the engine caught up.
    pub last_new: Option<Instant>,
    /// The newest modification time of the run's milestone files: how
    /// long ago the run last wrote one, even before this session.
    pub last_modified: Option<SystemTime>,
    /// Index into the colour palette: first-seen order, stable.
    pub colour: usize,
    /// Derived in [`App::update`] (not per frame): each layer's summary.
    pub summaries: BTreeMap<String, LayerSummary>,
    /// Derived: raw values per (metric, layer), one per milestone.
    raw: HashMap<(Metric, String), Series>,
    /// The newest embedding map per layer (maps are not kept per milestone).
    pub maps: BTreeMap<String, (u64, Arc<EmbeddingMap>)>,
}

impl RunState {
    /// Method and dataset from `run.json`, as "method/dataset".
    pub fn meta_label(&self) -> String {
        let RunMeta {
            method, dataset, ..
        } = &self.info.meta;
        match (method, dataset) {
            (Some(m), Some(d)) => format!("{m}/{d}"),
            (Some(x), None) | (None, Some(x)) => x.clone(),
            (None, None) => String::new(),
        }
    }

    /// The latest milestone, if any.
    pub fn latest(&self) -> Option<(u64, &Milestone)> {
        self.milestones.iter().next_back().map(|(s, m)| (*s, m))
    }

    /// Raw values of `metric` on `layer` (derived in [`App::update`]).
    pub fn raw(&self, metric: Metric, layer: &str) -> &[(u64, Option<f64>)] {
        self.raw
            .get(&(metric, layer.to_string()))
            .map_or(&[], Vec::as_slice)
    }

    /// Rebuild the derived series and summaries from the milestones.
    fn derive(&mut self, probe: ProbeChoice) {
        let layers: BTreeSet<String> = self
            .milestones
            .values()
            .flat_map(|m| m.layers.keys().cloned())
            .collect();
        self.raw.clear();
        self.summaries.clear();
        for layer in layers {
            for metric in Metric::ALL {
                let v = raw_series(self, metric, &layer, probe);
                self.raw.insert((metric, layer.clone()), v);
            }
            let s = layer_summary(self, &layer, probe);
            self.summaries.insert(layer, s);
        }
        self.maps.retain(|l, _| self.summaries.contains_key(l));
    }
}

/// A file sslwatch could not use, shown once in the errors pane.
#[derive(Debug, Clone, PartialEq)]
pub struct Problem {
    pub file: PathBuf,
    pub message: String,
    /// The milestone it belongs to, so the entry goes when the milestone
    /// is fixed or removed.
    pub milestone: Option<(String, u64)>,
}

/// Work the engine is doing now.
#[derive(Debug, Clone, PartialEq)]
pub struct Computing {
    pub run: String,
    pub step: u64,
    pub file: PathBuf,
    pub since: Instant,
}

/// The typing state of `/`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FilterInput {
    pub text: String,
}

/// The UI's state.
#[derive(Debug, Clone)]
pub struct App {
    /// ROOT as the user gave it.
    pub root: String,
    pub options: Options,
    pub mode: Option<WatchMode>,
    /// By name (display order).
    pub runs: BTreeMap<String, RunState>,
    /// Colour index per run name, first-seen order; never reassigned.
    colours: HashMap<String, usize>,
    pub queue: usize,
    pub computing: Vec<Computing>,
    pub caught_up: bool,
    pub engine_closed: bool,
    pub problems: Vec<Problem>,
    pub screen: Screen,
    /// Open overlays, topmost last.
    pub overlays: Vec<Overlay>,
    /// Selected run by name (stays on the run as others come and go).
    pub selected: Option<String>,
    /// Until the user moves the selection, it stays on the top row.
    user_selected: bool,
    pub metric: Metric,
    /// The layer chosen with `L` or `--layer`; None: the first present.
    pub layer: Option<String>,
    pub filter: String,
    /// Some while typing a filter after `/`.
    pub typing: Option<FilterInput>,
    pub pinned: BTreeSet<String>,
    pub smoothing: bool,
    /// The grid's scale is one per column shared by all runs (`S`); by
    /// default each cell has its run's own.
    pub shared_scale: bool,
    /// The spectrum view shows every run's latest spectrum (else the
    /// selected run's milestones).
    pub spectrum_all: bool,
    /// First line shown in the errors pane.
    pub errors_scroll: usize,
    /// Time of the latest update: what "now" means when drawing.
    pub now: Instant,
    pub quit: bool,
    /// What a key just did, and when (shown for [`NOTICE_FOR`]).
    notice: Option<(String, Instant)>,
    /// The alert rules' state over the engine's events.
    alerts: Alerts,
    /// An alert fired and `--bell` asks for the bell: the caller rings it.
    bell_due: bool,
    /// `o` was pressed: the caller writes [`App::compare_figure`] to a file.
    export_due: bool,
    /// The wall clock at one instant (set by the caller; tests choose it):
    /// file modification times are compared with it.
    wall: Option<(Instant, SystemTime)>,
    /// Runs whose derived state is out of date.
    stale: BTreeSet<String>,
    /// Derived: layer names present in any run, in display order.
    layer_list: Vec<String>,
}

/// Preferred order of layer names; others follow alphabetically (also
/// `sslwatch plot`'s default layer).
const LAYER_ORDER: [&str; 4] = ["h", "z", "p", "emb"];

pub(crate) fn layer_rank(name: &str) -> (usize, &str) {
    let i = LAYER_ORDER
        .iter()
        .position(|l| *l == name)
        .unwrap_or(LAYER_ORDER.len());
    (i, name)
}

impl App {
    pub fn new(root: impl Into<String>, options: Options, now: Instant) -> App {
        let alerts = Alerts::new(options.alerts.clone());
        App {
            root: root.into(),
            layer: options.layer.clone(),
            options,
            mode: None,
            runs: BTreeMap::new(),
            colours: HashMap::new(),
            queue: 0,
            computing: Vec::new(),
            caught_up: false,
            engine_closed: false,
            problems: Vec::new(),
            screen: Screen::Grid,
            overlays: Vec::new(),
            selected: None,
            user_selected: false,
            metric: Metric::EntropyBits,
            filter: String::new(),
            typing: None,
            pinned: BTreeSet::new(),
            smoothing: false,
            shared_scale: false,
            spectrum_all: false,
            errors_scroll: 0,
            now,
            quit: false,
            notice: None,
            alerts,
            bell_due: false,
            export_due: false,
            wall: None,
            stale: BTreeSet::new(),
            layer_list: Vec::new(),
        }
    }

    /// Apply one event at time `now`. Returns whether anything visible may
    /// have changed (the caller redraws only then).
    pub fn update(&mut self, event: Event, now: Instant) -> bool {
        self.now = now;
        let changed = self.apply_event(event, now);
        self.refresh_derived();
        changed
    }

    /// Bring the derived state (series, summaries, the layer list) up to
    /// date for the runs that changed: once per update, never per frame.
    fn refresh_derived(&mut self) {
        if self.stale.is_empty() {
            return;
        }
        let probe = self.options.probe;
        for name in std::mem::take(&mut self.stale) {
            if let Some(r) = self.runs.get_mut(&name) {
                r.derive(probe);
            }
        }
        let mut set: BTreeSet<(usize, &str)> = BTreeSet::new();
        for r in self.runs.values() {
            for l in r.summaries.keys() {
                set.insert(layer_rank(l));
            }
        }
        self.layer_list = set.into_iter().map(|(_, l)| l.to_string()).collect();
    }

    fn apply_event(&mut self, event: Event, now: Instant) -> bool {
        match event {
            Event::Key(key) => self.on_key(key),
            Event::Resize(..) => true,
            Event::Tick => {
                if let Some(wall) = self.wall_now() {
                    let fired = self.alerts.tick(wall);
                    self.fired(fired);
                }
                let notice_ended = self.notice.is_some() && self.notice().is_none();
                if notice_ended {
                    self.notice = None;
                }
                notice_ended || !self.runs.is_empty() || !self.computing.is_empty()
            }
            Event::Engine(ev) => {
                self.on_engine(ev, now);
                true
            }
            Event::EngineClosed => {
                self.engine_closed = true;
                self.computing.clear();
                true
            }
            Event::Quit => {
                self.quit = true;
                true
            }
        }
    }

    // ---- engine events -------------------------------------------------

    fn on_engine(&mut self, ev: EngineEvent, now: Instant) {
        let fired = self.alerts.on_event(&ev);
        self.fired(fired);
        match ev {
            EngineEvent::Started { mode, .. } | EngineEvent::Mode(mode) => self.mode = Some(mode),
            EngineEvent::RunFound(info) => {
                let name = info.name.clone();
                self.run_mut(&name).info = info;
            }
            EngineEvent::RunRemoved { run } => {
                self.runs.remove(&run);
                // The layer list is rebuilt from the runs that are left.
                self.stale.insert(run.clone());
                self.pinned.remove(&run);
                self.computing.retain(|c| c.run != run);
                self.problems
                    .retain(|p| p.milestone.as_ref().is_none_or(|(r, _)| *r != run));
                self.fix_selection();
            }
            EngineEvent::Scalars {
                run,
                points,
                from_start,
            } => {
                let r = self.run_mut(&run);
                if add_probe_points(&mut r.scalar_probe, &points, from_start) {
                    self.stale.insert(run);
                }
            }
            EngineEvent::Queue { pending } => self.queue = pending,
            EngineEvent::Computing { run, step, file } => {
                self.computing.retain(|c| c.file != file);
                self.computing.push(Computing {
                    run,
                    step,
                    file,
                    since: now,
                });
                // A stuck engine must not grow this without bound.
                if self.computing.len() > 8 {
                    self.computing.remove(0);
                }
            }
            EngineEvent::Result(result) => self.on_result(*result, now),
            EngineEvent::MilestoneRemoved { run, step } => {
                if let Some(r) = self.runs.get_mut(&run) {
                    r.milestones.remove(&step);
                    r.maps.retain(|_, (s, _)| *s != step);
                }
                self.stale.insert(run.clone());
                self.computing.retain(|c| !(c.run == run && c.step == step));
                let key = Some((run, step));
                self.problems.retain(|p| p.milestone != key);
            }
            EngineEvent::Warning { file, message } => self.add_problem(Problem {
                file,
                message,
                milestone: None,
            }),
            // Shown until the new version's results replace the old ones.
            EngineEvent::Changed { run, step, file } => self.add_problem(Problem {
                file,
                message: "changed on disk after it was computed: recomputing".into(),
                milestone: Some((run, step)),
            }),
            EngineEvent::CaughtUp => self.caught_up = true,
        }
    }

    fn on_result(&mut self, result: MilestoneResult, now: Instant) {
        let MilestoneResult {
            key,
            step_name,
            file,
            cached,
            outcome,
            modified,
        } = result;
        self.computing
            .retain(|c| !(c.run == key.run && c.step == key.step));
        let milestone = Some((key.run.clone(), key.step));
        match &outcome {
            Ok(_) => self.problems.retain(|p| p.file != file),
            Err(message) => self.add_problem(Problem {
                file: file.clone(),
                message: message.clone(),
                milestone,
            }),
        }
        let caught_up = self.caught_up;
        self.stale.insert(key.run.clone());
        let run = self.run_mut(&key.run);
        if caught_up && !cached {
            run.last_new = Some(now);
        }
        if modified.is_some() && modified > run.last_modified {
            run.last_modified = modified;
        }
        let mut outcome = outcome;
        // Only the newest map of each layer is kept (they are large).
        if let Ok(lm) = &mut outcome {
            if let Some(map) = lm.map.take() {
                let newer = run
                    .maps
                    .get(&key.layer)
                    .is_none_or(|(step, _)| *step <= key.step);
                if newer {
                    run.maps.insert(key.layer.clone(), (key.step, map));
                }
            }
        }
        let m = run.milestones.entry(key.step).or_default();
        m.step_name = step_name;
        m.layers.insert(key.layer, outcome);
        while run.milestones.len() > MAX_MILESTONES_PER_RUN {
            run.milestones.pop_first();
        }
    }

    /// The run's state, created (with a colour) when first heard of.
    fn run_mut(&mut self, name: &str) -> &mut RunState {
        if !self.runs.contains_key(name) && (!self.user_selected || self.selected.is_none()) {
            // Select the top row (display order), or this run if it will be it.
            let first = self.runs.keys().next().filter(|f| f.as_str() < name);
            self.selected = Some(first.map_or(name, |f| f.as_str()).to_string());
        }
        let next = self.colours.len();
        let colour = *self.colours.entry(name.to_string()).or_insert(next);
        let state = self
            .runs
            .entry(name.to_string())
            .or_insert_with(|| RunState {
                info: RunInfo {
                    name: name.to_string(),
                    dir: PathBuf::new(),
                    meta: RunMeta::default(),
                    has_labels: false,
                },
                milestones: BTreeMap::new(),
                scalar_probe: BTreeMap::new(),
                last_new: None,
                last_modified: None,
                colour,
                summaries: BTreeMap::new(),
                raw: HashMap::new(),
                maps: BTreeMap::new(),
            });
        state
    }

    fn add_problem(&mut self, problem: Problem) {
        // Each file once: a newer reason replaces the older one.
        if let Some(p) = self.problems.iter_mut().find(|p| p.file == problem.file) {
            *p = problem;
            return;
        }
        self.problems.push(problem);
        if self.problems.len() > MAX_PROBLEMS {
            self.problems.remove(0);
        }
    }

    // ---- keys -----------------------------------------------------------

    fn on_key(&mut self, key: KeyEvent) -> bool {
        if key.kind == KeyEventKind::Release {
            return false;
        }
        if self.typing.is_some() {
            return self.on_typing_key(key);
        }
        match keys::action_for(&key) {
            Some(action) => {
                self.apply(action);
                true
            }
            None => false,
        }
    }

    fn on_typing_key(&mut self, key: KeyEvent) -> bool {
        if keys::is_ctrl_c(&key) {
            self.quit = true;
            return true;
        }
        let Some(input) = self.typing.as_mut() else {
            return false;
        };
        match key.code {
            KeyCode::Enter => self.typing = None,
            KeyCode::Esc => {
                self.typing = None;
                self.filter.clear();
            }
            KeyCode::Backspace => {
                input.text.pop();
                self.filter = input.text.clone();
            }
            KeyCode::Char(c) if !c.is_control() => {
                input.text.push(c);
                self.filter = input.text.clone();
            }
            _ => return false,
        }
        self.fix_selection();
        true
    }

    /// Apply one action from the key table.
    pub fn apply(&mut self, action: Action) {
        let top = self.overlays.last().copied();
        match action {
            Action::Quit => self.quit = true,
            Action::Back => {
                self.overlays.pop();
            }
            Action::Help => self.toggle(Overlay::Help),
            Action::Errors => {
                self.errors_scroll = 0;
                self.toggle(Overlay::Errors);
            }
            Action::Up if top == Some(Overlay::Errors) => {
                self.errors_scroll = self.errors_scroll.saturating_sub(1);
            }
            Action::Down if top == Some(Overlay::Errors) => {
                if self.errors_scroll + 1 < self.problems.len() {
                    self.errors_scroll += 1;
                }
            }
            // Help covers the screen: other keys wait until it is closed.
            _ if top == Some(Overlay::Help) => {}
            Action::Up => self.move_selection(-1),
            Action::Down => self.move_selection(1),
            Action::PrevMetric => self.step_metric(-1),
            Action::NextMetric => self.step_metric(1),
            Action::Detail => {
                if self.selected_run().is_some() && top != Some(Overlay::Detail) {
                    self.overlays.retain(|o| *o != Overlay::Detail);
                    self.overlays.push(Overlay::Detail);
                }
            }
            Action::CycleView => {
                self.overlays.clear();
                self.screen = match self.screen {
                    Screen::Grid => Screen::Compare,
                    Screen::Compare => Screen::Grid,
                };
            }
            Action::CycleLayer => self.cycle_layer(),
            Action::Filter => {
                self.typing = Some(FilterInput {
                    text: self.filter.clone(),
                });
            }
            Action::Pin => {
                if let Some(name) = self.selected_run().map(|r| r.info.name.clone()) {
                    if !self.pinned.remove(&name) {
                        self.pinned.insert(name);
                    }
                }
            }
            Action::Smooth => self.smoothing = !self.smoothing,
            Action::Scale => {
                self.shared_scale = !self.shared_scale;
                self.say(if self.shared_scale {
                    "grid scale: one per column, shared by all runs (S: per run)"
                } else {
                    "grid scale: each run's own min-max (S: shared)"
                });
            }
            Action::Spectrum => match top {
                Some(Overlay::Spectrum) if !self.spectrum_all => self.spectrum_all = true,
                Some(Overlay::Spectrum) => {
                    self.overlays.pop();
                }
                _ => {
                    self.spectrum_all = false;
                    self.overlays.retain(|o| *o != Overlay::Spectrum);
                    self.overlays.push(Overlay::Spectrum);
                }
            },
            Action::Map => self.toggle(Overlay::Map),
            Action::Export => self.export_due = true,
        }
    }

    fn toggle(&mut self, overlay: Overlay) {
        if self.overlays.last() == Some(&overlay) {
            self.overlays.pop();
        } else {
            self.overlays.retain(|o| *o != overlay);
            self.overlays.push(overlay);
        }
    }

    fn move_selection(&mut self, delta: isize) {
        let names: Vec<String> = self.visible_runs().map(|r| r.info.name.clone()).collect();
        if names.is_empty() {
            return;
        }
        let current = self
            .selected
            .as_ref()
            .and_then(|s| names.iter().position(|n| n == s))
            .unwrap_or(0);
        let next = current.saturating_add_signed(delta).min(names.len() - 1);
        self.selected = names.get(next).cloned();
        self.user_selected = true;
    }

    /// Keep the selection on a visible run.
    fn fix_selection(&mut self) {
        let visible = |app: &App, name: &str| app.visible_runs().any(|r| r.info.name == name);
        let ok = self.selected.as_deref().is_some_and(|s| visible(self, s));
        if !ok {
            let first = self.visible_runs().next().map(|r| r.info.name.clone());
            self.selected = first;
        }
    }

    fn step_metric(&mut self, delta: isize) {
        let all = grid_metrics();
        let i = all.iter().position(|m| *m == self.metric).unwrap_or(0);
        let n = all.len() as isize;
        let j = (i as isize + delta).rem_euclid(n) as usize;
        self.metric = all[j];
    }

    fn cycle_layer(&mut self) {
        let layers = self.layers().to_vec();
        let next = match (self.current_layer(), layers.len()) {
            (_, 0) => {
                self.say("no layer yet: L cycles the layers once results arrive");
                return;
            }
            (Some(cur), 1) if cur == layers[0] => {
                self.say(format!("only one layer here: {}", layers[0]));
                return;
            }
            (Some(cur), _) => match layers.iter().position(|l| *l == cur) {
                Some(i) => layers[(i + 1) % layers.len()].clone(),
                None => layers[0].clone(),
            },
            (None, _) => layers[0].clone(),
        };
        self.say(format!("layer {next} ({} layers: L next)", layers.len()));
        self.layer = Some(next);
    }

    /// Alerts that just fired: the newest is said in the footer, and the
    /// bell is due with `--bell`.
    fn fired(&mut self, fired: Vec<Alert>) {
        if let Some(a) = fired.last() {
            let more = if fired.len() > 1 {
                format!(" (+{} more)", fired.len() - 1)
            } else {
                String::new()
            };
            self.say(format!("ALERT {}: {}{more}", alert_place(a), a.message));
            self.bell_due |= self.options.bell;
        }
    }

    /// The alerts whose condition holds now.
    pub fn active_alerts(&self) -> impl Iterator<Item = &Alert> {
        self.alerts.active()
    }

    /// Whether `run` has an active alert.
    pub fn run_alerted(&self, run: &str) -> bool {
        self.alerts.active().any(|a| a.run == run)
    }

    /// Whether `o` asked for the compare view as a file (and clear it).
    pub fn take_export(&mut self) -> bool {
        std::mem::take(&mut self.export_due)
    }

    /// The compare view as a figure: the current metric on the current
    /// layer, one line per compared run in its run colour (as `plot`
    /// draws it), raw values (smoothing is for the eye only).
    pub fn compare_figure(&self) -> crate::plot::Figure {
        let layer = self.current_layer().unwrap_or_default();
        let series = self
            .compared_runs()
            .into_iter()
            .map(|r| {
                let pieces = crate::plot::pieces(r.raw(self.metric, &layer).iter().copied());
                let legend = match &r.info.meta.method {
                    Some(m) => format!("{m} ({})", r.info.name),
                    None => r.info.name.clone(),
                };
                crate::plot::Line {
                    run: r.info.name.clone(),
                    legend,
                    colour: r.colour,
                    pieces,
                }
            })
            .collect();
        crate::plot::Figure {
            title: format!("{} · layer {layer}", self.root),
            panels: vec![crate::plot::Panel {
                metric: self.metric,
                series,
                annotation: None,
            }],
        }
    }

    /// Whether the bell is due (and clear it): the caller writes BEL.
    pub fn take_bell(&mut self) -> bool {
        std::mem::take(&mut self.bell_due)
    }

    /// Tell the app the wall clock at `at` (file times are compared with it).
    pub fn set_wall_clock(&mut self, at: Instant, wall: SystemTime) {
        self.wall = Some((at, wall));
    }

    /// The wall clock at `self.now`, if the caller set one.
    pub fn wall_now(&self) -> Option<SystemTime> {
        let (at, wall) = self.wall?;
        Some(wall + self.now.saturating_duration_since(at))
    }

    /// Show `text` in the footer for a few seconds.
    pub fn say(&mut self, text: impl Into<String>) {
        self.notice = Some((text.into(), self.now));
    }

    /// The notice to show now, if one is recent.
    pub fn notice(&self) -> Option<&str> {
        let (text, at) = self.notice.as_ref()?;
        (self.now.saturating_duration_since(*at) < NOTICE_FOR).then_some(text.as_str())
    }

    // ---- queries used by the views -----------------------------------------

    /// Runs matching the filter (substring of name, method or dataset,
    /// case-insensitive), in name order.
    pub fn visible_runs(&self) -> impl Iterator<Item = &RunState> {
        let needle = self.filter.to_lowercase();
        self.runs.values().filter(move |r| {
            needle.is_empty()
                || r.info.name.to_lowercase().contains(&needle)
                || r.meta_label().to_lowercase().contains(&needle)
        })
    }

    /// The selected run, if it is visible.
    pub fn selected_run(&self) -> Option<&RunState> {
        let name = self.selected.as_ref()?;
        self.visible_runs().find(|r| &r.info.name == name)
    }

    /// Runs the compare view overlays: the pinned visible ones, else all
    /// visible ones.
    pub fn compared_runs(&self) -> Vec<&RunState> {
        let pinned: Vec<&RunState> = self
            .visible_runs()
            .filter(|r| self.pinned.contains(&r.info.name))
            .collect();
        if pinned.is_empty() {
            self.visible_runs().collect()
        } else {
            pinned
        }
    }

    /// Layer names present in any run, in the order h, z, p, emb, others.
    pub fn layers(&self) -> &[String] {
        &self.layer_list
    }

    /// The layer shown: the chosen one (`L`, or `--layer` to start on)
    /// while some run has it or before any layer is known, else the first
    /// present.
    pub fn current_layer(&self) -> Option<String> {
        self.layer
            .clone()
            .filter(|l| self.layer_list.is_empty() || self.layer_list.contains(l))
            .or_else(|| self.layer_list.first().cloned())
    }

    /// One run's values of `metric` on `layer`, one per milestone in step
    /// order, smoothed when smoothing is on. Probe accuracy is the one
    /// `--probe-source` chooses (the trainer's `scalars.jsonl` value at
    /// that step, the own one, or the first then the other).
    pub fn series(&self, run: &RunState, metric: Metric, layer: &str) -> Vec<(u64, Option<f64>)> {
        let raw = run.raw(metric, layer);
        if !self.smoothing {
            return raw.to_vec();
        }
        let values: Vec<Option<f64>> = raw.iter().map(|(_, v)| *v).collect();
        let smooth = series::ema_debiased(&values, series::EMA_BETA);
        raw.iter().map(|(s, _)| *s).zip(smooth).collect()
    }

    /// The latest value of `metric` on `layer` as the views print it: the
    /// raw value, its step and, while smoothing is on, the smoothed value
    /// at that step (the curves show the smoothed series; the raw number
    /// stays readable beside it).
    pub fn latest(&self, run: &RunState, metric: Metric, layer: &str) -> Option<Latest> {
        let raw = run.raw(metric, layer);
        let i = raw
            .iter()
            .rposition(|(_, v)| v.is_some_and(f64::is_finite))?;
        let (step, value) = raw[i];
        let smoothed = if self.smoothing {
            self.series(run, metric, layer).get(i).and_then(|(_, v)| *v)
        } else {
            None
        };
        Some(Latest {
            step,
            raw: value?,
            smoothed,
        })
    }

    /// Time since the run last wrote a milestone: from the newest
    /// milestone file's modification time when the wall clock is known (so a
    /// run that stopped before `watch` started says how long ago), else
    /// since its last new result in this session.
    pub fn since_last(&self, run: &RunState) -> Option<Duration> {
        if let (Some(wall), Some(m)) = (self.wall_now(), run.last_modified) {
            return Some(wall.duration_since(m).unwrap_or_default());
        }
        run.last_new.map(|t| self.now.saturating_duration_since(t))
    }

    /// The topmost open overlay.
    pub fn overlay(&self) -> Option<Overlay> {
        self.overlays.last().copied()
    }
}

/// "run step 20 layer z" of an alert, sanitised for the screen.
pub fn alert_place(a: &Alert) -> String {
    let mut s = crate::text::sanitize(&a.run).into_owned();
    if let Some(step) = a.step {
        s.push_str(&format!(" @{step}"));
    }
    if let Some(l) = &a.layer {
        s.push_str(&format!(" layer {}", crate::text::sanitize(l)));
    }
    s
}

/// A metric's latest value (see [`App::latest`]).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Latest {
    pub step: u64,
    pub raw: f64,
    /// The smoothed value at `step`; None while smoothing is off.
    pub smoothed: Option<f64>,
}

/// Unsmoothed values (see [`App::series`]).
pub fn raw_series(
    run: &RunState,
    metric: Metric,
    layer: &str,
    probe: ProbeChoice,
) -> Vec<(u64, Option<f64>)> {
    run.milestones
        .iter()
        .map(|(step, m)| {
            let from_layer = match m.layers.get(layer) {
                Some(Ok(lm)) => lm.get(metric),
                _ => None,
            };
            let v = match metric {
                Metric::ProbeAcc => probe
                    .pick(from_layer, run.scalar_probe.get(step).copied())
                    .map(|(v, _)| v),
                _ => from_layer,
            };
            (*step, v)
        })
        .collect()
}

/// The engine's per-run summary of one layer (latest values, Spearman
/// correlations with probe accuracy), from what the UI holds: the layer's
/// metrics per milestone and the `scalars.jsonl` probe accuracies,
/// correlated with the probe accuracy `probe` chooses.
pub fn layer_summary(run: &RunState, layer: &str, probe: ProbeChoice) -> LayerSummary {
    let points: Vec<(u64, &LayerMetrics)> = run
        .milestones
        .iter()
        .filter_map(|(step, m)| match m.layers.get(layer) {
            Some(Ok(lm)) => Some((*step, lm)),
            _ => None,
        })
        .collect();
    let scalars: Vec<ScalarPoint> = run
        .scalar_probe
        .iter()
        .map(|(&step, &v)| ScalarPoint {
            step,
            values: BTreeMap::from([("probe_acc".to_string(), v)]),
        })
        .collect();
    summarize(&run.info.name, layer, &points, &scalars, probe)
}

/// Take in the `probe_acc` of `points` (replacing what is there when
/// `from_start`); whether anything changed.
fn add_probe_points(
    probe: &mut BTreeMap<u64, f64>,
    points: &[ScalarPoint],
    from_start: bool,
) -> bool {
    let mut changed = from_start && !probe.is_empty();
    if from_start {
        probe.clear();
    }
    for (step, v) in points
        .iter()
        .filter_map(|p| Some((p.step, *p.values.get("probe_acc")?)))
        .filter(|(_, v)| v.is_finite())
    {
        changed |= probe.insert(step, v) != Some(v);
    }
    // Bounded like the milestones: keep the latest steps.
    while probe.len() > MAX_MILESTONES_PER_RUN {
        probe.pop_first();
    }
    changed
}

#[cfg(test)]
mod tests {
    use super::*;

    fn probe(steps: &[(u64, f64)]) -> Vec<ScalarPoint> {
        steps
            .iter()
            .map(|&(step, v)| ScalarPoint {
                step,
                values: BTreeMap::from([("probe_acc".to_string(), v)]),
            })
            .collect()
    }

    #[test]
    fn appended_probe_points_merge_and_say_whether_anything_changed() {
        let mut m = BTreeMap::new();
        assert!(add_probe_points(
            &mut m,
            &probe(&[(0, 0.1), (5, 0.2)]),
            true
        ));
        assert!(add_probe_points(&mut m, &probe(&[(10, 0.3)]), false));
        assert_eq!(m, BTreeMap::from([(0, 0.1), (5, 0.2), (10, 0.3)]));
        assert!(
            !add_probe_points(&mut m, &probe(&[(10, 0.3)]), false),
            "the same value again changes nothing (no rebuild)"
        );
        assert!(add_probe_points(&mut m, &probe(&[(10, 0.4)]), false));
        assert!(add_probe_points(&mut m, &[], true), "emptied");
        assert!(m.is_empty());
        assert!(!add_probe_points(&mut m, &[], true));
    }
}
