//! How far the sampled O(N²) metrics land from their exact values, and what
//! the samples save: silhouette over a seeded row sample and kNN accuracy
//! over a seeded query sample, against the exact value on the same data.
//!
//! Usage: bench_sampling [N] [D] [SEEDS]   (defaults 20000 512 4)
//! Data: a 10-class Gaussian mixture whose centres are close (scale 0.15 of
//! the noise), so that kNN accuracy is well inside (0, 1). Silhouette is
//! that of the true classes (its sampling error does not depend on which
//! labelling is scored). Prints, per sample size, the mean and largest
//! |sampled - exact| over the seeds, their standard deviation, the standard
//! error the README states for kNN, and the CPU seconds against exact.

use ndarray::Array2;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};
use sslwatch::metrics::{knn, silhouette};

const CLASSES: usize = 10;

/// Process CPU seconds (user + system, all threads).
fn cpu_seconds() -> f64 {
    // SAFETY: getrusage only writes into the zeroed struct we pass.
    let mut u: libc::rusage = unsafe { std::mem::zeroed() };
    if unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut u) } != 0 {
        return f64::NAN;
    }
    let secs = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 * 1e-6;
    secs(u.ru_utime) + secs(u.ru_stime)
}

fn cpu<T>(f: impl FnOnce() -> T) -> (T, f64) {
    let c = cpu_seconds();
    let out = f();
    (out, cpu_seconds() - c)
}

fn summary(exact: f64, vals: &[f64]) -> (f64, f64, f64) {
    let errs: Vec<f64> = vals.iter().map(|v| (v - exact).abs()).collect();
    let mean_err = errs.iter().sum::<f64>() / errs.len() as f64;
    let max_err = errs.iter().copied().fold(0.0, f64::max);
    let m = vals.iter().sum::<f64>() / vals.len() as f64;
    let sd = (vals.iter().map(|v| (v - m).powi(2)).sum::<f64>() / vals.len() as f64).sqrt();
    (mean_err, max_err, sd)
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let n: usize = args.get(1).map_or(Ok(20_000), |v| v.parse())?;
    let d: usize = args.get(2).map_or(Ok(512), |v| v.parse())?;
    let seeds: u64 = args.get(3).map_or(Ok(4), |v| v.parse())?;
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    let centres = Array2::from_shape_fn((CLASSES, d), |_| {
        0.15 * <StandardNormal as Distribution<f64>>::sample(&StandardNormal, &mut rng) as f32
    });
    let y: Vec<i64> = (0..n).map(|i| (i % CLASSES) as i64).collect();
    let x = Array2::from_shape_fn((n, d), |(i, j)| {
        centres[[i % CLASSES, j]]
            + <StandardNormal as Distribution<f64>>::sample(&StandardNormal, &mut rng) as f32
    });
    let classes: Vec<u32> = y.iter().map(|&v| v as u32).collect();
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!(
        "{n} x {d}, {CLASSES} classes, {seeds} seeds, {} threads, load {}",
        rayon::current_num_threads(),
        load.split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" ")
    );

    let (sil_exact, c_sil) = cpu(|| silhouette::silhouette_score(x.view(), &classes, n, 0));
    let sil_exact = sil_exact.unwrap_or(f64::NAN);
    println!("silhouette exact {sil_exact:.5} ({c_sil:.2} CPU s)");
    for m in [n / 2, n / 4] {
        let mut vals = Vec::new();
        let mut c_all = 0.0;
        for seed in 0..seeds {
            let (v, c) = cpu(|| silhouette::silhouette_score(x.view(), &classes, m, seed));
            vals.push(v.unwrap_or(f64::NAN));
            c_all += c;
        }
        let (mean_err, max_err, sd) = summary(sil_exact, &vals);
        println!(
            "  sample {m:>6}: mean |err| {mean_err:.5}, max {max_err:.5}, sd {sd:.5}, \
             {:.2} CPU s ({:.0}% of exact)",
            c_all / seeds as f64,
            100.0 * c_all / seeds as f64 / c_sil
        );
    }

    let (knn_exact, c_knn) = cpu(|| knn::knn_accuracy(x.view(), &y, 20));
    let knn_exact = knn_exact.unwrap_or(f64::NAN);
    println!("knn_acc exact {knn_exact:.5} ({c_knn:.2} CPU s)");
    for m in [n / 2, n / 4, n / 10] {
        let mut vals = Vec::new();
        let mut c_all = 0.0;
        for seed in 0..seeds {
            let (v, c) = cpu(|| knn::knn_accuracy_sampled(x.view(), &y, 20, m, seed));
            vals.push(v.unwrap_or(f64::NAN));
            c_all += c;
        }
        let (mean_err, max_err, sd) = summary(knn_exact, &vals);
        let se = (knn_exact * (1.0 - knn_exact) / m as f64).sqrt();
        println!(
            "  queries {m:>6}: mean |err| {mean_err:.5}, max {max_err:.5}, sd {sd:.5} \
             (stated standard error {se:.5}), {:.2} CPU s ({:.0}% of exact)",
            c_all / seeds as f64,
            100.0 * c_all / seeds as f64 / c_knn
        );
    }
    Ok(())
}
