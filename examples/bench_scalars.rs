//! What a big, growing `scalars.jsonl` costs a follower (issue 14): the
//! engine (native watching, no cache) with both consumers of its stream in
//! this process, `report --follow`'s collector and the TUI's state.
//!
//! Usage: cargo run --example bench_scalars [-- --mb 23 --seconds 30 --hz 5]
//!
//! Writes a run whose `scalars.jsonl` is MB megabytes of trainer lines
//! (step, epoch, loss, lr, grad_norm, throughput; probe_acc on one line in
//! 50), starts the engine, waits until both consumers hold all of it, then
//! appends one line every 1/HZ s for SECONDS. Prints the resident memory
//! after the load (VmRSS, and the peak VmHWM), and the process's CPU time
//! during the appends as a share of one core (getrusage; the appending
//! itself is a few microseconds a line), with /proc/loadavg.

use sslwatch::metrics::MetricSettings;
use sslwatch::report::Collected;
use sslwatch::tui::app::App;
use sslwatch::tui::event::Event;
use sslwatch::watch::event::EngineEvent;
use sslwatch::watch::{CacheChoice, Engine, EngineConfig};
use std::io::Write;
use std::time::{Duration, Instant};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    sslwatch::memory::configure_allocator();
    let mb = arg("--mb").unwrap_or(23.0);
    let seconds = arg("--seconds").unwrap_or(30.0);
    let hz = arg("--hz").unwrap_or(5.0);
    let root = tempfile::tempdir()?;
    let run = root.path().join("run");
    std::fs::create_dir_all(run.join("milestones"))?;
    let path = run.join("scalars.jsonl");
    let mut file = std::fs::File::create(&path)?;
    let mut step = 0u64;
    let mut written = 0usize;
    {
        let mut w = std::io::BufWriter::new(&mut file);
        while (written as f64) < mb * 1e6 {
            let l = line(step);
            w.write_all(l.as_bytes())?;
            written += l.len();
            step += 1;
        }
        w.flush()?;
    }
    let lines = step;
    let base_rss = rss_kib("VmRSS:");

    let mut cfg = EngineConfig::new(root.path(), MetricSettings::default());
    cfg.cache = CacheChoice::Off;
    let engine = Engine::start(cfg)?;
    let rx = engine.events();
    let mut report = Collected::default();
    let mut tui = App::new("bench", Default::default(), Instant::now());
    let mut events = 0usize;
    let mut take = |ev: EngineEvent, events: &mut usize| {
        if matches!(ev, EngineEvent::Scalars { .. }) {
            *events += 1;
        }
        report.apply(&ev);
        tui.update(Event::Engine(ev), Instant::now());
    };

    // Load: until the collector holds the last line's step.
    let t = Instant::now();
    // The last line with a probe_acc (the views' key) is read.
    let last_probe = (lines - 1) / 50 * 50;
    loop {
        let ev = rx.recv_timeout(Duration::from_secs(120))?;
        let done = matches!(&ev, EngineEvent::Scalars { points, .. } if points.last().is_some_and(|p| p.step >= last_probe));
        take(ev, &mut events);
        if done {
            break;
        }
    }
    let load_s = t.elapsed().as_secs_f64();
    std::thread::sleep(Duration::from_millis(500));
    while let Ok(ev) = rx.try_recv() {
        take(ev, &mut events);
    }
    sslwatch::memory::release_free_memory();
    let rss = rss_kib("VmRSS:");
    let hwm = rss_kib("VmHWM:");

    // Appends at HZ.
    let period = Duration::from_secs_f64(1.0 / hz);
    let (cpu0, t0) = (cpu_seconds(), Instant::now());
    let load0 = loadavg();
    let mut next = t0;
    let (events0, appended0) = (events, step);
    while t0.elapsed().as_secs_f64() < seconds {
        next += period;
        writeln!(file, "{}", line(step).trim_end())?;
        file.flush()?;
        step += 1;
        while let Ok(ev) = rx.recv_deadline(next) {
            take(ev, &mut events);
        }
    }
    let wall = t0.elapsed().as_secs_f64();
    let cpu = cpu_seconds() - cpu0;
    let kept = report.scalars.get("run").map_or(0, Vec::len);
    println!(
        "scalars.jsonl: {:.1} MB, {lines} lines (probe_acc on 1 in 50); engine native, no cache; \
         consumers: report's collector + TUI state",
        std::fs::metadata(&path)?.len() as f64 / 1e6
    );
    println!("  load: {load_s:.2} s until the collector held the last line");
    println!(
        "  resident after load: {:.1} MiB (before the engine started: {:.1} MiB), peak {:.1} MiB",
        rss as f64 / 1024.0,
        base_rss as f64 / 1024.0,
        hwm as f64 / 1024.0
    );
    println!("  points the collector keeps: {kept}");
    println!(
        "  appends at {hz} Hz for {wall:.0} s ({} lines, {} Scalars events): CPU {:.1}% of a core",
        step - appended0,
        events - events0,
        100.0 * cpu / wall
    );
    println!(
        "  load average at start of appends: {load0}; at end: {}",
        loadavg()
    );
    Ok(())
}

/// One trainer line; every 50th carries the probe accuracy.
fn line(step: u64) -> String {
    let loss = 4.0 / (1.0 + step as f64 / 1000.0);
    let mut s = format!(
        "{{\"step\": {step}, \"epoch\": {}, \"loss\": {loss:.6}, \"lr\": 0.000{:04}, \"grad_norm\": {:.5}, \"throughput\": {:.1}",
        step / 1000,
        step % 9973,
        1.0 + (step % 17) as f64 / 10.0,
        1200.0 + (step % 101) as f64
    );
    if step.is_multiple_of(50) {
        s.push_str(&format!(", \"probe_acc\": {:.4}", 1.0 - loss / 5.0));
    }
    s.push_str("}\n");
    s
}

fn arg(name: &str) -> Option<f64> {
    let args: Vec<String> = std::env::args().collect();
    let i = args.iter().position(|a| a == name)?;
    args.get(i + 1)?.parse().ok()
}

fn rss_kib(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
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
