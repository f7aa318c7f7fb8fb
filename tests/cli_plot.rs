//! `sslwatch plot ROOT`, driven as a user would: three small runs written
//! as .npy milestones in a temp ROOT, the real binary, the figure file it
//! writes, its stderr and exit code.

mod common;
use common::live::*;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// ROOT with `moco-s0` (run.json method moco-v2), `plain` (no run.json) and
/// `simclr-s0` (simclr), each with milestones 10, 20, 30 of layer h, and
/// labels for all of them. Sorted, they get palette colours 0, 1, 2.
fn root() -> tempfile::TempDir {
    let root = tempfile::tempdir().unwrap();
    put(&root.path().join("labels.npy"), &labels(40));
    for (i, (run, method)) in [
        ("moco-s0", Some("moco-v2")),
        ("plain", None),
        ("simclr-s0", Some("simclr")),
    ]
    .into_iter()
    .enumerate()
    {
        let ms = run_dir(root.path(), run);
        for step in [10u64, 20, 30] {
            let dir = ms.join(format!("epoch_{step:04}"));
            std::fs::create_dir_all(&dir).unwrap();
            put(&dir.join("h.npy"), &npy(40, step + 100 * i as u64));
        }
        if let Some(m) = method {
            put(
                &root.path().join(run).join("run.json"),
                format!("{{\"method\": \"{m}\"}}").as_bytes(),
            );
        }
    }
    root
}

fn p(path: &Path) -> &str {
    path.to_str().expect("utf-8 temp path")
}

fn plot(root: &Path, out: &Path, extra: &[&str]) -> Output {
    let mut args = vec!["plot", p(root), "-o", p(out), "--no-cache"];
    args.extend(FAST);
    args.extend(extra);
    Command::new(BIN)
        .args(&args)
        .output()
        .expect("run sslwatch")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// The stroke colour of every `<polyline>`.
fn strokes(svg: &str) -> Vec<String> {
    svg.split("<polyline")
        .skip(1)
        .filter_map(|rest| {
            let tag = &rest[..rest.find("/>")?];
            let start = tag.find(" stroke=\"")? + 9;
            Some(tag[start..start + tag[start..].find('"')?].to_string())
        })
        .collect()
}

/// The contents of every `<text>` element.
fn texts(svg: &str) -> Vec<String> {
    svg.split("<text")
        .skip(1)
        .filter_map(|rest| {
            let body = &rest[rest.find('>')? + 1..];
            Some(body[..body.find("</text>")?].trim().to_string())
        })
        .collect()
}

fn hex(colour: usize) -> String {
    let (r, g, b) = sslwatch::palette::run_rgb(colour);
    format!("#{r:02X}{g:02X}{b:02X}")
}

/// Every file below `dir`.
fn files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let path = e.unwrap().path();
            if path.is_dir() {
                todo.push(path);
            } else {
                out.push(path);
            }
        }
    }
    out.sort();
    out
}

#[test]
fn the_svg_has_a_line_per_run_in_each_panel_and_the_methods_in_the_legend() {
    let root = root();
    let out_dir = tempfile::tempdir().unwrap();
    let fig = out_dir.path().join("fig.svg");
    let o = plot(
        root.path(),
        &fig,
        &[
            "--metrics",
            "entropy_bits,silhouette",
            "--annotate",
            "--width",
            "1600",
        ],
    );
    let err = stderr(&o);
    assert!(o.status.success(), "{err}");
    assert!(
        err.contains(&format!(
            "wrote {}: 3 run(s), 2 panel(s) (entropy_bits, silhouette), 18 point(s), layer h",
            p(&fig)
        )),
        "{err}"
    );
    let svg = std::fs::read_to_string(&fig).unwrap();
    assert!(svg.starts_with("<svg"), "{svg}");
    // One polyline per run and panel, in the runs' palette colours (sorted
    // order, as the TUI colours them).
    let s = strokes(&svg);
    for c in 0..3 {
        assert_eq!(
            s.iter().filter(|x| **x == hex(c)).count(),
            2,
            "colour {c}: {s:?}"
        );
    }
    let t = texts(&svg);
    for legend in ["moco-v2", "plain", "simclr"] {
        assert_eq!(
            t.iter().filter(|x| *x == legend).count(),
            1,
            "{legend}: {t:?}"
        );
    }
    assert!(t.contains(&"entropy (bits)".to_string()), "{t:?}");
    // --annotate: the correlations with the own probe (labels.npy), per run.
    let notes: Vec<&String> = t
        .iter()
        .filter(|x| x.starts_with("Spearman ρ with probe acc: "))
        .collect();
    assert_eq!(notes.len(), 2, "{t:?}");
    assert!(notes
        .iter()
        .all(|n| n.contains("moco-v2 ") && n.contains("simclr ")));
    // Nothing was written into ROOT.
    assert!(files(root.path()).iter().all(|f| !p(f).ends_with(".svg")));
}

#[test]
fn a_png_has_the_requested_size() {
    let root = root();
    let out_dir = tempfile::tempdir().unwrap();
    let fig = out_dir.path().join("fig.png");
    let o = plot(root.path(), &fig, &["--width", "640", "--height", "400"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let png = std::fs::read(&fig).unwrap();
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
    assert_eq!(&png[12..16], b"IHDR");
    let be = |b: &[u8]| u32::from_be_bytes([b[0], b[1], b[2], b[3]]);
    assert_eq!((be(&png[16..20]), be(&png[20..24])), (640, 400));
    // The default panels; ami_agreement and probe_acc included.
    assert!(
        stderr(&o).contains("4 panel(s) (entropy_bits, silhouette, ami_agreement, probe_acc)"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn an_output_inside_root_is_refused_and_nothing_is_written() {
    let root = root();
    let before = files(root.path());
    let o = plot(root.path(), &root.path().join("fig.svg"), &[]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("inside ROOT"), "{}", stderr(&o));
    // The default file name, from a current directory inside ROOT.
    let run = root.path().join("plain");
    let mut args = vec!["plot", p(root.path()), "--no-cache"];
    args.extend(FAST);
    let o = Command::new(BIN)
        .args(&args)
        .current_dir(&run)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("sslwatch-plot.svg"), "{}", stderr(&o));
    assert_eq!(files(root.path()), before);
}

#[test]
fn bad_flags_exit_2_in_words() {
    let root = root();
    let out_dir = tempfile::tempdir().unwrap();
    let fig = out_dir.path().join("fig.svg");
    let o = plot(root.path(), &fig, &["--metrics", "entropy,silhouette"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(err.contains("unknown metric \"entropy\""), "{err}");
    assert!(
        err.contains("entropy_bits") && err.contains("knn_acc"),
        "{err}"
    );

    let o = plot(root.path(), &out_dir.path().join("fig.pdf"), &[]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("must end in .svg or .png"),
        "{}",
        stderr(&o)
    );

    let o = plot(root.path(), &fig, &["--width", "50"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("between 200 and 6000 pixels"),
        "{}",
        stderr(&o)
    );

    let o = plot(root.path(), &fig, &["--layer", "z"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("layer z: no such layer"),
        "{}",
        stderr(&o)
    );
    assert!(files(out_dir.path()).is_empty());
}

#[test]
fn runs_keeps_the_matching_runs_in_their_own_colours() {
    let root = root();
    let out_dir = tempfile::tempdir().unwrap();
    let fig = out_dir.path().join("fig.svg");
    let o = plot(
        root.path(),
        &fig,
        &["--runs", "s*-s?", "--metrics", "entropy_bits"],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("1 run(s), 1 panel(s)"),
        "{}",
        stderr(&o)
    );
    let svg = std::fs::read_to_string(&fig).unwrap();
    let s = strokes(&svg);
    // simclr-s0 keeps colour 2 (its place among all three runs).
    assert_eq!(s.iter().filter(|x| **x == hex(2)).count(), 1, "{s:?}");
    assert!(!s.contains(&hex(0)) && !s.contains(&hex(1)), "{s:?}");
    let t = texts(&svg);
    assert!(t.contains(&"simclr".to_string()) && !t.contains(&"moco-v2".to_string()));

    let o = plot(root.path(), &fig, &["--runs", "byol*"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("--runs byol*: no run matches (runs: moco-s0, plain, simclr-s0)"),
        "{}",
        stderr(&o)
    );
}
