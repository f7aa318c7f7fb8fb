//! `sslwatch demo`: SIMULATED training runs, so a newcomer can see sslwatch
//! work with one command, no GPU and no data.
//!
//! A background thread writes runs named `simclr-like`, `moco-like`,
//! `simsiam-like` (then `simclr-like-2`, ... for more) into a directory, one
//! milestone per run every interval. Each milestone holds Gaussian-mixture
//! embeddings (2,000 x 128 layer `h` and a 64-d projection `z`, float16) of
//! 10 classes whose structure evolves the way the three families are
//! reported to: cluster separation and probe accuracy rise; the histogram
//! entropy falls for the contrastive ones (tightening clusters) and rises
//! for the SimSiam-like one (which starts dimensionally collapsed and
//! heavy-tailed, then spreads out); some runs have an outlier milestone
//! early on. Every run's `run.json` says `"simulated": true`.

use crate::read::write::{npy_bytes_f16, npy_bytes_i64, write_atomic};
use crossbeam_channel::{bounded, Receiver, RecvTimeoutError, Sender};
use ndarray::Array2;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::thread::JoinHandle;
use std::time::Duration;

/// Samples per milestone.
pub const SAMPLES: usize = 2000;
/// Width of layer `h` (`z` is half as wide).
pub const DIM: usize = 128;
/// Classes of the mixture (labels 0..CLASSES).
pub const CLASSES: usize = 10;
/// Epochs between milestones (step names are `epoch_0005`, `epoch_0010`, ...).
pub const EPOCHS_PER_MILESTONE: u64 = 5;
/// The layers of every milestone (`<step>/h.npy`, `<step>/z.npy`).
pub const LAYERS: [&str; 2] = ["h", "z"];

/// The step number of milestone `k` (0-based): `epoch_0005` is step 5.
pub fn step_of(k: usize) -> u64 {
    (k as u64 + 1) * EPOCHS_PER_MILESTONE
}

/// What the demo writer writes.
#[derive(Debug, Clone)]
pub struct DemoConfig {
    pub dir: PathBuf,
    /// Number of runs (at least 1).
    pub runs: usize,
    /// Time between milestones.
    pub interval: Duration,
    pub seed: u64,
    /// Milestones per run; the writer then stops (bounds disk use).
    pub steps: usize,
    pub samples: usize,
    pub dim: usize,
}

impl DemoConfig {
    pub fn new(dir: impl Into<PathBuf>) -> DemoConfig {
        DemoConfig {
            dir: dir.into(),
            runs: 3,
            interval: Duration::from_secs(2),
            seed: 0,
            steps: 40,
            samples: SAMPLES,
            dim: DIM,
        }
    }
}

/// The three families the simulation imitates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    SimClr,
    Moco,
    SimSiam,
}

impl Family {
    fn of(run: usize) -> Family {
        [Family::SimClr, Family::Moco, Family::SimSiam][run % 3]
    }

    fn name(self) -> &'static str {
        match self {
            Family::SimClr => "simclr-like",
            Family::Moco => "moco-like",
            Family::SimSiam => "simsiam-like",
        }
    }

    fn method(self) -> &'static str {
        match self {
            Family::SimClr => "SimCLR-like (simulated)",
            Family::Moco => "MoCo-v2-like (simulated)",
            Family::SimSiam => "SimSiam-like (simulated)",
        }
    }
}

/// The name of run `i` (0-based).
pub fn run_name(i: usize) -> String {
    let base = Family::of(i).name();
    match i / 3 {
        0 => base.to_string(),
        k => format!("{base}-{}", k + 1),
    }
}

/// The running writer. Dropping it stops the writer.
pub struct DemoWriter {
    stop: Option<Sender<()>>,
    thread: Option<JoinHandle<Result<(), String>>>,
    /// Disconnected when the thread ends (its sender drops with it).
    finished: Receiver<()>,
    dir: PathBuf,
}

impl DemoWriter {
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// A channel that disconnects when the writer is done (every milestone
    /// written, stopped, or failed): a `select!` arm for "it finished".
    pub fn finished(&self) -> Receiver<()> {
        self.finished.clone()
    }

    /// Stop writing (after the file in progress) and wait for the thread.
    pub fn stop(&mut self) -> Result<(), String> {
        self.stop.take();
        self.join()
    }

    /// Wait until every milestone is written (or writing failed).
    pub fn join(&mut self) -> Result<(), String> {
        match self.thread.take() {
            Some(t) => t
                .join()
                .unwrap_or_else(|_| Err("demo writer panicked".into())),
            None => Ok(()),
        }
    }

    pub fn is_finished(&self) -> bool {
        self.thread.as_ref().is_none_or(|t| t.is_finished())
    }
}

impl Drop for DemoWriter {
    fn drop(&mut self) {
        let _ = self.stop();
    }
}

/// Start writing simulated runs into `cfg.dir` in a background thread.
/// `labels.npy` and each run's `run.json` are written, and the milestones
/// of an earlier demo in the same directory removed, before this returns.
/// A run directory the demo did not write (its `run.json` does not say
/// `"simulated": true`) is refused with [`std::io::ErrorKind::AlreadyExists`].
pub fn spawn_writer(cfg: DemoConfig) -> std::io::Result<DemoWriter> {
    std::fs::create_dir_all(&cfg.dir)?;
    let runs = cfg.runs.max(1);
    for i in 0..runs {
        claim_run_dir(&cfg.dir.join(run_name(i)))?;
    }
    let mut rng = ChaCha8Rng::seed_from_u64(cfg.seed);
    let labels: Vec<i64> = (0..cfg.samples).map(|i| (i % CLASSES) as i64).collect();
    write_atomic(&cfg.dir.join("labels.npy"), &npy_bytes_i64(&labels))?;
    let mut sims = Vec::new();
    for i in 0..runs {
        let name = run_name(i);
        let family = Family::of(i);
        let dir = cfg.dir.join(&name);
        std::fs::create_dir_all(dir.join("milestones"))?;
        let meta = serde_json::json!({
            "method": family.method(),
            "dataset": "simulated Gaussian mixture, 10 classes",
            "arch": "none (simulated)",
            "simulated": true,
            "note": "written by `sslwatch demo`: simulated embeddings, not a real training run",
        });
        write_atomic(&dir.join("run.json"), format!("{meta:#}\n").as_bytes())?;
        let _ = std::fs::remove_file(dir.join("scalars.jsonl"));
        sims.push(Sim::new(family, dir, &labels, cfg.dim, rng.gen()));
    }
    let (stop_tx, stop_rx) = bounded::<()>(0);
    let (finished_tx, finished) = bounded::<()>(0);
    let out_dir = cfg.dir.clone();
    let thread = std::thread::Builder::new()
        .name("sslwatch-demo".into())
        .spawn(move || {
            let _finished = finished_tx;
            write_all(cfg, sims, stop_rx)
        })?;
    Ok(DemoWriter {
        stop: Some(stop_tx),
        thread: Some(thread),
        finished,
        dir: out_dir,
    })
}

/// Make `dir` ready for a fresh simulated run: refuse a run the demo did
/// not write, and remove an earlier demo's milestones there (a later
/// `--steps` or `--sim-seed` must not leave old ones to be shown, or
/// computed before their replacements and taken for them).
fn claim_run_dir(dir: &Path) -> std::io::Result<()> {
    let milestones = dir.join("milestones");
    let ours = match read_small(&dir.join("run.json")) {
        Ok(bytes) => is_simulated(&bytes),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => !milestones.exists(),
        Err(e) => return Err(e),
    };
    if !ours {
        return Err(std::io::Error::new(
            std::io::ErrorKind::AlreadyExists,
            format!(
                "{} holds a run that `sslwatch demo` did not write (no run.json saying \"simulated\": true): \
                 the demo does not overwrite it; choose another --dir",
                dir.display()
            ),
        ));
    }
    match std::fs::remove_dir_all(&milestones) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

/// A file's first MiB (the demo's `run.json` is a few hundred bytes).
fn read_small(path: &Path) -> std::io::Result<Vec<u8>> {
    use std::io::Read;
    let mut bytes = Vec::new();
    std::fs::File::open(path)?
        .take(1 << 20)
        .read_to_end(&mut bytes)?;
    Ok(bytes)
}

/// Whether a `run.json` is the demo's (`"simulated": true`).
fn is_simulated(run_json: &[u8]) -> bool {
    serde_json::from_slice::<serde_json::Value>(run_json)
        .ok()
        .and_then(|v| v.get("simulated")?.as_bool())
        == Some(true)
}

fn write_all(cfg: DemoConfig, mut sims: Vec<Sim>, stop: Receiver<()>) -> Result<(), String> {
    for k in 0..cfg.steps {
        for sim in &mut sims {
            sim.write_milestone(k, cfg.steps)
                .map_err(|e| format!("{}: {e}", sim.dir.display()))?;
        }
        if k + 1 < cfg.steps {
            match stop.recv_timeout(cfg.interval) {
                Err(RecvTimeoutError::Timeout) => {}
                _ => return Ok(()),
            }
        }
    }
    Ok(())
}

/// One simulated run.
struct Sim {
    family: Family,
    dir: PathBuf,
    labels: Vec<i64>,
    centers: Array2<f32>,
    proj: Array2<f32>,
    rng: ChaCha8Rng,
    /// The milestone index that is an outlier, if any.
    outlier: Option<usize>,
}

impl Sim {
    fn new(family: Family, dir: PathBuf, labels: &[i64], dim: usize, seed: u64) -> Sim {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let centers =
            Array2::from_shape_fn((CLASSES, dim), |_| rng.sample::<f32, _>(StandardNormal));
        let scale = 1.0 / (dim as f32).sqrt();
        let proj = Array2::from_shape_fn((dim, (dim / 2).max(1)), |_| {
            rng.sample::<f32, _>(StandardNormal) * scale
        });
        let outlier = (family != Family::Moco).then(|| rng.gen_range(2..5));
        Sim {
            family,
            dir,
            labels: labels.to_vec(),
            centers,
            proj,
            rng,
            outlier,
        }
    }

    /// Embeddings at milestone `k` of `steps`, and the simulated probe accuracy.
    fn embeddings(&mut self, k: usize, steps: usize) -> (Array2<f32>, f64) {
        let t = (k + 1) as f64 / steps.max(1) as f64;
        let (n, dim) = (self.labels.len(), self.centers.ncols());
        // Progress: fast early, saturating (MoCo a little slower).
        let u = match self.family {
            Family::Moco => 1.0 - (-3.0 * t).exp(),
            _ => 1.0 - (-4.0 * t).exp(),
        };
        // `sep`: class signal over noise (probe accuracy and silhouette rise
        // with it). Contrastive: ReLU features growing sparser above a rising
        // threshold `relu` (mass piles up at zero: lower histogram entropy).
        // SimSiam-like: starts with heavy-tailed per-sample scales `tail` and
        // variance concentrated in few dimensions `collapse` (low rank), both
        // relaxing over training (entropy and rank rise).
        let (mut sep, relu, tail, collapse) = match self.family {
            Family::SimClr => (0.03 + 0.5 * u, Some(-2.5 + 2.8 * u), 0.0, 0.0),
            Family::Moco => (0.03 + 0.42 * u, Some(-2.5 + 2.4 * u), 0.0, 0.0),
            Family::SimSiam => (0.03 + 0.45 * u, None, 1.4 * (1.0 - u), 5.0 * (1.0 - u)),
        };
        if self.outlier == Some(k) {
            sep *= 0.35;
        }
        let dim_scale: Vec<f64> = (0..dim)
            .map(|d| (-(d as f64 / dim as f64) * collapse).exp())
            .collect();
        let mut x = Array2::<f32>::zeros((n, dim));
        for (i, mut row) in x.rows_mut().into_iter().enumerate() {
            let c = self.labels[i] as usize % CLASSES;
            let z: f64 = self.rng.sample(StandardNormal);
            let s = (tail * z).exp();
            for (d, v) in row.iter_mut().enumerate() {
                let e: f64 = StandardNormal.sample(&mut self.rng);
                let mut val = s * dim_scale[d] * (sep * f64::from(self.centers[[c, d]]) + e);
                if let Some(t) = relu {
                    val = (val - t).max(0.0);
                }
                *v = val as f32;
            }
        }
        let probe = nearest_centroid_accuracy(&x, &self.labels);
        (x, probe)
    }

    fn write_milestone(&mut self, k: usize, steps: usize) -> std::io::Result<()> {
        let (h, probe) = self.embeddings(k, steps);
        let z = h.dot(&self.proj);
        let epoch = step_of(k);
        let step_dir = self
            .dir
            .join("milestones")
            .join(format!("epoch_{epoch:04}"));
        let [h_name, z_name] = LAYERS;
        write_atomic(
            &step_dir.join(format!("{h_name}.npy")),
            &npy_bytes_f16(h.view()),
        )?;
        write_atomic(
            &step_dir.join(format!("{z_name}.npy")),
            &npy_bytes_f16(z.view()),
        )?;
        let t = (k + 1) as f64 / steps.max(1) as f64;
        let jitter: f64 = self.rng.gen_range(-0.02..0.02);
        let loss = match self.family {
            Family::SimSiam => -0.3 - 0.6 * (1.0 - (-3.0 * t).exp()) + jitter,
            _ => 6.2 - 2.5 * (1.0 - (-3.0 * t).exp()) + jitter,
        };
        let line = serde_json::json!({
            "step": epoch,
            "loss": loss,
            "probe_acc": probe,
            "simulated": true,
        });
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join("scalars.jsonl"))?;
        f.write_all(format!("{line}\n").as_bytes())
    }
}

/// Accuracy of assigning each row to the nearest class mean: the "probe
/// accuracy" the simulated runs log in `scalars.jsonl`.
fn nearest_centroid_accuracy(x: &Array2<f32>, labels: &[i64]) -> f64 {
    let dim = x.ncols();
    let mut means = vec![vec![0f64; dim]; CLASSES];
    let mut counts = vec![0usize; CLASSES];
    for (row, &y) in x.rows().into_iter().zip(labels) {
        let c = y as usize % CLASSES;
        counts[c] += 1;
        for (m, v) in means[c].iter_mut().zip(row) {
            *m += f64::from(*v);
        }
    }
    for (m, &n) in means.iter_mut().zip(&counts) {
        m.iter_mut().for_each(|v| *v /= n.max(1) as f64);
    }
    let correct = x
        .rows()
        .into_iter()
        .zip(labels)
        .filter(|(row, &y)| {
            let best = means
                .iter()
                .enumerate()
                .map(|(c, m)| {
                    let d: f64 = row
                        .iter()
                        .zip(m)
                        .map(|(a, b)| (f64::from(*a) - b).powi(2))
                        .sum();
                    (c, d)
                })
                .min_by(|a, b| a.1.total_cmp(&b.1))
                .map_or(0, |(c, _)| c);
            best == y as usize % CLASSES
        })
        .count();
    correct as f64 / labels.len().max(1) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_names_cycle_through_the_families() {
        let names: Vec<String> = (0..5).map(run_name).collect();
        assert_eq!(
            names,
            [
                "simclr-like",
                "moco-like",
                "simsiam-like",
                "simclr-like-2",
                "moco-like-2"
            ]
        );
    }

    #[test]
    fn writes_a_finite_labelled_demo() {
        let dir = tempfile::tempdir().unwrap();
        let mut cfg = DemoConfig::new(dir.path());
        cfg.steps = 2;
        cfg.interval = Duration::from_millis(1);
        cfg.samples = 50;
        cfg.dim = 8;
        let mut w = spawn_writer(cfg).unwrap();
        w.join().unwrap();
        let run = dir.path().join("simsiam-like");
        assert!(run.join("milestones/epoch_0010/z.npy").is_file());
        let meta = std::fs::read_to_string(run.join("run.json")).unwrap();
        assert!(meta.contains("\"simulated\": true"));
        let scalars = std::fs::read_to_string(run.join("scalars.jsonl")).unwrap();
        assert_eq!(scalars.lines().count(), 2);
        assert!(dir.path().join("labels.npy").is_file());
    }

    fn tiny(dir: &Path, steps: usize) -> DemoConfig {
        let mut cfg = DemoConfig::new(dir);
        cfg.runs = 1;
        cfg.steps = steps;
        cfg.interval = Duration::ZERO;
        cfg.samples = 20;
        cfg.dim = 4;
        cfg
    }

    #[test]
    fn a_second_demo_in_the_same_directory_starts_from_no_milestones() {
        let dir = tempfile::tempdir().unwrap();
        spawn_writer(tiny(dir.path(), 3)).unwrap().join().unwrap();
        let m = dir.path().join("simclr-like/milestones");
        assert!(m.join("epoch_0015").is_dir());
        let mut w = spawn_writer(tiny(dir.path(), 1)).unwrap();
        let finished = w.finished();
        // The finished channel disconnects when the thread is done writing
        // (its sender drops on the way out; is_finished may still lag).
        assert!(finished.recv().is_err());
        w.join().unwrap();
        let mut names: Vec<_> = std::fs::read_dir(&m)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        assert_eq!(names, ["epoch_0005"]);
    }

    #[test]
    fn a_run_the_demo_did_not_write_is_refused_and_left_alone() {
        let dir = tempfile::tempdir().unwrap();
        let run = dir.path().join("simclr-like");
        std::fs::create_dir_all(run.join("milestones/epoch_0001")).unwrap();
        std::fs::write(run.join("run.json"), br#"{"method": "simclr"}"#).unwrap();
        let err = spawn_writer(tiny(dir.path(), 1)).err().unwrap();
        assert_eq!(err.kind(), std::io::ErrorKind::AlreadyExists);
        assert!(err.to_string().contains("choose another --dir"), "{err}");
        assert!(run.join("milestones/epoch_0001").is_dir());
        assert_eq!(
            std::fs::read(run.join("run.json")).unwrap(),
            br#"{"method": "simclr"}"#
        );
        assert!(!dir.path().join("labels.npy").exists());
    }
}
