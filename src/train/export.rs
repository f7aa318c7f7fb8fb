//! What a run writes for the watcher (the run-layout contract):
//! `run.json`, `labels.npy`, `milestones/epoch_NNNN/{h,z,p}.npy` (each
//! written to a temporary name and renamed) and `scalars.jsonl`.

use super::config::{RunJson, TrainConfig};
use super::TrainError;
use crate::read::write::{npy_bytes_f16, npy_bytes_f32, npy_bytes_i64, write_atomic};
use ndarray::Array2;
use std::io::Write;
use std::path::{Path, PathBuf};
use tch::{Kind, Tensor};

/// Embeddings of the evaluation set at one milestone.
#[derive(Debug)]
pub struct Embeddings {
    pub h: Array2<f32>,
    pub z: Array2<f32>,
    pub p: Option<Array2<f32>>,
}

/// A `[N, D]` tensor as an ndarray matrix (copied to the CPU as float32).
pub fn to_array(t: &Tensor) -> Result<Array2<f32>, TrainError> {
    let size = t.size();
    let (n, d) = match size.as_slice() {
        [n, d] => (*n as usize, *d as usize),
        _ => {
            return Err(TrainError::Config(format!(
                "expected a matrix of embeddings, got shape {size:?}"
            )))
        }
    };
    let flat = t
        .to_device(tch::Device::Cpu)
        .to_kind(Kind::Float)
        .contiguous()
        .view([-1]);
    let v: Vec<f32> = Vec::try_from(&flat)?;
    Array2::from_shape_vec((n, d), v)
        .map_err(|e| TrainError::Config(format!("embedding matrix: {e}")))
}

pub fn milestone_dir(run: &Path, epoch: u32) -> PathBuf {
    run.join("milestones")
        .join(TrainConfig::milestone_name(epoch))
}

/// Write `h.npy`, `z.npy` (and `p.npy`) of milestone `epoch`.
pub fn write_milestone(
    run: &Path,
    epoch: u32,
    e: &Embeddings,
    half: bool,
) -> Result<(), TrainError> {
    let dir = milestone_dir(run, epoch);
    let mut layers = vec![("h", &e.h), ("z", &e.z)];
    if let Some(p) = &e.p {
        layers.push(("p", p));
    }
    for (name, a) in layers {
        let bytes = if half {
            npy_bytes_f16(a.view())
        } else {
            npy_bytes_f32(a.view())
        };
        let path = dir.join(format!("{name}.npy"));
        write_atomic(&path, &bytes).map_err(|err| TrainError::io(&path, err))?;
    }
    Ok(())
}

/// Write the evaluation labels, `labels.npy`.
pub fn write_labels(run: &Path, labels: &[i64]) -> Result<(), TrainError> {
    let path = run.join("labels.npy");
    write_atomic(&path, &npy_bytes_i64(labels)).map_err(|e| TrainError::io(&path, e))
}

/// Write `run.json`.
pub fn write_run_json(run: &Path, meta: &RunJson) -> Result<(), TrainError> {
    let path = run.join("run.json");
    let mut text = serde_json::to_string_pretty(meta)
        .map_err(|e| TrainError::Config(format!("run.json: {e}")))?;
    text.push('\n');
    write_atomic(&path, text.as_bytes()).map_err(|e| TrainError::io(&path, e))
}

/// Read `run.json` back (for `--resume`).
pub fn read_run_json(run: &Path) -> Result<RunJson, TrainError> {
    let path = run.join("run.json");
    let text = std::fs::read_to_string(&path)
        .map_err(|e| TrainError::resume(&path, format!("cannot read the run's settings: {e}")))?;
    serde_json::from_str(&text).map_err(|e| {
        TrainError::resume(
            &path,
            format!("not a run.json written by sslwatch train: {e}"),
        )
    })
}

/// Append one JSON object as a line of `scalars.jsonl` (one write, so a
/// reader never sees half a line unless the writer crashes).
pub fn append_scalars(run: &Path, record: &serde_json::Value) -> Result<(), TrainError> {
    let path = run.join("scalars.jsonl");
    let mut line = record.to_string();
    line.push('\n');
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .map_err(|e| TrainError::io(&path, e))?;
    f.write_all(line.as_bytes())
        .map_err(|e| TrainError::io(&path, e))
}

/// On resume: keep only the lines of `scalars.jsonl` up to `last_step`
/// (a run stopped after writing a line but before its checkpoint would
/// otherwise repeat it), dropping a torn last line.
pub fn trim_scalars(run: &Path, last_step: u32) -> Result<(), TrainError> {
    let path = run.join("scalars.jsonl");
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(TrainError::io(&path, e)),
    };
    let kept: String = text
        .lines()
        .filter(|line| {
            serde_json::from_str::<serde_json::Value>(line)
                .ok()
                .and_then(|v| v.get("step").and_then(|s| s.as_u64()))
                .is_some_and(|s| s <= u64::from(last_step))
        })
        .map(|l| format!("{l}\n"))
        .collect();
    write_atomic(&path, kept.as_bytes()).map_err(|e| TrainError::io(&path, e))
}

/// The `probe_acc` of every milestone logged so far in `scalars.jsonl`,
/// in step order (the last line of a step that has one).
pub fn probe_history(run: &Path) -> Result<Vec<(u64, f64)>, TrainError> {
    let path = run.join("scalars.jsonl");
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(TrainError::io(&path, e)),
    };
    let points: Vec<_> = text
        .lines()
        .filter_map(|l| crate::runs::meta::parse_scalar_line(l).ok().flatten())
        .collect();
    Ok(crate::runs::analysis::trainer_probe(&points)
        .into_iter()
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probe_history_is_the_last_probe_of_each_step_in_order() {
        let dir = tempfile::tempdir().unwrap();
        assert!(probe_history(dir.path()).unwrap().is_empty());
        std::fs::write(
            dir.path().join("scalars.jsonl"),
            "{\"step\":0,\"probe_acc\":0.5}\n{\"step\":1,\"loss\":3.0}\n\
             {\"step\":2,\"probe_acc\":0.6}\n{\"step\":2,\"probe_acc\":0.7}\n{\"step\":3,\"probe_ac",
        )
        .unwrap();
        assert_eq!(probe_history(dir.path()).unwrap(), vec![(0, 0.5), (2, 0.7)]);
    }

    #[test]
    fn trim_keeps_earlier_steps_and_drops_torn_lines() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("scalars.jsonl");
        std::fs::write(
            &path,
            "{\"step\":0}\n{\"step\":1}\n{\"step\":2}\n{\"step\":3",
        )
        .unwrap();
        trim_scalars(dir.path(), 1).unwrap();
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            "{\"step\":0}\n{\"step\":1}\n"
        );
    }

    #[test]
    fn tensor_to_array_keeps_layout() {
        let t = Tensor::from_slice(&[1f32, 2., 3., 4., 5., 6.]).reshape([2, 3]);
        let a = to_array(&t.transpose(0, 1)).unwrap();
        assert_eq!(a.dim(), (3, 2));
        assert_eq!(a[[0, 1]], 4.0);
        assert_eq!(a[[2, 0]], 3.0);
    }
}
