//! The live engine as a user sees it: `sslwatch report` (with and without
//! `--follow`) on temporary roots that change while it runs. Every wait is
//! for a condition with a generous deadline; nothing passes or fails on timing.

use ndarray::Array2;
use serde_json::Value;
use sslwatch::read::write::{npy_bytes_f32, npy_bytes_i64};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

mod common;
use common::live::*;

#[test]
fn a_slowly_written_milestone_is_reported_once_and_only_when_complete() {
    let root = tempfile::tempdir().unwrap();
    let ms = run_dir(root.path(), "r");
    put(&root.path().join("labels.npy"), &labels(40));
    let mut p = follow(root.path(), &[]);
    p.until_stderr("caught up");

    // Written in place, in chunks, the way a plain np.save over a slow
    // network filesystem looks to a reader.
    let bytes = npy(40, 1);
    let path = ms.join("epoch_0010.npy");
    let mut f = std::fs::File::create(&path).unwrap();
    for chunk in bytes.chunks(bytes.len() / 5 + 1) {
        f.write_all(chunk).unwrap();
        f.flush().unwrap();
        std::thread::sleep(Duration::from_millis(150));
        // Nothing about step 10 may appear while it is incomplete.
        if let Ok(line) = p.lines.try_recv() {
            panic!("reported before complete: {line}");
        }
    }
    drop(f);
    p.until("step 10", |l| has_ok(l, "r", 10));
    // A later milestone proves the first one was not computed again meanwhile.
    put(&ms.join("epoch_0020.npy"), &npy(40, 2));
    p.until("step 20", |l| has_ok(l, "r", 20));
    let r10 = results(&p.seen, "r", 10);
    assert_eq!(r10.len(), 1, "{:#?}", p.seen);
    assert_eq!(r10[0]["layer"], "emb");
    assert_eq!(r10[0]["n"], 40);
    assert!(
        r10[0]["probe_acc"].is_number(),
        "labels from ROOT/labels.npy apply"
    );
    assert!(!p.stderr().contains("warning"), "{}", p.stderr());
}

#[test]
fn a_truncated_file_stays_pending_without_an_error() {
    let root = tempfile::tempdir().unwrap();
    let ms = run_dir(root.path(), "r");
    let bytes = npy(40, 1);
    put(&ms.join("10.npy"), &bytes[..bytes.len() - 100]);
    let mut p = follow(root.path(), &[]);
    put(&ms.join("20.npy"), &npy(40, 2));
    p.until("step 20", |l| has_ok(l, "r", 20));
    put(&ms.join("30.npy"), &npy(40, 3));
    p.until("step 30", |l| has_ok(l, "r", 30));
    assert!(results(&p.seen, "r", 10).is_empty(), "{:#?}", p.seen);
    let err = p.stderr();
    assert!(
        !err.contains("10.npy"),
        "no warning or error about the pending file:\n{err}"
    );

    // Without --follow it is named as still being written, not as an error.
    let out = Command::new(BIN)
        .args([
            "report",
            root.path().to_str().unwrap(),
            "--format",
            "json",
            "--no-cache",
        ])
        .args(FAST)
        .output()
        .unwrap();
    assert!(out.status.success());
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(!stdout.contains("\"error\""), "{stdout}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("10.npy") && stderr.contains("still being written"),
        "{stderr}"
    );
}

#[test]
fn a_corrupt_file_is_one_error_line_and_watching_goes_on() {
    let root = tempfile::tempdir().unwrap();
    let ms = run_dir(root.path(), "r");
    let mut p = follow(root.path(), &[]);
    put(
        &ms.join("10.npy"),
        b"this is not an npy file at all, but it is long enough to look at",
    );
    p.until("the error", |l| !results(l, "r", 10).is_empty());
    put(&ms.join("20.npy"), &npy(40, 2));
    p.until("step 20", |l| has_ok(l, "r", 20));
    let r10 = results(&p.seen, "r", 10);
    assert_eq!(r10.len(), 1, "{:#?}", p.seen);
    assert_eq!(r10[0]["status"], "error");
    assert!(
        r10[0]["error"].as_str().unwrap().contains("10.npy"),
        "{}",
        r10[0]
    );

    // Replaced by a good file: recomputed.
    put(&ms.join("10.npy"), &npy(30, 5));
    p.until("the replacement", |l| has_ok(l, "r", 10));
    let last = results(&p.seen, "r", 10).pop().unwrap().clone();
    assert_eq!(last["n"], 30);
    let (status, _) = p.interrupt();
    assert!(status.success());
}

#[test]
fn a_thousand_files_created_at_once_are_all_reported() {
    let root = tempfile::tempdir().unwrap();
    let mut p = follow(root.path(), &[]);
    p.until_stderr("caught up");
    let bytes = npy(40, 1);
    for run in 0..10 {
        let ms = run_dir(root.path(), &format!("run{run}"));
        for step in 0..100 {
            std::fs::write(ms.join(format!("{step}.npy")), &bytes).unwrap();
        }
    }
    let count = |l: &[Value]| {
        l.iter()
            .filter(|v| v["status"] == "ok")
            .map(|v| (v["run"].to_string(), v["step"].as_u64()))
            .collect::<std::collections::HashSet<_>>()
            .len()
    };
    p.until("1000 results", |l| count(l) == 1000);
    assert_eq!(p.seen.iter().filter(|v| v["status"] == "error").count(), 0);
}

#[test]
fn a_deleted_run_and_milestone_disappear() {
    let root = tempfile::tempdir().unwrap();
    let a = run_dir(root.path(), "group/a");
    let b = run_dir(root.path(), "b");
    put(&a.join("1.npy"), &npy(40, 1));
    put(&b.join("1.npy"), &npy(40, 2));
    put(&b.join("2.npy"), &npy(40, 3));
    let mut p = follow(root.path(), &[]);
    p.until("both runs", |l| {
        has_ok(l, "group/a", 1) && has_ok(l, "b", 2)
    });
    std::fs::remove_dir_all(root.path().join("group/a")).unwrap();
    p.until("run_removed", |l| {
        l.iter()
            .any(|v| v["event"] == "run_removed" && v["run"] == "group/a")
    });
    std::fs::remove_file(b.join("2.npy")).unwrap();
    p.until("milestone_removed", |l| {
        l.iter()
            .any(|v| v["event"] == "milestone_removed" && v["run"] == "b" && v["step"] == 2)
    });
}

#[test]
fn table_follow_reports_removals_on_stderr() {
    let root = tempfile::tempdir().unwrap();
    let a = run_dir(root.path(), "a");
    let b = run_dir(root.path(), "b");
    put(&a.join("1.npy"), &npy(40, 1));
    put(&b.join("1.npy"), &npy(40, 2));
    put(&b.join("2.npy"), &npy(40, 3));
    let mut args = vec![
        "report",
        root.path().to_str().unwrap(),
        "--follow",
        "--no-cache",
    ];
    args.extend(FAST);
    let p = Proc::start(&args);
    p.until_stderr("caught up");
    std::fs::remove_file(b.join("2.npy")).unwrap();
    p.until_stderr("run b: milestone 2 removed");
    std::fs::remove_dir_all(root.path().join("a")).unwrap();
    p.until_stderr("run a removed");
}

#[test]
fn a_restart_loads_everything_from_the_cache_and_never_writes_into_root() {
    let root = tempfile::tempdir().unwrap();
    let cache = tempfile::tempdir().unwrap();
    let ms = run_dir(root.path(), "r");
    for step in 0..5 {
        put(&ms.join(format!("{step}.npy")), &npy(40, step));
    }
    put(&root.path().join("labels.npy"), &labels(40));
    let listing = |p: &Path| {
        let mut v: Vec<(PathBuf, u64)> = walk(p);
        v.sort();
        v
    };
    let before = listing(root.path());
    let report = || {
        let args = [
            "report",
            root.path().to_str().unwrap(),
            "--format",
            "json",
            "--cache-dir",
            cache.path().to_str().unwrap(),
        ];
        let out = sslwatch_ok(args.iter().chain(&FAST));
        let lines: Vec<Value> = String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        (lines, String::from_utf8_lossy(&out.stderr).into_owned())
    };
    let (first, err1) = report();
    let rows: Vec<&Value> = first.iter().filter(|v| v["status"] == "ok").collect();
    assert_eq!(rows.len(), 5);
    assert!(rows.iter().all(|v| v["cached"] == false));
    assert!(err1.contains("computed 5, cached 0"), "{err1}");
    let summary: Vec<&Value> = first.iter().filter(|v| v["event"] == "summary").collect();
    assert_eq!(summary.len(), 1);
    assert_eq!(summary[0]["probe_source"], "own");

    let (second, err2) = report();
    let rows2: Vec<&Value> = second.iter().filter(|v| v["status"] == "ok").collect();
    assert_eq!(rows2.len(), 5);
    assert!(rows2.iter().all(|v| v["cached"] == true), "{rows2:#?}");
    assert!(err2.contains("computed 0, cached 5"), "{err2}");
    for (a, b) in rows.iter().zip(&rows2) {
        assert_eq!(a["silhouette"], b["silhouette"]);
    }
    // Other settings are other results.
    let out = Command::new(BIN)
        .args([
            "report",
            root.path().to_str().unwrap(),
            "--format",
            "json",
            "--k",
            "3",
        ])
        .args(["--cache-dir", cache.path().to_str().unwrap()])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stderr).contains("computed 5, cached 0"));
    assert_eq!(listing(root.path()), before, "ROOT must not change");

    // The cache may not live inside ROOT.
    let inside = root.path().join("cache");
    let out = Command::new(BIN)
        .args([
            "report",
            root.path().to_str().unwrap(),
            "--cache-dir",
            inside.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("inside ROOT"));
}

fn walk(p: &Path) -> Vec<(PathBuf, u64)> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(p).unwrap().flatten() {
        let m = e.metadata().unwrap();
        if m.is_dir() {
            out.extend(walk(&e.path()));
        } else {
            out.push((e.path(), m.len()));
        }
    }
    out
}

#[test]
fn forced_polling_sees_new_files() {
    let root = tempfile::tempdir().unwrap();
    let ms = run_dir(root.path(), "r");
    let mut p = follow(root.path(), &["--poll=0.2"]);
    p.until_stderr("polling every 0.2 s (--poll)");
    put(&ms.join("epoch_0007.npy"), &npy(40, 1));
    p.until("step 7", |l| has_ok(l, "r", 7));
}

#[test]
fn ctrl_c_ends_follow_with_exit_code_zero() {
    let root = tempfile::tempdir().unwrap();
    let ms = run_dir(root.path(), "r");
    put(&ms.join("1.npy"), &npy(40, 1));
    let mut p = follow(root.path(), &[]);
    p.until("step 1", |l| has_ok(l, "r", 1));
    let (status, err) = p.interrupt();
    assert!(status.success(), "{status:?}\n{err}");
    assert!(err.contains("stopped"), "{err}");
}

#[test]
fn report_prints_a_table_and_summary_and_rejects_a_missing_root() {
    let root = tempfile::tempdir().unwrap();
    let ms = run_dir(root.path(), "r");
    for step in 0..6 {
        put(
            &ms.join(format!("step{step}")).join("h.npy"),
            &npy(40, step),
        );
    }
    std::fs::write(
        root.path().join("r/scalars.jsonl"),
        "{\"step\":0,\"probe_acc\":0.1}\nnot json\n{\"step\":1,\"probe_acc\":0.2}\n{\"st",
    )
    .unwrap();
    std::fs::write(root.path().join("r/run.json"), "{\"method\":\"simclr\"}").unwrap();
    let out = Command::new(BIN)
        .args(["report", root.path().to_str().unwrap(), "--no-cache"])
        .args(FAST)
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("Summary"), "{text}");
    assert!(
        text.contains("probe: trainer (scalars.jsonl probe_acc at 2 of 6 milestones)"),
        "{text}"
    );
    assert_eq!(
        text.lines().filter(|l| l.starts_with("r ")).count(),
        6,
        "{text}"
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("scalars.jsonl") && err.contains("skipped"),
        "{err}"
    );

    let out = Command::new(BIN)
        .args(["report", root.path().join("nope").to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn labels_of_the_wrong_length_skip_only_the_labelled_metrics() {
    let root = tempfile::tempdir().unwrap();
    let ms = run_dir(root.path(), "r");
    put(&root.path().join("r/labels.npy"), &labels(30));
    put(&ms.join("1.npy"), &npy(40, 1));
    let out = Command::new(BIN)
        .args([
            "report",
            root.path().to_str().unwrap(),
            "--format",
            "json",
            "--no-cache",
        ])
        .args(FAST)
        .output()
        .unwrap();
    assert!(out.status.success());
    let line: Value = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .find(|v| v["status"] == "ok")
        .expect("a result");
    assert!(line["probe_acc"].is_null());
    assert!(line["silhouette"].is_number());
    assert!(
        line["warnings"][0].as_str().unwrap().contains("labels"),
        "{line}"
    );
}

/// Resident and peak memory of a process, in KiB (Linux).
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn rss_and_peak_kib(pid: u32) -> (u64, u64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let field = |name: &str| -> u64 {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("no {name} in /proc/{pid}/status"))
    };
    (field("VmRSS:"), field("VmHWM:"))
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[test]
fn a_follower_gives_a_milestones_memory_back_once_it_is_done() {
    // 10,000 x 512 f32 (20 MiB) with labels: the metrics (probe and kNN
    // included) allocate several copies of it while they run.
    let (rows, dim) = (10_000, 512);
    let mut s = 7u64;
    let x = Array2::from_shape_fn((rows, dim), |(i, _)| {
        s = s
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (i % 4) as f32 + ((s >> 40) as f32 / (1u64 << 24) as f32)
    });
    let root = tempfile::tempdir().unwrap();
    put(
        &root.path().join("labels.npy"),
        &npy_bytes_i64(&(0..rows as i64).map(|i| i % 4).collect::<Vec<_>>()),
    );
    let dir = run_dir(root.path(), "big");
    // The default metric settings, not the tiny ones of the other tests.
    let mut p = Proc::start(&[
        "report",
        root.path().to_str().unwrap(),
        "--follow",
        "--format",
        "json",
        "--no-cache",
    ]);
    p.until_stderr("caught up");
    // What the follower holds before any milestone: its code, the tree
    // cache, the thread stacks.
    let (base, _) = rss_and_peak_kib(p.child.id());
    // Two milestones, computed side by side as the engine does, each
    // renamed into place complete.
    for name in ["epoch_0001.npy", "epoch_0002.npy"] {
        let tmp = root.path().join(format!("{name}.part"));
        put(&tmp, &npy_bytes_f32(x.view()));
        std::fs::rename(&tmp, dir.join(name)).unwrap();
    }
    p.until("both results", |l| {
        has_ok(l, "big", 1) && has_ok(l, "big", 2)
    });
    // Idle again, the follower keeps its metric values, not the buffers
    // that produced them: at most a quarter of what computing added stays
    // resident once it is given back (measured about 7 of 62 MiB; 23 of
    // 79 MiB without the release, more with glibc's per-thread arenas).
    let end = Instant::now() + Duration::from_secs(10);
    loop {
        let (rss, peak) = rss_and_peak_kib(p.child.id());
        let kept = rss.saturating_sub(base);
        let added = peak.saturating_sub(base);
        if added > 0 && kept * 4 < added {
            break;
        }
        assert!(
            Instant::now() < end,
            "resident {rss} KiB once both milestones are done (before them {base}, peak {peak} KiB)"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}
