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

/// The `scalars.jsonl` keys anything downstream uses: the views, the
/// report, plots and studies read the trainer's `probe_acc` (see
/// `runs::analysis::trainer_probe`). Only these are kept; a line holding
/// none of them is dropped once read. Add a key here when a view needs it.
pub const SCALAR_KEYS: &[&str] = &["probe_acc"];

/// `scalars.jsonl` is read this much at a time: a large file costs this
/// much memory while it is read, not its size.
pub const SCALARS_CHUNK: usize = 1 << 20;

/// A line longer than this is skipped (counted as bad): a `scalars.jsonl`
/// line is a few hundred bytes.
pub const MAX_SCALAR_LINE: usize = 1 << 20;

/// What one look at `scalars.jsonl` read.
#[derive(Debug, Default, PartialEq)]
pub struct ScalarsRead {
    /// The points of the lines read now (only [`SCALAR_KEYS`], lines with
    /// none of them dropped), at most [`MAX_SCALAR_POINTS`] (the newest).
    pub points: Vec<ScalarPoint>,
    /// The file was read from its start (first look, or it was replaced or
    /// shrank): `points` replace what earlier looks gave.
    pub from_start: bool,
}

/// Incremental reader of a growing `scalars.jsonl`: only the bytes appended
/// since the last look are read, in [`SCALARS_CHUNK`] pieces; a torn last
/// line (no newline yet) waits for the next look; a file that shrank or was
/// replaced is read again from the start. It keeps no points: each look
/// hands over what it read ([`ScalarsRead`]), and the consumers of the
/// engine's events keep the history (bounded).
#[derive(Debug, Default)]
pub struct ScalarsFile {
    /// Bytes consumed (up to and including the last complete line).
    offset: u64,
    ino: u64,
    /// Points handed over since the file was last read from its start.
    pub points_read: u64,
    /// Bytes read from the file, in all (for tests and benchmarks).
    pub bytes_read: u64,
    /// Lines that were not JSON objects (skipped).
    pub bad_lines: usize,
    /// The first bad line's problem, for the one warning.
    pub first_bad: Option<String>,
}

impl ScalarsFile {
    /// Read what was appended to the file at `path`, now `size` bytes with
    /// inode `ino`.
    pub fn update(&mut self, path: &Path, size: u64, ino: u64) -> std::io::Result<ScalarsRead> {
        let mut read = ScalarsRead::default();
        if size < self.offset || ino != self.ino || self.offset == 0 {
            *self = ScalarsFile {
                ino,
                bytes_read: self.bytes_read,
                ..ScalarsFile::default()
            };
            read.from_start = true;
        }
        if size == self.offset {
            return Ok(read);
        }
        let mut file = File::open(path)?;
        file.seek(SeekFrom::Start(self.offset))?;
        let mut file = file.take(size - self.offset);
        // `carry`: the start of a line whose end is in the next chunk.
        let mut carry: Vec<u8> = Vec::new();
        let mut chunk = vec![0u8; SCALARS_CHUNK];
        let mut skipping_long = false;
        loop {
            let n = file.read(&mut chunk)?;
            if n == 0 {
                break;
            }
            self.bytes_read += n as u64;
            let mut rest = &chunk[..n];
            while let Some(nl) = rest.iter().position(|&b| b == b'\n') {
                let (head, tail) = (&rest[..nl], &rest[nl + 1..]);
                self.offset += (carry.len() + nl + 1) as u64;
                if skipping_long {
                    skipping_long = false;
                } else if carry.len() + nl > MAX_SCALAR_LINE {
                    self.bad_line(format!("a line longer than {MAX_SCALAR_LINE} bytes"));
                } else if carry.is_empty() {
                    self.take_line(head, &mut read.points);
                } else {
                    carry.extend_from_slice(head);
                    let line = std::mem::take(&mut carry);
                    self.take_line(&line, &mut read.points);
                }
                carry.clear();
                rest = tail;
            }
            if skipping_long {
                self.offset += rest.len() as u64;
            } else if carry.len() + rest.len() > MAX_SCALAR_LINE {
                // Not a scalars line: skip to its end.
                self.bad_line(format!("a line longer than {MAX_SCALAR_LINE} bytes"));
                self.offset += (carry.len() + rest.len()) as u64;
                carry.clear();
                skipping_long = true;
            } else {
                carry.extend_from_slice(rest);
            }
            if read.points.len() > 2 * MAX_SCALAR_POINTS {
                let extra = read.points.len() - MAX_SCALAR_POINTS;
                read.points.drain(..extra);
            }
        }
        // A torn last line (in `carry`) is read again next time.
        if read.points.len() > MAX_SCALAR_POINTS {
            let extra = read.points.len() - MAX_SCALAR_POINTS;
            read.points.drain(..extra);
        }
        self.points_read += read.points.len() as u64;
        Ok(read)
    }

    fn take_line(&mut self, raw: &[u8], out: &mut Vec<ScalarPoint>) {
        let line = String::from_utf8_lossy(raw);
        let line = line.trim();
        if line.is_empty() {
            return;
        }
        match parse_kept_line(line) {
            Ok(Some(p)) if !p.values.is_empty() => match out.last_mut() {
                // Several lines of one step: one point (the last value of
                // each key wins, as in `trainer_probe`).
                Some(last) if last.step == p.step => last.values.extend(p.values),
                _ => out.push(p),
            },
            Ok(_) => {}
            Err(e) => self.bad_line(e),
        }
    }

    fn bad_line(&mut self, problem: String) {
        self.bad_lines += 1;
        self.first_bad.get_or_insert(problem);
    }
}

/// [`parse_scalar_line`] keeping only [`SCALAR_KEYS`]: the other values
/// are skipped by the parser, never built.
pub fn parse_kept_line(line: &str) -> Result<Option<ScalarPoint>, String> {
    // serde would also take a JSON array as the struct's fields in order.
    if !line.starts_with('{') {
        return Err(match serde_json::from_str::<serde::de::IgnoredAny>(line) {
            Err(e) => e.to_string(),
            Ok(_) => "not a JSON object".into(),
        });
    }
    let kept: KeptLine = serde_json::from_str(line).map_err(|e| e.to_string())?;
    let step = match kept.step {
        Some(serde_json::Value::Number(n)) => match (n.as_u64(), n.as_f64()) {
            (Some(s), _) => s,
            (None, Some(f)) if f >= 0.0 && f.fract() == 0.0 && f < u64::MAX as f64 => f as u64,
            _ => return Err(format!("step {n} is not a whole number")),
        },
        _ => return Ok(None),
    };
    let values = kept
        .values
        .into_iter()
        .filter_map(|(i, v)| {
            v.as_f64()
                .filter(|f| f.is_finite())
                .map(|f| (SCALAR_KEYS[i].to_string(), f))
        })
        .collect();
    Ok(Some(ScalarPoint { step, values }))
}

/// A line's `step` and [`SCALAR_KEYS`] values (by index), as written.
struct KeptLine {
    step: Option<serde_json::Value>,
    values: Vec<(usize, serde_json::Value)>,
}

impl<'de> Deserialize<'de> for KeptLine {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_map(KeptVisitor)
    }
}

struct KeptVisitor;

/// Which key: `step`, a kept one, or another.
enum Key {
    Step,
    Kept(usize),
    Other,
}

impl<'de> Deserialize<'de> for Key {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = Key;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a key")
            }
            fn visit_str<E: serde::de::Error>(self, k: &str) -> Result<Key, E> {
                Ok(match k {
                    "step" => Key::Step,
                    _ => SCALAR_KEYS
                        .iter()
                        .position(|x| *x == k)
                        .map_or(Key::Other, Key::Kept),
                })
            }
        }
        d.deserialize_str(V)
    }
}

impl<'de> serde::de::Visitor<'de> for KeptVisitor {
    type Value = KeptLine;
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a JSON object")
    }
    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut m: A) -> Result<KeptLine, A::Error> {
        let mut out = KeptLine {
            step: None,
            values: Vec::new(),
        };
        while let Some(key) = m.next_key::<Key>()? {
            match key {
                Key::Step => out.step = Some(m.next_value()?),
                Key::Kept(i) => {
                    let v = m.next_value()?;
                    out.values.retain(|(j, _)| *j != i);
                    out.values.push((i, v));
                }
                Key::Other => {
                    m.next_value::<serde::de::IgnoredAny>()?;
                }
            }
        }
        Ok(out)
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
            "{{\"step\": 1, \"loss\": 4.0}}\nnot json\n[1, 2]\n{{\"lr\": 0.1}}\n{{\"step\": 2, \"loss\": 3.5, \"probe_acc\": 0.4}}\n{{\"step\": 3, \"pro"
        )
        .unwrap();
        let mut s = ScalarsFile::default();
        let stamp = crate::runs::FileStamp::read(&path).unwrap();
        let read = s.update(&path, stamp.size, stamp.ino).unwrap();
        assert!(read.from_start);
        // Step 1 has no kept key (only `loss`): dropped.
        assert_eq!(read.points.len(), 1);
        assert_eq!(read.points[0].step, 2);
        assert_eq!(
            read.points[0].values,
            BTreeMap::from([("probe_acc".to_string(), 0.4)]),
            "only the keys the views use are kept"
        );
        assert_eq!(s.bad_lines, 2, "not json, and an array");
        writeln!(f, "be_acc\": 0.5, \"loss\": 3.0}}").unwrap();
        let stamp = crate::runs::FileStamp::read(&path).unwrap();
        let read = s.update(&path, stamp.size, stamp.ino).unwrap();
        assert!(!read.from_start);
        assert_eq!(read.points.len(), 1, "only the appended line");
        assert_eq!(read.points[0].step, 3);
        assert_eq!(read.points[0].values["probe_acc"], 0.5);
        assert_eq!(s.bad_lines, 2);
    }

    #[test]
    fn a_large_scalars_file_is_read_once_then_from_its_offset_and_bounded() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("scalars.jsonl");
        let mut f = File::create(&path).unwrap();
        let lines = MAX_SCALAR_POINTS + 20_000;
        let mut text = String::new();
        for step in 0..lines {
            text.push_str(&format!(
                "{{\"step\": {step}, \"loss\": 1.5, \"lr\": 0.1, \"probe_acc\": 0.5}}\n"
            ));
        }
        f.write_all(text.as_bytes()).unwrap();
        let size = text.len() as u64;
        assert!(size > 4 * SCALARS_CHUNK as u64, "read in several chunks");
        let mut s = ScalarsFile::default();
        let ino = crate::runs::FileStamp::read(&path).unwrap().ino;
        let read = s.update(&path, size, ino).unwrap();
        assert_eq!(s.bytes_read, size);
        assert_eq!(read.points.len(), MAX_SCALAR_POINTS, "bounded");
        assert_eq!(read.points[0].step, 20_000, "the newest are kept");
        assert_eq!(read.points.last().unwrap().step, lines as u64 - 1);
        assert!(read.points.iter().all(|p| p.values.len() == 1));

        // An append is read from the offset: its bytes only.
        let line = format!("{{\"step\": {lines}, \"probe_acc\": 0.75}}\n");
        f.write_all(line.as_bytes()).unwrap();
        let read = s.update(&path, size + line.len() as u64, ino).unwrap();
        assert_eq!(s.bytes_read, size + line.len() as u64);
        assert!(!read.from_start);
        assert_eq!(read.points.len(), 1);
        assert_eq!(read.points[0].values["probe_acc"], 0.75);
        // Nothing new: nothing read.
        let read = s.update(&path, size + line.len() as u64, ino).unwrap();
        assert_eq!(read, ScalarsRead::default());
        assert_eq!(s.bytes_read, size + line.len() as u64);
    }

    #[test]
    fn a_replaced_scalars_file_is_read_from_its_start_and_a_huge_line_skipped() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("scalars.jsonl");
        std::fs::write(&path, "{\"step\": 1, \"probe_acc\": 0.1}\n").unwrap();
        let mut s = ScalarsFile::default();
        let st = crate::runs::FileStamp::read(&path).unwrap();
        s.update(&path, st.size, st.ino).unwrap();
        let other = dir.path().join("new.jsonl");
        let long = "x".repeat(MAX_SCALAR_LINE + 10);
        std::fs::write(
            &other,
            format!("{long}\n{{\"step\": 2, \"probe_acc\": 0.2}}\n"),
        )
        .unwrap();
        std::fs::rename(&other, &path).unwrap();
        let st = crate::runs::FileStamp::read(&path).unwrap();
        let read = s.update(&path, st.size, st.ino).unwrap();
        assert!(read.from_start, "a new inode: read from the start");
        let steps: Vec<u64> = read.points.iter().map(|p| p.step).collect();
        assert_eq!(steps, [2]);
        assert_eq!(s.bad_lines, 1);
        assert!(s.first_bad.as_deref().unwrap().contains("longer than"));
    }

    #[test]
    fn kept_lines_parse_as_the_full_parser_does_for_the_kept_keys() {
        for line in [
            r#"{"step": 4, "probe_acc": 0.5, "loss": 1}"#,
            r#"{"step": 4.0, "probe_acc": 1e400}"#,
            r#"{"probe_acc": 0.5}"#,
            r#"{"step": "4", "probe_acc": 0.5}"#,
            r#"{"step": 4.5}"#,
            r#"{"step": 4, "probe_acc": "high", "nested": {"probe_acc": 2}}"#,
            r#"{"step": 4, "probe_acc": 0.1, "probe_acc": 0.2}"#,
            r#"{"st\u0065p": 7, "probe_acc": 0.3}"#,
            "[1]",
            "{",
        ] {
            let full = parse_scalar_line(line).map(|p| {
                p.map(|mut p| {
                    p.values.retain(|k, _| SCALAR_KEYS.contains(&k.as_str()));
                    p
                })
            });
            assert_eq!(
                parse_kept_line(line).is_ok(),
                full.is_ok(),
                "{line}: {:?}",
                parse_kept_line(line)
            );
            if let Ok(full) = full {
                assert_eq!(parse_kept_line(line).unwrap(), full, "{line}");
            }
        }
    }
}
