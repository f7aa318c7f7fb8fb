//! `sslwatch demo`: write SIMULATED runs in the background and watch them
//! live in the terminal UI (or as `report --follow` lines with `--no-tui` or
//! when stdout is not a terminal, ending once every milestone the writer
//! wrote is computed, unless `--follow`).

use super::out::warn;
use super::report::{follow, start, stop_signal, EngineOptions, FormatArg, Until};
use super::UsageError;
use crossbeam_channel::Receiver;
use sslwatch::demo::{self, spawn_writer, DemoConfig, DemoWriter};
use sslwatch::report::Format;
use sslwatch::tui::{self, theme::Theme};
use sslwatch::watch::event::{EngineEvent, MilestoneKey};
use sslwatch::watch::CacheChoice;
use std::collections::HashSet;
use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

// No doc comment on the struct: clap would take it as the subcommand's
// about text, which `main`'s variant gives. The help of the flags shared
// with `watch` is reworded here where the demo differs.
#[derive(clap::Args, Debug)]
#[command(
    mut_arg("layer", |a| a.help(
        "The layer, h (2,000 x 128) or z (its 64-d projection): the UI shows it first and `L` \
         cycles; with --no-tui only this one is computed"
    )),
    mut_arg("cache_dir", |a| a.help(
        "Cache the results in DIR (default: no cache, the demo's runs are throwaway)"
    )),
    mut_arg("no_cache", |a| a.help("Neither read nor write the result cache (the default)")),
)]
pub struct Args {
    /// Write the simulated runs into D (default: a fresh temporary
    /// directory, removed on exit); an earlier demo's milestones there are
    /// removed first, and a run the demo did not write is refused.
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
    /// Seed of the simulated embeddings (`--seed` is the k-means seed, as
    /// in `report` and `watch`).
    #[arg(long, value_name = "S", default_value_t = 0)]
    pub sim_seed: u64,
    /// Print results as lines (like `report --follow`) instead of opening
    /// the terminal UI; also the behaviour when stdout is not a terminal.
    /// Ends once every milestone the writer wrote is computed.
    #[arg(long)]
    pub no_tui: bool,
    /// Without the UI: keep watching after the writer is done, until
    /// Ctrl-C (the UI always runs until q).
    #[arg(long)]
    pub follow: bool,
    /// Output format of the printed results (without the UI).
    #[arg(long, value_enum, default_value_t = FormatArg::Table)]
    pub format: FormatArg,
    /// Draw the UI with ASCII only (no braille or block glyphs).
    #[arg(long)]
    pub ascii: bool,
    #[command(flatten)]
    pub engine: EngineOptions,
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
    if let Some(l) = &args.engine.layer {
        if !demo::LAYERS.contains(&l.as_str()) {
            return Err(UsageError(format!(
                "--layer {}: the demo writes the layers {}",
                sslwatch::text::sanitize(l),
                demo::LAYERS.join(" and ")
            ))
            .into());
        }
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
    // Flags before the writer starts, so a bad one writes nothing. The
    // demo's directory is throwaway: no cache unless --cache-dir.
    let mut cfg = args.engine.config(dir.clone(), true, CacheChoice::Off)?;
    let alerts = args.engine.alert_config()?;
    let temporary = temp.is_some();
    let mut demo = DemoConfig::new(&dir);
    demo.runs = args.runs;
    demo.interval = Duration::from_secs_f64(args.interval);
    demo.steps = args.steps;
    demo.seed = args.sim_seed;
    let mut writer = spawn_writer(demo).map_err(|e| {
        let msg = format!("{}: cannot write the demo runs: {e}", dir.display());
        if e.kind() == std::io::ErrorKind::AlreadyExists {
            anyhow::Error::new(UsageError(msg))
        } else {
            anyhow::anyhow!(msg)
        }
    })?;

    let result = match stop {
        None => {
            // In the UI --layer is the layer shown first: every layer is computed.
            cfg.layer_filter = None;
            start(cfg).and_then(|engine| {
                let label = format!("SIMULATED runs: {}", dir.display());
                let options = tui::Options {
                    ascii: args.ascii,
                    color: !Theme::no_color_env(),
                    layer: args.engine.layer.clone(),
                    probe: args.engine.probe_source.into(),
                    alerts,
                    bell: false,
                };
                tui::run(&label, engine.events(), options)?;
                Ok(ExitCode::SUCCESS)
            })
        }
        Some(stop) => {
            let ending = if args.follow {
                "then keeps watching until Ctrl-C"
            } else {
                "ends when they are all computed (Ctrl-C stops it sooner)"
            };
            let banner = format!(
                "sslwatch demo: SIMULATED runs (not real training) are being written to {}{}\n\
                 {} run(s), a milestone every {} s, {} milestones each; {ending}.",
                dir.display(),
                if temporary { " (removed on exit)" } else { "" },
                args.runs,
                args.interval,
                args.steps
            );
            let layers: Vec<&str> = match &args.engine.layer {
                Some(l) => vec![l.as_str()],
                None => demo::LAYERS.to_vec(),
            };
            let mut done = WriterDone {
                left: Expected::new(args.runs, args.steps, &layers),
                writer: &mut writer,
                failed: None,
                follow: args.follow,
                said: false,
                runs: args.runs,
                milestones: args.runs * args.steps,
            };
            let followed = start(cfg).and_then(|handle| {
                follow(
                    handle,
                    Format::from(args.format),
                    &stop,
                    Some(&banner),
                    // Headless, the demo prints results only (the UI shows alerts).
                    &Default::default(),
                    Some(&mut done),
                )
            });
            match done.failed.take() {
                Some(e) => Err(anyhow::anyhow!("the demo writer failed: {e}")),
                None => {
                    if followed.is_ok() && done.said && !args.follow {
                        warn(format_args!("sslwatch demo: done: {}", done.wrote()));
                    }
                    followed
                }
            }
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

/// The (run, step, layer) results the demo still waits for. A result of
/// any kind (metrics or an error) counts; a milestone or run that goes away
/// (a user deleted it) is no longer waited for, so the wait cannot outlast
/// the files. Only what the writer writes is waited for, and the writer
/// starts in a directory without old milestones (see
/// `sslwatch::demo::spawn_writer`), so no earlier result is taken for one.
struct Expected(HashSet<MilestoneKey>);

impl Expected {
    fn new(runs: usize, steps: usize, layers: &[&str]) -> Expected {
        let mut keys = HashSet::new();
        for run in (0..runs).map(demo::run_name) {
            for step in (0..steps).map(demo::step_of) {
                for layer in layers {
                    keys.insert(MilestoneKey {
                        run: run.clone(),
                        step,
                        layer: layer.to_string(),
                    });
                }
            }
        }
        Expected(keys)
    }

    fn see(&mut self, ev: &EngineEvent) {
        match ev {
            EngineEvent::Result(r) => {
                self.0.remove(&r.key);
            }
            EngineEvent::MilestoneRemoved { run, step } => {
                self.0.retain(|k| !(&k.run == run && k.step == *step));
            }
            EngineEvent::RunRemoved { run } => self.0.retain(|k| &k.run != run),
            _ => {}
        }
    }

    fn all_in(&self) -> bool {
        self.0.is_empty()
    }
}

/// Ends the demo's `follow` once every milestone is computed (or says so
/// and goes on with `--follow`), and at once when the writer fails.
struct WriterDone<'a> {
    left: Expected,
    writer: &'a mut DemoWriter,
    failed: Option<String>,
    follow: bool,
    /// Whether "every milestone is computed" was reached.
    said: bool,
    runs: usize,
    milestones: usize,
}

impl WriterDone<'_> {
    fn wrote(&self) -> String {
        format!(
            "the writer wrote {} milestones for {} runs",
            self.milestones, self.runs
        )
    }
}

impl Until for WriterDone<'_> {
    fn wake(&self) -> Receiver<()> {
        self.writer.finished()
    }

    fn done(&mut self, event: Option<&EngineEvent>) -> bool {
        match event {
            Some(ev) => self.left.see(ev),
            // The writer's thread ended: a failure ends the demo (nothing
            // more will be written to wait for); a success leaves the rest
            // to the results still coming in.
            None => {
                if let Err(e) = self.writer.join() {
                    self.failed = Some(e);
                    return true;
                }
            }
        }
        if self.said || !self.left.all_in() {
            return false;
        }
        self.said = true;
        if self.follow {
            warn(format_args!(
                "sslwatch demo: {}, all computed; --follow: watching until Ctrl-C",
                self.wrote()
            ));
            false
        } else {
            true
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sslwatch::watch::event::MilestoneResult;

    fn result(run: &str, step: u64, layer: &str) -> EngineEvent {
        EngineEvent::Result(Box::new(MilestoneResult {
            key: MilestoneKey {
                run: run.into(),
                step,
                layer: layer.into(),
            },
            step_name: format!("epoch_{step:04}"),
            file: PathBuf::from("x.npy"),
            cached: false,
            modified: None,
            outcome: Err("any outcome counts".into()),
        }))
    }

    #[test]
    fn every_run_step_and_layer_the_writer_writes_is_waited_for() {
        let mut e = Expected::new(2, 2, &demo::LAYERS);
        assert_eq!(e.0.len(), 8);
        for run in ["simclr-like", "moco-like"] {
            for step in [5, 10] {
                e.see(&result(run, step, "h"));
                // Another run's or step's result is not one of them.
                e.see(&result("simsiam-like", step, "z"));
                e.see(&result(run, 15, "z"));
                assert!(!e.all_in());
                e.see(&result(run, step, "z"));
            }
        }
        assert!(e.all_in());
    }

    #[test]
    fn what_goes_away_is_no_longer_waited_for() {
        let mut e = Expected::new(2, 2, &["h"]);
        e.see(&EngineEvent::RunRemoved {
            run: "moco-like".into(),
        });
        e.see(&EngineEvent::MilestoneRemoved {
            run: "simclr-like".into(),
            step: 5,
        });
        assert!(!e.all_in());
        e.see(&result("simclr-like", 10, "h"));
        assert!(e.all_in());
    }
}
