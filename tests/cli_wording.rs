//! Wording and flag checks of the CLI: messages a user reads must say what
//! to do, once, and flags that would silently do nothing are refused.

use std::process::{Command, Output};

fn sslwatch(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_sslwatch"))
        .args(args)
        .output()
        .expect("run sslwatch")
}

#[test]
fn report_poll_without_follow_is_refused_instead_of_ignored() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().to_str().unwrap();
    let out = sslwatch(&["report", root, "--poll=1", "--no-cache"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--poll") && err.contains("--follow"), "{err}");
}

#[test]
fn report_poll_before_root_takes_root_as_the_root_not_as_the_interval() {
    // `--poll ROOT`: the interval needs `=`, so ROOT stays the root (the
    // ROOT is missing here: the error must name it, not a float parse).
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("rd2");
    let out = sslwatch(&["report", "--poll", root.to_str().unwrap(), "--no-cache"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!err.contains("invalid value"), "{err}");
    assert!(err.contains("--follow"), "{err}");
    // `--poll=SECONDS` still sets the interval.
    let out = sslwatch(&["report", "--poll=x", dir.path().to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("invalid value 'x'"));
}

/// Only in builds without the trainer (the default one).
#[cfg(not(feature = "train"))]
#[test]
fn train_without_the_feature_does_not_say_sslwatch_twice() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("r");
    let out = sslwatch(&[
        "train",
        "--method",
        "simclr",
        "--out",
        run.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!err.contains("sslwatch: sslwatch"), "{err}");
    assert!(err.contains("--features train"), "{err}");
    assert!(!run.exists(), "nothing is written without a trainer");
}

#[test]
fn report_on_an_empty_root_leaves_no_cache_file_behind() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    let cache = dir.path().join("cache");
    std::fs::create_dir(&root).unwrap();
    let out = sslwatch(&[
        "report",
        root.to_str().unwrap(),
        "--cache-dir",
        cache.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("no milestones found"), "{err}");
    assert!(
        !cache.exists(),
        "a report that computed nothing wrote a cache"
    );
}
