//! `sslwatch demo` as a user runs it without a terminal: it ends once every
//! milestone its writer wrote is computed (or keeps watching with
//! `--follow`), and takes the same engine flags as `watch`, its own seed
//! being `--sim-seed`.

mod common;

use common::live::{Proc, BIN, FAST};
use serde_json::Value;
use std::io::Read;
use std::path::Path;
use std::process::{Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Far more than a demo of a few milestones needs (seconds).
const DEADLINE: Duration = Duration::from_secs(120);

struct Ended {
    status: ExitStatus,
    stdout: String,
    stderr: String,
}

impl Ended {
    fn json(&self) -> Vec<Value> {
        self.stdout
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
            .collect()
    }
}

/// Run `sslwatch ARGS` until it exits by itself; kill it and fail if it
/// is still running after [`DEADLINE`].
fn run_to_end(args: &[&str]) -> Ended {
    let mut child = Command::new(BIN)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start sslwatch");
    let collect = |mut pipe: Box<dyn Read + Send>| {
        let sink = Arc::new(Mutex::new(Vec::new()));
        let s = sink.clone();
        let t = std::thread::spawn(move || {
            let mut buf = Vec::new();
            let _ = pipe.read_to_end(&mut buf);
            s.lock().unwrap().extend(buf);
        });
        (sink, t)
    };
    let (out, t_out) = collect(Box::new(child.stdout.take().unwrap()));
    let (err, t_err) = collect(Box::new(child.stderr.take().unwrap()));
    let end = Instant::now() + DEADLINE;
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if Instant::now() > end {
            let _ = child.kill();
            let _ = child.wait();
            let _ = t_err.join();
            panic!(
                "sslwatch {args:?} did not end by itself within {DEADLINE:?}; stderr:\n{}",
                String::from_utf8_lossy(&err.lock().unwrap())
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    t_out.join().unwrap();
    t_err.join().unwrap();
    let text = |b: &Arc<Mutex<Vec<u8>>>| String::from_utf8_lossy(&b.lock().unwrap()).into_owned();
    Ended {
        status,
        stdout: text(&out),
        stderr: text(&err),
    }
}

fn p(path: &Path) -> &str {
    path.to_str().unwrap()
}

/// Whether `lines` hold an ok result for (run, step, layer).
fn has_result(lines: &[Value], run: &str, step: u64, layer: &str) -> bool {
    lines
        .iter()
        .any(|v| v["run"] == run && v["step"] == step && v["layer"] == layer && v["status"] == "ok")
}

#[test]
fn demo_without_follow_ends_once_every_milestone_is_computed() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().join("demo");
    let mut args = vec![
        "demo",
        "--no-tui",
        "--dir",
        p(&d),
        "--runs",
        "2",
        "--steps",
        "3",
        "--interval",
        "0",
        "--format",
        "json",
    ];
    args.extend(FAST);
    let end = run_to_end(&args);
    assert_eq!(end.status.code(), Some(0), "{}", end.stderr);
    let lines = end.json();
    for run in ["simclr-like", "moco-like"] {
        for step in [5, 10, 15] {
            for layer in ["h", "z"] {
                assert!(
                    has_result(&lines, run, step, layer),
                    "no {run} {step} {layer} result in {lines:#?}\nstderr:\n{}",
                    end.stderr
                );
            }
        }
    }
    assert!(
        end.stderr
            .contains("sslwatch demo: done: the writer wrote 6 milestones for 2 runs\n"),
        "{}",
        end.stderr
    );
    assert!(!end.stderr.contains("stopped"), "{}", end.stderr);
    // The done line is the last thing said.
    assert!(end.stderr.ends_with("for 2 runs\n"), "{}", end.stderr);
}

#[test]
fn demo_follow_keeps_watching_after_the_writer_is_done_until_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().join("demo");
    let mut args = vec![
        "demo",
        "--no-tui",
        "--follow",
        "--dir",
        p(&d),
        "--runs",
        "1",
        "--steps",
        "2",
        "--interval",
        "0",
        "--format",
        "json",
    ];
    args.extend(FAST);
    let mut proc = Proc::start(&args);
    proc.until("every result", |seen| {
        [(5, "h"), (5, "z"), (10, "h"), (10, "z")]
            .iter()
            .all(|&(step, layer)| has_result(seen, "simclr-like", step, layer))
    });
    // Said at the point where the demo without --follow ends ...
    proc.until_stderr("the writer wrote 2 milestones for 1 runs, all computed; --follow");
    // ... and it is still running.
    assert!(
        proc.child.try_wait().unwrap().is_none(),
        "demo --follow ended by itself; stderr:\n{}",
        proc.stderr()
    );
    // SAFETY: kill(2) on our own child's pid.
    unsafe { libc::kill(proc.child.id() as libc::pid_t, libc::SIGTERM) };
    let end = Instant::now() + DEADLINE;
    let status = loop {
        if let Some(s) = proc.child.try_wait().unwrap() {
            break s;
        }
        assert!(
            Instant::now() < end,
            "no exit on SIGTERM; stderr:\n{}",
            proc.stderr()
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(status.code(), Some(0), "{}", proc.stderr());
    let err = proc.stderr();
    assert!(err.contains("sslwatch: stopped:"), "{err}");
    assert!(!err.contains("demo: done:"), "{err}");
}

/// The `settings` strings of every record in the cache files under `dir`.
fn cached_settings(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(cached_settings(&path));
        } else {
            for line in std::fs::read_to_string(&path).unwrap().lines() {
                let v: Value = serde_json::from_str(line).unwrap();
                out.push(v["settings"].as_str().unwrap().to_string());
            }
        }
    }
    out
}

fn one_step_demo<'a>(d: &'a Path, extra: &[&'a str]) -> Ended {
    let mut args = vec![
        "demo",
        "--no-tui",
        "--dir",
        p(d),
        "--runs",
        "1",
        "--steps",
        "1",
        "--interval",
        "0",
        "--format",
        "json",
        "--layer",
        "h",
    ];
    args.extend(extra);
    let end = run_to_end(&args);
    assert_eq!(end.status.code(), Some(0), "{:?}: {}", extra, end.stderr);
    end
}

#[test]
fn demo_seed_is_the_kmeans_seed_and_sim_seed_the_simulation_seed() {
    use sslwatch::metrics::MetricSettings;
    use sslwatch::watch::cache::settings_key;
    let dir = tempfile::tempdir().unwrap();
    let (d0, d0_again, d3) = (
        dir.path().join("d0"),
        dir.path().join("d0-again"),
        dir.path().join("d3"),
    );
    let cache = dir.path().join("cache");
    // --seed: the metrics' (k-means) seed, as `report` and `watch` have it,
    // so it is in the cache key; --cache-dir turns the demo's cache on.
    one_step_demo(&d0, &["--seed", "3", "--cache-dir", p(&cache)]);
    let settings = cached_settings(&cache);
    let seeded = settings_key(&MetricSettings {
        seed: 3,
        ..MetricSettings::default()
    });
    assert!(!settings.is_empty(), "nothing cached with --cache-dir");
    assert!(settings.iter().all(|s| *s == seeded), "{settings:?}");
    assert_ne!(seeded, settings_key(&MetricSettings::default()));
    // --sim-seed: the simulation's; the same seed writes the same data.
    one_step_demo(&d0_again, &["--sim-seed", "0"]);
    one_step_demo(&d3, &["--sim-seed", "3"]);
    let h = |d: &Path| std::fs::read(d.join("simclr-like/milestones/epoch_0005/h.npy")).unwrap();
    assert_eq!(h(&d0), h(&d0_again), "--sim-seed 0 is the default");
    assert_ne!(h(&d0), h(&d3), "--sim-seed 3 wrote the same data");
}

#[test]
fn demo_takes_poll_and_layer_and_refuses_a_layer_it_does_not_write() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().join("demo");
    let mut extra = vec!["--poll=0.1", "--layer", "z"];
    extra.extend(FAST);
    let mut args = vec![
        "demo",
        "--no-tui",
        "--dir",
        p(&d),
        "--runs",
        "1",
        "--steps",
        "1",
        "--interval",
        "0",
        "--format",
        "json",
    ];
    args.extend(&extra);
    let end = run_to_end(&args);
    assert_eq!(end.status.code(), Some(0), "{}", end.stderr);
    assert!(end.stderr.contains("polling every 0.1 s"), "{}", end.stderr);
    // Result lines (the summary printed at the end has a layer too).
    let layers: Vec<Value> = end
        .json()
        .iter()
        .filter(|v| v.get("status").is_some())
        .map(|v| v["layer"].clone())
        .collect();
    assert_eq!(layers, [Value::from("z")]);

    let out = Command::new(BIN)
        .args(["demo", "--no-tui", "--dir", p(&d), "--layer", "p"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("--layer p") && err.contains("h and z"),
        "{err}"
    );
}

#[test]
fn demo_refuses_to_write_over_a_run_it_did_not_write() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("simclr-like");
    std::fs::create_dir_all(run.join("milestones/epoch_0001")).unwrap();
    let meta = br#"{"method": "simclr", "dataset": "cifar10"}"#;
    std::fs::write(run.join("run.json"), meta).unwrap();
    let out = Command::new(BIN)
        .args(["demo", "--no-tui", "--dir", p(dir.path()), "--runs", "1"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("choose another --dir"), "{err}");
    assert_eq!(std::fs::read(run.join("run.json")).unwrap(), meta);
    assert!(run.join("milestones/epoch_0001").is_dir());
}
