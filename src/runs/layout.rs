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
//!
//! A run's labels are the nearest `labels.npy` upward from its directory
//! ([`LabelsLookup`]), so `report ROOT/run` finds the `ROOT/labels.npy` of
//! the tree it belongs to.

use crate::read::{ArrayInfo, Container};
use std::cell::Cell;
use std::collections::HashSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::UNIX_EPOCH;

/// File-system calls a thread made: the cost a watcher puts on a shared
/// (network) filesystem. Every `stat` and directory listing the layout code
/// and [`FileStamp::read`] make is counted, per thread, so a test or the
/// engine can tell what one look at ROOT cost.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FsCalls {
    /// `stat` calls (metadata of a path, following symlinks).
    pub stats: u64,
    /// Directory listings (`read_dir`).
    pub lists: u64,
}

impl FsCalls {
    /// What was counted since `earlier`.
    pub fn since(self, earlier: FsCalls) -> FsCalls {
        FsCalls {
            stats: self.stats.saturating_sub(earlier.stats),
            lists: self.lists.saturating_sub(earlier.lists),
        }
    }
}

thread_local! {
    static CALLS: Cell<FsCalls> = const { Cell::new(FsCalls { stats: 0, lists: 0 }) };
}

/// The calls this thread has made so far.
pub fn fs_calls() -> FsCalls {
    CALLS.with(Cell::get)
}

/// `fs::metadata`, counted.
pub(crate) fn stat(p: &Path) -> std::io::Result<fs::Metadata> {
    count_stat();
    fs::metadata(p)
}

fn count_stat() {
    CALLS.with(|c| {
        let mut v = c.get();
        v.stats += 1;
        c.set(v);
    });
}

/// `fs::read_dir`, counted.
pub(crate) fn list(p: &Path) -> std::io::Result<fs::ReadDir> {
    CALLS.with(|c| {
        let mut v = c.get();
        v.lists += 1;
        c.set(v);
    });
    fs::read_dir(p)
}

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

/// Name parts that mark a writer's temporary file wherever they appear
/// after the first dot: `h.npy.tmp`, `20.npz.part`, and `X.npy.tmp.npy`
/// (what `np.save("X.npy.tmp")` writes, since numpy appends `.npy`).
const TEMP_PARTS: [&str; 5] = ["tmp", "temp", "part", "partial", "swp"];

/// Names sslwatch never looks at: hidden files and writers' temporaries.
pub fn is_ignored(name: &str) -> bool {
    name.starts_with('.')
        || name.ends_with('~')
        || name
            .split('.')
            .skip(1)
            .any(|part| TEMP_PARTS.contains(&part.to_ascii_lowercase().as_str()))
}

/// What identifies one version of a file: a replaced or rewritten file has a
/// different stamp. Size and mtime alone are not enough: `cp -p`,
/// `rsync -t` and `os.utime` put an old mtime on new content. The change
/// time cannot be set by a user (any write, rename, chmod or `utime` moves
/// it forward), and the inode tells a replacement from a rewrite.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Default, serde::Serialize, serde::Deserialize,
)]
pub struct FileStamp {
    pub size: u64,
    /// Modification time, nanoseconds since the Unix epoch (0 if unknown).
    pub mtime_ns: u64,
    /// Inode number (0 where not available).
    pub ino: u64,
    /// Status change time, nanoseconds since the Unix epoch (0 where not
    /// available).
    #[serde(default)]
    pub ctime_ns: u64,
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
            ctime_ns: ctime_ns(meta),
        }
    }

    /// The stamp of the file at `path` (following symlinks), `None` if it is
    /// missing or not a regular file.
    pub fn read(path: &Path) -> Option<FileStamp> {
        let meta = stat(path).ok()?;
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

#[cfg(unix)]
fn ctime_ns(meta: &fs::Metadata) -> u64 {
    use std::os::unix::fs::MetadataExt;
    let (s, ns) = (meta.ctime(), meta.ctime_nsec());
    u64::try_from(s)
        .ok()
        .and_then(|s| s.checked_mul(1_000_000_000))
        .and_then(|s| s.checked_add(u64::try_from(ns).ok()?))
        .unwrap_or(0)
}

#[cfg(not(unix))]
fn ctime_ns(_meta: &fs::Metadata) -> u64 {
    0
}

/// A directory's identity (device, inode), to visit each directory once
/// however many symlinks lead to it.
#[cfg(unix)]
fn dir_id(meta: &fs::Metadata) -> Option<(u64, u64)> {
    use std::os::unix::fs::MetadataExt;
    Some((meta.dev(), meta.ino()))
}

#[cfg(not(unix))]
fn dir_id(_meta: &fs::Metadata) -> Option<(u64, u64)> {
    None
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
    /// A file directly in `milestones/` (`<step>.npz`, `<step>.npy`): its
    /// format and step name, `None` for a name that is not a milestone.
    pub fn of_milestone(name: &str) -> Option<(&str, MilestoneFormat)> {
        Container::of_name(name).map(|(stem, c)| match c {
            Container::Npz => (stem, MilestoneFormat::Npz),
            Container::Npy => (stem, MilestoneFormat::SingleNpy),
        })
    }

    /// A file inside a step directory (`<layer>.npy`, `<name>.npz`).
    pub fn of_step_file(name: &str) -> Option<MilestoneFormat> {
        Container::of_name(name).map(|(stem, c)| match c {
            Container::Npz => MilestoneFormat::Npz,
            Container::Npy => MilestoneFormat::LayerNpy(stem.to_string()),
        })
    }

    /// How the file is read.
    pub fn container(&self) -> Container {
        match self {
            MilestoneFormat::Npz => Container::Npz,
            MilestoneFormat::LayerNpy(_) | MilestoneFormat::SingleNpy => Container::Npy,
        }
    }

    /// The layer name a file's array gets: an `.npz` array keeps its name,
    /// an `.npy` is named by its place in the layout.
    pub fn layer_name(&self, array: &str) -> String {
        self.known_layer()
            .map_or_else(|| array.to_string(), str::to_string)
    }

    /// The file's layers, in file order, from what its headers describe.
    pub fn layers(&self, arrays: &[ArrayInfo]) -> Vec<String> {
        arrays.iter().map(|a| self.layer_name(&a.name)).collect()
    }

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
    /// The labels that apply: the nearest `labels.npy` upward ([`LabelsLookup`]).
    pub labels: Option<LabelsFile>,
    pub run_json: Option<FileStamp>,
    pub scalars: Option<FileStamp>,
    pub files: Vec<MilestoneFile>,
}

/// Something a scan skipped, said to the user (once per path and text).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScanNote {
    pub path: PathBuf,
    pub message: String,
}

/// Everything one scan of ROOT found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Scan {
    pub runs: Vec<RunScan>,
    /// Directories that could not be listed, symlink loops, runs beyond
    /// the nesting limit, names without a step number, steps written by
    /// several files: never dropped silently.
    pub notes: Vec<ScanNote>,
}

impl Scan {
    fn note(&mut self, path: &Path, message: impl Into<String>) {
        self.notes.push(ScanNote {
            path: path.to_path_buf(),
            message: message.into(),
        });
    }
}

/// Find every run under `root` and list its milestone files (stat only).
/// Errors only when `root` itself cannot be listed.
pub fn scan_root(root: &Path) -> std::io::Result<Scan> {
    list(root)?;
    let home = home_dir();
    let mut lookup = LabelsLookup::new(root, home.as_deref());
    let mut scan = Scan::default();
    let mut said_above = false;
    for (name, dir) in discover(root, &mut scan).runs {
        let labels = lookup.for_run(&dir);
        note_labels_above(root, &labels, &mut said_above, &mut scan);
        let run = scan_run(name, dir, labels, &mut scan);
        scan.runs.push(run);
    }
    scan.runs.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(scan)
}

/// Say (once per scan) that runs use a `labels.npy` above ROOT.
pub(crate) fn note_labels_above(
    root: &Path,
    labels: &Option<LabelsFile>,
    said: &mut bool,
    scan: &mut Scan,
) {
    if let Some((path, _)) = labels {
        if !*said && !path.starts_with(root) {
            *said = true;
            scan.note(path, LABELS_ABOVE_ROOT);
        }
    }
}

/// Said (once, on the labels file) when runs use a `labels.npy` found above ROOT.
pub const LABELS_ABOVE_ROOT: &str =
    "labels.npy above ROOT: used for the runs under ROOT that have none nearer";

/// The labels file that applies to a run (path and version).
pub type LabelsFile = (PathBuf, FileStamp);

fn labels_at(dir: &Path) -> Option<LabelsFile> {
    let p = dir.join("labels.npy");
    FileStamp::read(&p).map(|s| (p, s))
}

/// The user's home directory (canonical), where the search for labels above
/// ROOT stops.
pub(crate) fn home_dir() -> Option<PathBuf> {
    let home = directories::BaseDirs::new()?.home_dir().to_path_buf();
    Some(home.canonicalize().unwrap_or(home))
}

/// The one rule for which `labels.npy` applies to a run: the nearest one
/// upward from the run's directory. First the run's own, then each parent
/// directory up to and including ROOT, then the directories above ROOT
/// towards the filesystem root, stopping before the user's home directory
/// and before a directory holding `.git` (neither is a training tree any
/// more, and their `labels.npy` is not the runs'). One lookup serves a
/// whole scan: each directory is looked at once.
pub struct LabelsLookup {
    root: PathBuf,
    /// What the directories above ROOT give (looked at on first need).
    above: Option<Option<LabelsFile>>,
    home: Option<PathBuf>,
    /// Directories inside ROOT already looked at.
    seen: std::collections::HashMap<PathBuf, Option<LabelsFile>>,
}

impl LabelsLookup {
    /// `root` as the engine watches it (canonical); `home`: where the search
    /// above ROOT stops (`None`: only at `.git` or the filesystem root).
    pub fn new(root: &Path, home: Option<&Path>) -> LabelsLookup {
        LabelsLookup {
            root: root.to_path_buf(),
            above: None,
            home: home.map(Path::to_path_buf),
            seen: Default::default(),
        }
    }

    /// For a lookup kept between scans: look at `dir`'s own `labels.npy`
    /// again next time (a run directory whose listing changed).
    pub(crate) fn forget(&mut self, dir: &Path) {
        self.seen.remove(dir);
    }

    /// The labels that apply to the run in `dir` (ROOT or a directory below it).
    pub fn for_run(&mut self, dir: &Path) -> Option<LabelsFile> {
        let mut d = dir;
        // A directory outside ROOT is only its own labels: never climb out
        // of the tree through a path that is not below ROOT.
        if !d.starts_with(&self.root) {
            return labels_at(d);
        }
        loop {
            let found = self
                .seen
                .entry(d.to_path_buf())
                .or_insert_with(|| labels_at(d))
                .clone();
            if found.is_some() {
                return found;
            }
            if d == self.root {
                break;
            }
            match d.parent() {
                Some(p) => d = p,
                None => break,
            }
        }
        let (root, home) = (&self.root, self.home.as_deref());
        self.above
            .get_or_insert_with(|| labels_above(root, home))
            .clone()
    }
}

/// The nearest `labels.npy` above `root`, stopping before `home` and before
/// a directory holding `.git`.
fn labels_above(root: &Path, home: Option<&Path>) -> Option<LabelsFile> {
    let mut d = root.parent();
    while let Some(dir) = d {
        if Some(dir) == home || {
            count_stat();
            fs::symlink_metadata(dir.join(".git")).is_ok()
        } {
            return None;
        }
        if let Some(found) = labels_at(dir) {
            return Some(found);
        }
        d = dir.parent();
    }
    None
}

/// Every run directory under `root` with its name. ROOT itself is a run
/// (named after its last component) when it holds `milestones/`.
pub fn find_runs(root: &Path) -> Vec<(String, PathBuf)> {
    discover(root, &mut Scan::default()).runs
}

/// What finding the runs looked at.
#[derive(Debug, Clone, Default)]
pub(crate) struct Discovery {
    /// The run directories, by name.
    pub runs: Vec<(String, PathBuf)>,
    /// The directories listed to find them (ROOT and the directories
    /// between it and the runs), with their stamps when listed: a run
    /// appears or goes only where one of these changes.
    pub skeleton: Vec<(PathBuf, Option<FileStamp>)>,
}

/// A directory's stamp (`None`: missing or not a directory).
pub(crate) fn dir_stamp(p: &Path) -> Option<FileStamp> {
    stat(p)
        .ok()
        .filter(fs::Metadata::is_dir)
        .map(|m| FileStamp::of(&m))
}

pub(crate) fn discover(root: &Path, scan: &mut Scan) -> Discovery {
    let mut d = Discovery::default();
    let root_meta = stat(root).ok();
    d.skeleton
        .push((root.to_path_buf(), root_meta.as_ref().map(FileStamp::of)));
    if is_dir(&root.join("milestones")) {
        let name = root
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| ".".into());
        d.runs.push((name, root.to_path_buf()));
        return d;
    }
    let mut seen = HashSet::new();
    if let Some(id) = root_meta.as_ref().and_then(dir_id) {
        seen.insert(id);
    }
    let mut walk = Walk {
        seen,
        out: &mut d,
        scan,
    };
    walk.dir(root, "", 1);
    d
}

struct Walk<'a> {
    /// Directories visited, by (device, inode).
    seen: HashSet<(u64, u64)>,
    out: &'a mut Discovery,
    scan: &'a mut Scan,
}

impl Walk<'_> {
    fn dir(&mut self, dir: &Path, prefix: &str, depth: usize) {
        let entries = match list(dir) {
            Ok(e) => e,
            Err(e) => {
                self.scan.note(
                    dir,
                    format!("cannot list this directory ({e}): runs below it are not watched"),
                );
                return;
            }
        };
        let mut children: Vec<(String, PathBuf)> = entries
            .flatten()
            .map(|e| (e.file_name().to_string_lossy().into_owned(), e.path()))
            .filter(|(name, _)| !is_ignored(name) && name != "milestones")
            .collect();
        children.sort();
        for (name, path) in children {
            // Follows symlinks: a symlinked run directory counts.
            let Ok(meta) = stat(&path) else {
                continue;
            };
            if !meta.is_dir() {
                continue;
            }
            if let Some(id) = dir_id(&meta) {
                if !self.seen.insert(id) {
                    self.scan.note(
                        &path,
                        "leads to a directory already visited (a symlink loop or a second link): skipped",
                    );
                    continue;
                }
            }
            let rel = if prefix.is_empty() {
                name
            } else {
                format!("{prefix}/{name}")
            };
            if is_dir(&path.join("milestones")) {
                self.out.runs.push((rel, path));
            } else if depth < MAX_RUN_DEPTH {
                self.out
                    .skeleton
                    .push((path.clone(), Some(FileStamp::of(&meta))));
                self.dir(&path, &rel, depth + 1);
            } else if has_run_below(&path) {
                self.scan.note(
                    &path,
                    format!("holds runs deeper than {MAX_RUN_DEPTH} levels below ROOT: not watched (point sslwatch at a deeper ROOT)"),
                );
            }
        }
    }
}

/// Whether a run directory lies one or two levels below `dir` (a cheap
/// look past the nesting limit, so deeper runs are said, not dropped).
fn has_run_below(dir: &Path) -> bool {
    let children = |d: &Path| -> Vec<PathBuf> {
        list(d)
            .map(|es| {
                es.flatten()
                    .map(|e| e.path())
                    .filter(|p| is_dir(p))
                    .take(256)
                    .collect()
            })
            .unwrap_or_default()
    };
    children(dir).iter().any(|c| {
        is_dir(&c.join("milestones")) || children(c).iter().any(|g| is_dir(&g.join("milestones")))
    })
}

fn is_dir(p: &Path) -> bool {
    stat(p).map(|m| m.is_dir()).unwrap_or(false)
}

/// List one run's milestone files, noting what is skipped in `scan`.
pub fn scan_run(
    name: String,
    dir: PathBuf,
    labels: Option<LabelsFile>,
    scan: &mut Scan,
) -> RunScan {
    let mut files = Vec::new();
    let milestones = dir.join("milestones");
    match list(&milestones) {
        Err(e) => scan.note(
            &milestones,
            format!("cannot list this run's milestones ({e}): none are shown"),
        ),
        Ok(entries) => {
            let mut names: Vec<(String, PathBuf)> = entries
                .flatten()
                .map(|e| (e.file_name().to_string_lossy().into_owned(), e.path()))
                .filter(|(name, _)| !is_ignored(name))
                .collect();
            names.sort();
            for (name, path) in names {
                let Ok(meta) = stat(&path) else {
                    continue;
                };
                if meta.is_dir() {
                    match parse_step(&name) {
                        Some(step) => list_step_dir(&path, step, &name, &mut files, scan),
                        None => scan.note(&path, NO_STEP),
                    }
                } else if meta.is_file() {
                    let Some((stem, format)) = MilestoneFormat::of_milestone(&name) else {
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
                        None => scan.note(&path, NO_STEP),
                    }
                }
            }
        }
    }
    files.sort_by(|a, b| (a.step, &a.path).cmp(&(b.step, &b.path)));
    let files = one_source_per_step(files, scan);
    RunScan {
        labels,
        run_json: FileStamp::read(&dir.join("run.json")),
        scalars: FileStamp::read(&dir.join("scalars.jsonl")),
        name,
        dir,
        files,
    }
}

const NO_STEP: &str = "no step number in the name (the last run of digits is the step): ignored";

/// A step is read from one place: a step directory (`epoch_1/`), an
/// `.npz` or an `.npy`. When several exist for one step (`1.npy`,
/// `epoch_1/emb.npy`, `e1.npz`), the first by name is used and the others
/// are named in a note, never mixed into one milestone.
fn one_source_per_step(files: Vec<MilestoneFile>, scan: &mut Scan) -> Vec<MilestoneFile> {
    // A file directly in `milestones/` is its own source; the files of a
    // step directory share theirs.
    let source = |f: &MilestoneFile| {
        let parent = f.path.parent()?;
        match parent.file_name() {
            Some(n) if n == "milestones" => Some(f.path.clone()),
            _ => Some(parent.to_path_buf()),
        }
    };
    let mut out: Vec<MilestoneFile> = Vec::with_capacity(files.len());
    let mut i = 0;
    while i < files.len() {
        let step = files[i].step;
        let mut j = i;
        while j < files.len() && files[j].step == step {
            j += 1;
        }
        let group = &files[i..j];
        let mut sources: Vec<PathBuf> = group.iter().filter_map(source).collect();
        sources.sort();
        sources.dedup();
        match sources.first() {
            Some(keep) if sources.len() > 1 => {
                let others: Vec<String> = sources[1..]
                    .iter()
                    .map(|p| {
                        p.file_name()
                            .map(|n| n.to_string_lossy().into_owned())
                            .unwrap_or_default()
                    })
                    .collect();
                scan.note(
                    keep,
                    format!(
                        "step {step} is written by several files: using this one, ignoring {}",
                        others.join(", ")
                    ),
                );
                out.extend(
                    group
                        .iter()
                        .filter(|f| source(f).as_ref() == Some(keep))
                        .cloned(),
                );
            }
            _ => out.extend(group.iter().cloned()),
        }
        i = j;
    }
    out
}

fn list_step_dir(
    dir: &Path,
    step: u64,
    step_name: &str,
    files: &mut Vec<MilestoneFile>,
    scan: &mut Scan,
) {
    let entries = match list(dir) {
        Ok(e) => e,
        Err(e) => {
            scan.note(
                dir,
                format!("cannot list this step directory ({e}): step {step} is not shown"),
            );
            return;
        }
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if is_ignored(&name) {
            continue;
        }
        let Some(format) = MilestoneFormat::of_step_file(&name) else {
            continue;
        };
        let path = entry.path();
        let Ok(meta) = stat(&path) else {
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

        let scan = scan_root(r).unwrap();
        let runs = &scan.runs;
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
        let notes: Vec<_> = scan.notes.iter().map(|n| n.path.clone()).collect();
        assert_eq!(notes, [run.join("milestones/final.npy")]);
        assert_eq!(runs[0].labels.as_ref().unwrap().0, r.join("labels.npy"));
        assert_eq!(
            runs[1].labels.as_ref().unwrap().0,
            r.join("other/labels.npy")
        );
    }

    #[test]
    fn labels_are_the_nearest_upward_within_root() {
        let t = tempfile::tempdir().unwrap();
        let root = t.path().join("root");
        touch(&root.join("labels.npy"));
        touch(&root.join("cifar10/labels.npy"));
        touch(&root.join("cifar10/own/labels.npy"));
        for run in ["cifar10/own", "cifar10/simclr", "stl10/moco"] {
            fs::create_dir_all(root.join(run).join("milestones")).unwrap();
        }
        let scan = scan_root(&root).unwrap();
        let used: Vec<_> = scan
            .runs
            .iter()
            .map(|r| r.labels.as_ref().unwrap().0.strip_prefix(&root).unwrap())
            .collect();
        assert_eq!(
            used,
            [
                Path::new("cifar10/own/labels.npy"),
                Path::new("cifar10/labels.npy"),
                Path::new("labels.npy")
            ]
        );
        assert!(scan.notes.is_empty(), "{:?}", scan.notes);
    }

    #[test]
    fn a_run_given_as_root_finds_the_labels_above_it_and_says_so() {
        let t = tempfile::tempdir().unwrap();
        let tree = t.path().join("tree");
        touch(&tree.join("labels.npy"));
        let run = tree.join("run");
        fs::create_dir_all(run.join("milestones")).unwrap();
        // ROOT is the run (`report tree/run`); a home that is not above it.
        let mut lookup = LabelsLookup::new(&run, Some(Path::new("/nonexistent-home")));
        assert_eq!(lookup.for_run(&run).unwrap().0, tree.join("labels.npy"));
        let run_labels = run.join("labels.npy");
        touch(&run_labels);
        let mut lookup = LabelsLookup::new(&run, None);
        assert_eq!(lookup.for_run(&run).unwrap().0, run_labels);
    }

    #[test]
    fn the_search_above_root_stops_before_home_and_before_a_git_checkout() {
        let t = tempfile::tempdir().unwrap();
        let top = t.path();
        touch(&top.join("labels.npy"));
        // Home: T/home/exp/run; T/labels.npy is above home.
        let home = top.join("home");
        let run = home.join("exp/run");
        fs::create_dir_all(run.join("milestones")).unwrap();
        assert_eq!(LabelsLookup::new(&run, Some(&home)).for_run(&run), None);
        // Without that stop it would be found.
        assert!(LabelsLookup::new(&run, None).for_run(&run).is_some());
        // A labels.npy in home itself is not used either.
        touch(&home.join("labels.npy"));
        assert_eq!(LabelsLookup::new(&run, Some(&home)).for_run(&run), None);
        // Git: T/proj/.git, T/proj/labels.npy, T/proj/runs/run.
        let proj = top.join("proj");
        fs::create_dir_all(proj.join(".git")).unwrap();
        touch(&proj.join("labels.npy"));
        let run = proj.join("runs/run");
        fs::create_dir_all(run.join("milestones")).unwrap();
        assert_eq!(LabelsLookup::new(&run, None).for_run(&run), None);
        // Inside ROOT a .git is no stop: ROOT is the training tree.
        let root = proj.clone();
        let found = LabelsLookup::new(&root, None).for_run(&run);
        assert_eq!(found.unwrap().0, proj.join("labels.npy"));
    }

    #[test]
    fn root_itself_can_be_a_run() {
        let root = tempfile::tempdir().unwrap();
        fs::create_dir_all(root.path().join("milestones")).unwrap();
        let runs = find_runs(root.path());
        assert_eq!(runs.len(), 1);
        assert_eq!(runs[0].1, root.path());
    }

    fn touch(p: &Path) {
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(p, b"x").unwrap();
    }

    #[test]
    fn numpy_style_temporaries_are_ignored_wherever_the_marker_is() {
        for n in [
            "X.npy.tmp.npy",
            "h.tmp.npy",
            "20.npz.part",
            "e.npy~",
            "a.TMP.npy",
        ] {
            assert!(is_ignored(n), "{n}");
        }
        for n in ["tmpdir", "temperature_1.npy", "part2.npy", "epoch_0020.npz"] {
            assert!(!is_ignored(n), "{n}");
        }
    }

    #[cfg(unix)]
    #[test]
    fn symlink_loops_are_visited_once_and_said() {
        let root = tempfile::tempdir().unwrap();
        let r = root.path();
        touch(&r.join("a/run1/milestones/1.npy"));
        touch(&r.join("b/run2/milestones/1.npy"));
        std::os::unix::fs::symlink(".", r.join("self")).unwrap();
        std::os::unix::fs::symlink("..", r.join("a/up")).unwrap();
        std::os::unix::fs::symlink(r.join("b"), r.join("b2")).unwrap();
        let scan = scan_root(r).unwrap();
        let names: Vec<_> = scan.runs.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(names, ["a/run1", "b/run2"]);
        let mut noted: Vec<_> = scan
            .notes
            .iter()
            .map(|n| n.path.strip_prefix(r).unwrap().to_path_buf())
            .collect();
        noted.sort();
        assert_eq!(
            noted,
            [Path::new("a/up"), Path::new("b2"), Path::new("self")]
        );
        assert!(scan.notes[0].message.contains("already visited"));
    }

    #[test]
    fn a_step_written_by_several_files_uses_one_and_names_the_others() {
        let root = tempfile::tempdir().unwrap();
        let m = root.path().join("run/milestones");
        touch(&m.join("1.npy"));
        touch(&m.join("epoch_1/emb.npy"));
        touch(&m.join("epoch_1/z.npy"));
        touch(&m.join("e1.npz"));
        touch(&m.join("2.npy"));
        let scan = scan_root(root.path()).unwrap();
        let files: Vec<_> = scan.runs[0]
            .files
            .iter()
            .map(|f| f.path.strip_prefix(&m).unwrap().to_path_buf())
            .collect();
        assert_eq!(files, [Path::new("1.npy"), Path::new("2.npy")]);
        assert_eq!(scan.notes.len(), 1);
        let msg = &scan.notes[0].message;
        assert!(
            msg.contains("step 1") && msg.contains("e1.npz") && msg.contains("epoch_1"),
            "{msg}"
        );
    }

    #[test]
    fn runs_past_the_nesting_limit_are_said() {
        let root = tempfile::tempdir().unwrap();
        let mut deep = root.path().to_path_buf();
        for i in 0..MAX_RUN_DEPTH {
            deep.push(format!("d{i}"));
        }
        touch(&deep.join("run/milestones/1.npy"));
        touch(&root.path().join("ok/milestones/1.npy"));
        let scan = scan_root(root.path()).unwrap();
        let names: Vec<_> = scan.runs.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(names, ["ok"]);
        assert_eq!(scan.notes.len(), 1, "{:?}", scan.notes);
        assert!(
            scan.notes[0].message.contains("deeper than"),
            "{:?}",
            scan.notes
        );
    }
}
