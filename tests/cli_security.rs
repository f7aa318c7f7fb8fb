//! Strings from disk are data, never terminal commands; `--save-clusters`
//! never writes outside its directory; a closed or full stdout never makes
//! sslwatch panic. Driven as a user would: the real binary on temp dirs.

use serde_json::Value;
mod common;
use common::live::npy;
use sslwatch::read::write::write_atomic;
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use tempfile::TempDir;

const BIN: &str = env!("CARGO_BIN_EXE_sslwatch");
/// Tiny, fast metric settings.
const FAST: [&str; 4] = ["--k", "2", "--n-init", "1"];

/// A run name that retitles the terminal (OSC 2), starts an 8-bit CSI (C1
/// U+009B) and reverses the rest of the line (U+202E).
const EVIL_RUN: &str = "evil\x1b]2;pwned\x07\u{9b}31m\u{202e}gnp";
/// What the table shows for it.
const EVIL_SHOWN: &str = "evil\\x1b]2;pwned\\x07\\u{9b}31m\\u{202e}gnp";
/// An npz array (layer) name with a CSI sequence.
const EVIL_LAYER: &str = "z\x1b[1m";

fn p(path: &Path) -> &str {
    path.to_str().expect("utf-8 temp path")
}

/// An .npz whose members are named `names` (each gets ".npy" appended).
fn npz(names: &[&str], rows: usize) -> Vec<u8> {
    let mut z = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    for (i, name) in names.iter().enumerate() {
        z.start_file(
            format!("{name}.npy"),
            zip::write::SimpleFileOptions::default(),
        )
        .expect("start zip member");
        z.write_all(&npy(rows, i as u64)).expect("write zip member");
    }
    z.finish().expect("finish zip").into_inner()
}

fn run(args: &[&str]) -> Output {
    Command::new(BIN).args(args).output().expect("run sslwatch")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// What must never reach a terminal: ESC and the other C0 controls but
/// newline, C1 controls, bidi overrides.
fn assert_terminal_safe(what: &str, bytes: &[u8]) {
    let s = std::str::from_utf8(bytes).unwrap_or_else(|e| panic!("{what}: not UTF-8: {e}"));
    let bad: Vec<char> = s
        .chars()
        .filter(|&c| {
            (c.is_control() && c != '\n')
                || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
        })
        .collect();
    assert!(bad.is_empty(), "{what}: raw {bad:?} in\n{s}");
    assert!(!bytes.contains(&0x1b), "{what}: ESC byte in output");
}

/// ROOT with the evil run (run.json fields with escapes, an npz layer with
/// a CSI in its name, a corrupt file whose error quotes the path) and two
/// runs with wide names (an emoji ZWJ sequence, CJK) and a plain one.
fn hostile_root() -> TempDir {
    let root = TempDir::new().expect("temp root");
    let evil = root.path().join(EVIL_RUN);
    let ms = evil.join("milestones");
    std::fs::create_dir_all(&ms).expect("evil run dir");
    write_atomic(
        &evil.join("run.json"),
        br#"{"method": "\u001b[31mred", "dataset": "\u202eabc", "arch": "\u001b]52;c;cm0gLXJm\u0007"}"#,
    )
    .expect("run.json");
    write_atomic(&ms.join("epoch_0010.npz"), &npz(&[EVIL_LAYER, "z"], 40)).expect("npz");
    write_atomic(
        &ms.join("epoch_0020.npy"),
        b"not an npy file, just some text",
    )
    .expect("bad");
    for (i, name) in ["👩\u{200d}🔬-lab", "実験データ", "plain"]
        .iter()
        .enumerate()
    {
        let ms = root.path().join(name).join("milestones");
        std::fs::create_dir_all(&ms).expect("run dir");
        write_atomic(&ms.join("epoch_0010.npy"), &npy(40, 10 + i as u64)).expect("npy");
    }
    root
}

fn report(root: &Path, format: &str) -> Output {
    let mut args = vec!["report", p(root), "--no-cache", "--format", format];
    args.extend(FAST);
    run(&args)
}

/// The display width of `s`, per grapheme (what a terminal shows).
fn cols(s: &str) -> usize {
    sslwatch::text::width(s)
}

#[test]
fn report_table_shows_names_from_disk_escaped_in_aligned_columns() {
    let root = hostile_root();
    let out = report(root.path(), "table");
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "stderr: {}", text(&out.stderr));
    assert_terminal_safe("table stdout", &out.stdout);
    assert_terminal_safe("table stderr", &out.stderr);
    assert!(stdout.contains(EVIL_SHOWN), "{stdout}");
    assert!(stdout.contains("z\\x1b[1m"), "{stdout}");
    // The corrupt file's error quotes its path, escaped too.
    let error_row = stdout
        .lines()
        .find(|l| l.contains("ERROR"))
        .unwrap_or_else(|| panic!("no error row in\n{stdout}"));
    assert!(
        error_row.matches(EVIL_SHOWN).count() == 2,
        "run name and path: {error_row}"
    );

    // Every row's metric columns end in the same terminal column as the
    // header's, whatever the width of the names before them: the 11th
    // cell (rankme) ends at the same display width on every line.
    let table: Vec<&str> = stdout
        .lines()
        .skip_while(|l| !l.starts_with("run "))
        .take_while(|l| !l.is_empty())
        .collect();
    assert_eq!(table.len(), 1 + 6, "header and 6 rows:\n{stdout}");
    let rankme_end = |line: &str| {
        let mut end = 0;
        let mut cells = 0;
        let mut in_cell = false;
        for (i, c) in line.char_indices() {
            if c == ' ' {
                if in_cell {
                    cells += 1;
                    in_cell = false;
                    if cells == 11 {
                        end = i;
                        break;
                    }
                }
            } else {
                in_cell = true;
            }
        }
        cols(&line[..end])
    };
    let ends: Vec<usize> = table.iter().map(|l| rankme_end(l)).collect();
    assert!(
        ends.iter().all(|&e| e > 0 && e == ends[0]),
        "columns shift: {ends:?}\n{}",
        table.join("\n")
    );
}

#[test]
fn report_markdown_shows_names_from_disk_escaped() {
    let root = hostile_root();
    let out = report(root.path(), "markdown");
    assert!(out.status.success(), "stderr: {}", text(&out.stderr));
    assert_terminal_safe("markdown stdout", &out.stdout);
    assert_terminal_safe("markdown stderr", &out.stderr);
    let stdout = text(&out.stdout);
    assert!(stdout.contains(&format!("| {EVIL_SHOWN} |")), "{stdout}");
}

#[test]
fn report_csv_and_json_keep_the_exact_names() {
    let root = hostile_root();
    let csv = report(root.path(), "csv");
    assert!(csv.status.success(), "stderr: {}", text(&csv.stderr));
    let stdout = text(&csv.stdout);
    assert!(
        stdout.contains(&format!("{EVIL_RUN},10,"))
            && stdout.contains(&format!(",{EVIL_LAYER},ok,")),
        "{stdout}"
    );
    // Its summary is on stderr, for a terminal: escaped.
    assert_terminal_safe("csv stderr", &csv.stderr);

    let json = report(root.path(), "json");
    assert!(json.status.success(), "stderr: {}", text(&json.stderr));
    assert_terminal_safe("json stderr", &json.stderr);
    // JSON escapes ESC and BEL itself.
    assert!(!json.stdout.contains(&0x1b));
    let lines: Vec<Value> = text(&json.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("each stdout line is JSON"))
        .collect();
    let evil: Vec<&Value> = lines.iter().filter(|v| v["run"] == EVIL_RUN).collect();
    assert!(
        evil.iter()
            .any(|v| v["layer"] == EVIL_LAYER && v["status"] == "ok"),
        "{evil:?}"
    );
    assert!(evil.iter().any(|v| v["status"] == "error"), "{evil:?}");
}

/// Every file under `dir`, recursively.
fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for e in std::fs::read_dir(&d).expect("read dir").flatten() {
            let path = e.path();
            if e.file_type().is_ok_and(|t| t.is_dir()) {
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
fn save_clusters_writes_only_safe_names_inside_dir() {
    let tmp = TempDir::new().expect("temp dir");
    let work = tmp.path().join("a").join("b");
    std::fs::create_dir_all(&work).expect("work dir");
    let escape_abs = tmp.path().join("abs2").join("evil");
    let names = [
        "../../x",
        "/abs/evil",
        p(&escape_abs),
        "a/b",
        "a_b",
        "..",
        "t\x1b]2;title\x07",
        "h",
    ];
    let file = work.join("f.npz");
    write_atomic(&file, &npz(&names, 40)).expect("npz");
    let dir = work.join("out");
    let mut args = vec!["metrics", p(&file), "--save-clusters", p(&dir)];
    args.extend(FAST);
    let out = run(&args);
    let stderr = text(&out.stderr);
    assert!(out.status.success(), "stderr: {stderr}");
    assert_terminal_safe("metrics stdout", &out.stdout);
    assert_terminal_safe("metrics stderr", &out.stderr);

    assert!(!Path::new("/abs/evil.c1.npy").exists());
    // Nothing but the input and DIR's own files anywhere under the temp dir.
    let files = files_under(tmp.path());
    let outside: Vec<&PathBuf> = files
        .iter()
        .filter(|f| !f.starts_with(&dir) && **f != file)
        .collect();
    assert!(outside.is_empty(), "written outside DIR: {outside:?}");
    let mut inside: Vec<String> = files
        .iter()
        .filter(|f| f.starts_with(&dir))
        .map(|f| {
            assert_eq!(
                f.parent(),
                Some(dir.as_path()),
                "not directly in DIR: {f:?}"
            );
            f.file_name()
                .and_then(|n| n.to_str())
                .expect("utf-8 name")
                .to_string()
        })
        .collect();
    inside.sort();
    let abs_stem = sslwatch::text::file_component(p(&escape_abs)).expect("safe stem");
    let mut want: Vec<String> = [
        "_.._x",
        "_abs_evil",
        abs_stem.as_str(),
        "layer_3",
        "a_b",
        "layer_5",
        "t_]2;title_",
        "h",
    ]
    .iter()
    .flat_map(|s| [format!("{s}.c1.npy"), format!("{s}.c2.npy")])
    .collect();
    want.sort();
    assert_eq!(inside, want);
    for name in &inside {
        assert!(
            !name.starts_with('.') && !name.contains(['/', '\\']),
            "{name:?}"
        );
    }
    // Each rename is said on stderr.
    for stem in ["_.._x", "_abs_evil", "layer_3", "layer_5", "t_]2;title_"] {
        assert!(
            stderr.contains(&format!("saved as {stem}.c1.npy")),
            "{stem} not announced:\n{stderr}"
        );
    }
    assert!(!stderr.contains("saved as h."), "{stderr}");
    assert!(!stderr.contains("saved as a_b."), "{stderr}");
}

/// A stdout whose reader is already gone: every write fails with EPIPE.
fn closed_pipe() -> Stdio {
    let (reader, writer) = std::io::pipe().expect("pipe");
    drop(reader);
    Stdio::from(writer)
}

/// A stdout on which every write fails with ENOSPC, if this system has one.
fn dev_full() -> Option<Stdio> {
    match File::options().write(true).open("/dev/full") {
        Ok(f) => Some(Stdio::from(f)),
        Err(e) => {
            println!("skipped: no /dev/full ({e})");
            None
        }
    }
}

fn run_with_stdout(args: &[&str], stdout: Stdio) -> Output {
    Command::new(BIN)
        .args(args)
        .stdin(Stdio::null())
        .stdout(stdout)
        .stderr(Stdio::piped())
        .spawn()
        .expect("start sslwatch")
        .wait_with_output()
        .expect("wait for sslwatch")
}

/// One small .npy and a ROOT holding one run with it.
fn small_inputs() -> (TempDir, PathBuf, PathBuf) {
    let tmp = TempDir::new().expect("temp dir");
    let file = tmp.path().join("h.npy");
    write_atomic(&file, &npy(40, 1)).expect("npy");
    let root = tmp.path().join("root");
    write_atomic(
        &root.join("r").join("milestones").join("epoch_0010.npy"),
        &npy(40, 2),
    )
    .expect("milestone");
    (tmp, file, root)
}

/// The commands whose stdout is data, on `file` and `root`.
fn printing_commands(file: &Path, root: &Path, demo: &Path) -> Vec<Vec<String>> {
    let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
    let mut cmds = vec![
        s(&["metrics", p(file)]),
        s(&["metrics", p(file), "--json"]),
        s(&["report", p(root), "--no-cache"]),
        s(&["report", p(root), "--no-cache", "--format", "json"]),
        s(&["report", p(root), "--no-cache", "--follow"]),
        s(&[
            "demo",
            "--no-tui",
            "--dir",
            p(demo),
            "--runs",
            "1",
            "--steps",
            "1",
            "--interval",
            "0",
        ]),
    ];
    for c in &mut cmds {
        if c[0] != "demo" {
            c.extend(FAST.iter().map(|x| x.to_string()));
        }
    }
    cmds
}

#[test]
fn a_closed_stdout_ends_every_command_quietly_with_exit_0() {
    let (tmp, file, root) = small_inputs();
    for cmd in printing_commands(&file, &root, &tmp.path().join("demo")) {
        let args: Vec<&str> = cmd.iter().map(String::as_str).collect();
        let out = run_with_stdout(&args, closed_pipe());
        let stderr = text(&out.stderr);
        assert!(!stderr.contains("panicked"), "{cmd:?}: {stderr}");
        assert!(!stderr.contains("Broken pipe"), "{cmd:?}: {stderr}");
        assert_eq!(out.status.code(), Some(0), "{cmd:?}: {stderr}");
    }
}

#[test]
fn a_full_stdout_is_one_error_line_and_exit_1() {
    let (tmp, file, root) = small_inputs();
    for cmd in printing_commands(&file, &root, &tmp.path().join("demo")) {
        let Some(full) = dev_full() else { return };
        let args: Vec<&str> = cmd.iter().map(String::as_str).collect();
        let out = run_with_stdout(&args, full);
        let stderr = text(&out.stderr);
        assert!(!stderr.contains("panicked"), "{cmd:?}: {stderr}");
        assert_eq!(out.status.code(), Some(1), "{cmd:?}: {stderr}");
        let errors: Vec<&str> = stderr
            .lines()
            .filter(|l| l.contains("standard output") || l.contains("No space"))
            .collect();
        assert_eq!(
            errors,
            ["sslwatch: cannot write to standard output: No space left on device"],
            "{cmd:?}: {stderr}"
        );
        // metrics and the report table say nothing else (json puts its
        // header on stderr, the demo its banner).
        let table_report = cmd[0] == "report" && !cmd.iter().any(|a| a == "json");
        if cmd[0] == "metrics" || table_report {
            assert_eq!(stderr.lines().count(), 1, "{cmd:?}: {stderr}");
        }
    }
}

/// Like `| head -1`: read one line, then close the pipe while the command
/// still has lines to write (an npz with enough layers to overflow a pipe).
#[test]
fn reading_one_line_then_closing_the_pipe_exits_0() {
    let tmp = TempDir::new().expect("temp dir");
    let names: Vec<String> = (0..400).map(|i| format!("layer{i}")).collect();
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    let file = tmp.path().join("many.npz");
    write_atomic(&file, &npz(&refs, 30)).expect("npz");
    let mut args = vec!["metrics", p(&file)];
    args.extend(FAST);
    let mut child = Command::new(BIN)
        .args(&args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start sslwatch");
    let mut stdout = std::io::BufReader::new(child.stdout.take().expect("stdout"));
    let mut first = String::new();
    std::io::BufRead::read_line(&mut stdout, &mut first).expect("first line");
    assert!(first.contains("layer layer0"), "{first}");
    drop(stdout);
    let out = child.wait_with_output().expect("wait for sslwatch");
    let stderr = text(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(out.status.code(), Some(0), "{stderr}");
}
