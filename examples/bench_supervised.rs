//! Times the labelled metrics (linear probe, kNN accuracy) and the
//! Kozachenko-Leonenko entropy on a generated 10-class Gaussian mixture.
//!
//! Usage: bench_supervised [N] [D] [REPEATS] [SAVE_DIR]
//! (defaults 10000 512 5). With SAVE_DIR, also writes `x.npy`, `y.npy` and
//! the probe's split (`train.npy`, `test.npy`: row indices, seed 0) there so
//! scikit-learn can be timed and compared on the same data.
//! Prints one JSON object: medians of wall and CPU seconds, and the metric values.

use ndarray::Array2;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};
use sslwatch::metrics::{knn, probe};
use sslwatch::read::write::{npy_bytes_f32, npy_bytes_i64, write_atomic};
use std::path::PathBuf;
use std::time::Instant;

const CLASSES: usize = 10;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Process CPU seconds (user + system), all threads.
fn cpu_seconds() -> f64 {
    // SAFETY: getrusage only writes into the zeroed struct we pass.
    let mut u: libc::rusage = unsafe { std::mem::zeroed() };
    if unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut u) } != 0 {
        return f64::NAN;
    }
    let secs = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 * 1e-6;
    secs(u.ru_utime) + secs(u.ru_stime)
}

/// (result, wall seconds, CPU seconds): on a shared machine the CPU time
/// shows the work done even when the wall time is inflated by other load.
fn time<T>(f: impl FnOnce() -> T) -> (T, f64, f64) {
    let c = cpu_seconds();
    let t = Instant::now();
    let out = f();
    (out, t.elapsed().as_secs_f64(), cpu_seconds() - c)
}

/// Class means N(0, 0.12^2) per coordinate, unit-variance noise around them:
/// overlapping enough that neither probe nor kNN is perfect.
fn mixture(n: usize, d: usize, seed: u64) -> (Array2<f32>, Vec<i64>) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut normal = || -> f32 { StandardNormal.sample(&mut rng) };
    let means = Array2::from_shape_fn((CLASSES, d), |_| 0.12 * normal());
    let labels: Vec<i64> = (0..n).map(|i| (i % CLASSES) as i64).collect();
    let x = Array2::from_shape_fn((n, d), |(i, j)| means[[i % CLASSES, j]] + normal());
    (x, labels)
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let arg = |i: usize, default: usize| -> anyhow::Result<usize> {
        Ok(args.get(i).map_or(Ok(default), |a| a.parse())?)
    };
    let (n, d, reps) = (arg(1, 10_000)?, arg(2, 512)?, arg(3, 5)?.max(1));
    let (x, y) = mixture(n, d, 7);
    if let Some(dir) = args.get(4) {
        let dir = PathBuf::from(dir);
        write_atomic(&dir.join("x.npy"), &npy_bytes_f32(x.view()))?;
        write_atomic(&dir.join("y.npy"), &npy_bytes_i64(&y))?;
        let (train, test) = probe::stratified_split(&y, 0);
        let ids = |v: Vec<usize>| v.into_iter().map(|i| i as i64).collect::<Vec<i64>>();
        write_atomic(&dir.join("train.npy"), &npy_bytes_i64(&ids(train)))?;
        write_atomic(&dir.join("test.npy"), &npy_bytes_i64(&ids(test)))?;
    }

    let mut wall: [Vec<f64>; 3] = Default::default();
    let mut cpu: [Vec<f64>; 3] = Default::default();
    let (mut probe_acc, mut knn_acc, mut kl) = (None, None, f64::NAN);
    for _ in 0..reps {
        let (p, w, c) = time(|| probe::probe_accuracy(x.view(), &y, 0));
        probe_acc = p;
        wall[0].push(w);
        cpu[0].push(c);
        let (k, w, c) = time(|| knn::knn_accuracy(x.view(), &y, 20));
        knn_acc = k;
        wall[1].push(w);
        cpu[1].push(c);
        let (h, w, c) = time(|| knn::kl_entropy_bits(x.view(), 3));
        kl = h;
        wall[2].push(w);
        cpu[2].push(c);
    }
    let [t_probe, t_knn, t_kl] = wall;
    let [c_probe, c_knn, c_kl] = cpu;
    println!(
        "{}",
        serde_json::json!({
            "n": n,
            "dim": d,
            "classes": CLASSES,
            "threads": rayon::current_num_threads(),
            "probe_s": median(t_probe),
            "knn_s": median(t_knn),
            "kl_entropy_s": median(t_kl),
            "probe_cpu_s": median(c_probe),
            "knn_cpu_s": median(c_knn),
            "kl_entropy_cpu_s": median(c_kl),
            "probe_acc": probe_acc,
            "knn_acc": knn_acc,
            "kl_entropy_bits": kl,
        })
    );
    Ok(())
}
