//! `report --probe-source auto|trainer|own` on a run whose trainer's probe
//! (scalars.jsonl) and own probe (labels.npy) disagree: the summary says
//! which it used, correlates with that one, and warns when the probe
//! cannot carry a correlation.

mod common;

use common::live::{put, run_dir, sslwatch_ok, BIN, FAST};
use ndarray::Array2;
use serde_json::Value;
use sslwatch::read::write::{npy_bytes_f32, npy_bytes_i64};
use std::path::Path;
use std::process::{Command, Output};

const ROWS: usize = 40;
const MILESTONES: u64 = 5;
/// The trainer's probe accuracy at each step: it rises.
const TRAINER: [f64; 5] = [0.2, 0.4, 0.5, 0.7, 0.9];

/// Column 0 separates the two classes perfectly at every milestone (the own
/// probe is 1.0 throughout); the other columns are the same noise scaled up
/// with the step, so the spectrum flattens and RankMe rises with the step.
fn embedding(step: u64) -> Array2<f32> {
    let mut s: u64 = 0x9E37_79B9_7F4A_7C15;
    let scale = 0.2 + 0.4 * step as f32;
    Array2::from_shape_fn((ROWS, 8), |(i, j)| {
        s = s
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let noise = ((s >> 40) as f32 / (1u64 << 24) as f32) - 0.5;
        if j == 0 {
            (i % 2) as f32 * 40.0 + noise
        } else {
            noise * scale
        }
    })
}

/// ROOT/r with labels.npy, five milestones and the trainer's scalars.jsonl.
fn disagreeing_run(root: &Path) {
    let ms = run_dir(root, "r");
    for step in 0..MILESTONES {
        put(
            &ms.join(format!("step{step}")).join("h.npy"),
            &npy_bytes_f32(embedding(step).view()),
        );
    }
    let labels: Vec<i64> = (0..ROWS as i64).map(|i| i % 2).collect();
    put(&root.join("r/labels.npy"), &npy_bytes_i64(&labels));
    let scalars: String = TRAINER
        .iter()
        .enumerate()
        .map(|(step, p)| format!("{{\"step\":{step},\"loss\":1.0,\"probe_acc\":{p}}}\n"))
        .collect();
    std::fs::write(root.join("r/scalars.jsonl"), scalars).unwrap();
}

fn report(root: &Path, extra: &[&str]) -> Output {
    let args = ["report", root.to_str().unwrap(), "--no-cache"];
    sslwatch_ok(args.iter().chain(&FAST).chain(extra))
}

/// The one summary line of `--format json`.
fn summary(root: &Path, source: &str) -> Value {
    let out = report(root, &["--format", "json", "--probe-source", source]);
    let lines: Vec<Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let summaries: Vec<&Value> = lines.iter().filter(|v| v["event"] == "summary").collect();
    assert_eq!(summaries.len(), 1, "{lines:#?}");
    summaries[0].clone()
}

fn rho(summary: &Value, metric: &str) -> Value {
    summary["correlations"]
        .as_array()
        .and_then(|c| c.iter().find(|c| c["metric"] == metric))
        .map_or(Value::Null, |c| c["all"].clone())
}

#[test]
fn trainer_and_own_probe_give_different_sources_and_correlations() {
    let root = tempfile::tempdir().unwrap();
    disagreeing_run(root.path());

    let trainer = summary(root.path(), "trainer");
    assert_eq!(trainer["probe_source"], "trainer", "{trainer:#}");
    assert_eq!(trainer["probe_choice"], "trainer", "{trainer:#}");
    assert_eq!(trainer["probe_trainer"], MILESTONES, "{trainer:#}");
    // RankMe rises with the step, and so does the trainer's probe.
    assert_eq!(rho(&trainer, "rankme"), 1.0, "{trainer:#}");
    assert!(trainer.get("probe_warnings").is_none(), "{trainer:#}");

    let own = summary(root.path(), "own");
    assert_eq!(own["probe_source"], "own", "{own:#}");
    assert_eq!(own["probe_own"], MILESTONES, "{own:#}");
    assert_eq!(own["own_probe_rows"], ROWS, "{own:#}");
    // The own probe is 1.0 at every milestone: nothing to rank.
    assert_eq!(rho(&own, "rankme"), Value::Null, "{own:#}");
    let warnings: Vec<&str> = own["probe_warnings"]
        .as_array()
        .map(|w| w.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    assert_eq!(warnings.len(), 2, "{own:#}");
    assert!(
        warnings[0].starts_with("probe at the first milestone (step 0: 1.000) is within 0.03"),
        "{warnings:?}"
    );
    assert!(
        warnings[1].starts_with("only 1 distinct probe value(s) over 5 milestones"),
        "{warnings:?}"
    );

    // The default (auto) prefers the trainer's probe where it has one.
    let auto = summary(root.path(), "auto");
    assert_eq!(auto["probe_source"], "trainer", "{auto:#}");
    assert_eq!(rho(&auto, "rankme"), 1.0, "{auto:#}");
}

#[test]
fn the_table_summary_names_the_source_and_the_warnings() {
    let root = tempfile::tempdir().unwrap();
    disagreeing_run(root.path());
    let text = |source: &str| {
        let out = report(root.path(), &["--probe-source", source]);
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let trainer = text("trainer");
    assert!(
        trainer.contains("    probe: trainer (scalars.jsonl probe_acc)\n"),
        "{trainer}"
    );
    assert!(trainer.contains("rankme          +1.00"), "{trainer}");
    assert!(!trainer.contains("warning:"), "{trainer}");
    let own = text("own");
    assert!(
        own.contains("    probe: own (labels.npy, linear probe on 40 rows, 20% held out)\n"),
        "{own}"
    );
    assert!(
        own.contains("    warning: probe at the first milestone (step 0: 1.000)"),
        "{own}"
    );
    assert!(own.contains("rankme              - /      -"), "{own}");
    let md = String::from_utf8_lossy(
        &report(
            root.path(),
            &["--format", "markdown", "--probe-source", "own"],
        )
        .stdout,
    )
    .into_owned();
    assert!(md.contains("| probe: own (labels.npy"), "{md}");
    assert!(
        md.contains("- r [h]: only 1 distinct probe value(s)"),
        "{md}"
    );
}

#[test]
fn an_unknown_probe_source_is_a_usage_error() {
    let root = tempfile::tempdir().unwrap();
    disagreeing_run(root.path());
    let out = Command::new(BIN)
        .args([
            "report",
            root.path().to_str().unwrap(),
            "--probe-source",
            "best",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--probe-source"), "{err}");
    assert!(
        err.contains("auto") && err.contains("trainer") && err.contains("own"),
        "{err}"
    );
}
