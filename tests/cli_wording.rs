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

/// The subcommands `sslwatch --help` lists (all but `help`).
fn subcommands() -> Vec<String> {
    let out = sslwatch(&["--help"]);
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let list = text
        .split("Commands:\n")
        .nth(1)
        .unwrap_or_else(|| panic!("no command list in:\n{text}"));
    let names: Vec<String> = list
        .lines()
        .take_while(|l| !l.trim().is_empty())
        // A wrapped description continues on a line indented past the name.
        .filter(|l| l.starts_with("  ") && !l.starts_with("    "))
        .filter_map(|l| l.split_whitespace().next().map(str::to_string))
        .filter(|n| n != "help")
        .collect();
    assert!(names.iter().any(|n| n == "demo"), "{names:?}");
    names
}

#[test]
fn every_help_line_fits_in_100_columns_even_in_a_wide_terminal() {
    let mut pages = vec![vec!["--help".to_string()]];
    for sub in subcommands() {
        for flag in ["--help", "-h"] {
            pages.push(vec![sub.clone(), flag.to_string()]);
        }
    }
    for args in pages {
        let out = Command::new(env!("CARGO_BIN_EXE_sslwatch"))
            .args(&args)
            .env("COLUMNS", "300")
            .output()
            .expect("run sslwatch");
        assert_eq!(out.status.code(), Some(0), "{args:?}");
        let text = String::from_utf8_lossy(&out.stdout);
        for line in text.lines() {
            assert!(
                line.chars().count() <= 100,
                "sslwatch {}: a line of {} columns:\n{line}",
                args.join(" "),
                line.chars().count()
            );
        }
    }
}

fn json_lines(out: &Output) -> Vec<serde_json::Value> {
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect()
}

/// `report ROOT/run --format json` with `HOME` set to `home`: its results.
fn report_run(run: &std::path::Path, home: &std::path::Path) -> (Vec<serde_json::Value>, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_sslwatch"))
        .args(["report", run.to_str().unwrap(), "--format", "json"])
        .args(["--no-cache", "--k", "2", "--n-init", "1"])
        .env("HOME", home)
        .output()
        .expect("run sslwatch");
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(0), "{err}");
    let results = json_lines(&out)
        .into_iter()
        .filter(|v| v.get("status").is_some())
        .collect();
    (results, err)
}

/// ROOT/labels.npy and ROOT/<run>/milestones/1.npy (40 rows, two clusters).
fn labelled_tree(root: &std::path::Path, run: &str) -> std::path::PathBuf {
    use sslwatch::read::write::{npy_bytes_f32, npy_bytes_i64, write_atomic};
    let labels: Vec<i64> = (0..40).map(|i| i % 2).collect();
    write_atomic(&root.join("labels.npy"), &npy_bytes_i64(&labels)).unwrap();
    let x = ndarray::Array2::from_shape_fn((40, 8), |(i, j)| {
        (i % 2) as f32 * 4.0 + ((i * 7 + j * 3) % 11) as f32 / 11.0
    });
    let dir = root.join(run);
    write_atomic(&dir.join("milestones/1.npy"), &npy_bytes_f32(x.view())).unwrap();
    dir
}

#[test]
fn report_of_one_run_uses_the_labels_npy_of_its_tree_and_says_which() {
    let dir = tempfile::tempdir().unwrap();
    let tree = dir.path().join("tree");
    let run = labelled_tree(&tree, "run");
    let (results, err) = report_run(&run, &dir.path().join("elsewhere"));
    assert_eq!(results.len(), 1, "{results:?}\n{err}");
    for key in ["ami_labels", "probe_acc", "knn_acc"] {
        assert!(
            results[0][key].is_number(),
            "{key}: {:?}\n{err}",
            results[0]
        );
    }
    let used = tree.join("labels.npy");
    let said = format!("{}: labels.npy above ROOT", used.display());
    assert_eq!(err.matches(&said).count(), 1, "{err}");
}

#[test]
fn labels_above_a_git_checkout_or_the_home_directory_are_not_the_runs() {
    let dir = tempfile::tempdir().unwrap();
    // T/labels.npy above T/proj (a git checkout) holding the run.
    let proj = dir.path().join("proj");
    std::fs::create_dir_all(proj.join(".git")).unwrap();
    let run = labelled_tree(dir.path(), "proj/runs/r");
    let (results, err) = report_run(&run, &dir.path().join("elsewhere"));
    assert_eq!(results.len(), 1, "{results:?}\n{err}");
    assert!(results[0]["ami_labels"].is_null(), "{:?}", results[0]);
    assert!(!err.contains("labels.npy above ROOT"), "{err}");
    // The same without .git: found.
    std::fs::remove_dir(proj.join(".git")).unwrap();
    let (results, _) = report_run(&run, &dir.path().join("elsewhere"));
    assert!(results[0]["ami_labels"].is_number(), "{:?}", results[0]);
    // HOME between the run and the labels: not found.
    let (results, err) = report_run(&run, &proj);
    assert!(results[0]["ami_labels"].is_null(), "{:?}", results[0]);
    assert!(!err.contains("labels.npy above ROOT"), "{err}");
}
