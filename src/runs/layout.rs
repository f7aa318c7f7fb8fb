//! The run layout: which directories are runs, which files are milestones,
//! how step numbers and layer names are read from names. Only `stat` and
//! directory listings happen here; no file content is read.
//!
//! ```text
//! ROOT/labels.npy                 optional, shared by all runs below
//! ROOT/<run>/                     any directory holding `milestones/` (nested allowed)
//!   run.json, labels.npy, scalars.jsonl        optional
//!   milestones/<step>/<layer>.npy | <step>.npz | <step>.npy (layer "emb")
//! ```

use std::fs;
use std::path::{Path, PathBuf};
use std::time::UNIX_EPOCH;

/// How deep below ROOT runs are looked for (ROOT/dataset/method/seed is 3).
pub const MAX_RUN_DEPTH: usize = 6;

/// The layer name of a `<step>.npy` milestone.
pub const SINGLE_LAYER: &str = "emb";

/// The layer name used for an error about a whole `.npz` file, whose layer
/// names are unknown until it can be read.
pub const WHOLE_FILE_LAYER: &str = "*";

/// The step number of a milestone name: its last run of ASCII digits
/// (`epoch_0020` -> 20, `step12000` -> 12000, `20` -> 20). `None` when the
/// name has no digits or the number does not fit in a u64.
pub fn parse_step(name: &str) -> Option<u64> {
    let bytes = name.as_bytes();
    let end = bytes.iter().rposition(u8::is_ascii_digit)? + 1;
    let start = bytes[..end]
        .iter()
        .rposition(|b| !b.is_ascii_digit())
        .map_or(0, |i| i + 1);
    name[start..end].parse().ok()
}

/// Names sslwatch never looks at: hidden files and writers' temporaries.
pub fn is_ignored(name: &str) -> bool {
    name.starts_with('.')
        || name.ends_with(".tmp")
        || name.ends_with(".part")
        || name.ends_with(".partial")
}

/// What identifies one version of a file: a replaced or rewritten file has a
/// different stamp.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct FileStamp {
    pub size: u64,
    /// Modification time, nanoseconds since the Unix epoch (0 if unknown).
    pub mtime_ns: u64,
    /// Inode number (0 where not available): catches a same-size replacement
    /// within the filesystem's mtime granularity.
    pub ino: u64,
}

impl FileStamp {
    pub fn of(meta: &fs::Metadata) -> FileStamp {
        let mtime_ns = meta
            .modified()
            .ok()
            .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
            .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX));
        FileStamp {
            size: meta.len(),
            mtime_ns,
            ino: inode(meta),
        }
    }

    /// The stamp of the file at `path` (following symlinks), `None` if it is
    /// missing or not a regular file.
    pub fn read(path: &Path) -> Option<FileStamp> {
        let meta = fs::metadata(path).ok()?;
        meta.is_file().then(|| FileStamp::of(&meta))
    }
}

#[cfg(unix)]
fn inode(meta: &fs::Metadata) -> u64 {
    std::os::unix::fs::MetadataExt::ino(meta)
}

#[cfg(not(unix))]
fn inode(_meta: &fs::Metadata) -> u64 {
    0
}

/// How a milestone file holds its layers.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum MilestoneFormat {
    /// `<step>/<layer>.npy`: one layer, named after the file.
    LayerNpy(String),
    /// `<step>.npz` (or `<step>/<name>.npz`): one layer per array.
    Npz,
    /// `<step>.npy`: one layer named [`SINGLE_LAYER`].
    SingleNpy,
}

impl MilestoneFormat {
    /// The layer name when the file name alone decides it.
    pub fn known_layer(&self) -> Option<&str> {
        match self {
            MilestoneFormat::LayerNpy(l) => Some(l),
            MilestoneFormat::SingleNpy => Some(SINGLE_LAYER),
            MilestoneFormat::Npz => None,
        }
    }

    /// The layer name used for an error about the whole file.
    pub fn error_layer(&self) -> &str {
        self.known_layer().unwrap_or(WHOLE_FILE_LAYER)
    }
}

/// One milestone file as found on disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MilestoneFile {
    pub step: u64,
    /// The milestone's name as on disk (`epoch_0020`, without `.npz`).
    pub step_name: String,
    pub path: PathBuf,
    pub format: MilestoneFormat,
    pub stamp: FileStamp,
}

/// A run as found by one scan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunScan {
    /// Path relative to ROOT, `/`-separated; ROOT's own name if ROOT is a run.
    pub name: String,
    pub dir: PathBuf,
    /// The labels that apply: the run's `labels.npy`, else ROOT's.
    pub labels: Option<(PathBuf, FileStamp)>,
    pub run_json: Option<FileStamp>,
    pub scalars: Option<FileStamp>,
    pub files: Vec<MilestoneFile>,
    /// Entries under `milestones/` that look like milestones but have no step number.
    pub unnamed: Vec<PathBuf>,
}

/// Find every run under `root` and list its milestone files (stat only).
/// Errors only when `root` itself cannot be listed.
pub fn scan_root(root: &Path) -> std::io::Result<Vec<RunScan>> {
    fs::read_dir(root)?;
    let root_labels = labels_at(root);
    let mut runs = Vec::new();
    for (name, dir) in find_runs(root) {
        let own = labels_at(&dir);
        let labels = own.or_else(|| root_labels.clone());
        runs.push(scan_run(name, dir, labels));
    }
    runs.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(runs)
}

fn labels_at(dir: &Path) -> Option<(PathBuf, FileStamp)> {
    let p = dir.join("labels.npy");
    FileStamp::read(&p).map(|s| (p, s))
}

/// Every run directory under `root` with its name. ROOT itself is a run
/// (named after its last component) when it holds `milestones/`.
pub fn find_runs(root: &Path) -> Vec<(String, PathBuf)> {
    let mut out = Vec::new();
    if is_dir(&root.join("milestones")) {
        let name = root
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| ".".into());
        out.push((name, root.to_path_buf()));
        return out;
    }
    walk(root, "", 1, &mut out);
    out
}

fn walk(dir: &Path, prefix: &str, depth: usize, out: &mut Vec<(String, PathBuf)>) {
    if depth > MAX_RUN_DEPTH {
        return;
    }
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if is_ignored(&name) || name == "milestones" {
            continue;
        }
        let path = entry.path();
        // file_type() does not follow symlinks; a symlinked run directory counts.
        let is_d = match entry.file_type() {
            Ok(t) if t.is_dir() => true,
            Ok(t) if t.is_symlink() => is_dir(&path),
            _ => false,
        };
        if !is_d {
            continue;
        }
        let rel = if prefix.is_empty() {
            name
        } else {
            format!("{prefix}/{name}")
        };
        if is_dir(&path.join("milestones")) {
            out.push((rel, path));
        } else {
            walk(&path, &rel, depth + 1, out);
        }
    }
}

fn is_dir(p: &Path) -> bool {
    fs::metadata(p).map(|m| m.is_dir()).unwrap_or(false)
}

/// List one run's milestone files.
pub fn scan_run(name: String, dir: PathBuf, labels: Option<(PathBuf, FileStamp)>) -> RunScan {
    let mut files = Vec::new();
    let mut unnamed = Vec::new();
    let milestones = dir.join("milestones");
    if let Ok(entries) = fs::read_dir(&milestones) {
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if is_ignored(&name) {
                continue;
            }
            let path = entry.path();
            let Ok(meta) = fs::metadata(&path) else {
                continue;
            };
            if meta.is_dir() {
                match parse_step(&name) {
                    Some(step) => list_step_dir(&path, step, &name, &mut files),
                    None => unnamed.push(path),
                }
            } else if meta.is_file() {
                let (stem, format) = if let Some(stem) = name.strip_suffix(".npz") {
                    (stem, MilestoneFormat::Npz)
                } else if let Some(stem) = name.strip_suffix(".npy") {
                    (stem, MilestoneFormat::SingleNpy)
                } else {
                    continue;
                };
                match parse_step(stem) {
                    Some(step) => files.push(MilestoneFile {
                        step,
                        step_name: stem.to_string(),
                        path,
                        format,
                        stamp: FileStamp::of(&meta),
                    }),
                    None => unnamed.push(path),
                }
            }
        }
    }
    files.sort_by(|a, b| (a.step, &a.path).cmp(&(b.step, &b.path)));
    unnamed.sort();
    RunScan {
        labels,
        run_json: FileStamp::read(&dir.join("run.json")),
        scalars: FileStamp::read(&dir.join("scalars.jsonl")),
        name,
        dir,
        files,
        unnamed,
    }
}

fn list_step_dir(dir: &Path, step: u64, step_name: &str, files: &mut Vec<MilestoneFile>) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if is_ignored(&name) {
            continue;
        }
        let format = if let Some(layer) = name.strip_suffix(".npy") {
            MilestoneFormat::LayerNpy(layer.to_string())
        } else if name.ends_with(".npz") {
            MilestoneFormat::Npz
        } else {
            continue;
        };
        let path = entry.path();
        let Ok(meta) = fs::metadata(&path) else {
            continue;
        };
        if meta.is_file() {
            files.push(MilestoneFile {
                step,
                step_name: step_name.to_string(),
                path,
                format,
                stamp: FileStamp::of(&meta),
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_are_the_last_run_of_digits() {
        assert_eq!(parse_step("epoch_0020"), Some(20));
        assert_eq!(parse_step("step12000"), Some(12000));
        assert_eq!(parse_step("20"), Some(20));
        assert_eq!(parse_step("v2_epoch7_final"), Some(7));
        assert_eq!(parse_step("final"), None);
        assert_eq!(parse_step(""), None);
        assert_eq!(parse_step("99999999999999999999999"), None);
    }

    #[test]
    fn temporaries_and_hidden_names_are_ignored() {
        for n in [
            ".h.npy",
            "h.npy.tmp",
            "20.npz.part",
            "x.partial",
            ".DS_Store",
        ] {
            assert!(is_ignored(n), "{n}");
        }
        for n in ["h.npy", "epoch_0020", "20.npz"] {
            assert!(!is_ignored(n), "{n}");
        }
    }

    #[test]
    fn finds_nested_runs_and_every_milestone_form() {
        let root = tempfile::tempdir().unwrap();
        let r = root.path();
        let run = r.join("cifar10/simclr-s0");
        fs::create_dir_all(run.join("milestones/epoch_0020")).unwrap();
        fs::write(run.join("milestones/epoch_0020/h.npy"), b"x").unwrap();
        fs::write(run.join("milestones/epoch_0020/.z.npy.tmp"), b"x").unwrap();
        fs::write(run.join("milestones/30.npz"), b"x").unwrap();
        fs::write(run.join("milestones/step40.npy"), b"x").unwrap();
        fs::write(run.join("milestones/50.npy.part"), b"x").unwrap();
        fs::write(run.join("milestones/notes.txt"), b"x").unwrap();
        fs::write(run.join("milestones/final.npy"), b"x").unwrap();
        fs::write(r.join("labels.npy"), b"x").unwrap();
        fs::create_dir_all(r.join("other/milestones")).unwrap();
        fs::write(r.join("other/labels.npy"), b"x").unwrap();
        fs::create_dir_all(r.join("not-a-run/checkpoints")).unwrap();

        let runs = scan_root(r).unwrap();
        let names: Vec<_> = runs.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(names, ["cifar10/simclr-s0", "other"]);
        let files: Vec<_> = runs[0]
            .files
            .iter()
            .map(|f| (f.step, f.format.clone()))
            .collect();
        assert_eq!(
            files,
            [
                (20, MilestoneFormat::LayerNpy("h".into())),
                (30, MilestoneFormat::Npz),
                (40, MilestoneFormat::SingleNpy),
            ]
        );
        assert_eq!(runs[0].unnamed.len(), 1);
        assert_eq!(runs[0].labels.as_ref().unwrap().0, r.join("labels.npy"));
        assert_eq!(
            runs[1].labels.as_ref().unwrap().0,
            r.join("other/labels.npy")
        );
    }

    #[test]
    fn root_itself_can_be_a_run() {
        let root = tempfile::tempdir().unwrap();
        fs::create_dir_all(root.path().join("milestones")).unwrap();
        let runs = find_runs(root.path());
        assert_eq!(runs.len(), 1);
        assert_eq!(runs[0].1, root.path());
    }
}
