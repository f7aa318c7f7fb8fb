//! `sslwatch study --no-train` on small synthetic runs (no training in
//! tests; CI runs a minimal real study through scripts/ci-train.sh).

mod common;

use common::live::{put, BIN};
use ndarray::Array2;
use sslwatch::read::write::{npy_bytes_f32, npy_bytes_i64};
use std::path::Path;
use std::process::Command;

const ROWS: usize = 120;
const CLASSES: usize = 4;

/// ROWS x 6 points in CLASSES clusters whose separation is `sep`, plus noise.
fn clusters(sep: f32, seed: u64) -> Array2<f32> {
    let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    Array2::from_shape_fn((ROWS, 6), |(i, j)| {
        s = s
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let noise = ((s >> 40) as f32 / (1u64 << 24) as f32) - 0.5;
        let centre = if j == i % CLASSES { sep } else { 0.0 };
        centre + noise
    })
}

/// A run whose clusters separate over 8 milestones while the trainer's
/// probe (scalars.jsonl) rises.
fn write_run(root: &Path, name: &str, method: &str, seed: u64) {
    let run = root.join(name);
    put(
        &run.join("run.json"),
        format!("{{\"method\": \"{method}\"}}").as_bytes(),
    );
    let labels: Vec<i64> = (0..ROWS as i64).map(|i| i % CLASSES as i64).collect();
    put(&run.join("labels.npy"), &npy_bytes_i64(&labels));
    let mut scalars = String::new();
    for step in 0..8u64 {
        let sep = 0.2 + 0.3 * step as f32;
        put(
            &run.join(format!("milestones/epoch_{step:04}/h.npy")),
            &npy_bytes_f32(clusters(sep, seed * 100 + step).view()),
        );
        scalars.push_str(&format!(
            "{{\"step\": {step}, \"probe_acc\": {}}}\n",
            0.3 + 0.08 * step as f64
        ));
    }
    put(&run.join("scalars.jsonl"), scalars.as_bytes());
}

fn study(root: &Path, extra: &[&str]) -> (i32, String, String) {
    let out = Command::new(BIN)
        .arg("study")
        .arg(root)
        .args(["--no-train", "--no-cache", "--k", "4", "--n-init", "1"])
        .args(extra)
        .output()
        .expect("run sslwatch study");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn study_no_train_prints_the_table_and_checks_the_findings() {
    let dir = tempfile::tempdir().unwrap();
    write_run(dir.path(), "simclr-s0", "simclr", 1);
    write_run(dir.path(), "simclr-s1", "simclr", 2);
    let (code, out, err) = study(dir.path(), &["--methods", "simclr"]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("simclr: 2 seed(s), 8 milestones, probe trainer"),
        "{out}"
    );
    // the clusters separate as the probe rises: AMI with labels rises
    let ami_row = out
        .lines()
        .find(|l| l.contains("ami_labels"))
        .unwrap_or_else(|| panic!("no ami_labels row in\n{out}"));
    assert!(ami_row.contains('±'), "{ami_row}");
    assert!(
        out.contains("4. AMI between the k-means clustering and the labels rises over training (layer h): HOLDS HERE"),
        "{out}"
    );
    // no SimSiam, no MoCo: the SimSiam half of finding 1 is not asserted,
    // but the contrastive half is checked
    assert!(out.contains("simclr: ρ with probe silhouette"), "{out}");
}

#[test]
fn study_json_is_one_object_with_verdicts() {
    let dir = tempfile::tempdir().unwrap();
    write_run(dir.path(), "moco-s0", "moco", 3);
    write_run(dir.path(), "simsiam-s0", "simsiam", 4);
    let (code, out, err) = study(dir.path(), &["--format", "json"]);
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"));
    assert_eq!(v["runs"], 2);
    let findings = v["findings"].as_array().unwrap();
    assert_eq!(findings.len(), 4);
    for f in findings {
        let verdict = f["verdict"].as_str().unwrap();
        assert!(
            ["holds", "partly", "does_not_hold", "not_testable"].contains(&verdict),
            "{f}"
        );
    }
    // both methods' clusterings track the rising probe: that contradicts
    // the SimSiam half of finding 1, so it holds only in part
    assert_eq!(findings[0]["verdict"], "partly", "{}", findings[0]);
    let methods: Vec<&str> = v["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["method"].as_str().unwrap())
        .collect();
    assert_eq!(methods, vec!["moco", "simsiam"]);
}

#[test]
fn study_without_runs_or_without_the_train_feature_says_what_to_do() {
    let dir = tempfile::tempdir().unwrap();
    let (code, _, err) = study(dir.path(), &[]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("no runs of simclr, moco, simsiam"), "{err}");
    if !cfg!(feature = "train") {
        let out = Command::new(BIN)
            .args(["study", "--quick"])
            .arg(dir.path())
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("--no-train"), "{err}");
    }
}
