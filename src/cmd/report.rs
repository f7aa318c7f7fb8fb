//! `sslwatch report ROOT`: compute (or load from the cache) every milestone
//! under ROOT and print it, or with `--follow` keep watching and print each
//! result as it arrives.

use super::metric_args::MetricArgs;
use super::out::{warn, warn_lines, Stdout, StdoutError};
use super::UsageError;
use crossbeam_channel::{never, select, Receiver};
use sslwatch::report::{self, Collected, Format};
use sslwatch::runs::analysis::ProbeChoice;
use sslwatch::text;
use sslwatch::watch::event::EngineEvent;
use sslwatch::watch::{CacheChoice, Engine, EngineConfig, EngineError, EngineHandle, WatchChoice};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

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
    /// Only this layer (h, z, p, emb, or an .npz array name).
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
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let cfg = args.engine.config(args.follow)?;
    let format = Format::from(args.format);
    if args.follow {
        let stop = stop_signal()?;
        let handle = start(cfg)?;
        follow(handle, format, &stop, None, None)
    } else {
        let handle = start(cfg)?;
        once(handle, format, args.engine.opts.probe_source.into())
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

/// Without `--follow`: gather until the engine has caught up and stopped,
/// then print every row and the summary.
fn once(handle: EngineHandle, format: Format, probe: ProbeChoice) -> anyhow::Result<ExitCode> {
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
        let summary = report::render_summary(&all.summaries(probe), format);
        if format == Format::Csv {
            warn_lines(&summary);
        } else {
            if format == Format::Table {
                out.line("")?;
            }
            out.text(&summary)?;
        }
    }
    out.flush()?;
    warn(format_args!("sslwatch: {}", all.counts()));
    Ok(ExitCode::SUCCESS)
}

/// What ends `follow` by itself, besides Ctrl-C/SIGTERM and the engine's
/// end: `demo` stops once every milestone its writer wrote is computed.
pub trait Until {
    /// A channel that fires or disconnects when [`Until::done`] must be
    /// asked without an event (the demo's writer finished or failed).
    fn wake(&self) -> Receiver<()>;
    /// Asked after each event, once it is printed, and after a wake
    /// (`None`): true ends `follow`.
    fn done(&mut self, event: Option<&EngineEvent>) -> bool;
}

/// `--follow`: print each result as it arrives until `stop` fires (Ctrl-C,
/// SIGTERM), `until` says done, or the engine ends. `banner` is printed (to
/// stderr) first. A write to stdout that fails stops the engine and ends
/// with the error (a broken pipe exits 0 quietly, see `main`).
pub fn follow(
    mut handle: EngineHandle,
    format: Format,
    stop: &Receiver<()>,
    banner: Option<&str>,
    mut until: Option<&mut dyn Until>,
) -> anyhow::Result<ExitCode> {
    if let Some(b) = banner {
        warn_lines(b);
    }
    let events = handle.events();
    let mut wake = until.as_ref().map_or_else(never, |u| u.wake());
    let mut all = Collected::default();
    let mut out = Stdout::lock();
    let mut header_done = false;
    let mut failed = None;
    let mut finished = false;
    loop {
        let ev = select! {
            recv(events) -> ev => match ev {
                Ok(ev) => ev,
                Err(_) => break,
            },
            recv(stop) -> _ => break,
            recv(wake) -> _ => {
                // Once: a disconnected channel would fire on every turn.
                wake = never();
                if until.as_mut().is_some_and(|u| u.done(None)) {
                    finished = true;
                    break;
                }
                continue;
            }
        };
        all.apply(&ev);
        if let Err(e) = follow_event(&ev, &all, format, &mut out, &mut header_done) {
            failed = Some(e);
            break;
        }
        if until.as_mut().is_some_and(|u| u.done(Some(&ev))) {
            finished = true;
            break;
        }
    }
    handle.stop();
    if let Some(e) = failed {
        return Err(e.into());
    }
    if finished {
        warn(format_args!("sslwatch: {}", all.counts()));
    } else {
        warn(format_args!("sslwatch: stopped: {}", all.counts()));
    }
    Ok(ExitCode::SUCCESS)
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
