//! What watching a big ROOT costs (issue 14), before and after in one run.
//!
//! Usage:
//!   cargo run --example bench_watch -- idle [--runs 5000] [--milestones 50] [--seconds 60] [--poll 2]
//!   cargo run --example bench_watch -- screen [--reps 5] [--poll 2]
//!
//! `idle` writes RUNS runs x MILESTONES tiny milestone files (110 bytes
//! that fail the header check: as quiet as computed ones, and quick to
//! catch up on), then for
//! each of native watching and `--poll POLL`, after (incremental looks) and
//! before (`EngineConfig::full_rescan`: every look a full walk, polling
//! through notify's PollWatcher): starts the engine (a stand-in metric, no
//! cache), waits until it caught up and the confirming look passed, and
//! measures SECONDS of idle: the process's CPU time (getrusage) per minute
//! and the engine thread's stat/list calls per look. notify's PollWatcher
//! stats in its own thread, uncounted: the line says how many entries it
//! walks each interval.
//!
//! `screen` renames a 2,000 x 128 float32 milestone (written beside ROOT)
//! into a watched run, REPS times, native and `--poll POLL`, after and
//! before (`full_rescan`, where a renamed file also waits the settle
//! interval), with the real metrics (default settings, no labels) and the
//! default settle interval, and prints the medians of: the readiness wait
//! (rename to `Computing`), the compute (the metrics' own time), the read
//! and emit (the rest of `Computing` to `Result`), and the total.
//!
//! Both print /proc/loadavg with their numbers.

use sslwatch::metrics::{LayerMetrics, MetricSettings};
use sslwatch::read::write::{npy_bytes_f32, write_atomic};
use sslwatch::watch::event::{EngineEvent, WatchMode};
use sslwatch::watch::{CacheChoice, Engine, EngineConfig, WatchChoice};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    sslwatch::memory::configure_allocator();
    match std::env::args().nth(1).as_deref() {
        Some("idle") => idle(),
        Some("screen") => screen(),
        _ => {
            eprintln!("usage: bench_watch idle|screen [options] (see the file's header)");
            std::process::exit(2);
        }
    }
}

fn idle() -> Result<(), Box<dyn std::error::Error>> {
    let runs = arg("--runs").unwrap_or(5000.0) as usize;
    let milestones = arg("--milestones").unwrap_or(50.0) as usize;
    let seconds = arg("--seconds").unwrap_or(60.0);
    let poll = Duration::from_secs_f64(arg("--poll").unwrap_or(2.0));
    let root = tempfile::tempdir()?;
    let t = Instant::now();
    // Files that fail their header check at once: the idle cost is the
    // same as for computed ones, and catching up on 250,000 of them does
    // not wait for the work queue (whose pick is linear in its length).
    let tiny = b"not an .npy file: fails its header check at once, once".repeat(2);
    for r in 0..runs {
        let m = root
            .path()
            .join(format!("g{:02}/r{r:05}/milestones", r % 50));
        std::fs::create_dir_all(&m)?;
        for s in 0..milestones {
            std::fs::write(m.join(format!("{s}.npy")), &tiny)?;
        }
    }
    let files = runs * milestones;
    let dirs = 1 + runs.min(50) + 2 * runs;
    println!(
        "idle: {runs} runs x {milestones} milestones = {files} files, {dirs} directories \
         (written in {:.0} s); idle {seconds:.0} s per case",
        t.elapsed().as_secs_f64()
    );
    println!(
        "{:<28} {:>10} {:>12} {:>12} {:>8} {:>10}",
        "case", "catch-up s", "CPU s/min", "% of a core", "looks", "stats/look"
    );
    for (watch, label) in [(None, "native"), (Some(poll), "poll")] {
        for full in [false, true] {
            let case = format!(
                "{label}{} {}",
                watch.map_or(String::new(), |p| format!(" {:.1}s", p.as_secs_f64())),
                if full { "before (full)" } else { "after" }
            );
            let r = idle_case(root.path(), watch, full, seconds)?;
            let extra = if full && r.polled {
                format!(
                    "  + notify's PollWatcher: {} stats per interval, uncounted",
                    files + dirs
                )
            } else {
                String::new()
            };
            println!(
                "{case:<28} {:>10.1} {:>12.3} {:>11.2}% {:>8} {:>10.0}  lists/look {:.1}{}{extra}",
                r.catch_up,
                r.cpu * 60.0 / seconds,
                100.0 * r.cpu / seconds,
                r.looks,
                r.stats_per_look,
                r.lists_per_look,
                if r.mode_note.is_empty() {
                    String::new()
                } else {
                    format!("  ({})", r.mode_note)
                },
            );
        }
    }
    println!("load average: {}", loadavg());
    Ok(())
}

struct IdleCase {
    catch_up: f64,
    cpu: f64,
    looks: u64,
    stats_per_look: f64,
    lists_per_look: f64,
    polled: bool,
    mode_note: String,
}

fn idle_case(
    root: &Path,
    poll: Option<Duration>,
    full: bool,
    seconds: f64,
) -> Result<IdleCase, Box<dyn std::error::Error>> {
    let mut cfg = EngineConfig::new(root, MetricSettings::default());
    cfg.watch = poll.map_or(WatchChoice::Auto, WatchChoice::Poll);
    cfg.cache = CacheChoice::Off;
    cfg.settle = Duration::from_millis(50);
    cfg.full_rescan = full;
    cfg.compute = Arc::new(|_, _, _, _| Ok(LayerMetrics::default()));
    let t = Instant::now();
    let engine = Engine::start(cfg)?;
    let rx = engine.events();
    let mut mode_note = String::new();
    let mut polled = poll.is_some();
    for ev in rx.iter() {
        match ev {
            EngineEvent::Started { mode, .. } | EngineEvent::Mode(mode) => {
                if let WatchMode::Poll { reason, .. } = &mode {
                    polled = true;
                    if poll.is_none() {
                        mode_note = format!("polling: {reason}");
                    }
                }
            }
            EngineEvent::CaughtUp => break,
            _ => {}
        }
    }
    let catch_up = t.elapsed().as_secs_f64();
    // The look that confirms the first walk (native: the first safety
    // look, 30 s in), and the startup's last looks.
    let quiet = Instant::now() + Duration::from_secs(300);
    while engine.watch_cost().looks < 2 && !full && Instant::now() < quiet {
        std::thread::sleep(Duration::from_millis(200));
    }
    std::thread::sleep(poll.unwrap_or(Duration::from_secs(1)) * 2 + Duration::from_secs(1));
    let (cost0, cpu0) = (engine.watch_cost(), cpu_seconds());
    let end = Instant::now() + Duration::from_secs_f64(seconds);
    while let Ok(ev) = rx.recv_deadline(end) {
        if let EngineEvent::Mode(WatchMode::Poll { reason, .. }) = ev {
            mode_note = format!("polling: {reason}");
        }
    }
    let (cost1, cpu1) = (engine.watch_cost(), cpu_seconds());
    let looks = cost1.looks - cost0.looks;
    let per = |a: u64, b: u64| (a - b) as f64 / looks.max(1) as f64;
    Ok(IdleCase {
        catch_up,
        cpu: cpu1 - cpu0,
        looks,
        stats_per_look: per(cost1.stats, cost0.stats),
        lists_per_look: per(cost1.lists, cost0.lists),
        polled,
        mode_note,
    })
}

fn screen() -> Result<(), Box<dyn std::error::Error>> {
    let reps = arg("--reps").unwrap_or(5.0) as usize;
    let poll = Duration::from_secs_f64(arg("--poll").unwrap_or(2.0));
    let top = tempfile::tempdir()?;
    let root = top.path().join("root");
    let staging = top.path().join("staging");
    std::fs::create_dir_all(root.join("run/milestones"))?;
    std::fs::create_dir_all(&staging)?;
    let x = ndarray::Array2::from_shape_fn((2000, 128), |(i, j)| {
        ((i % 10) as f32) + ((i * 31 + j * 17) % 97) as f32 / 97.0
    });
    let bytes = npy_bytes_f32(x.view());
    println!(
        "time to screen: a 2,000 x 128 f32 .npy renamed into ROOT/run/milestones, {reps} reps, \
         default metrics and settle ({:?}); medians in seconds",
        sslwatch::watch::DEFAULT_SETTLE
    );
    println!(
        "{:<24} {:>10} {:>10} {:>10} {:>8}",
        "mode", "readiness", "compute", "read+emit", "total"
    );
    let mut step = 0u64;
    let cases = [
        (WatchChoice::Auto, "native", false),
        (WatchChoice::Auto, "native", true),
        (WatchChoice::Poll(poll), "poll", false),
        (WatchChoice::Poll(poll), "poll", true),
    ];
    for (watch, mode, full) in cases {
        let label = format!(
            "{mode}{} {}",
            match watch {
                WatchChoice::Poll(p) => format!(" {:.1}s", p.as_secs_f64()),
                _ => String::new(),
            },
            if full { "before" } else { "after" }
        );
        let mut cfg = EngineConfig::new(&root, MetricSettings::default());
        cfg.watch = watch;
        cfg.cache = CacheChoice::Off;
        cfg.full_rescan = full;
        let engine = Engine::start(cfg)?;
        let rx = engine.events();
        for ev in rx.iter() {
            if matches!(ev, EngineEvent::CaughtUp) {
                break;
            }
        }
        let (mut wait, mut compute, mut emit, mut total) = (vec![], vec![], vec![], vec![]);
        for _ in 0..reps {
            step += 1;
            let tmp = staging.join(format!("{step}.npy"));
            write_atomic(&tmp, &bytes)?;
            // Out of phase with the poll timer, as a trainer is.
            std::thread::sleep(Duration::from_millis(300 + 137 * (step % 5)));
            let t0 = Instant::now();
            std::fs::rename(&tmp, root.join(format!("run/milestones/{step}.npy")))?;
            let mut computing = None;
            let deadline = Instant::now() + Duration::from_secs(120);
            loop {
                match rx.recv_deadline(deadline)? {
                    EngineEvent::Computing { step: s, .. } if s == step => {
                        computing = Some(t0.elapsed().as_secs_f64());
                    }
                    EngineEvent::Result(r) if r.key.step == step => {
                        let done = t0.elapsed().as_secs_f64();
                        let c = computing.unwrap_or(done);
                        let own = r.outcome.as_ref().map_or(0.0, |m| m.seconds);
                        wait.push(c);
                        compute.push(own);
                        emit.push((done - c - own).max(0.0));
                        total.push(done);
                        break;
                    }
                    _ => {}
                }
            }
        }
        println!(
            "{label:<24} {:>10.3} {:>10.3} {:>10.3} {:>8.3}",
            median(&mut wait),
            median(&mut compute),
            median(&mut emit),
            median(&mut total)
        );
    }
    println!("load average: {}", loadavg());
    Ok(())
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    match v.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}

fn arg(name: &str) -> Option<f64> {
    let args: Vec<String> = std::env::args().collect();
    let i = args.iter().position(|a| a == name)?;
    args.get(i + 1)?.parse().ok()
}

fn cpu_seconds() -> f64 {
    // SAFETY: getrusage writes into the zeroed struct we own.
    let mut u: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut u) };
    let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    tv(u.ru_utime) + tv(u.ru_stime)
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}
