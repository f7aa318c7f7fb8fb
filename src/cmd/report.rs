//! `sslwatch report ROOT`: compute (or load from the cache) every milestone
//! under ROOT and print it, or with `--follow` keep watching and print each
//! result as it arrives, with the alerts its rules raise.

use super::alert_args::AlertArgs;
use super::metric_args::MetricArgs;
use super::out::{warn, warn_lines, Stdout, StdoutError};
use super::UsageError;
use crossbeam_channel::{never, select, Receiver};
use sslwatch::alerts::{Alert, AlertConfig, Alerts, Rule};
use sslwatch::metrics::EntropyEstimator;
use sslwatch::report::{self, Collected, Format};
use sslwatch::runs::analysis::ProbeChoice;
use sslwatch::text;
use sslwatch::watch::event::EngineEvent;
use sslwatch::watch::{CacheChoice, Engine, EngineConfig, EngineError, EngineHandle, WatchChoice};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, SystemTime};

/// The exit code of `report --follow --exit-on-alert` at its first alert.
pub const ALERT_EXIT: u8 = 3;

/// Flags shared by every command that runs the engine on a root
/// (`report`, `watch`, `study`): `#[command(flatten)]` them.
#[derive(clap::Args, Debug, Clone)]
pub struct EngineArgs {
    /// The directory holding the runs (any directory with a `milestones/` below it).
    pub root: PathBuf,
    #[command(flatten)]
    pub opts: EngineOptions,
}

/// The engine's flags other than ROOT, also `demo`'s (whose root is the
/// directory it writes).
#[derive(clap::Args, Debug, Clone)]
pub struct EngineOptions {
    /// The layer (h, z, p, emb, or an .npz array name): `report` and
    /// `plot` compute only this one; `watch` and `demo` show it first and
    /// `L` cycles through every layer.
    #[arg(long, value_name = "L")]
    pub layer: Option<String>,
    /// Poll for changes every SECONDS (`--poll` alone: 2; `--poll=10`)
    /// instead of file-system events; chosen automatically on network
    /// filesystems (NFS, SMB, sshfs, Lustre, ...).
    #[arg(
        long,
        value_name = "SECONDS",
        num_args = 0..=1,
        require_equals = true,
        default_missing_value = "2"
    )]
    pub poll: Option<f64>,
    /// Keep the result cache in DIR (default: the user's cache directory; never inside ROOT).
    #[arg(long, value_name = "DIR", conflicts_with = "no_cache")]
    pub cache_dir: Option<PathBuf>,
    /// Neither read nor write the result cache.
    #[arg(long)]
    pub no_cache: bool,
    /// A file must be unchanged (size, mtime, ctime) this many seconds
    /// before it is read: writers that create the full-size file first and
    /// fill it pass every length check early.
    #[arg(
        long,
        value_name = "SECONDS",
        default_value_t = 1.0,
        allow_negative_numbers = true
    )]
    pub settle: f64,
    /// Say a file that stays shorter than its header promises after this many seconds.
    #[arg(
        long,
        value_name = "SECONDS",
        default_value_t = 120.0,
        allow_negative_numbers = true
    )]
    pub stall_warn: f64,
    /// Which probe accuracy the summary's correlations (and the TUI's probe
    /// curve) use.
    #[arg(long, value_enum, value_name = "SOURCE", default_value_t = ProbeArg::Auto)]
    pub probe_source: ProbeArg,
    #[command(flatten)]
    pub metric: MetricArgs,
    #[command(flatten)]
    pub alerts: AlertArgs,
}

/// `--probe-source`.
#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProbeArg {
    /// The trainer's `probe_acc` from scalars.jsonl at a milestone's step
    /// when the run logged one, else the probe computed with labels.npy.
    Auto,
    /// Only scalars.jsonl: milestones without its `probe_acc` have none.
    Trainer,
    /// Only the probe sslwatch computes with labels.npy on the milestone's rows.
    Own,
}

impl From<ProbeArg> for ProbeChoice {
    fn from(p: ProbeArg) -> ProbeChoice {
        match p {
            ProbeArg::Auto => ProbeChoice::Auto,
            ProbeArg::Trainer => ProbeChoice::Trainer,
            ProbeArg::Own => ProbeChoice::Own,
        }
    }
}

/// `--flag S` as a duration between `min` and `max` seconds (exit code 2).
fn seconds(flag: &str, s: f64, min: f64, max: f64) -> Result<Duration, UsageError> {
    if s.is_finite() && (min..=max).contains(&s) {
        Ok(Duration::from_secs_f64(s))
    } else {
        Err(UsageError(format!(
            "--{flag} {s}: must be between {min} and {max} seconds"
        )))
    }
}

impl EngineArgs {
    /// Check the flags into the engine's configuration (`follow`: keep watching).
    pub fn config(&self, follow: bool) -> Result<EngineConfig, UsageError> {
        self.opts
            .config(self.root.clone(), follow, CacheChoice::Default)
    }
}

impl EngineOptions {
    /// Check the flags into the engine's configuration for `root`
    /// (`follow`: keep watching; `default_cache`: the cache without
    /// `--cache-dir` or `--no-cache`).
    pub fn config(
        &self,
        root: PathBuf,
        follow: bool,
        default_cache: CacheChoice,
    ) -> Result<EngineConfig, UsageError> {
        let settings = self.metric.settings()?;
        let mut cfg = EngineConfig::new(root, settings);
        cfg.budget = self.metric.budget()?;
        if let Some(note) = self.metric.device_note()? {
            warn(format_args!("sslwatch: note: {note}"));
        }
        let (lo, hi) = sslwatch::watch::SETTLE_RANGE;
        cfg.settle = seconds("settle", self.settle, lo.as_secs_f64(), hi.as_secs_f64())?;
        cfg.stall_after = seconds("stall-warn", self.stall_warn, 1.0, 86_400.0)?;
        cfg.watch = match (follow, self.poll) {
            (false, Some(_)) => {
                return Err(UsageError(
                    "--poll sets how a followed ROOT is watched: add --follow (without it, report reads ROOT once)"
                        .into(),
                ))
            }
            (false, None) => WatchChoice::Once,
            (true, None) => WatchChoice::Auto,
            (true, Some(s)) if s.is_finite() && (0.05..=3600.0).contains(&s) => {
                WatchChoice::Poll(Duration::from_secs_f64(s))
            }
            (true, Some(s)) => {
                return Err(UsageError(format!(
                    "--poll {s}: the interval must be between 0.05 and 3600 seconds"
                )))
            }
        };
        cfg.cache = match (&self.cache_dir, self.no_cache) {
            (_, true) => CacheChoice::Off,
            (Some(d), false) => CacheChoice::Dir(d.clone()),
            (None, false) => default_cache,
        };
        if let Some(l) = &self.layer {
            if l.is_empty() {
                return Err(UsageError("--layer must not be empty".into()));
            }
        }
        cfg.layer_filter = self.layer.clone();
        Ok(cfg)
    }

    /// Check the alert flags into the rules. The entropy rule compares a
    /// layer's entropy with a fraction of its peak, which means something
    /// for the histogram estimator (bounded, 0 to log2(bins) bits) only:
    /// the gauss and knn estimators are differential entropies in the
    /// data's units, which fall when the scale shrinks and can be negative,
    /// so with them the rule is off.
    pub fn alert_config(&self) -> Result<AlertConfig, UsageError> {
        let mut config = self.alerts.config()?;
        if self.metric.settings()?.entropy != EntropyEstimator::Hist {
            config.rules.retain(|r| *r != Rule::EntropyCollapse);
        }
        Ok(config)
    }
}

#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum FormatArg {
    Table,
    Csv,
    Json,
    Markdown,
}

impl From<FormatArg> for Format {
    fn from(f: FormatArg) -> Format {
        match f {
            FormatArg::Table => Format::Table,
            FormatArg::Csv => Format::Csv,
            FormatArg::Json => Format::Json,
            FormatArg::Markdown => Format::Markdown,
        }
    }
}

#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(flatten)]
    pub engine: EngineArgs,
    /// Output format. With csv and json, stdout holds only data: the header
    /// (root, watch mode), warnings and progress go to stderr.
    #[arg(long, value_enum, default_value_t = FormatArg::Table)]
    pub format: FormatArg,
    /// Keep watching and print each result as it arrives, until Ctrl-C.
    #[arg(long)]
    pub follow: bool,
    /// With --follow: stop at the first alert, with exit code 3 (after
    /// printing it and the summary).
    #[arg(long)]
    pub exit_on_alert: bool,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let cfg = args.engine.config(args.follow)?;
    let alerts = args.engine.opts.alert_config()?;
    if args.exit_on_alert && !args.follow {
        return Err(UsageError(
            "--exit-on-alert stops a followed ROOT at its first alert: add --follow (without it, report reads ROOT once)"
                .into(),
        )
        .into());
    }
    if args.exit_on_alert && alerts.rules.is_empty() {
        return Err(UsageError(
            "--exit-on-alert with --no-alerts and no --alert: there is no rule to fire".into(),
        )
        .into());
    }
    let format = Format::from(args.format);
    let probe = args.engine.opts.probe_source.into();
    if args.follow {
        let stop = stop_signal()?;
        let handle = start(cfg)?;
        let options = FollowOptions {
            alerts,
            exit_on_alert: args.exit_on_alert,
            probe,
        };
        follow(handle, format, &stop, None, &options, None)
    } else {
        let handle = start(cfg)?;
        once(handle, format, probe, alerts.without_stale())
    }
}

/// What `--follow` does besides printing results.
#[derive(Debug, Clone)]
pub struct FollowOptions {
    /// The rules whose alerts are printed as they fire.
    pub alerts: AlertConfig,
    /// Stop at the first alert with exit code [`ALERT_EXIT`].
    pub exit_on_alert: bool,
    /// The probe accuracy of the summary printed when stopped.
    pub probe: ProbeChoice,
}

impl Default for FollowOptions {
    /// No alerts, the default probe.
    fn default() -> Self {
        FollowOptions {
            alerts: AlertConfig::none(),
            exit_on_alert: false,
            probe: ProbeChoice::default(),
        }
    }
}

/// Start the engine; problems with what the user gave (ROOT, --cache-dir) exit 2.
pub fn start(cfg: EngineConfig) -> anyhow::Result<EngineHandle> {
    Engine::start(cfg).map_err(|e| match e {
        EngineError::Root { .. }
        | EngineError::NotADirectory(_)
        | EngineError::CacheInsideRoot { .. } => UsageError(e.to_string()).into(),
        other => anyhow::Error::new(other),
    })
}

/// A channel that receives one message on Ctrl-C or SIGTERM.
pub fn stop_signal() -> anyhow::Result<Receiver<()>> {
    let (tx, rx) = crossbeam_channel::bounded(1);
    ctrlc::set_handler(move || {
        let _ = tx.try_send(());
    })
    .map_err(|e| anyhow::anyhow!("cannot install the Ctrl-C handler: {e}"))?;
    Ok(rx)
}

fn warning_text(file: &std::path::Path, message: &str) -> String {
    let f = file.display().to_string();
    if message.starts_with(&f) {
        format!("warning: {message}")
    } else {
        format!("warning: {f}: {message}")
    }
}

/// The header: on stdout for the human formats, on stderr for csv/json.
/// Sanitised: ROOT and the watch mode's reason may quote names from disk.
fn header_lines(root: &std::path::Path, mode: &str, format: Format) -> String {
    let root = text::sanitize_display(root.display());
    let mode = text::sanitize(mode);
    match format {
        Format::Markdown => format!("## sslwatch report: `{root}`\n\n{mode}\n"),
        _ => format!("sslwatch: {root} ({mode})"),
    }
}

fn print_header(
    root: &std::path::Path,
    mode: &str,
    format: Format,
    out: &mut Stdout,
) -> Result<(), StdoutError> {
    let text = header_lines(root, mode, format);
    if format.machine_readable() {
        warn(text);
        Ok(())
    } else {
        out.line(text)
    }
}

/// The per-run summary of what was collected: on stdout for table,
/// Markdown and JSON (`{"event":"summary"}` lines), on stderr for CSV (its
/// stdout is one table).
fn print_summary(
    all: &Collected,
    probe: ProbeChoice,
    format: Format,
    out: &mut Stdout,
) -> Result<(), StdoutError> {
    let summary = report::render_summary(&all.summaries(probe), format);
    print_after_rows(&summary, format, out)
}

/// Text after the rows: stderr for CSV, else stdout after a blank line
/// for the table.
fn print_after_rows(text: &str, format: Format, out: &mut Stdout) -> Result<(), StdoutError> {
    if format == Format::Csv {
        warn_lines(text);
        return Ok(());
    }
    if format == Format::Table {
        out.line("")?;
    }
    out.text(text)
}

/// `alerts` as `--follow` prints them: JSON lines on stdout, else an
/// `ALERT ...` line each on stderr.
fn print_alerts(alerts: &[Alert], format: Format, out: &mut Stdout) -> Result<(), StdoutError> {
    for a in alerts {
        if format == Format::Json {
            out.line(report::alert_json(a))?;
        } else {
            warn(report::alert_line(a));
        }
    }
    if !alerts.is_empty() {
        out.flush()?;
    }
    Ok(())
}

/// Without `--follow`: gather until the engine has caught up and stopped,
/// then print every row, the summary and the alerts the rows trigger
/// (judged in step order; `alerts` has no stale rule).
fn once(
    handle: EngineHandle,
    format: Format,
    probe: ProbeChoice,
    alerts: AlertConfig,
) -> anyhow::Result<ExitCode> {
    let events = handle.events();
    let mut all = Collected::default();
    let mut header = None;
    for ev in events.iter() {
        match &ev {
            EngineEvent::Started { root, mode } => {
                header = Some((root.clone(), report::mode_text(mode)));
            }
            EngineEvent::Warning { file, message } => warn(warning_text(file, message)),
            _ => {}
        }
        all.apply(&ev);
    }
    let mut out = Stdout::lock();
    if let Some((root, mode)) = &header {
        print_header(root, mode, format, &mut out)?;
    }
    let rows = all.rows();
    if rows.is_empty() {
        warn("sslwatch: no milestones found (a run is a directory holding milestones/<step>/<layer>.npy, <step>.npz or <step>.npy)");
    } else {
        out.text(&report::render_results(&rows, format))?;
        print_summary(&all, probe, format, &mut out)?;
        if !alerts.rules.is_empty() {
            let mut judge = Alerts::new(alerts);
            let fired: Vec<Alert> = rows.iter().flat_map(|r| judge.on_result(r)).collect();
            print_after_rows(&report::render_alerts(&fired, format), format, &mut out)?;
        }
    }
    out.flush()?;
    warn(format_args!("sslwatch: {}", all.counts()));
    Ok(ExitCode::SUCCESS)
}

/// What ends `follow` by itself, besides Ctrl-C/SIGTERM, an alert with
/// `--exit-on-alert` and the engine's end: `demo` stops once every
/// milestone its writer wrote is computed.
pub trait Until {
    /// A channel that fires or disconnects when [`Until::done`] must be
    /// asked without an event (the demo's writer finished or failed).
    fn wake(&self) -> Receiver<()>;
    /// Asked after each event, once it is printed, and after a wake
    /// (`None`): true ends `follow`.
    fn done(&mut self, event: Option<&EngineEvent>) -> bool;
}

/// `--follow`: print each result as it arrives, and each alert of
/// `options.alerts` as it fires, until `stop` fires (Ctrl-C, SIGTERM), the
/// engine ends, `until` says done or (`options.exit_on_alert`) an alert
/// fires; then stop the engine and print the summary of what was
/// collected. `banner` is printed (to stderr) first. Exit code 0, or
/// [`ALERT_EXIT`] when stopped by an alert. A write to stdout that fails
/// stops the engine and ends with the error (a broken pipe exits 0
/// quietly, see `main`).
pub fn follow(
    mut handle: EngineHandle,
    format: Format,
    stop: &Receiver<()>,
    banner: Option<&str>,
    options: &FollowOptions,
    mut until: Option<&mut dyn Until>,
) -> anyhow::Result<ExitCode> {
    if let Some(b) = banner {
        warn_lines(b);
    }
    let events = handle.events();
    let mut alerts = Alerts::new(options.alerts.clone());
    // The stale rule needs the clock to move on without events.
    let ticks = alerts
        .tick_interval()
        .map_or_else(never, crossbeam_channel::tick);
    let mut wake = until.as_ref().map_or_else(never, |u| u.wake());
    let mut all = Collected::default();
    let mut out = Stdout::lock();
    let mut header_done = false;
    let mut failed = None;
    let mut code = ExitCode::SUCCESS;
    let mut finished = false;
    loop {
        // What this turn brought: an event (printed), a tick or a wake.
        let (event, woke, fired) = select! {
            recv(events) -> ev => match ev {
                Ok(ev) => {
                    all.apply(&ev);
                    if let Err(e) = follow_event(&ev, &all, format, &mut out, &mut header_done) {
                        failed = Some(e);
                        break;
                    }
                    let fired = alerts.on_event(&ev);
                    (Some(ev), false, fired)
                }
                Err(_) => break,
            },
            recv(ticks) -> _ => (None, false, alerts.tick(SystemTime::now())),
            recv(stop) -> _ => break,
            recv(wake) -> _ => {
                // Once: a disconnected channel would fire on every turn.
                wake = never();
                (None, true, Vec::new())
            }
        };
        if let Err(e) = print_alerts(&fired, format, &mut out) {
            failed = Some(e);
            break;
        }
        if options.exit_on_alert && !fired.is_empty() {
            warn(format_args!(
                "sslwatch: stopping at the first alert (--exit-on-alert, exit code {ALERT_EXIT})"
            ));
            code = ExitCode::from(ALERT_EXIT);
            break;
        }
        let ask = event.is_some() || woke;
        if ask && until.as_mut().is_some_and(|u| u.done(event.as_ref())) {
            finished = true;
            break;
        }
    }
    handle.stop();
    if let Some(e) = failed {
        return Err(e.into());
    }
    if !all.results.is_empty() {
        print_summary(&all, options.probe, format, &mut out)?;
        out.flush()?;
    }
    if finished {
        warn(format_args!("sslwatch: {}", all.counts()));
    } else {
        warn(format_args!("sslwatch: stopped: {}", all.counts()));
    }
    Ok(code)
}

/// What `--follow` says about one event: progress on stderr, a row on stdout.
fn follow_event(
    ev: &EngineEvent,
    all: &Collected,
    format: Format,
    out: &mut Stdout,
    header_done: &mut bool,
) -> Result<(), StdoutError> {
    match ev {
        EngineEvent::Started { root, mode } => {
            print_header(root, &report::mode_text(mode), format, out)?;
        }
        EngineEvent::Mode(mode) => warn(format_args!("sslwatch: now {}", report::mode_text(mode))),
        EngineEvent::Warning { file, message } => warn(warning_text(file, message)),
        EngineEvent::CaughtUp => warn(format_args!(
            "sslwatch: caught up: {}; watching for changes (Ctrl-C to stop)",
            all.counts()
        )),
        // JSON Lines carry removals on stdout; the other formats only have
        // rows for results, so say it on stderr.
        EngineEvent::RunRemoved { run } if format != Format::Json => {
            warn(format_args!("sslwatch: run {run} removed"))
        }
        EngineEvent::MilestoneRemoved { run, step } if format != Format::Json => warn(
            format_args!("sslwatch: run {run}: milestone {step} removed"),
        ),
        EngineEvent::Changed { run, step, .. } if format != Format::Json => warn(format_args!(
            "sslwatch: run {run}: milestone {step} changed on disk: recomputing (its new rows replace the earlier ones)"
        )),
        _ => {}
    }
    if let Some(line) = report::follow_line(ev, format) {
        if !*header_done {
            *header_done = true;
            if let Some(h) = report::follow_header(format) {
                out.line(h)?;
            }
        }
        out.line(line)?;
        out.flush()?;
    }
    Ok(())
}
