//! `sslwatch metrics FILE`, driven as a user would: files in a temp dir, the
//! real binary, its stdout/stderr and exit code.

use ndarray::Array2;
use serde_json::Value;
use sslwatch::read::write::{npy_bytes_f16, npy_bytes_f32, npy_bytes_i64, write_atomic};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use tempfile::TempDir;

fn sslwatch(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_sslwatch"))
        .args(args)
        .output()
        .expect("run sslwatch")
}

fn p(path: &Path) -> &str {
    path.to_str().expect("utf-8 temp path")
}

/// Rows in [`three_blobs`].
const N: usize = 75;

/// Three tight, far-apart groups of 25 points in 4-D, and their labels. The
/// centres point in different directions, so the groups are separated for
/// cosine similarity too, and each group has more than the 20 members the
/// leave-one-out kNN vote uses.
fn three_blobs() -> (Array2<f32>, Vec<i64>) {
    let centres = [
        [50.0, 0.0, 0.0, 0.0],
        [0.0, 50.0, 0.0, 0.0],
        [0.0, 0.0, 50.0, 0.0],
    ];
    let mut x = Array2::<f32>::zeros((N, 4));
    let mut labels = Vec::new();
    for i in 0..N {
        let c = i % 3;
        for j in 0..4 {
            // small deterministic jitter, distinct per point
            x[[i, j]] = centres[c][j] + ((i * 7 + j * 3) % 5) as f32 * 0.1;
        }
        labels.push(c as i64);
    }
    (x, labels)
}

fn write_f32(dir: &Path, name: &str, x: &Array2<f32>) -> PathBuf {
    let path = dir.join(name);
    write_atomic(&path, &npy_bytes_f32(x.view())).expect("write npy");
    path
}

fn write_labels(dir: &Path, labels: &[i64]) -> PathBuf {
    let path = dir.join("labels.npy");
    write_atomic(&path, &npy_bytes_i64(labels)).expect("write labels");
    path
}

fn json_lines(out: &Output) -> Vec<Value> {
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("each stdout line is JSON"))
        .collect()
}

#[test]
fn separable_blobs_with_labels_score_perfectly() {
    let dir = TempDir::new().unwrap();
    let (x, labels) = three_blobs();
    let file = write_f32(dir.path(), "h.npy", &x);
    let lab = write_labels(dir.path(), &labels);
    let out = sslwatch(&["metrics", p(&file), "--labels", p(&lab), "--json"]);
    assert!(
        out.status.success(),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines = json_lines(&out);
    assert_eq!(lines.len(), 1);
    let m = &lines[0];
    for key in [
        "file",
        "layer",
        "n",
        "dim",
        "k",
        "entropy_bits",
        "silhouette",
        "ami_agreement",
        "ami_labels",
        "probe_acc",
        "knn_acc",
        "rankme",
        "kmeans_inertia",
        "nonfinite_rows",
        "seconds",
    ] {
        assert!(m.get(key).is_some(), "missing key {key} in {m}");
    }
    assert_eq!(m["layer"], "h");
    assert_eq!(m["n"], N);
    assert_eq!(m["dim"], 4);
    // k defaults to the number of distinct labels.
    assert_eq!(m["k"], 3);
    assert!(m["silhouette"].as_f64().unwrap() > 0.95, "{m}");
    assert_eq!(m["ami_agreement"].as_f64(), Some(1.0));
    assert_eq!(m["ami_labels"].as_f64(), Some(1.0));
    assert_eq!(m["probe_acc"].as_f64(), Some(1.0));
    assert_eq!(m["knn_acc"].as_f64(), Some(1.0));
    assert_eq!(m["nonfinite_rows"], 0);
}

#[test]
fn without_labels_the_labelled_metrics_are_null_and_k_defaults_to_10() {
    let dir = TempDir::new().unwrap();
    let (x, _) = three_blobs();
    let file = write_f32(dir.path(), "z.npy", &x);
    let out = sslwatch(&["metrics", p(&file), "--json"]);
    assert!(
        out.status.success(),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let m = &json_lines(&out)[0];
    assert_eq!(m["k"], 10);
    assert!(m["ami_labels"].is_null());
    assert!(m["probe_acc"].is_null());
    assert!(m["knn_acc"].is_null());
    assert!(m["entropy_bits"].as_f64().is_some());
    assert!(m["rankme"].as_f64().is_some());
}

#[test]
fn human_output_is_a_table_per_layer() {
    let dir = TempDir::new().unwrap();
    let (x, _) = three_blobs();
    let file = write_f32(dir.path(), "h.npy", &x);
    let out = sslwatch(&["metrics", p(&file), "--k", "3"]);
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("layer h  (75 x 4, k = 3"), "{text}");
    for name in [
        "entropy_bits",
        "silhouette",
        "ami_agreement",
        "rankme",
        "kmeans_inertia",
    ] {
        assert!(
            text.lines().any(|l| l.trim_start().starts_with(name)),
            "{name} row in {text}"
        );
    }
    // Without labels the probe row shows a dash, not a number.
    assert!(text
        .lines()
        .any(|l| l.split_whitespace().collect::<Vec<_>>() == ["probe_acc", "-"]));
}

#[test]
fn f16_file_gives_the_same_clustering_as_f32() {
    let dir = TempDir::new().unwrap();
    let (x, labels) = three_blobs();
    let f32_file = write_f32(dir.path(), "a.npy", &x);
    let f16_file = dir.path().join("b.npy");
    write_atomic(&f16_file, &npy_bytes_f16(x.view())).unwrap();
    let lab = write_labels(dir.path(), &labels);
    let a = json_lines(&sslwatch(&[
        "metrics",
        p(&f32_file),
        "--labels",
        p(&lab),
        "--json",
    ]));
    let b = json_lines(&sslwatch(&[
        "metrics",
        p(&f16_file),
        "--labels",
        p(&lab),
        "--json",
    ]));
    assert_eq!(a[0]["ami_labels"], b[0]["ami_labels"]);
    assert_eq!(b[0]["layer"], "b");
}

#[test]
fn npz_gives_one_line_per_array() {
    let dir = TempDir::new().unwrap();
    let (x, _) = three_blobs();
    let path = dir.path().join("epoch_0001.npz");
    let file = std::fs::File::create(&path).unwrap();
    let mut zip = zip::ZipWriter::new(file);
    for name in ["h.npy", "z.npy"] {
        zip.start_file(name, zip::write::SimpleFileOptions::default())
            .unwrap();
        std::io::Write::write_all(&mut zip, &npy_bytes_f32(x.view())).unwrap();
    }
    zip.finish().unwrap();
    let out = sslwatch(&["metrics", p(&path), "--k", "3", "--json"]);
    assert!(
        out.status.success(),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let layers: Vec<_> = json_lines(&out)
        .iter()
        .map(|m| m["layer"].clone())
        .collect();
    assert_eq!(layers, ["h", "z"]);
}

#[test]
fn nonfinite_rows_are_dropped_and_counted() {
    let dir = TempDir::new().unwrap();
    let (mut x, labels) = three_blobs();
    x[[0, 1]] = f32::NAN;
    x[[4, 0]] = f32::INFINITY;
    let file = write_f32(dir.path(), "h.npy", &x);
    let lab = write_labels(dir.path(), &labels);
    let clusters = dir.path().join("clusters");
    let out = sslwatch(&[
        "metrics",
        p(&file),
        "--labels",
        p(&lab),
        "--json",
        "--save-clusters",
        p(&clusters),
    ]);
    assert!(
        out.status.success(),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let m = &json_lines(&out)[0];
    assert_eq!(m["nonfinite_rows"], 2);
    assert_eq!(m["n"], N - 2);
    // The saved cluster ids cover the finite rows, in file order.
    let c1 = sslwatch::read::read_labels(&clusters.join("h.c1.npy"), 1 << 30).unwrap();
    let c2 = sslwatch::read::read_labels(&clusters.join("h.c2.npy"), 1 << 30).unwrap();
    assert_eq!(c1.len(), N - 2);
    assert_eq!(c2.len(), N - 2);
    // The blobs are far apart, so C1 must put two finite rows together
    // exactly when they come from the same blob.
    let finite_labels: Vec<i64> = labels
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != 0 && *i != 4)
        .map(|(_, &l)| l)
        .collect();
    for i in 0..N - 2 {
        for j in 0..N - 2 {
            assert_eq!(finite_labels[i] == finite_labels[j], c1[i] == c1[j]);
        }
    }
}

#[test]
fn mostly_nonfinite_is_diverged_with_exit_code_2() {
    let dir = TempDir::new().unwrap();
    let (mut x, _) = three_blobs();
    for i in 0..N / 2 + 1 {
        x[[i, 0]] = f32::NAN;
    }
    let file = write_f32(dir.path(), "h.npy", &x);
    let out = sslwatch(&["metrics", p(&file)]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("diverged") && err.contains("h.npy"), "{err}");
}

#[test]
fn label_length_mismatch_warns_and_keeps_label_free_metrics() {
    let dir = TempDir::new().unwrap();
    let (x, labels) = three_blobs();
    let file = write_f32(dir.path(), "h.npy", &x);
    let lab = write_labels(dir.path(), &labels[..20]);
    let out = sslwatch(&[
        "metrics",
        p(&file),
        "--labels",
        p(&lab),
        "--k",
        "3",
        "--json",
    ]);
    assert!(out.status.success());
    let m = &json_lines(&out)[0];
    assert!(m["probe_acc"].is_null());
    assert!(m["silhouette"].as_f64().is_some());
    assert!(
        m["warnings"][0]
            .as_str()
            .unwrap()
            .contains("labels have 20 entries"),
        "{m}"
    );
}

/// Each bad input: exit code 2, and stderr names the file and the problem.
#[test]
fn bad_inputs_exit_2_naming_file_and_problem() {
    let dir = TempDir::new().unwrap();
    let (x, _) = three_blobs();
    let good = npy_bytes_f32(x.view());
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("badmagic.npy", b"NOTNUMPY".repeat(20), "corrupt"),
        (
            "truncated.npy",
            good[..good.len() - 7].to_vec(),
            "incomplete",
        ),
        (
            "longer.npy",
            [good.clone(), vec![0u8; 9]].concat(),
            "corrupt",
        ),
        (
            "complex.npy",
            String::from_utf8_lossy(&good)
                .replacen("<f4", "<c8", 1)
                .into_bytes(),
            "complex",
        ),
        ("notes.txt", b"hello".to_vec(), "unsupported"),
    ];
    for (name, bytes, problem) in cases {
        let path = dir.path().join(name);
        std::fs::write(&path, bytes).unwrap();
        let out = sslwatch(&["metrics", p(&path)]);
        assert_eq!(out.status.code(), Some(2), "{name}");
        let err = String::from_utf8_lossy(&out.stderr).to_lowercase();
        assert!(err.contains(name) && err.contains(problem), "{name}: {err}");
    }
    let missing = dir.path().join("missing.npy");
    let out = sslwatch(&["metrics", p(&missing)]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("missing.npy"));
}

#[test]
fn bad_flags_exit_2() {
    let dir = TempDir::new().unwrap();
    let (x, _) = three_blobs();
    let file = write_f32(dir.path(), "h.npy", &x);
    let out = sslwatch(&["metrics", p(&file), "--k", "0"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--k"));
}

/// `--device`: without the cuda feature, cuda is refused (exit 2) with the
/// build command; auto quietly means the CPU, with the CPU's numbers.
#[cfg(not(feature = "cuda"))]
#[test]
fn device_cuda_without_the_feature_exits_2_and_auto_is_the_cpu() {
    let dir = TempDir::new().unwrap();
    let (x, labels) = three_blobs();
    let file = write_f32(dir.path(), "h.npy", &x);
    let lab = write_labels(dir.path(), &labels);
    let out = sslwatch(&["metrics", p(&file), "--device", "cuda"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("built without the cuda feature: cargo build --release --features cuda"),
        "{err}"
    );
    assert!(out.stdout.is_empty(), "nothing measured");
    // report (and watch, which shares its flags) refuse it the same way.
    let out = sslwatch(&["report", p(dir.path()), "--device", "cuda", "--no-cache"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("built without the cuda feature"));

    let base = ["metrics", p(&file), "--labels", p(&lab), "--json"];
    let cpu = sslwatch(&base);
    let auto = sslwatch(&[&base[..], &["--device", "auto"]].concat());
    assert!(auto.status.success());
    assert!(
        auto.stderr.is_empty(),
        "auto says nothing without cuda: {:?}",
        auto.stderr
    );
    let strip = |o: &Output| {
        let mut v = json_lines(o);
        for line in &mut v {
            line.as_object_mut().map(|m| m.remove("seconds"));
        }
        v
    };
    assert_eq!(strip(&auto), strip(&cpu));
}
