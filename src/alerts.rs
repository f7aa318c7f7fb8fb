//! Alerts for runs left overnight: built-in rules (divergence, dimensional
//! collapse, entropy and AMI-agreement collapse, a stale run) and the
//! user's `METRIC<VALUE[@STEP]` rules, judged on the engine's events.
//!
//! [`Alerts`] is a plain state machine, a consumer of the
//! [`EngineEvent`] stream like every front end: [`Alerts::on_event`] takes
//! each event and [`Alerts::tick`] the current time (for the stale rule),
//! and both return the alerts that fire now. Nothing here reads a clock or
//! a file, so every rule is tested with hand-built results and explicit
//! times.
//!
//! # Which milestone a rule looks at
//! Milestone rules are judged per (run, layer) on the run's *newest* step
//! (the highest step number with a result), with the earlier steps as its
//! history (the entropy peak, the AMI agreement it had). A result for an
//! older step that arrives late (from the cache, or a slow worker) joins the
//! history and the newest step is judged again: an alert always describes
//! the newest milestone, so a late step 20 never makes a "by step 20" rule
//! fire once step 30 is known. A result whose metrics could not be computed
//! (a corrupt file) says nothing about the rules other than divergence:
//! their state is kept.
//!
//! # Once per condition
//! An alert fires once per (run, layer, rule) when its condition starts to
//! hold, stays [active](Alerts::active) while it holds, and clears silently
//! when a newer milestone no longer meets it; it may then fire again. The
//! stale rule is per run (`layer: None`). A removed milestone drops the
//! alerts raised at that step; a removed run drops all its state.

use crate::metrics::{LayerMetrics, Metric, Values};
use crate::text;
use crate::watch::event::{EngineEvent, MilestoneResult};
use serde::Serialize;
use std::collections::btree_map::Entry;
use std::collections::BTreeMap;
use std::fmt;
use std::time::{Duration, SystemTime};

/// `collapse_rankme`: RankMe below this fraction of the dimension. RankMe
/// is at least 1 for any non-zero matrix and the dimension for an isotropic
/// one; 1% of D (2.0 of 200) says nearly every direction is gone.
pub const RANKME_FRACTION: f64 = 0.01;

/// `collapse_spectrum`: the top principal component holds more than this
/// share of the variance ([`top_variance_share`]).
pub const TOP_VARIANCE_SHARE: f64 = 0.9;

/// `entropy_collapse`: `entropy_bits` below this fraction of the layer's
/// peak over the run. The histogram entropy (64 bins) of a healthy unit is
/// 4-6 bits; a tenth of that is about 1.4 effective bins per unit: the rows
/// sit on top of each other.
pub const ENTROPY_FRACTION: f64 = 0.1;

/// `entropy_collapse` needs a peak of at least this many bits (two
/// effective bins per unit), so a run that never spread out is not called
/// collapsed.
pub const ENTROPY_MIN_PEAK: f64 = 1.0;

/// `ami_collapse`: `ami_agreement` below this ...
pub const AMI_LOW: f64 = 0.02;

/// ... after having been above this at an earlier step. AMI is adjusted for
/// chance: two seeds' k-means agree at about 0 on structureless data, and a
/// run whose clusters were reproducible (above 0.2) and no longer are has
/// lost its structure.
pub const AMI_HIGH: f64 = 0.2;

/// `--stale-after` default.
pub const DEFAULT_STALE_AFTER: Duration = Duration::from_secs(30 * 60);

/// How a user rule compares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// `METRIC<VALUE`: fires when the value is below VALUE.
    Below,
    /// `METRIC>VALUE`: fires when the value is above VALUE.
    Above,
}

impl Op {
    fn symbol(self) -> char {
        match self {
            Op::Below => '<',
            Op::Above => '>',
        }
    }

    fn holds(self, v: f64, threshold: f64) -> bool {
        match self {
            Op::Below => v < threshold,
            Op::Above => v > threshold,
        }
    }
}

/// One alert rule.
#[derive(Debug, Clone, PartialEq)]
pub enum Rule {
    /// Rows with NaN/Inf (`nonfinite_rows > 0`), or a layer that could not
    /// be computed because most of its rows are non-finite.
    Divergence,
    /// RankMe below [`RANKME_FRACTION`] of the dimension.
    CollapseRankme,
    /// More than [`TOP_VARIANCE_SHARE`] of the variance in the top component.
    CollapseSpectrum,
    /// `entropy_bits` below [`ENTROPY_FRACTION`] of its peak over the run.
    EntropyCollapse,
    /// `ami_agreement` below [`AMI_LOW`] after having been above [`AMI_HIGH`].
    AmiCollapse,
    /// A live run without a new milestone for longer than `stale_after`.
    Stale,
    /// `METRIC<VALUE[@STEP]` / `METRIC>VALUE[@STEP]`: fires at a milestone
    /// with step >= `from_step` (every milestone without one) whose value
    /// compares so. `probe_acc<0.5@20`: "at least 0.5 by step 20".
    User {
        metric: Metric,
        op: Op,
        value: f64,
        from_step: Option<u64>,
    },
}

impl Rule {
    /// Every built-in rule.
    pub const BUILT_IN: [Rule; 6] = [
        Rule::Divergence,
        Rule::CollapseRankme,
        Rule::CollapseSpectrum,
        Rule::EntropyCollapse,
        Rule::AmiCollapse,
        Rule::Stale,
    ];

    /// The stable key in JSON (`divergence`, `user:probe_acc<0.5@20`).
    pub fn key(&self) -> String {
        match self {
            Rule::Divergence => "divergence".into(),
            Rule::CollapseRankme => "collapse_rankme".into(),
            Rule::CollapseSpectrum => "collapse_spectrum".into(),
            Rule::EntropyCollapse => "entropy_collapse".into(),
            Rule::AmiCollapse => "ami_collapse".into(),
            Rule::Stale => "stale".into(),
            Rule::User {
                metric,
                op,
                value,
                from_step,
            } => {
                let at = from_step.map_or_else(String::new, |s| format!("@{s}"));
                format!("user:{}{}{value}{at}", metric.key(), op.symbol())
            }
        }
    }

    /// A user rule from `METRIC<VALUE[@STEP]` or `METRIC>VALUE[@STEP]`
    /// (spaces around the parts are allowed).
    pub fn parse(s: &str) -> Result<Rule, AlertParseError> {
        let err = |problem| AlertParseError {
            rule: s.to_string(),
            problem,
        };
        let ops: Vec<(usize, char)> = s
            .char_indices()
            .filter(|(_, c)| *c == '<' || *c == '>')
            .collect();
        let (at, op) = match ops.as_slice() {
            [(i, '<')] => (*i, Op::Below),
            [(i, _)] => (*i, Op::Above),
            [] => return Err(err(ParseProblem::NoOperator)),
            _ => return Err(err(ParseProblem::SeveralOperators)),
        };
        let metric_text = s[..at].trim();
        let metric = Metric::from_key(metric_text)
            .ok_or_else(|| err(ParseProblem::UnknownMetric(metric_text.to_string())))?;
        let rest = &s[at + 1..];
        let (value_text, step_text) = match rest.split_once('@') {
            Some((v, st)) => (v.trim(), Some(st.trim())),
            None => (rest.trim(), None),
        };
        let value = value_text
            .parse::<f64>()
            .ok()
            .filter(|v| v.is_finite())
            .ok_or_else(|| err(ParseProblem::BadValue(value_text.to_string())))?;
        let from_step = match step_text {
            Some(t) => Some(
                t.parse::<u64>()
                    .map_err(|_| err(ParseProblem::BadStep(t.to_string())))?,
            ),
            None => None,
        };
        Ok(Rule::User {
            metric,
            op,
            value,
            from_step,
        })
    }
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.key())
    }
}

/// What is wrong with a rule's text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParseProblem {
    NoOperator,
    SeveralOperators,
    UnknownMetric(String),
    BadValue(String),
    BadStep(String),
}

impl fmt::Display for ParseProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ParseProblem::NoOperator => f.write_str("no < or >"),
            ParseProblem::SeveralOperators => f.write_str("more than one < or >"),
            ParseProblem::UnknownMetric(m) => write!(f, "unknown metric '{m}'"),
            ParseProblem::BadValue(v) => write!(f, "'{v}' is not a finite number"),
            ParseProblem::BadStep(s) => write!(f, "step '{s}' is not a whole number >= 0"),
        }
    }
}

/// A rule that does not parse; the message names the valid form and the
/// metric keys.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("'{rule}': {problem}; {}", form_help())]
pub struct AlertParseError {
    pub rule: String,
    pub problem: ParseProblem,
}

/// The form of a user rule and the metric keys, for error messages.
pub fn form_help() -> String {
    let keys: Vec<&str> = Metric::ALL.iter().map(|m| m.key()).collect();
    format!(
        "the form is METRIC<VALUE[@STEP] or METRIC>VALUE[@STEP] (e.g. 'probe_acc<0.5@20': \
         probe_acc at least 0.5 by step 20), METRIC one of {}",
        keys.join(", ")
    )
}

/// One alert, as `report --follow` prints it (`"event": "alert"`) and the
/// TUI's badge lists it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Alert {
    pub run: String,
    /// `None` for the per-run stale rule.
    pub layer: Option<String>,
    /// The milestone it is about (the stale rule: the run's newest step).
    pub step: Option<u64>,
    /// [`Rule::key`].
    pub rule: String,
    /// The value that crossed the threshold (null where there is none).
    pub value: Option<f64>,
    pub threshold: Option<f64>,
    /// In words, without the run or layer name.
    pub message: String,
}

/// Checked alert settings.
#[derive(Debug, Clone, PartialEq)]
pub struct AlertConfig {
    pub rules: Vec<Rule>,
    /// The stale rule's limit.
    pub stale_after: Duration,
}

impl Default for AlertConfig {
    /// Every built-in rule, stale after [`DEFAULT_STALE_AFTER`].
    fn default() -> Self {
        AlertConfig {
            rules: Rule::BUILT_IN.to_vec(),
            stale_after: DEFAULT_STALE_AFTER,
        }
    }
}

impl AlertConfig {
    /// No rules: nothing ever fires.
    pub fn none() -> AlertConfig {
        AlertConfig {
            rules: Vec::new(),
            stale_after: DEFAULT_STALE_AFTER,
        }
    }

    /// This configuration without the stale rule (a single scan has no
    /// "since": it judges the rows it collected).
    pub fn without_stale(mut self) -> AlertConfig {
        self.rules.retain(|r| *r != Rule::Stale);
        self
    }
}

/// The share of the variance in the top principal component, from
/// [`LayerMetrics::spectrum`]: the normalised singular values `s_i / sum s`
/// of the centred matrix, largest first (singular values, not variance
/// shares: the variance along component i is proportional to `s_i^2`). The
/// share is `s_0^2 / sum s_i^2`. The spectrum keeps at most 64 values; the
/// ones left out sum to `1 - sum(kept)` and are each at most the last kept,
/// so their squares sum to at most `last x (1 - sum(kept))`, and the share
/// returned is then a lower bound (exact when nothing was left out). `None`
/// for an empty or non-finite spectrum.
pub fn top_variance_share(spectrum: &[f64]) -> Option<f64> {
    let first = *spectrum.first()?;
    let last = *spectrum.last()?;
    if !spectrum.iter().all(|v| v.is_finite() && *v >= 0.0) || first <= 0.0 {
        return None;
    }
    let kept: f64 = spectrum.iter().sum();
    let squares: f64 = spectrum.iter().map(|v| v * v).sum();
    let rest = (1.0 - kept).max(0.0) * last;
    Some(first * first / (squares + rest))
}

/// Whether an error result says the layer diverged (the text of
/// [`crate::metrics::MetricsError::Diverged`], or non-finite values named).
fn divergence_text(err: &str) -> Option<&str> {
    if let Some(i) = err.find("diverged: ") {
        return Some(&err[i..]);
    }
    err.contains("non-finite").then_some(err)
}

/// What a rule needs to know of one (run, step, layer).
#[derive(Debug, Clone, PartialEq)]
enum Obs {
    Metrics {
        /// Boxed: the other variants are a fraction of its size.
        values: Box<Values>,
        dim: usize,
        n: usize,
        nonfinite_rows: usize,
        top_share: Option<f64>,
    },
    /// An error result that says the layer diverged (its words).
    Diverged(String),
    /// Any other error: no metrics to judge.
    Failed,
}

impl Obs {
    fn of(outcome: &Result<LayerMetrics, String>) -> Obs {
        match outcome {
            Ok(m) => Obs::Metrics {
                values: Box::new(m.values),
                dim: m.dim,
                n: m.n,
                nonfinite_rows: m.nonfinite_rows,
                top_share: top_variance_share(&m.spectrum),
            },
            Err(e) => match divergence_text(e) {
                Some(t) => Obs::Diverged(t.to_string()),
                None => Obs::Failed,
            },
        }
    }

    fn get(&self, m: Metric) -> Option<f64> {
        match self {
            Obs::Metrics { values, .. } => values.get(m),
            _ => None,
        }
    }
}

/// A rule's verdict on the newest milestone.
enum Verdict {
    /// Nothing to judge with (keep the state).
    Unknown,
    Clear,
    Fire {
        value: Option<f64>,
        threshold: Option<f64>,
        message: String,
    },
}

fn fire(value: f64, threshold: f64, message: String) -> Verdict {
    Verdict::Fire {
        value: Some(value),
        threshold: Some(threshold),
        message,
    }
}

/// The largest value of `m` over the history, and its step.
fn peak(history: &BTreeMap<u64, Obs>, m: Metric) -> Option<(u64, f64)> {
    history
        .iter()
        .filter_map(|(s, o)| o.get(m).map(|v| (*s, v)))
        .fold(None, |best, (s, v)| match best {
            Some((_, b)) if b >= v => best,
            _ => Some((s, v)),
        })
}

fn judge(rule: &Rule, step: u64, obs: &Obs, history: &BTreeMap<u64, Obs>) -> Verdict {
    let m = |metric| obs.get(metric);
    match rule {
        Rule::Divergence => match obs {
            Obs::Metrics {
                nonfinite_rows: 0, ..
            } => Verdict::Clear,
            Obs::Metrics {
                nonfinite_rows,
                n,
                ..
            } => fire(
                *nonfinite_rows as f64,
                0.0,
                format!(
                    "{nonfinite_rows} of {} rows hold NaN or Inf (left out of the metrics): training may be diverging",
                    n + nonfinite_rows
                ),
            ),
            Obs::Diverged(text) => Verdict::Fire {
                value: None,
                threshold: None,
                message: format!("{text}: training diverged"),
            },
            Obs::Failed => Verdict::Unknown,
        },
        Rule::CollapseRankme => match (m(Metric::Rankme), obs) {
            (Some(r), Obs::Metrics { dim, .. }) if *dim > 0 => {
                let t = RANKME_FRACTION * *dim as f64;
                if r < t {
                    fire(
                        r,
                        t,
                        format!(
                            "dimensional collapse: RankMe {} is below 1% of the dimension {dim}",
                            text::fixed(r, 2)
                        ),
                    )
                } else {
                    Verdict::Clear
                }
            }
            _ => Verdict::Unknown,
        },
        Rule::CollapseSpectrum => match obs {
            Obs::Metrics {
                top_share: Some(s), ..
            } => {
                if *s > TOP_VARIANCE_SHARE {
                    fire(
                        *s,
                        TOP_VARIANCE_SHARE,
                        format!(
                            "dimensional collapse: the top principal component holds {}% of the variance (over {}%)",
                            text::fixed(100.0 * s, 1),
                            text::fixed(100.0 * TOP_VARIANCE_SHARE, 0)
                        ),
                    )
                } else {
                    Verdict::Clear
                }
            }
            _ => Verdict::Unknown,
        },
        Rule::EntropyCollapse => match (m(Metric::EntropyBits), peak(history, Metric::EntropyBits)) {
            (Some(v), Some((at, p))) => {
                let t = ENTROPY_FRACTION * p;
                if p >= ENTROPY_MIN_PEAK && v < t {
                    fire(
                        v,
                        t,
                        format!(
                            "entropy collapse: entropy {} bits is below 10% of its peak {} bits (step {at})",
                            text::fixed(v, 3),
                            text::fixed(p, 3)
                        ),
                    )
                } else {
                    Verdict::Clear
                }
            }
            _ => Verdict::Unknown,
        },
        Rule::AmiCollapse => match (m(Metric::AmiAgreement), peak(history, Metric::AmiAgreement)) {
            (Some(v), Some((at, p))) => {
                if v < AMI_LOW && p > AMI_HIGH {
                    fire(
                        v,
                        AMI_LOW,
                        format!(
                            "cluster collapse: AMI agreement {} is below {AMI_LOW} after {} at step {at}",
                            text::fixed(v, 4),
                            text::fixed(p, 4)
                        ),
                    )
                } else {
                    Verdict::Clear
                }
            }
            _ => Verdict::Unknown,
        },
        Rule::Stale => Verdict::Unknown,
        Rule::User {
            metric,
            op,
            value,
            from_step,
        } => match m(*metric) {
            _ if from_step.is_some_and(|s| step < s) => Verdict::Clear,
            Some(v) if op.holds(v, *value) => {
                let by = from_step.map_or_else(String::new, |s| format!(" (from step {s})"));
                let want = match op {
                    Op::Below => "at least",
                    Op::Above => "at most",
                };
                fire(
                    v,
                    *value,
                    format!(
                        "{} is {}, it should be {want} {value}{by}",
                        metric.key(),
                        text::metric(v)
                    ),
                )
            }
            Some(_) => Verdict::Clear,
            None => Verdict::Unknown,
        },
    }
}

/// When a run last produced a milestone.
#[derive(Debug, Clone, Default)]
struct RunClock {
    /// The newest milestone file's modification time.
    newest: Option<SystemTime>,
    /// The highest step with a result.
    step: Option<u64>,
    /// Its newest file was younger than `stale_after` at a tick.
    live: bool,
}

/// (run, layer, rule key) of an active alert.
type AlertKey = (String, Option<String>, String);

/// The alert state over one engine's events.
#[derive(Debug, Clone)]
pub struct Alerts {
    config: AlertConfig,
    /// Per (run, layer): what the rules need of each step.
    layers: BTreeMap<(String, String), BTreeMap<u64, Obs>>,
    runs: BTreeMap<String, RunClock>,
    active: BTreeMap<AlertKey, Alert>,
}

impl Alerts {
    pub fn new(config: AlertConfig) -> Alerts {
        Alerts {
            config,
            layers: BTreeMap::new(),
            runs: BTreeMap::new(),
            active: BTreeMap::new(),
        }
    }

    pub fn config(&self) -> &AlertConfig {
        &self.config
    }

    /// How often [`Alerts::tick`] should be called: every second, or a
    /// quarter of `stale_after` if that is shorter; `None` without the stale
    /// rule (no tick needed).
    pub fn tick_interval(&self) -> Option<Duration> {
        self.config
            .rules
            .contains(&Rule::Stale)
            .then(|| Duration::from_secs(1).min(self.config.stale_after / 4))
    }

    /// The alerts whose condition holds now, by run, layer and rule key.
    pub fn active(&self) -> impl Iterator<Item = &Alert> {
        self.active.values()
    }

    /// Take one engine event; returns the alerts that fire because of it.
    pub fn on_event(&mut self, ev: &EngineEvent) -> Vec<Alert> {
        match ev {
            EngineEvent::Result(r) => self.on_result(r),
            EngineEvent::MilestoneRemoved { run, step } => {
                for ((r, _), steps) in self.layers.iter_mut() {
                    if r == run {
                        steps.remove(step);
                    }
                }
                self.layers.retain(|_, steps| !steps.is_empty());
                self.active.retain(|(r, layer, _), a| {
                    !(r == run && layer.is_some() && a.step == Some(*step))
                });
                Vec::new()
            }
            EngineEvent::RunRemoved { run } => {
                self.layers.retain(|(r, _), _| r != run);
                self.runs.remove(run);
                self.active.retain(|(r, _, _), _| r != run);
                Vec::new()
            }
            _ => Vec::new(),
        }
    }

    /// Take one result (as [`EngineEvent::Result`] carries it).
    pub fn on_result(&mut self, r: &MilestoneResult) -> Vec<Alert> {
        let run = &r.key.run;
        let clock = self.runs.entry(run.clone()).or_default();
        if let Some(t) = r.modified {
            clock.newest = Some(clock.newest.map_or(t, |n| n.max(t)));
        }
        clock.step = Some(clock.step.map_or(r.key.step, |s| s.max(r.key.step)));

        let history = self
            .layers
            .entry((run.clone(), r.key.layer.clone()))
            .or_default();
        history.insert(r.key.step, Obs::of(&r.outcome));
        let history = &*history;
        let Some((&step, obs)) = history.last_key_value() else {
            return Vec::new();
        };
        let mut fired = Vec::new();
        for rule in &self.config.rules {
            let key = (run.clone(), Some(r.key.layer.clone()), rule.key());
            match judge(rule, step, obs, history) {
                Verdict::Unknown => {}
                Verdict::Clear => {
                    self.active.remove(&key);
                }
                Verdict::Fire {
                    value,
                    threshold,
                    message,
                } => {
                    if let Entry::Vacant(slot) = self.active.entry(key) {
                        let alert = Alert {
                            run: run.clone(),
                            layer: Some(r.key.layer.clone()),
                            step: Some(step),
                            rule: slot.key().2.clone(),
                            value,
                            threshold,
                            message,
                        };
                        slot.insert(alert.clone());
                        fired.push(alert);
                    }
                }
            }
        }
        fired
    }

    /// The time is `now`: the stale alerts that fire. A run is live once a
    /// tick finds its newest milestone file younger than `stale_after` (a
    /// file stamped in the future counts as new); a live run whose newest
    /// file is older than that is stale until a newer milestone arrives.
    pub fn tick(&mut self, now: SystemTime) -> Vec<Alert> {
        if !self.config.rules.contains(&Rule::Stale) {
            return Vec::new();
        }
        let limit = self.config.stale_after;
        let mut fired = Vec::new();
        for (run, clock) in self.runs.iter_mut() {
            let Some(newest) = clock.newest else { continue };
            let age = now.duration_since(newest).unwrap_or(Duration::ZERO);
            let key = (run.clone(), None, Rule::Stale.key());
            if age <= limit {
                clock.live = true;
                self.active.remove(&key);
            } else if clock.live && !self.active.contains_key(&key) {
                let step = clock
                    .step
                    .map_or_else(String::new, |s| format!("; the newest is step {s}"));
                let alert = Alert {
                    run: run.clone(),
                    layer: None,
                    step: clock.step,
                    rule: key.2.clone(),
                    value: Some(age.as_secs_f64()),
                    threshold: Some(limit.as_secs_f64()),
                    message: format!(
                        "stale: no new milestone for {} (limit {}){step}",
                        duration_text(age),
                        duration_text(limit)
                    ),
                };
                self.active.insert(key, alert.clone());
                fired.push(alert);
            }
        }
        fired
    }
}

/// `45 s`, `31.5 min`, `2.0 h`.
pub fn duration_text(d: Duration) -> String {
    let s = d.as_secs_f64();
    if s < 120.0 {
        format!("{} s", text::fixed(s, 0))
    } else if s < 7200.0 {
        format!("{} min", text::fixed(s / 60.0, 1))
    } else {
        format!("{} h", text::fixed(s / 3600.0, 1))
    }
}

#[cfg(test)]
mod tests;
