//! Catch-up benchmark of the live engine (`sslwatch report` without --follow):
//! RUNS runs x MILESTONES milestones of 2,000 x 128 float32 with labels.
//!
//! Usage: cargo run --release --example bench_catchup [RUNS [MILESTONES]]  (default 20 50)
//!
//! Prints (1) the sum of the per-milestone metric times (read + compute,
//! one after another, no engine), (2) the engine's first run with an empty
//! cache, (3) its second run with everything cached.

use ndarray::Array2;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::StandardNormal;
use sslwatch::metrics::{compute_layer, MetricSettings};
use sslwatch::read::write::{npy_bytes_f32, npy_bytes_i64, write_atomic};
use sslwatch::read::{read_embeddings, read_labels};
use sslwatch::watch::event::EngineEvent;
use sslwatch::watch::{CacheChoice, Engine, EngineConfig, WatchChoice};
use std::path::{Path, PathBuf};
use std::time::Instant;

const N: usize = 2000;
const D: usize = 128;
const CLASSES: usize = 10;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // As the sslwatch binary does at start-up.
    sslwatch::memory::configure_allocator();
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let runs = args.first().copied().unwrap_or(20);
    let milestones = args.get(1).copied().unwrap_or(50);
    let root = tempfile::tempdir()?;
    let cache = tempfile::tempdir()?;
    let files = write_root(root.path(), runs, milestones)?;
    eprintln!(
        "wrote {} milestones of {N} x {D} to {}",
        files.len(),
        root.path().display()
    );
    let settings = MetricSettings::default();

    // (1) Per-milestone metric times, one after another.
    let labels = read_labels(&root.path().join("labels.npy"), 1 << 30)?;
    let mut sum = 0.0;
    for f in &files {
        let t = Instant::now();
        let layers = read_embeddings(f)?;
        for l in layers {
            compute_layer(l.data.view(), Some(&labels), &settings)?;
        }
        sum += t.elapsed().as_secs_f64();
    }

    // (2) and (3): the engine, empty cache then full cache.
    let engine_run = || -> Result<(f64, usize, usize), Box<dyn std::error::Error>> {
        let mut cfg = EngineConfig::new(root.path(), settings.clone());
        cfg.watch = WatchChoice::Once;
        cfg.cache = CacheChoice::Dir(cache.path().to_path_buf());
        let t = Instant::now();
        let handle = Engine::start(cfg)?;
        let (mut computed, mut cached) = (0, 0);
        for ev in handle.events().iter() {
            if let EngineEvent::Result(r) = ev {
                match (&r.outcome, r.cached) {
                    (Ok(_), true) => cached += 1,
                    (Ok(_), false) => computed += 1,
                    (Err(e), _) => return Err(e.clone().into()),
                }
            }
        }
        Ok((t.elapsed().as_secs_f64(), computed, cached))
    };
    let (first, c1, _) = engine_run()?;
    let (second, c2, k2) = engine_run()?;
    assert_eq!(c1, files.len());
    assert_eq!((c2, k2), (0, files.len()));
    let threads = rayon::current_num_threads();
    println!("catch-up, {runs} runs x {milestones} milestones of {N} x {D} f32 with labels, {threads} threads:");
    println!("  sum of per-milestone read+metric times: {sum:8.2} s");
    println!(
        "  first run (no cache):                   {first:8.2} s  ({:.2}x the sum)",
        first / sum
    );
    println!("  second run (all cached):                {second:8.3} s");
    Ok(())
}

/// Gaussian-mixture milestones whose separation grows with the step.
fn write_root(root: &Path, runs: usize, milestones: usize) -> std::io::Result<Vec<PathBuf>> {
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    let labels: Vec<i64> = (0..N).map(|i| (i % CLASSES) as i64).collect();
    write_atomic(&root.join("labels.npy"), &npy_bytes_i64(&labels))?;
    let mut files = Vec::new();
    for r in 0..runs {
        let centers = Array2::from_shape_fn((CLASSES, D), |_| rng.sample::<f32, _>(StandardNormal));
        for m in 0..milestones {
            let sep = 0.05 + 0.5 * m as f32 / milestones as f32;
            let x = Array2::from_shape_fn((N, D), |(i, d)| {
                sep * centers[[i % CLASSES, d]] + rng.sample::<f32, _>(StandardNormal)
            });
            let path = root
                .join(format!("run{r:02}"))
                .join("milestones")
                .join(format!("epoch_{:04}", m + 1))
                .join("h.npy");
            write_atomic(&path, &npy_bytes_f32(x.view()))?;
            files.push(path);
        }
    }
    Ok(files)
}
