//! `sslwatch demo`: write SIMULATED runs in the background and watch them
//! live in the terminal UI (or as `report --follow` lines with `--no-tui` or
//! when stdout is not a terminal).

use super::out::warn;
use super::report::{follow, start, stop_signal, FormatArg};
use super::UsageError;
use sslwatch::demo::{spawn_writer, DemoConfig};
use sslwatch::metrics::MetricSettings;
use sslwatch::report::Format;
use sslwatch::tui::{self, theme::Theme};
use sslwatch::watch::{CacheChoice, EngineConfig, WatchChoice};
use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Write the simulated runs into D (default: a fresh temporary
    /// directory, removed on exit).
    #[arg(long, value_name = "D")]
    pub dir: Option<PathBuf>,
    /// Number of simulated runs (simclr-like, moco-like, simsiam-like, ...).
    #[arg(long, default_value_t = 3)]
    pub runs: usize,
    /// Seconds between milestones.
    #[arg(long, value_name = "SECONDS", default_value_t = 2.0)]
    pub interval: f64,
    /// Milestones per run, after which the writer stops.
    #[arg(long, default_value_t = 40)]
    pub steps: usize,
    /// Seed of the simulation.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Print results as lines (like `report --follow`) instead of opening
    /// the terminal UI; also the behaviour when stdout is not a terminal.
    #[arg(long)]
    pub no_tui: bool,
    /// Output format of the printed results (with --no-tui).
    #[arg(long, value_enum, default_value_t = FormatArg::Table)]
    pub format: FormatArg,
    /// Draw the UI with ASCII only (no braille or block glyphs).
    #[arg(long)]
    pub ascii: bool,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    if !(1..=60).contains(&args.runs) {
        return Err(UsageError("--runs must be between 1 and 60".into()).into());
    }
    if !(args.interval.is_finite() && (0.0..=3600.0).contains(&args.interval)) {
        return Err(UsageError("--interval must be between 0 and 3600 seconds".into()).into());
    }
    if args.steps == 0 {
        return Err(UsageError("--steps must be at least 1".into()).into());
    }
    let use_tui = !args.no_tui && std::io::stdout().is_terminal();
    // Headless mode stops on Ctrl-C/SIGTERM through this channel; the UI
    // installs its own handler (one per process) that quits the UI cleanly.
    let stop = if use_tui { None } else { Some(stop_signal()?) };
    // The default directory is a tempfile::TempDir, removed when it drops
    // (after the writer has stopped, at the end of this function).
    let (dir, temp) = match &args.dir {
        Some(d) => (d.clone(), None),
        None => {
            let t = tempfile::Builder::new()
                .prefix("sslwatch-demo-")
                .tempdir()
                .map_err(|e| anyhow::anyhow!("cannot create the demo directory: {e}"))?;
            (t.path().to_path_buf(), Some(t))
        }
    };
    let temporary = temp.is_some();
    let mut demo = DemoConfig::new(&dir);
    demo.runs = args.runs;
    demo.interval = Duration::from_secs_f64(args.interval);
    demo.steps = args.steps;
    demo.seed = args.seed;
    let mut writer = spawn_writer(demo)
        .map_err(|e| anyhow::anyhow!("{}: cannot write the demo runs: {e}", dir.display()))?;

    // The demo's directory is throwaway: no cache.
    let mut cfg = EngineConfig::new(&dir, MetricSettings::default());
    cfg.watch = WatchChoice::Auto;
    cfg.cache = CacheChoice::Off;
    let result = match stop {
        None => start(cfg).and_then(|engine| {
            let label = format!("SIMULATED runs: {}", dir.display());
            let options = tui::Options {
                ascii: args.ascii,
                color: !Theme::no_color_env(),
                layer: None,
                probe: Default::default(),
            };
            tui::run(&label, engine.events(), options)?;
            Ok(ExitCode::SUCCESS)
        }),
        Some(stop) => {
            let banner = format!(
                "sslwatch demo: SIMULATED runs (not real training) are being written to {}{}\n\
                 {} run(s), a milestone every {} s, {} milestones each. Ctrl-C to stop.",
                dir.display(),
                if temporary { " (removed on exit)" } else { "" },
                args.runs,
                args.interval,
                args.steps
            );
            start(cfg).and_then(|handle| {
                // No alerts: FollowOptions::default().
                let options = Default::default();
                follow(
                    handle,
                    Format::from(args.format),
                    &stop,
                    Some(&banner),
                    &options,
                )
            })
        }
    };
    if let Err(e) = writer.stop() {
        warn(format_args!("sslwatch demo: {e}"));
    }
    if let Some(t) = temp {
        if let Err(e) = t.close() {
            warn(format_args!(
                "sslwatch demo: cannot remove {}: {e}",
                dir.display()
            ));
        }
    }
    result
}
