//! Times the clustering metrics on the benchmark data: a 10,000 x 512 f32
//! Gaussian mixture with 10 components (the same recipe as
//! `scripts/bench_metrics.py`: centres N(0,1) * 0.6 plus N(0,1) noise).
//!
//! Usage: bench_clustering [REPEATS] [X.npy]   (default 5 repeats, generated data;
//! BENCH_CLUSTERING_SAVE=PATH also writes the data used to PATH as .npy)
//! Prints medians of REPEATS for: two k-means clusterings (k=10, n_init=3,
//! seeds 0 and `second_seed(0)`), one exact silhouette (n <= sample), and
//! their total, plus the inertias, iterations and peak resident memory.

use ndarray::Array2;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};
use sslwatch::metrics::{kmeans, second_seed, silhouette};
use std::time::Instant;

const N: usize = 10_000;
const D: usize = 512;
const C: usize = 10;

fn mixture(seed: u64) -> Array2<f32> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let centres = Array2::<f32>::from_shape_fn((C, D), |_| StandardNormal.sample(&mut rng));
    let mut x = Array2::<f32>::zeros((N, D));
    for mut row in x.rows_mut() {
        let c = rng.gen_range(0..C);
        for (v, &m) in row.iter_mut().zip(centres.row(c)) {
            let noise: f32 = StandardNormal.sample(&mut rng);
            *v = 0.6 * m + noise;
        }
    }
    x
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// CPU seconds (user + system) of this process, all threads.
fn cpu_seconds() -> f64 {
    // SAFETY: getrusage only writes the struct we pass.
    let mut u: libc::rusage = unsafe { std::mem::zeroed() };
    if unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut u) } != 0 {
        return f64::NAN;
    }
    let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 * 1e-6;
    tv(u.ru_utime) + tv(u.ru_stime)
}

/// Single-thread GFLOP/s of a 256 x 512 x 256 product (the silhouette's
/// block shape), measured in the same run as a yardstick for this machine.
fn reference_gflops(x: &Array2<f32>) -> f64 {
    let a = x.slice(ndarray::s![0..256, ..]);
    let b = x.slice(ndarray::s![256..512, ..]);
    let mut t = Vec::new();
    for _ in 0..15 {
        let t0 = Instant::now();
        std::hint::black_box(a.dot(&b.t()));
        t.push(t0.elapsed().as_secs_f64());
    }
    2.0 * 256.0 * 256.0 * 512.0 / median(t) / 1e9
}

fn peak_rss_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

fn main() {
    let reps: usize = std::env::args()
        .nth(1)
        .and_then(|r| r.parse().ok())
        .unwrap_or(5)
        .max(1);
    let x = match std::env::args().nth(2) {
        Some(path) => match sslwatch::read::read_embeddings(std::path::Path::new(&path)) {
            Ok(mut layers) if !layers.is_empty() => layers.swap_remove(0).data,
            Ok(_) => return eprintln!("{path}: no layer"),
            Err(e) => return eprintln!("{path}: {e}"),
        },
        None => mixture(0),
    };
    let (n, d) = x.dim();
    // To compare with scikit-learn on the same rows.
    if let Ok(path) = std::env::var("BENCH_CLUSTERING_SAVE") {
        let bytes = sslwatch::read::write::npy_bytes_f32(x.view());
        if let Err(e) = sslwatch::read::write::write_atomic(std::path::Path::new(&path), &bytes) {
            eprintln!("{path}: {e}");
        }
    }
    let params = |seed| kmeans::KMeansParams {
        k: C,
        n_init: 3,
        max_iter: 300,
        seed,
    };
    let (mut tk, mut ts, mut tt) = (Vec::new(), Vec::new(), Vec::new());
    let (mut ck, mut cs) = (Vec::new(), Vec::new());
    let mut last = None;
    for _ in 0..reps {
        let u0 = cpu_seconds();
        let t0 = Instant::now();
        let [c1, c2] = kmeans::kmeans_many(x.view(), &[params(0), params(second_seed(0))]);
        let t1 = Instant::now();
        let u1 = cpu_seconds();
        let s = silhouette::silhouette_score(x.view(), &c1.labels, 20_000, 0);
        let t2 = Instant::now();
        ck.push(u1 - u0);
        cs.push(cpu_seconds() - u1);
        tk.push((t1 - t0).as_secs_f64());
        ts.push((t2 - t1).as_secs_f64());
        tt.push((t2 - t0).as_secs_f64());
        last = Some((c1.inertia, c1.n_iter, c2.inertia, c2.n_iter, s));
    }
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!(
        "data {n} x {d}, k = {C}; {} threads; load {}",
        rayon::current_num_threads(),
        load.split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" ")
    );
    println!(
        "medians of {reps}: kmeans x2 {:.4} s, silhouette {:.4} s, total {:.4} s",
        median(tk),
        median(ts),
        median(tt)
    );
    println!(
        "cpu seconds (all threads): kmeans x2 {:.4}, silhouette {:.4}; reference 1-thread GEMM {:.1} GFLOP/s",
        median(ck),
        median(cs),
        reference_gflops(&x)
    );
    if let Some((i1, n1, i2, n2, s)) = last {
        println!("inertia {i1:.1} ({n1} iter), {i2:.1} ({n2} iter); silhouette {s:?}");
    }
    println!("peak rss {:.1} MiB", peak_rss_mib().unwrap_or(f64::NAN));
}
