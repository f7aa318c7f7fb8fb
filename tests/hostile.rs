//! Hostile or unlucky files and directories, as a training box really has
//! them (issue 9): each test drives the real binary on a temporary root and
//! checks what a user would see. Waits are for conditions, with deadlines.

mod common;
use common::live::*;

use ndarray::Array2;
use serde_json::Value;
use sslwatch::read::write::npy_bytes_f32;
use std::io::Write;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant, SystemTime};

fn sslwatch(args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run sslwatch")
}

fn p(path: &Path) -> &str {
    path.to_str().expect("utf-8 temp path")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// The result lines of a JSON report (summary lines left out).
fn json_lines(o: &Output) -> Vec<Value> {
    String::from_utf8_lossy(&o.stdout)
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .filter(|v| v.get("summary").is_none() && v.get("event").is_none())
        .collect()
}

/// `sslwatch report ROOT --format json` with the fast metric settings and `extra`.
fn report_json(root: &Path, extra: &[&str]) -> Output {
    let mut args = vec!["report", p(root), "--format", "json"];
    args.extend(extra);
    args.extend(FAST);
    sslwatch(&args)
}

/// An `.npz` of `entries`, written with the zip crate (deflated).
fn npz(entries: &[(&str, Array2<f32>)]) -> Vec<u8> {
    let mut z = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let opts = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated)
        .large_file(true);
    for (name, m) in entries {
        z.start_file(format!("{name}.npy"), opts).unwrap();
        z.write_all(&npy_bytes_f32(m.view())).unwrap();
    }
    z.finish().unwrap().into_inner()
}

// ---------------------------------------------------------------- memory

#[test]
fn a_small_archive_claiming_a_huge_array_is_refused_by_the_budget() {
    let dir = tempfile::tempdir().unwrap();
    // 8,000 x 2,048 zeros: 62.5 MiB decoded from a ~60 KiB file.
    let bomb = dir.path().join("bomb.npz");
    std::fs::write(&bomb, npz(&[("h", Array2::zeros((8000, 2048)))])).unwrap();
    assert!(std::fs::metadata(&bomb).unwrap().len() < 1 << 20);
    let out = sslwatch(&["metrics", p(&bomb), "--max-memory", "32M"]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains(p(&bomb)) && err.contains("layer h"), "{err}");
    assert!(
        err.contains("8000 x 2048") && err.contains("62 MiB array"),
        "{err}"
    );
    assert!(err.contains("over the memory budget of 32 MiB"), "{err}");

    // In a watched root the bomb is one error and the other run is reported.
    let root = dir.path().join("root");
    put(
        &run_dir(&root, "bomb").join("1.npz"),
        &std::fs::read(&bomb).unwrap(),
    );
    put(&run_dir(&root, "ok").join("1.npy"), &npy(40, 1));
    let out = report_json(&root, &["--no-cache", "--max-memory", "32M"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let lines = json_lines(&out);
    assert!(has_ok(&lines, "ok", 1), "{lines:#?}");
    let bad = results(&lines, "bomb", 1);
    assert_eq!(bad.len(), 1, "{lines:#?}");
    assert!(
        bad[0]["error"].as_str().unwrap().contains("memory budget"),
        "{bad:?}"
    );
}

#[test]
fn numeric_flags_out_of_range_exit_2_with_the_range() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("e.npy");
    put(&f, &npy(40, 1));
    for (flag, value, range) in [
        ("--entropy-bins", "4294967296", ""),
        ("--entropy-bins", "100000000", "between 2 and 1024"),
        ("--k", "0", "between 1 and 10000"),
        ("--n-init", "1000", "between 1 and 100"),
        ("--silhouette-sample", "1", "between 2 and 200000"),
        ("--max-memory", "1K", "between 16 MiB and"),
        ("--max-memory", "lots", "not a size"),
    ] {
        let out = sslwatch(&["metrics", p(&f), flag, value]);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{flag} {value}: {err}");
        assert!(err.contains(range), "{flag} {value}: {err}");
        assert!(!err.contains("panicked"), "{err}");
    }
    for (flag, value) in [
        ("--settle", "-1"),
        ("--settle", "nan"),
        ("--stall-warn", "0"),
    ] {
        let out = sslwatch(&["report", p(dir.path()), flag, value, "--no-cache"]);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{flag} {value}: {err}");
        assert!(err.contains("must be between"), "{err}");
    }
}

#[test]
fn the_budget_and_its_default_are_in_the_help() {
    let out = sslwatch(&["report", "--help"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("--max-memory <SIZE>"), "{text}");
    assert!(
        text.contains("smaller of 2 GiB and a quarter of physical memory"),
        "{text}"
    );
    assert!(text.contains("--settle <SECONDS>"), "{text}");
}

#[test]
fn cache_records_stay_small_for_a_file_of_many_layers_and_too_many_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    let layers: Vec<(String, Array2<f32>)> = (0..400)
        .map(|i| (format!("layer{i:03}"), matrix(20, i)))
        .collect();
    let entries: Vec<(&str, Array2<f32>)> = layers
        .iter()
        .map(|(n, m)| (n.as_str(), m.clone()))
        .collect();
    put(&run_dir(&root, "wide").join("1.npz"), &npz(&entries));
    let cache = dir.path().join("cache");
    let out = report_json(&root, &["--cache-dir", p(&cache)]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(json_lines(&out).len(), 400);
    let size: u64 = std::fs::read_dir(&cache)
        .unwrap()
        .map(|e| e.unwrap().metadata().unwrap().len())
        .sum();
    // One record is well under 2 KB whatever the file's layer count; the
    // old records repeated all 400 names (about 4 KB more each).
    assert!(size < 400 * 2000, "cache is {size} bytes for 400 layers");

    let many: Vec<(String, Array2<f32>)> = (0..600)
        .map(|i| (format!("l{i}"), Array2::zeros((2, 2))))
        .collect();
    let entries: Vec<(&str, Array2<f32>)> =
        many.iter().map(|(n, m)| (n.as_str(), m.clone())).collect();
    let f = dir.path().join("many.npz");
    std::fs::write(&f, npz(&entries)).unwrap();
    let out = sslwatch(&["metrics", p(&f)]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("600 arrays, more than the 512 accepted"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn a_new_small_milestone_is_reported_while_a_big_one_computes() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    // A big milestone (seconds of work) and a small one, in two runs.
    let big = Array2::from_shape_fn((16_000, 256), |(i, j)| {
        ((i * 31 + j * 7) % 97) as f32 + (i % 3) as f32 * 50.0
    });
    put(
        &run_dir(&root, "a-big").join("1.npy"),
        &npy_bytes_f32(big.view()),
    );
    put(&run_dir(&root, "b-small").join("1.npy"), &npy(400, 3));
    let mut p = follow(&root, &[]);
    p.until("both results", |l| {
        has_ok(l, "a-big", 1) && has_ok(l, "b-small", 1)
    });
    let at = |run: &str| p.seen.iter().position(|v| v["run"] == run).unwrap();
    assert!(
        at("b-small") < at("a-big"),
        "the small milestone waited for the big one: {:#?}",
        p.seen
    );
}

// ------------------------------------------------------- stale or wrong

/// Set a file's modification time back to `t` (as `cp -p`, `rsync -t`,
/// `os.utime` do).
fn set_mtime(path: &Path, t: SystemTime) {
    std::fs::File::options()
        .write(true)
        .open(path)
        .unwrap()
        .set_modified(t)
        .unwrap();
}

#[test]
fn same_size_content_with_the_old_mtime_is_recomputed_live_and_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    let cache = dir.path().join("cache");
    let file = run_dir(&root, "r").join("1.npy");
    put(&file, &npy(60, 1));
    let mtime = std::fs::metadata(&file).unwrap().modified().unwrap();
    let report = |cache: &Path| {
        let out = report_json(&root, &["--cache-dir", p(cache)]);
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        json_lines(&out)[0].clone()
    };
    let first = report(&cache);
    // Other content of the same size, written in place, mtime restored.
    let other = npy(60, 2);
    assert_eq!(other.len() as u64, std::fs::metadata(&file).unwrap().len());
    std::fs::OpenOptions::new()
        .write(true)
        .open(&file)
        .unwrap()
        .write_all_at(&other, 0)
        .unwrap();
    set_mtime(&file, mtime);
    let second = report(&cache);
    assert_eq!(second["cached"], false, "served from the cache: {second}");
    assert_ne!(first["entropy_bits"], second["entropy_bits"]);

    // Live: the follower notices and replaces the result.
    let mut args = vec![
        "report",
        p(&root),
        "--follow",
        "--format",
        "json",
        "--cache-dir",
        p(&cache),
    ];
    args.extend(FAST);
    let mut f = Proc::start(&args);
    f.until("the cached result", |l| has_ok(l, "r", 1));
    let third = npy(60, 3);
    std::fs::OpenOptions::new()
        .write(true)
        .open(&file)
        .unwrap()
        .write_all_at(&third, 0)
        .unwrap();
    set_mtime(&file, mtime);
    f.until("a changed event and a new result", |l| {
        l.iter().any(|v| v["event"] == "changed") && results(l, "r", 1).len() >= 2
    });
    let last = results(&f.seen, "r", 1).last().copied().cloned().unwrap();
    assert_eq!(last["cached"], false);
    assert_ne!(last["entropy_bits"], second["entropy_bits"]);
}

#[test]
fn a_file_created_full_size_then_filled_is_never_shown_before_it_is_final() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    let file = run_dir(&root, "r").join("1.npy");
    let fin = matrix(300, 7);
    let bytes = npy_bytes_f32(fin.view());
    let header = bytes.len() - 300 * 8 * 4;
    // The way np.lib.format.open_memmap writes: header and zeros first...
    let mut zeros = bytes.clone();
    zeros[header..].fill(0);
    std::fs::write(&file, &zeros).unwrap();
    let mut f = follow(&root, &[]);
    // ... then the rows, in 30 chunks over 3 s, in place.
    let out = std::fs::OpenOptions::new().write(true).open(&file).unwrap();
    let chunk = (bytes.len() - header) / 30;
    for i in 0..30 {
        let a = header + i * chunk;
        let b = if i == 29 { bytes.len() } else { a + chunk };
        out.write_all_at(&bytes[a..b], a as u64).unwrap();
        std::thread::sleep(Duration::from_millis(100));
    }
    drop(out);
    f.until("the final result", |l| has_ok(l, "r", 1));
    // The final file's own values, computed on their own.
    let solo = dir.path().join("final.npy");
    put(&solo, &bytes);
    let mut args = vec!["metrics", p(&solo), "--json"];
    args.extend(FAST);
    let want = json_lines(&sslwatch(&args))[0].clone();
    // Wait past another settle interval: nothing else may arrive.
    std::thread::sleep(Duration::from_secs(2));
    while let Ok(line) = f.lines.try_recv() {
        f.seen.push(serde_json::from_str(&line).unwrap());
    }
    for r in results(&f.seen, "r", 1) {
        assert_eq!(r["status"], "ok", "{r}");
        assert_eq!(
            r["silhouette"], want["silhouette"],
            "a value that is not the final one: {r}"
        );
        assert_eq!(r["entropy_bits"], want["entropy_bits"], "{r}");
    }
}

#[test]
fn float64_beyond_float32_range_gives_the_same_metrics() {
    let dir = tempfile::tempdir().unwrap();
    let x = matrix(60, 5);
    let f64_npy = |scale: f64| {
        let mut bytes = npy_bytes_f32(x.view());
        let header = bytes.len() - x.len() * 4;
        bytes.truncate(header);
        // Same header length: '<f4' and '<f8' have the same width.
        let at = bytes.windows(3).position(|w| w == b"<f4").unwrap();
        bytes[at + 2] = b'8';
        for v in x.iter() {
            bytes.extend_from_slice(&(f64::from(*v) * scale).to_le_bytes());
        }
        bytes
    };
    let run = |name: &str, bytes: Vec<u8>| {
        let path = dir.path().join(name);
        std::fs::write(&path, bytes).unwrap();
        let mut args = vec!["metrics", p(&path), "--json"];
        args.extend(FAST);
        let out = sslwatch(&args);
        assert_eq!(out.status.code(), Some(0), "{name}: {}", stderr(&out));
        json_lines(&out)[0].clone()
    };
    let base = run("x.npy", f64_npy(1.0));
    for (name, scale) in [("big.npy", 1e300), ("tiny.npy", 1e-300)] {
        let got = run(name, f64_npy(scale));
        for key in ["silhouette", "ami_agreement", "entropy_bits", "rankme"] {
            let (a, b) = (base[key].as_f64().unwrap(), got[key].as_f64().unwrap());
            assert!(
                (a - b).abs() <= 1e-6 * a.abs().max(1.0),
                "{name} {key}: {a} vs {b}"
            );
        }
    }
}

// ----------------------------------------------- files and directories

#[test]
fn a_symlink_loop_is_visited_once_and_said_once() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    put(&run_dir(&root, "a/r1").join("1.npy"), &npy(40, 1));
    std::os::unix::fs::symlink(".", root.join("self")).unwrap();
    std::os::unix::fs::symlink("..", root.join("a/up")).unwrap();
    let out = report_json(&root, &["--no-cache"]);
    let err = stderr(&out);
    let lines = json_lines(&out);
    assert_eq!(lines.len(), 1, "{lines:#?}");
    assert_eq!(lines[0]["run"], "a/r1");
    assert_eq!(err.matches("already visited").count(), 2, "{err}");
}

#[test]
fn several_files_for_one_step_and_runs_too_deep_are_said() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    let m = run_dir(&root, "r");
    put(&m.join("1.npy"), &npy(40, 1));
    std::fs::create_dir_all(m.join("epoch_1")).unwrap();
    put(&m.join("epoch_1/emb.npy"), &npy(40, 2));
    put(&m.join("X.npy.tmp.npy"), &npy(40, 3));
    let deep = root.join("d1/d2/d3/d4/d5/d6/deep");
    put(&run_dir(&deep, ".").join("1.npy"), &npy(40, 4));
    let out = report_json(&root, &["--no-cache"]);
    let err = stderr(&out);
    let lines = json_lines(&out);
    assert_eq!(lines.len(), 1, "{lines:#?}\n{err}");
    assert!(
        err.contains("step 1 is written by several files") && err.contains("epoch_1"),
        "{err}"
    );
    assert!(err.contains("deeper than 6 levels"), "{err}");
    assert!(
        !err.contains("X.npy.tmp"),
        "a temporary file is not a milestone: {err}"
    );
}

#[test]
fn a_run_whose_milestones_cannot_be_listed_is_said() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    put(&run_dir(&root, "ok").join("1.npy"), &npy(40, 1));
    let locked = run_dir(&root, "locked");
    put(&locked.join("1.npy"), &npy(40, 2));
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&locked, std::fs::Permissions::from_mode(0o000)).unwrap();
    for p in [dir.path(), root.as_path()] {
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    // Root reads every directory: run the binary as nobody when we are root.
    // SAFETY: geteuid has no preconditions.
    let as_root = unsafe { libc::geteuid() } == 0;
    let mut cmd = if as_root {
        let mut c = Command::new("setpriv");
        c.args(["--reuid=65534", "--regid=65534", "--clear-groups", BIN]);
        c
    } else {
        Command::new(BIN)
    };
    let out = cmd
        .args([
            "report",
            p(&root),
            "--format",
            "json",
            "--no-cache",
            "--k",
            "2",
            "--n-init",
            "1",
        ])
        .output()
        .expect("run sslwatch");
    std::fs::set_permissions(&locked, std::fs::Permissions::from_mode(0o755)).unwrap();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(has_ok(&json_lines(&out), "ok", 1));
    assert!(
        err.contains("cannot list this run's milestones") && err.contains("locked"),
        "{err}"
    );
}

#[test]
fn a_re_created_root_is_watched_again_within_seconds() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    put(&run_dir(&root, "r").join("1.npy"), &npy(40, 1));
    let mut f = follow(&root, &[]);
    f.until("the first result", |l| has_ok(l, "r", 1));
    std::fs::remove_dir_all(&root).unwrap();
    f.until_stderr("ROOT disappeared");
    let started = Instant::now();
    std::fs::create_dir(&root).unwrap();
    put(&run_dir(&root, "new").join("1.npy"), &npy(40, 2));
    f.until("the new run's result", |l| has_ok(l, "new", 1));
    // The old code waited for its 30-second re-scan.
    assert!(
        started.elapsed() < Duration::from_secs(25),
        "{:?}",
        started.elapsed()
    );
    assert!(f.stderr().contains("ROOT was re-created"), "{}", f.stderr());
}

#[test]
fn a_file_left_truncated_is_said_after_a_while() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    let bytes = npy(40, 1);
    put(
        &run_dir(&root, "r").join("1.npy"),
        &bytes[..bytes.len() - 100],
    );
    let f = follow(&root, &["--stall-warn", "2"]);
    f.until_stderr("incomplete for");
    assert!(f.stderr().contains("1.npy"), "{}", f.stderr());
}

#[test]
fn a_fifo_or_a_directory_is_refused_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("p.npy");
    let c = std::ffi::CString::new(p(&fifo)).unwrap();
    // SAFETY: a valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o644) }, 0);
    let mut child = Command::new(BIN)
        .args(["metrics", p(&fifo)])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let end = Instant::now() + DEADLINE;
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if Instant::now() > end {
            let _ = child.kill();
            panic!("sslwatch metrics blocked on a FIFO");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut err = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err).unwrap();
    assert_eq!(status.code(), Some(2), "{err}");
    assert!(err.contains("is a FIFO, not a regular file"), "{err}");
    let out = sslwatch(&["metrics", p(dir.path())]);
    assert!(stderr(&out).contains("is a directory"), "{}", stderr(&out));
    let out = sslwatch(&["metrics", p(&dir.path().join("missing.npy"))]);
    assert_eq!(
        stderr(&out).matches("No such file or directory").count(),
        1,
        "{}",
        stderr(&out)
    );
}

#[test]
fn an_unusable_cache_is_one_warning_and_results_still_come() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    put(&run_dir(&root, "r").join("1.npy"), &npy(40, 1));
    let cache = dir.path().join("cache");
    let report = || report_json(&root, &["--cache-dir", p(&cache)]);
    // Find the cache file's name with a first run, then break it.
    assert_eq!(report().status.code(), Some(0));
    let file = std::fs::read_dir(&cache)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    // A full disk: the cache file leads to /dev/full (writes fail with
    // ENOSPC, reads never end).
    std::fs::remove_file(&file).unwrap();
    std::os::unix::fs::symlink("/dev/full", &file).unwrap();
    let out = report();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(has_ok(&json_lines(&out), "r", 1));
    assert_eq!(err.matches("cache:").count(), 1, "{err}");
    // A torn last line, as a crash leaves it: no warning, still works.
    std::fs::remove_file(&file).unwrap();
    std::fs::write(&file, b"{\"v\":2,\"run\":\"r\",\"st").unwrap();
    let out = report();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(has_ok(&json_lines(&out), "r", 1));
    // The cache path is a directory.
    std::fs::remove_file(&file).unwrap();
    std::fs::create_dir(&file).unwrap();
    let out = report();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("the cache file is a directory"),
        "{}",
        stderr(&out)
    );
}
