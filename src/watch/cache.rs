//! The result cache: append-only JSON Lines, one record per (run, step,
//! layer), so a restart recomputes nothing. A record is valid for a file
//! version (path relative to ROOT, size, mtime), the metric settings (a hash
//! of their JSON and the sslwatch version) and the labels file version.
//!
//! Stored under the user's cache directory (`~/.cache/sslwatch/roots/` on
//! Linux) in a file named after ROOT's canonical path, or in `--cache-dir`.
//! Never inside ROOT. A torn last line (crash mid-write) or any unreadable
//! line is skipped on load; later records win over earlier ones.

use crate::metrics::{LayerMetrics, MetricSettings};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

/// Bumped when the record format changes (old records are then ignored).
const FORMAT: u32 = 1;

/// The version of a labels file a result was computed with.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct LabelsId {
    pub path: String,
    pub size: u64,
    pub mtime_ns: u64,
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
    pub size: u64,
    pub mtime_ns: u64,
    pub settings: String,
    pub labels: Option<LabelsId>,
    /// Every layer the file holds (so a lookup knows when it has them all).
    pub file_layers: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metrics: Option<LayerMetrics>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// What a lookup is for.
pub struct Lookup<'a> {
    pub file: &'a str,
    pub size: u64,
    pub mtime_ns: u64,
    pub labels: Option<&'a LabelsId>,
    pub layer_filter: Option<&'a str>,
}

/// The loaded cache and the file new records are appended to.
pub struct Cache {
    path: PathBuf,
    settings: String,
    out: Option<File>,
    by_file: HashMap<String, Vec<CacheRecord>>,
    /// Records read at load (for messages).
    pub loaded: usize,
}

/// A stable hash of the settings (and version) results depend on.
pub fn settings_key(settings: &MetricSettings) -> String {
    let text = serde_json::to_string(&(env!("CARGO_PKG_VERSION"), settings)).unwrap_or_default();
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
    /// Load `path` (missing is fine) and open it for appending.
    pub fn open(path: PathBuf, settings: &MetricSettings) -> std::io::Result<Cache> {
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        let mut by_file: HashMap<String, Vec<CacheRecord>> = HashMap::new();
        let mut loaded = 0;
        if let Ok(f) = File::open(&path) {
            for line in BufReader::new(f).split(b'\n') {
                let Ok(line) = line else { break };
                let Ok(rec) = serde_json::from_slice::<CacheRecord>(&line) else {
                    continue;
                };
                if rec.v == FORMAT {
                    loaded += 1;
                    by_file.entry(rec.file.clone()).or_default().push(rec);
                }
            }
        }
        let mut out = OpenOptions::new()
            .create(true)
            .append(true)
            .read(true)
            .open(&path)?;
        // A torn last line must not swallow the next record.
        let len = out.metadata()?.len();
        if len > 0 {
            let mut last = [0u8];
            out.seek(SeekFrom::Start(len - 1))?;
            out.read_exact(&mut last)?;
            if last[0] != b'\n' {
                out.write_all(b"\n")?;
            }
        }
        Ok(Cache {
            path,
            settings: settings_key(settings),
            out: Some(out),
            by_file,
            loaded,
        })
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
            r.size == q.size
                && r.mtime_ns == q.mtime_ns
                && r.settings == self.settings
                && r.labels.as_ref() == q.labels
        };
        let newest = recs.iter().rev().find(matching)?;
        let mut out = Vec::new();
        for layer in &newest.file_layers {
            if q.layer_filter.is_some_and(|f| f != layer) {
                continue;
            }
            let rec = recs
                .iter()
                .rev()
                .filter(matching)
                .find(|r| &r.layer == layer)?;
            out.push(rec.clone());
        }
        Some(out)
    }

    /// Append records (one line each) and index them. A write failure turns
    /// the cache off for the rest of the session and is returned once.
    pub fn append(&mut self, records: Vec<CacheRecord>) -> std::io::Result<()> {
        let mut text = String::new();
        for r in &records {
            if let Ok(line) = serde_json::to_string(r) {
                text.push_str(&line);
                text.push('\n');
            }
        }
        for r in records {
            self.by_file.entry(r.file.clone()).or_default().push(r);
        }
        let Some(out) = self.out.as_mut() else {
            return Ok(());
        };
        // One write per file version: a crash tears at most the last line.
        if let Err(e) = out.write_all(text.as_bytes()) {
            self.out = None;
            return Err(e);
        }
        Ok(())
    }

    /// A record of this cache's settings for one layer of a file.
    #[allow(clippy::too_many_arguments)]
    pub fn record(
        &self,
        run: &str,
        step: u64,
        step_name: &str,
        layer: &str,
        file: &str,
        size: u64,
        mtime_ns: u64,
        labels: Option<&LabelsId>,
        file_layers: &[String],
        outcome: &Result<LayerMetrics, String>,
    ) -> CacheRecord {
        CacheRecord {
            v: FORMAT,
            run: run.to_string(),
            step,
            step_name: step_name.to_string(),
            layer: layer.to_string(),
            file: file.to_string(),
            size,
            mtime_ns,
            settings: self.settings.clone(),
            labels: labels.cloned(),
            file_layers: file_layers.to_vec(),
            metrics: outcome.as_ref().ok().cloned(),
            error: outcome.as_ref().err().cloned(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(cache: &Cache, layer: &str, layers: &[&str], size: u64) -> CacheRecord {
        let layers: Vec<String> = layers.iter().map(|s| s.to_string()).collect();
        cache.record(
            "r",
            20,
            "epoch_0020",
            layer,
            "r/milestones/epoch_0020.npz",
            size,
            7,
            None,
            &layers,
            &Ok(LayerMetrics {
                n: 5,
                ..LayerMetrics::default()
            }),
        )
    }

    fn q<'a>(size: u64, filter: Option<&'a str>) -> Lookup<'a> {
        Lookup {
            file: "r/milestones/epoch_0020.npz",
            size,
            mtime_ns: 7,
            labels: None,
            layer_filter: filter,
        }
    }

    #[test]
    fn survives_a_torn_last_line_and_reloads_records() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.jsonl");
        let s = MetricSettings::default();
        {
            let mut c = Cache::open(path.clone(), &s).unwrap();
            let h = rec(&c, "h", &["h", "z"], 100);
            c.append(vec![h]).unwrap();
            assert!(c.lookup(&q(100, None)).is_none(), "z is missing");
            assert_eq!(c.lookup(&q(100, Some("h"))).unwrap().len(), 1);
        }
        // A crash mid-write.
        let mut f = OpenOptions::new().append(true).open(&path).unwrap();
        f.write_all(b"{\"v\":1,\"run\":\"r\",\"st").unwrap();
        drop(f);
        {
            let mut c = Cache::open(path.clone(), &s).unwrap();
            assert_eq!(c.loaded, 1);
            let z = rec(&c, "z", &["h", "z"], 100);
            c.append(vec![z]).unwrap();
        }
        let c = Cache::open(path.clone(), &s).unwrap();
        assert_eq!(c.loaded, 2);
        assert_eq!(c.lookup(&q(100, None)).unwrap().len(), 2);
        assert!(c.lookup(&q(101, None)).is_none(), "another file version");
        let other = MetricSettings {
            seed: 9,
            ..MetricSettings::default()
        };
        let c2 = Cache::open(path, &other).unwrap();
        assert!(c2.lookup(&q(100, None)).is_none(), "other settings");
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
