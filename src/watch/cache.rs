//! The result cache: append-only JSON Lines, one record per (run, step,
//! layer), so a restart recomputes nothing. A record is valid for a file
//! version (path relative to ROOT and its [`FileStamp`]: size, mtime, inode
//! and change time), the metric settings (a hash of their JSON and the
//! sslwatch version) and the labels file version. Each record is O(1) in
//! the number of layers its file holds: it carries its layer's index, the
//! count and a hash of the file's layer list, not the list.
//!
//! Stored under the user's cache directory (`~/.cache/sslwatch/roots/` on
//! Linux) in a file named after ROOT's canonical path, or in `--cache-dir`.
//! Never inside ROOT. A torn last line (crash mid-write) or any unreadable
//! line is skipped on load; later records win over earlier ones. The cache
//! is a convenience: when it cannot be read or written (read-only, full
//! disk, not a regular file, too big) sslwatch says so once and goes on
//! without it; results are never lost, only not remembered.

use crate::metrics::{LayerMetrics, MetricSettings};
use crate::runs::FileStamp;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};

/// Bumped when the record's layout changes (old records are then ignored).
/// A change in what a metric means is a `rev` bump in the metric registry
/// instead (it is part of the settings key, [`settings_key`]). 4: metric
/// values by registry key, the spectrum and outlier rows.
const FORMAT: u32 = 4;

/// A cache file larger than this is not loaded (a fresh one is started
/// beside it): loading is bounded whatever is on disk.
pub const MAX_CACHE_BYTES: u64 = 256 << 20;

/// Longest line read from a cache file; longer ones are skipped.
const MAX_LINE: u64 = 1 << 20;

/// The version of a labels file a result was computed with.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct LabelsId {
    pub path: String,
    pub stamp: FileStamp,
}

/// One cached (run, step, layer) result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CacheRecord {
    pub v: u32,
    pub run: String,
    pub step: u64,
    pub step_name: String,
    pub layer: String,
    /// The milestone file, relative to ROOT.
    pub file: String,
    pub stamp: FileStamp,
    pub settings: String,
    pub labels: Option<LabelsId>,
    /// This layer's place in its file, how many layers the file holds and
    /// a hash of their names, so a lookup knows when it has them all.
    pub layer_index: usize,
    pub layer_count: usize,
    pub layers_hash: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metrics: Option<LayerMetrics>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// What a lookup is for.
pub struct Lookup<'a> {
    pub file: &'a str,
    pub stamp: FileStamp,
    pub labels: Option<&'a LabelsId>,
    pub layer_filter: Option<&'a str>,
}

/// The loaded cache and the file new records are appended to.
pub struct Cache {
    path: PathBuf,
    settings: String,
    out: Option<File>,
    /// No cache file yet: it (and its directory) is created by the first
    /// append, so a session that computes nothing leaves nothing behind.
    pending: bool,
    /// The file did not end in a newline: the next append starts one.
    torn: bool,
    by_file: HashMap<String, Vec<CacheRecord>>,
    /// Records read at load (for messages).
    pub loaded: usize,
}

/// A cache that opened with a problem: usable as far as it goes.
pub struct Opened {
    pub cache: Cache,
    /// Said once to the user (read-only, too big, unreadable lines, ...).
    pub warning: Option<String>,
}

/// Skip to just past the next newline without keeping the bytes. `None`
/// when nothing was left; else whether a newline ended the line.
fn skip_line<R: BufRead>(r: &mut R) -> Option<bool> {
    let mut any = false;
    loop {
        let (used, ended) = match r.fill_buf() {
            Ok([]) | Err(_) => return any.then_some(false),
            Ok(buf) => match buf.iter().position(|&b| b == b'\n') {
                Some(i) => (i + 1, true),
                None => (buf.len(), false),
            },
        };
        r.consume(used);
        any = true;
        if ended {
            return Some(true);
        }
    }
}

/// A hash of a file's layer names, in order.
pub fn layers_hash(layers: &[String]) -> String {
    format!("{:016x}", fnv1a(layers.join("\0").as_bytes()))
}

/// A stable hash of the settings (and version) results depend on.
/// The metric registry's fingerprint (every metric's key and revision) is
/// part of it, so a new or changed metric is recomputed by itself.
pub fn settings_key(settings: &MetricSettings) -> String {
    let text = serde_json::to_string(&(
        env!("CARGO_PKG_VERSION"),
        settings,
        crate::metrics::registry::fingerprint(),
    ))
    .unwrap_or_default();
    format!("{:016x}", fnv1a(text.as_bytes()))
}

/// FNV-1a 64: stable across Rust versions and platforms (std's hasher is not).
pub fn fnv1a(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// The cache file for `root` (canonical) inside `dir`.
pub fn cache_file(dir: &Path, root: &Path) -> PathBuf {
    let name = root
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "root".into());
    let safe: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .take(40)
        .collect();
    let hash = fnv1a(root.to_string_lossy().as_bytes());
    dir.join(format!("{safe}-{hash:016x}.jsonl"))
}

/// The default cache directory (`~/.cache/sslwatch/roots` on Linux).
pub fn default_dir() -> Option<PathBuf> {
    directories::ProjectDirs::from("", "", "sslwatch").map(|d| d.cache_dir().join("roots"))
}

impl Cache {
    /// Load `path` (missing is fine) and prepare to append to it. Never
    /// fails and never writes: a cache that cannot be created, read or
    /// written is used as far as it can be, with one warning.
    pub fn open(path: PathBuf, settings: &MetricSettings) -> Opened {
        let mut cache = Cache {
            path: path.clone(),
            settings: settings_key(settings),
            out: None,
            pending: false,
            torn: false,
            by_file: HashMap::new(),
            loaded: 0,
        };
        let mut problems: Vec<String> = Vec::new();
        match std::fs::symlink_metadata(&path) {
            Ok(m) if !m.is_file() => {
                let what = if m.is_dir() {
                    "a directory"
                } else {
                    "not a regular file"
                };
                return Opened {
                    cache,
                    warning: Some(format!("the cache file is {what}: running without a cache")),
                };
            }
            Ok(m) if m.len() > MAX_CACHE_BYTES => {
                // Too big to load: start a fresh file beside it.
                let fresh = path.with_extension("fresh.jsonl");
                problems.push(format!(
                    "it holds {} bytes, more than the {MAX_CACHE_BYTES} loaded: starting {}",
                    m.len(),
                    fresh.display()
                ));
                cache.path = fresh;
                let _ = std::fs::remove_file(&cache.path);
            }
            _ => {}
        }
        let skipped = cache.load();
        // A crash tears one line now and then; many unreadable lines mean
        // the file is damaged (they are skipped either way).
        if skipped > cache.loaded / 10 + 1 {
            problems.push(format!("{skipped} unreadable line(s) skipped"));
        }
        if cache.path.exists() {
            match OpenOptions::new().append(true).open(&cache.path) {
                Ok(f) => cache.out = Some(f),
                Err(e) => problems.push(format!(
                    "cannot write to it ({e}): results of this session are not cached"
                )),
            }
        } else {
            cache.pending = true;
        }
        Opened {
            cache,
            warning: (!problems.is_empty()).then(|| problems.join("; ")),
        }
    }

    /// Read the records of the current format; returns how many lines
    /// could not be read (a torn last line is not counted).
    fn load(&mut self) -> usize {
        let Ok(f) = File::open(&self.path) else {
            return 0;
        };
        let mut reader = BufReader::new(f.take(MAX_CACHE_BYTES));
        let mut skipped = 0;
        let mut line = Vec::new();
        loop {
            line.clear();
            let read = (&mut reader).take(MAX_LINE).read_until(b'\n', &mut line);
            match read {
                Ok(0) => break,
                Ok(_) => {}
                Err(_) => {
                    skipped += 1;
                    break;
                }
            }
            let complete = line.last() == Some(&b'\n');
            if !complete {
                // A torn last line, or an over-long one: skip to its end.
                match skip_line(&mut reader) {
                    Some(ended) => {
                        skipped += 1;
                        self.torn = !ended;
                    }
                    None => self.torn = true,
                }
                continue;
            }
            match serde_json::from_slice::<CacheRecord>(&line) {
                Ok(rec) if rec.v == FORMAT => {
                    self.loaded += 1;
                    self.by_file.entry(rec.file.clone()).or_default().push(rec);
                }
                Ok(_) => {}
                Err(_) if serde_json::from_slice::<serde_json::Value>(&line).is_ok() => {}
                Err(_) => skipped += 1,
            }
        }
        skipped
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The settings key records are written with.
    pub fn settings(&self) -> &str {
        &self.settings
    }

    /// The cached records for every wanted layer of this file version, or
    /// `None` when any is missing. An empty vector means the file holds no
    /// wanted layer.
    pub fn lookup(&self, q: &Lookup<'_>) -> Option<Vec<CacheRecord>> {
        let recs = self.by_file.get(q.file)?;
        let matching = |r: &&CacheRecord| {
            r.stamp == q.stamp && r.settings == self.settings && r.labels.as_ref() == q.labels
        };
        let newest = recs.iter().rev().find(matching)?;
        let (count, hash) = (newest.layer_count, newest.layers_hash.as_str());
        let mut slots: Vec<Option<&CacheRecord>> = vec![None; count];
        for r in recs.iter().rev().filter(matching) {
            if r.layer_count == count && r.layers_hash == hash && r.layer_index < count {
                slots[r.layer_index].get_or_insert(r);
            }
        }
        match q.layer_filter {
            Some(f) => {
                if slots.iter().any(|s| s.is_some_and(|r| r.layer == f)) {
                    Some(
                        slots
                            .into_iter()
                            .flatten()
                            .filter(|r| r.layer == f)
                            .cloned()
                            .collect(),
                    )
                } else if slots.iter().all(Option::is_some) {
                    Some(Vec::new()) // the file has no such layer
                } else {
                    None
                }
            }
            None => slots.into_iter().map(|s| s.cloned()).collect(),
        }
    }

    /// Append records (one line each) and index them. A write failure stops
    /// writing for the rest of the session and is returned once; the
    /// records stay in memory either way.
    pub fn append(&mut self, records: Vec<CacheRecord>) -> std::io::Result<()> {
        let mut text = String::new();
        if self.torn {
            text.push('\n');
        }
        for r in &records {
            if let Ok(line) = serde_json::to_string(r) {
                text.push_str(&line);
                text.push('\n');
            }
        }
        for r in records {
            self.by_file.entry(r.file.clone()).or_default().push(r);
        }
        if self.pending {
            self.pending = false;
            let created = match self.path.parent() {
                Some(parent) => std::fs::create_dir_all(parent),
                None => Ok(()),
            }
            .and_then(|()| {
                OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(&self.path)
            });
            self.out = Some(created?);
        }
        let Some(out) = self.out.as_mut() else {
            return Ok(());
        };
        // One write per file version: a crash tears at most the last line.
        if let Err(e) = out.write_all(text.as_bytes()) {
            self.out = None;
            return Err(e);
        }
        self.torn = false;
        Ok(())
    }

    /// Whether new records still reach the disk.
    pub fn writable(&self) -> bool {
        self.out.is_some() || self.pending
    }

    /// A record of this cache's settings for one layer of a file.
    pub fn record(
        &self,
        at: RecordAt<'_>,
        layer: &str,
        outcome: &Result<LayerMetrics, String>,
    ) -> CacheRecord {
        CacheRecord {
            v: FORMAT,
            run: at.run.to_string(),
            step: at.step,
            step_name: at.step_name.to_string(),
            layer: layer.to_string(),
            file: at.file.to_string(),
            stamp: at.stamp,
            settings: self.settings.clone(),
            labels: at.labels.cloned(),
            layer_index: at.index,
            layer_count: at.count,
            layers_hash: at.layers_hash.to_string(),
            metrics: outcome.as_ref().ok().cloned(),
            error: outcome.as_ref().err().cloned(),
        }
    }
}

/// Where a record belongs: the file version and the layer's place in it.
#[derive(Clone, Copy)]
pub struct RecordAt<'a> {
    pub run: &'a str,
    pub step: u64,
    pub step_name: &'a str,
    pub file: &'a str,
    pub stamp: FileStamp,
    pub labels: Option<&'a LabelsId>,
    pub index: usize,
    pub count: usize,
    pub layers_hash: &'a str,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stamp(size: u64) -> FileStamp {
        FileStamp {
            size,
            mtime_ns: 7,
            ino: 3,
            ctime_ns: 9,
        }
    }

    const FILE: &str = "r/milestones/epoch_0020.npz";

    fn rec(cache: &Cache, layer: &str, layers: &[&str], size: u64) -> CacheRecord {
        let layers: Vec<String> = layers.iter().map(|s| s.to_string()).collect();
        let hash = layers_hash(&layers);
        let at = RecordAt {
            run: "r",
            step: 20,
            step_name: "epoch_0020",
            file: FILE,
            stamp: stamp(size),
            labels: None,
            index: layers.iter().position(|l| l == layer).unwrap(),
            count: layers.len(),
            layers_hash: &hash,
        };
        cache.record(
            at,
            layer,
            &Ok(LayerMetrics {
                n: 5,
                ..LayerMetrics::default()
            }),
        )
    }

    fn q<'a>(stamp: FileStamp, filter: Option<&'a str>) -> Lookup<'a> {
        Lookup {
            file: FILE,
            stamp,
            labels: None,
            layer_filter: filter,
        }
    }

    fn open(path: &Path, s: &MetricSettings) -> Cache {
        let o = Cache::open(path.to_path_buf(), s);
        assert!(o.warning.is_none(), "{:?}", o.warning);
        o.cache
    }

    #[test]
    fn survives_a_torn_last_line_and_reloads_records() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.jsonl");
        let s = MetricSettings::default();
        {
            let mut c = open(&path, &s);
            let h = rec(&c, "h", &["h", "z"], 100);
            c.append(vec![h]).unwrap();
            assert!(c.lookup(&q(stamp(100), None)).is_none(), "z is missing");
            assert_eq!(c.lookup(&q(stamp(100), Some("h"))).unwrap().len(), 1);
        }
        // A crash mid-write.
        let mut f = OpenOptions::new().append(true).open(&path).unwrap();
        f.write_all(b"{\"v\":2,\"run\":\"r\",\"st").unwrap();
        drop(f);
        let before = std::fs::read(&path).unwrap();
        {
            let mut c = open(&path, &s);
            assert_eq!(c.loaded, 1);
            assert_eq!(
                std::fs::read(&path).unwrap(),
                before,
                "opening writes nothing"
            );
            let z = rec(&c, "z", &["h", "z"], 100);
            c.append(vec![z]).unwrap();
        }
        let c = open(&path, &s);
        assert_eq!(c.loaded, 2);
        assert_eq!(c.lookup(&q(stamp(100), None)).unwrap().len(), 2);
        assert!(c.lookup(&q(stamp(101), None)).is_none(), "another size");
        let mut touched = stamp(100);
        touched.ctime_ns += 1;
        assert!(
            c.lookup(&q(touched, None)).is_none(),
            "same size and mtime, new ctime"
        );
        let mut replaced = stamp(100);
        replaced.ino += 1;
        assert!(c.lookup(&q(replaced, None)).is_none(), "another inode");
        let other = MetricSettings {
            seed: 9,
            ..MetricSettings::default()
        };
        let c2 = open(&path, &other);
        assert!(c2.lookup(&q(stamp(100), None)).is_none(), "other settings");
    }

    #[test]
    fn records_do_not_grow_with_the_number_of_layers() {
        let s = MetricSettings::default();
        let dir = tempfile::tempdir().unwrap();
        let c = open(&dir.path().join("c.jsonl"), &s);
        let few: Vec<String> = (0..2).map(|i| format!("layer{i}")).collect();
        let many: Vec<String> = (0..500).map(|i| format!("layer{i}")).collect();
        let len = |layers: &[String]| {
            let refs: Vec<&str> = layers.iter().map(String::as_str).collect();
            serde_json::to_string(&rec(&c, "layer1", &refs, 1))
                .unwrap()
                .len()
        };
        assert!(
            len(&many) <= len(&few) + 4,
            "{} vs {}",
            len(&many),
            len(&few)
        );
    }

    #[test]
    fn the_cache_file_and_its_directory_appear_with_the_first_record() {
        let s = MetricSettings::default();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub").join("c.jsonl");
        let mut c = open(&path, &s);
        assert!(c.writable());
        assert!(!dir.path().join("sub").exists(), "nothing written at open");
        let h = rec(&c, "h", &["h"], 100);
        c.append(vec![h]).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(text.lines().count(), 1);
        let c = open(&path, &s);
        assert!(c.lookup(&q(stamp(100), None)).is_some());
    }

    #[test]
    fn a_cache_that_cannot_be_written_still_serves_and_keeps_results() {
        let s = MetricSettings::default();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.jsonl");
        {
            let mut c = open(&path, &s);
            let h = rec(&c, "h", &["h"], 100);
            c.append(vec![h]).unwrap();
        }
        let mut c = open(&path, &s);
        // The disk fills up: writes fail from now on.
        c.out = Some(File::open(&path).unwrap());
        let z = rec(&c, "h", &["h"], 200);
        assert!(c.append(vec![z]).is_err());
        assert!(!c.writable());
        assert!(c.lookup(&q(stamp(200), None)).is_some(), "kept in memory");
        assert!(c.lookup(&q(stamp(100), None)).is_some());
        let again = rec(&c, "h", &["h"], 300);
        assert!(
            c.append(vec![again]).is_ok(),
            "the failure is returned once"
        );
    }

    #[test]
    fn a_cache_path_that_is_not_a_file_or_is_junk_is_a_warning() {
        let s = MetricSettings::default();
        let dir = tempfile::tempdir().unwrap();
        let o = Cache::open(dir.path().to_path_buf(), &s);
        assert!(o.warning.unwrap().contains("a directory"));
        let junk = dir.path().join("junk.jsonl");
        std::fs::write(&junk, b"\x00\x01garbage\nnot json\n{\"v\":1}\n").unwrap();
        let o = Cache::open(junk, &s);
        assert_eq!(o.cache.loaded, 0);
        assert!(o.warning.unwrap().contains("2 unreadable"));
    }

    #[test]
    fn file_name_depends_on_the_root() {
        let d = Path::new("/c");
        assert_ne!(
            cache_file(d, Path::new("/a/runs")),
            cache_file(d, Path::new("/b/runs"))
        );
        assert!(cache_file(d, Path::new("/a/my runs")).starts_with("/c"));
    }
}
