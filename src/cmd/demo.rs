//! `sslwatch demo`: write SIMULATED runs in the background and watch them
//! live (headless `report --follow` output until the TUI lands).

use super::report::{follow, start, stop_signal, FormatArg};
use super::UsageError;
use sslwatch::demo::{spawn_writer, DemoConfig};
use sslwatch::metrics::MetricSettings;
use sslwatch::report::Format;
use sslwatch::watch::{CacheChoice, EngineConfig, WatchChoice};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

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
    /// Print results as lines instead of the terminal UI (currently the only mode).
    #[arg(long)]
    pub no_tui: bool,
    /// Output format of the printed results.
    #[arg(long, value_enum, default_value_t = FormatArg::Table)]
    pub format: FormatArg,
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
    let stop = stop_signal()?;
    let (dir, temporary) = match &args.dir {
        Some(d) => (d.clone(), false),
        None => (fresh_temp_dir()?, true),
    };
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
    let banner = format!(
        "sslwatch demo: SIMULATED runs (not real training) are being written to {}{}\n\
         {} run(s), a milestone every {} s, {} milestones each. Ctrl-C to stop.",
        dir.display(),
        if temporary { " (removed on exit)" } else { "" },
        args.runs,
        args.interval,
        args.steps
    );
    let result = start(cfg)
        .and_then(|handle| follow(handle, Format::from(args.format), &stop, Some(&banner)));
    if let Err(e) = writer.stop() {
        eprintln!("sslwatch demo: {e}");
    }
    if temporary {
        let _ = std::fs::remove_dir_all(&dir);
    }
    result
}

fn fresh_temp_dir() -> anyhow::Result<PathBuf> {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let dir = std::env::temp_dir().join(format!("sslwatch-demo-{}-{nanos}", std::process::id()));
    std::fs::create_dir(&dir)
        .map_err(|e| anyhow::anyhow!("{}: cannot create the demo directory: {e}", dir.display()))?;
    Ok(dir)
}
