//! Alerts as a user sees them: `sslwatch report` (with and without
//! `--follow`) on temporary roots whose milestones collapse, the flags'
//! errors, and the summary `--follow` prints when it is stopped. Every wait
//! is for a condition with a generous deadline; nothing passes or fails on
//! timing.

use ndarray::Array2;
use serde_json::Value;
use sslwatch::read::write::npy_bytes_f32;
use std::path::Path;
use std::process::{Command, ExitStatus, Output};
use std::time::{Duration, Instant};

mod common;
use common::live::*;

/// A 300 x 32 matrix of uniform noise (a healthy, full-rank milestone).
fn healthy() -> Array2<f32> {
    let mut s: u64 = 0x2545_F491_4F6C_DD1D;
    Array2::from_shape_fn((300, 32), |_| {
        s = s
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((s >> 40) as f32 / (1u64 << 24) as f32) - 0.5
    })
}

/// 300 x 32, every row a multiple of one vector: rank 1.
fn rank_one() -> Array2<f32> {
    Array2::from_shape_fn((300, 32), |(i, j)| {
        let c = (i as f32 - 150.0) / 50.0;
        c * (1.0 + j as f32 / 8.0)
    })
}

/// ROOT/r/milestones/{1,2}.npy: step 1 healthy, step 2 collapsed.
fn collapsing_root() -> tempfile::TempDir {
    let root = tempfile::tempdir().unwrap();
    let ms = run_dir(root.path(), "r");
    put(&ms.join("1.npy"), &npy_bytes_f32(healthy().view()));
    put(&ms.join("2.npy"), &npy_bytes_f32(rank_one().view()));
    root
}

fn report(root: &Path, extra: &[&str]) -> Output {
    let mut args = vec!["report", root.to_str().unwrap(), "--no-cache"];
    args.extend(FAST);
    args.extend(extra);
    Command::new(BIN)
        .args(&args)
        .output()
        .expect("run sslwatch")
}

fn json_lines(out: &[u8]) -> Vec<Value> {
    String::from_utf8_lossy(out)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect()
}

fn alerts(lines: &[Value]) -> Vec<&Value> {
    lines.iter().filter(|v| v["event"] == "alert").collect()
}

/// Wait for `p` to exit by itself (generous deadline), then read the rest
/// of its stdout.
fn wait_exit(p: &mut Proc) -> ExitStatus {
    let end = Instant::now() + DEADLINE;
    let status = loop {
        if let Some(s) = p.child.try_wait().unwrap() {
            break s;
        }
        assert!(
            Instant::now() < end,
            "sslwatch did not exit; stdout: {:#?}\nstderr:\n{}",
            p.seen,
            p.stderr()
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    drain(p);
    status
}

/// Every stdout line up to EOF (the reader thread ends with the pipe).
fn drain(p: &mut Proc) {
    let end = Instant::now() + DEADLINE;
    loop {
        let left = end.saturating_duration_since(Instant::now());
        match p.lines.recv_timeout(left) {
            Ok(line) => p.seen.push(
                serde_json::from_str(&line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}")),
            ),
            Err(crossbeam_channel::RecvTimeoutError::Disconnected) => return,
            Err(crossbeam_channel::RecvTimeoutError::Timeout) => {
                panic!("stdout did not end; stderr:\n{}", p.stderr())
            }
        }
    }
}

#[test]
fn a_collapsing_run_stops_follow_with_exit_code_3_and_an_alert_line() {
    let root = collapsing_root();
    let mut p = follow(root.path(), &["--exit-on-alert"]);
    let status = wait_exit(&mut p);
    assert_eq!(status.code(), Some(3), "stderr:\n{}", p.stderr());
    let fired = alerts(&p.seen);
    assert!(!fired.is_empty(), "{:#?}", p.seen);
    let a = fired[0];
    assert_eq!(a["run"], "r");
    assert_eq!(a["step"], 2);
    assert_eq!(a["layer"], "emb");
    let rule = a["rule"].as_str().unwrap();
    assert!(rule.starts_with("collapse_"), "{a}");
    assert!(a["value"].is_number() && a["threshold"].is_number(), "{a}");
    assert!(a["message"].as_str().unwrap().contains("collapse"), "{a}");
    assert!(
        !fired.iter().any(|a| a["step"] == 1),
        "the healthy step raises nothing: {fired:#?}"
    );
    // Stopped cleanly: the summary of what it had, and the stop line.
    assert!(
        p.seen.iter().any(|v| v["event"] == "summary"),
        "{:#?}",
        p.seen
    );
    let err = p.stderr();
    assert!(err.contains("--exit-on-alert"), "{err}");
    assert!(err.contains("sslwatch: stopped:"), "{err}");
}

#[test]
fn a_user_rule_in_follow_exits_3_at_the_milestone_that_breaks_it() {
    let root = collapsing_root();
    // Built-ins off: only RankMe below 5 can fire (step 2 has about 1).
    let mut p = follow(
        root.path(),
        &["--exit-on-alert", "--no-alerts", "--alert", "rankme<5"],
    );
    let status = wait_exit(&mut p);
    assert_eq!(status.code(), Some(3), "stderr:\n{}", p.stderr());
    let fired = alerts(&p.seen);
    assert_eq!(fired.len(), 1, "{fired:#?}");
    assert_eq!(fired[0]["rule"], "user:rankme<5");
    assert_eq!(fired[0]["step"], 2);
    assert_eq!(fired[0]["threshold"], 5.0);
    assert!(fired[0]["value"].as_f64().unwrap() < 5.0);
}

#[test]
fn a_report_lists_the_alerts_its_rows_trigger() {
    let root = collapsing_root();
    let out = report(root.path(), &["--format", "json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines = json_lines(&out.stdout);
    let fired = alerts(&lines);
    assert!(!fired.is_empty(), "{lines:#?}");
    assert!(
        fired.iter().all(|a| a["step"] == 2 && a["run"] == "r"),
        "{fired:#?}"
    );
    assert!(fired
        .iter()
        .any(|a| a["rule"].as_str().unwrap().starts_with("collapse_")));
    assert!(
        !fired.iter().any(|a| a["rule"] == "stale"),
        "no stale in a scan"
    );

    // The table's summary lists them as ALERT lines.
    let out = report(root.path(), &[]);
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    let listed = text
        .lines()
        .skip_while(|l| !l.starts_with("Alerts ("))
        .nth(1)
        .unwrap_or_else(|| panic!("no Alerts list:\n{text}"));
    assert!(
        listed
            .trim_start()
            .starts_with("ALERT r 2 emb: dimensional collapse"),
        "{text}"
    );
}

#[test]
fn a_user_rule_that_never_holds_stays_quiet_and_one_that_holds_fires_once() {
    let root = collapsing_root();
    // A silhouette is at most 1: "above 2" never holds.
    let out = report(
        root.path(),
        &["--format", "json", "--no-alerts", "--alert", "silhouette>2"],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines = json_lines(&out.stdout);
    assert!(alerts(&lines).is_empty(), "{lines:#?}");
    assert_eq!(lines.iter().filter(|v| v["status"] == "ok").count(), 2);

    // "Above -2" holds at both steps: one alert, at the first.
    let out = report(
        root.path(),
        &[
            "--format",
            "json",
            "--no-alerts",
            "--alert",
            "silhouette>-2",
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines = json_lines(&out.stdout);
    let fired = alerts(&lines);
    assert_eq!(fired.len(), 1, "{fired:#?}");
    assert_eq!(fired[0]["rule"], "user:silhouette>-2");
    assert_eq!(fired[0]["step"], 1);
}

#[test]
fn exit_on_alert_needs_follow() {
    let root = collapsing_root();
    let out = report(root.path(), &["--exit-on-alert"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("--exit-on-alert") && err.contains("--follow"),
        "{err}"
    );
    assert!(out.stdout.is_empty());
}

#[test]
fn a_bad_alert_or_stale_after_exits_2_naming_the_valid_form() {
    let root = collapsing_root();
    let out = report(root.path(), &["--alert", "accuracy<0.5"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("unknown metric 'accuracy'"), "{err}");
    assert!(err.contains("METRIC<VALUE[@STEP]"), "{err}");
    assert!(err.contains("probe_acc") && err.contains("rankme"), "{err}");
    let out = report(root.path(), &["--alert", "probe_acc<0.5@soon"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("step 'soon'"));
    let out = report(root.path(), &["--follow", "--stale-after", "soon"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--stale-after soon"));
}

#[test]
fn sigterm_stops_follow_with_the_summary_on_stdout() {
    let root = tempfile::tempdir().unwrap();
    let ms = run_dir(root.path(), "r");
    put(&ms.join("1.npy"), &npy_bytes_f32(healthy().view()));
    let mut p = follow(root.path(), &[]);
    p.until("the first row", |l| has_ok(l, "r", 1));
    assert!(
        !p.seen.iter().any(|v| v["event"] == "summary"),
        "not before"
    );
    // SAFETY: kill(2) on our own child's pid.
    unsafe { libc::kill(p.child.id() as libc::pid_t, libc::SIGTERM) };
    let status = wait_exit(&mut p);
    assert_eq!(status.code(), Some(0), "stderr:\n{}", p.stderr());
    let summary: Vec<&Value> = p.seen.iter().filter(|v| v["event"] == "summary").collect();
    assert_eq!(summary.len(), 1, "{:#?}", p.seen);
    assert_eq!(summary[0]["run"], "r");
    assert_eq!(summary[0]["layer"], "emb");
    assert_eq!(summary[0]["milestones"], 1);
    assert!(p.stderr().contains("sslwatch: stopped:"));
}

#[test]
fn results_carry_the_milestone_files_modification_time() {
    use sslwatch::metrics::MetricSettings;
    use sslwatch::watch::event::EngineEvent;
    use sslwatch::watch::{CacheChoice, Engine, EngineConfig, WatchChoice};

    let root = tempfile::tempdir().unwrap();
    let cache = tempfile::tempdir().unwrap();
    let ms = run_dir(root.path(), "r");
    put(&ms.join("1.npy"), &npy_bytes_f32(healthy().view()));
    put(&ms.join("2.npy"), b"not an npy file at all, just text");
    let mtime = |name: &str| {
        std::fs::metadata(ms.join(name))
            .unwrap()
            .modified()
            .unwrap()
    };
    let scan = || {
        let settings = MetricSettings {
            k: Some(2),
            n_init: 1,
            ..MetricSettings::default()
        };
        let mut cfg = EngineConfig::new(root.path(), settings);
        cfg.watch = WatchChoice::Once;
        cfg.cache = CacheChoice::Dir(cache.path().to_path_buf());
        cfg.settle = Duration::from_millis(50);
        let handle = Engine::start(cfg).unwrap();
        let mut results: Vec<_> = handle
            .events()
            .iter()
            .filter_map(|ev| match ev {
                EngineEvent::Result(r) => Some(*r),
                _ => None,
            })
            .collect();
        results.sort_by_key(|r| r.key.step);
        results
    };
    let first = scan();
    assert_eq!(first.len(), 2, "{first:#?}");
    assert!(first[0].outcome.is_ok() && !first[0].cached);
    assert_eq!(first[0].modified, Some(mtime("1.npy")));
    assert!(first[1].outcome.is_err(), "the unreadable file");
    assert_eq!(first[1].modified, Some(mtime("2.npy")));
    // From the cache: the same file times.
    let again = scan();
    assert!(again[0].cached, "{again:#?}");
    assert_eq!(again[0].modified, Some(mtime("1.npy")));
}
