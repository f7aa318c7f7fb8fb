//! A run's optional side files: `run.json` (metadata) and `scalars.jsonl`
//! (one JSON object per line, e.g. `{"step": 20, "loss": 4.1, "probe_acc": 0.71}`).

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

/// `run.json`'s well-known keys; everything else is kept in `extra`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct RunMeta {
    pub method: Option<String>,
    pub dataset: Option<String>,
    pub arch: Option<String>,
    #[serde(default)]
    pub extra: BTreeMap<String, serde_json::Value>,
}

/// One line of a run's `scalars.jsonl` that has a step.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScalarPoint {
    pub step: u64,
    /// Numeric fields other than `step` (loss, probe_acc, lr, ...).
    pub values: BTreeMap<String, f64>,
}

/// `run.json` files larger than this are refused (metadata, not data).
pub const MAX_RUN_JSON_BYTES: u64 = 1 << 20;

/// At most this many scalar points are kept per run (the oldest are dropped):
/// per-iteration logs can grow without bound, the UI needs only the shape.
pub const MAX_SCALAR_POINTS: usize = 100_000;

/// Parse `run.json`: `method`, `dataset`, `arch` (strings) and every other
/// key in `extra`.
pub fn parse_run_json(text: &str) -> Result<RunMeta, String> {
    let value: serde_json::Value = serde_json::from_str(text).map_err(|e| e.to_string())?;
    let serde_json::Value::Object(map) = value else {
        return Err("not a JSON object".into());
    };
    let mut meta = RunMeta::default();
    for (key, v) in map {
        let slot = match key.as_str() {
            "method" => Some(&mut meta.method),
            "dataset" => Some(&mut meta.dataset),
            "arch" => Some(&mut meta.arch),
            _ => None,
        };
        match (slot, v) {
            (Some(slot), serde_json::Value::String(s)) => *slot = Some(s),
            (_, v) => {
                meta.extra.insert(key, v);
            }
        }
    }
    Ok(meta)
}

/// Read `run.json` (bounded in size).
pub fn read_run_json(path: &Path) -> Result<RunMeta, String> {
    let file = File::open(path).map_err(|e| format!("cannot read: {e}"))?;
    let mut text = String::new();
    file.take(MAX_RUN_JSON_BYTES + 1)
        .read_to_string(&mut text)
        .map_err(|e| format!("cannot read: {e}"))?;
    if text.len() as u64 > MAX_RUN_JSON_BYTES {
        return Err(format!("larger than {MAX_RUN_JSON_BYTES} bytes"));
    }
    parse_run_json(&text).map_err(|e| format!("invalid JSON: {e}"))
}

/// One parsed line of `scalars.jsonl`: `Ok(None)` for an object without a
/// step (ignored), `Err` for a line that is not a JSON object.
pub fn parse_scalar_line(line: &str) -> Result<Option<ScalarPoint>, String> {
    let value: serde_json::Value = serde_json::from_str(line).map_err(|e| e.to_string())?;
    let serde_json::Value::Object(map) = value else {
        return Err("not a JSON object".into());
    };
    let step = match map.get("step") {
        Some(serde_json::Value::Number(n)) => match (n.as_u64(), n.as_f64()) {
            (Some(s), _) => s,
            (None, Some(f)) if f >= 0.0 && f.fract() == 0.0 && f < u64::MAX as f64 => f as u64,
            _ => return Err(format!("step {n} is not a whole number")),
        },
        _ => return Ok(None),
    };
    let values: BTreeMap<String, f64> = map
        .into_iter()
        .filter(|(k, _)| k != "step")
        .filter_map(|(k, v)| v.as_f64().filter(|f| f.is_finite()).map(|f| (k, f)))
        .collect();
    Ok(Some(ScalarPoint { step, values }))
}

/// Incremental reader of a growing `scalars.jsonl`: only the bytes appended
/// since the last look are read; a torn last line (no newline yet) waits for
/// the next look; a file that shrank or was replaced is read again from the start.
#[derive(Debug, Default)]
pub struct ScalarsFile {
    /// Bytes consumed (up to and including the last complete line).
    offset: u64,
    ino: u64,
    pub points: Vec<ScalarPoint>,
    /// Lines that were not JSON objects (skipped).
    pub bad_lines: usize,
    /// The first bad line's problem, for the one warning.
    pub first_bad: Option<String>,
}

impl ScalarsFile {
    /// Read what was appended. Returns whether `points` changed.
    pub fn update(&mut self, path: &Path, size: u64, ino: u64) -> std::io::Result<bool> {
        let mut changed = false;
        if size < self.offset || ino != self.ino {
            changed = !self.points.is_empty();
            *self = ScalarsFile {
                ino,
                ..ScalarsFile::default()
            };
        }
        if size == self.offset {
            return Ok(changed);
        }
        let mut file = File::open(path)?;
        file.seek(SeekFrom::Start(self.offset))?;
        let mut buf = Vec::new();
        file.take(size - self.offset).read_to_end(&mut buf)?;
        let Some(last_nl) = buf.iter().rposition(|&b| b == b'\n') else {
            return Ok(changed);
        };
        self.offset += last_nl as u64 + 1;
        for raw in buf[..last_nl].split(|&b| b == b'\n') {
            let line = String::from_utf8_lossy(raw);
            let line = line.trim();
            if line.is_empty() {
                continue;
            }
            match parse_scalar_line(line) {
                Ok(Some(p)) => {
                    self.points.push(p);
                    changed = true;
                }
                Ok(None) => {}
                Err(e) => {
                    self.bad_lines += 1;
                    self.first_bad.get_or_insert(e);
                }
            }
        }
        if self.points.len() > MAX_SCALAR_POINTS {
            let extra = self.points.len() - MAX_SCALAR_POINTS;
            self.points.drain(..extra);
        }
        Ok(changed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn run_json_keeps_known_and_extra_keys() {
        let m =
            parse_run_json(r#"{"method":"simclr","arch":"resnet18","simulated":true,"lr":0.3}"#)
                .unwrap();
        assert_eq!(m.method.as_deref(), Some("simclr"));
        assert_eq!(m.arch.as_deref(), Some("resnet18"));
        assert_eq!(m.dataset, None);
        assert_eq!(m.extra["simulated"], serde_json::json!(true));
        assert!(parse_run_json("[1]").is_err());
        assert!(parse_run_json("{\"method\":").is_err());
    }

    #[test]
    fn scalars_skip_bad_lines_and_wait_for_a_torn_last_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("scalars.jsonl");
        let mut f = File::create(&path).unwrap();
        write!(
            f,
            "{{\"step\": 1, \"loss\": 4.0}}\nnot json\n{{\"lr\": 0.1}}\n{{\"step\": 2, \"loss\": 3.5, \"probe_acc\": 0.4}}\n{{\"step\": 3, \"lo"
        )
        .unwrap();
        let mut s = ScalarsFile::default();
        let stamp = crate::runs::FileStamp::read(&path).unwrap();
        assert!(s.update(&path, stamp.size, stamp.ino).unwrap());
        assert_eq!(s.points.len(), 2);
        assert_eq!(s.points[1].values["probe_acc"], 0.4);
        assert_eq!(s.bad_lines, 1);
        writeln!(f, "ss\": 3.0}}").unwrap();
        let stamp = crate::runs::FileStamp::read(&path).unwrap();
        assert!(s.update(&path, stamp.size, stamp.ino).unwrap());
        assert_eq!(s.points.len(), 3);
        assert_eq!(s.points[2].step, 3);
        assert_eq!(s.bad_lines, 1);
    }
}
