//! Times the metric set on an embedding file, stage by stage as
//! `compute_layer` runs it (used by `scripts/bench-metrics.sh`, which also
//! times the Python pipelines on the same file and prints the ratios).
//!
//! Usage: bench_metrics X.npy LABELS.npy [REPEATS]
//! Prints one JSON object: per-stage medians in seconds, each GEMM-bound
//! stage's floor (its multiply-adds at this machine's f32 or f64 GEMM rate,
//! measured in the same run), whole `compute_layer` with and without labels,
//! and peak resident memory.

use faer::linalg::matmul::triangular::{self, BlockStructure};
use rayon::prelude::*;
use sslwatch::metrics::pairwise::gemm_nt;
use sslwatch::metrics::{
    ami, compute_layer, entropy, kmeans, knn, linalg, outliers, probe, projection, rank,
    second_seed, silhouette, spectrum, uniformity, MetricSettings,
};
use std::path::PathBuf;
use std::time::Instant;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn time<T>(f: impl FnOnce() -> T) -> (T, f64) {
    let t = Instant::now();
    let out = f();
    (out, t.elapsed().as_secs_f64())
}

/// Process CPU seconds (user + system, all threads): on a shared machine
/// the CPU time shows the work done even when other load inflates the wall time.
fn cpu_seconds() -> f64 {
    // SAFETY: getrusage only writes into the zeroed struct we pass.
    let mut u: libc::rusage = unsafe { std::mem::zeroed() };
    if unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut u) } != 0 {
        return f64::NAN;
    }
    let secs = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 * 1e-6;
    secs(u.ru_utime) + secs(u.ru_stime)
}

/// Wall and CPU seconds of `f`, recorded under `name`.
fn stage<T>(
    cols: &mut std::collections::BTreeMap<&'static str, (Vec<f64>, Vec<f64>)>,
    name: &'static str,
    f: impl FnOnce() -> T,
) -> T {
    let c = cpu_seconds();
    let (out, wall) = time(f);
    let e = cols.entry(name).or_default();
    e.0.push(wall);
    e.1.push(cpu_seconds() - c);
    out
}

fn peak_rss_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

/// Rate (GFLOP/s) of `block`, one product of `flops` each into a reused
/// output, run 4 times per thread: in a loop on one thread, one block per
/// task on more, as the metrics run their blocks. Medians of 5.
fn block_rate(threads: usize, flops: f64, block: impl Fn(&mut Vec<f32>) + Sync) -> f64 {
    let blocks = 4 * threads;
    let secs = median(
        (0..5)
            .map(|_| {
                time(|| {
                    if threads == 1 {
                        let mut out = Vec::new();
                        for _ in 0..blocks {
                            block(&mut out);
                        }
                        std::hint::black_box(&out);
                    } else {
                        (0..blocks).into_par_iter().for_each(|_| {
                            let mut out = Vec::new();
                            block(&mut out);
                            std::hint::black_box(&out);
                        })
                    }
                })
                .1
            })
            .collect(),
    );
    blocks as f64 * flops / secs / 1e9
}

/// The 1024 x 512 blocks the rates are measured on (two patterns).
const R: usize = 1024;
const D: usize = 512;

fn pattern(seed: usize) -> Vec<f32> {
    (0..R * D)
        .map(|i| ((i * seed) % 1000) as f32 / 1e3)
        .collect()
}

/// f32 GEMM rate (GFLOP/s) of `a · bᵀ` over 1024 x 512 blocks.
fn gemm_rate_f32(threads: usize) -> f64 {
    let (a, b) = (pattern(7919), pattern(104_729));
    block_rate(threads, 2.0 * (R * R * D) as f64, |out| {
        out.resize(R * R, 0.0);
        gemm_nt(&a, &b, D, out);
    })
}

/// bf16 product rate (GFLOP/s, two per multiply-add) of the kNN search's
/// screening on the same blocks (centred on 0, rounded to bf16); `None`
/// without AVX512-BF16 (the search then multiplies in f32).
fn bf16_rate(threads: usize) -> Option<f64> {
    use sslwatch::metrics::bf16;
    if !bf16::available() {
        return None;
    }
    let w = bf16::words(D);
    let rounded = |seed: usize| {
        let x: Vec<f32> = pattern(seed).iter().map(|v| v - 0.5).collect();
        let (mut out, mut err) = (Vec::new(), Vec::new());
        bf16::round_rows(&x, D, &mut out, &mut err);
        out
    };
    let (a, b) = (rounded(7919), rounded(104_729));
    let mut panels = Vec::new();
    bf16::pack_panels(&b, w, &mut panels);
    Some(block_rate(threads, 2.0 * (R * R * D) as f64, |out| {
        out.resize(R * R, 0.0);
        bf16::product(&a, w, &panels, R, out);
    }))
}

/// f64 rate (GFLOP/s) of the lower-triangular `Xᵀ X` update the Gram uses
/// (128-row blocks, 1024 columns), one per thread.
fn gemm_rate_f64() -> f64 {
    const R: usize = 128;
    const D: usize = 1024;
    let x: Vec<f64> = (0..R * D)
        .map(|i| ((i * 7919) % 1000) as f64 / 1e3)
        .collect();
    let threads = rayon::current_num_threads();
    let reps = 8;
    let secs = median(
        (0..5)
            .map(|_| {
                time(|| {
                    (0..threads).into_par_iter().for_each(|_| {
                        let xb = faer::MatRef::from_row_major_slice(&x, R, D);
                        let mut g = faer::Mat::<f64>::zeros(D, D);
                        for _ in 0..reps {
                            triangular::matmul(
                                g.as_mut(),
                                BlockStructure::TriangularLower,
                                faer::Accum::Add,
                                xb.transpose(),
                                BlockStructure::Rectangular,
                                xb,
                                BlockStructure::Rectangular,
                                1.0,
                                faer::Par::Seq,
                            );
                        }
                        std::hint::black_box(&g);
                    })
                })
                .1
            })
            .collect(),
    );
    // Lower triangle with the diagonal: D (D + 1) / 2 entries, R FMAs each.
    let flops = (threads * reps) as f64 * (D * (D + 1)) as f64 * R as f64;
    flops / secs / 1e9
}

fn main() -> anyhow::Result<()> {
    // As the sslwatch binary does at start-up.
    sslwatch::memory::configure_allocator();
    let args: Vec<String> = std::env::args().collect();
    anyhow::ensure!(
        args.len() >= 3,
        "usage: bench_metrics X.npy LABELS.npy [REPEATS]"
    );
    let reps: usize = args.get(3).map_or(Ok(3), |r| r.parse())?;
    let layers = sslwatch::read::read_embeddings(&PathBuf::from(&args[1]))?;
    let labels = sslwatch::read::read_labels(&PathBuf::from(&args[2]), u64::MAX)?;
    let x = layers
        .first()
        .ok_or_else(|| anyhow::anyhow!("no layer"))?
        .data
        .view();
    let (n, d) = x.dim();
    let s = MetricSettings::default();
    let k = sslwatch::metrics::distinct(&labels);
    let params = |seed| kmeans::KMeansParams {
        k,
        n_init: s.n_init,
        max_iter: s.max_iter,
        seed,
    };

    let mut cols: std::collections::BTreeMap<&'static str, (Vec<f64>, Vec<f64>)> =
        Default::default();
    let mut flops: std::collections::BTreeMap<&str, f64> = Default::default();
    for _ in 0..reps {
        let c = &mut cols;
        // Both clusterings in one batch, as `compute_layer` makes them.
        let [c1, c2] = stage(c, "kmeans_x2", || {
            kmeans::kmeans_many(x, &[params(s.seed), params(second_seed(s.seed))])
        });
        stage(c, "silhouette", || {
            silhouette::silhouette_score(x, &c1.labels, s.silhouette_sample, s.seed)
        });
        let a: Vec<i64> = c1.labels.iter().map(|&v| i64::from(v)).collect();
        let b: Vec<i64> = c2.labels.iter().map(|&v| i64::from(v)).collect();
        stage(c, "ami_agreement", || ami::adjusted_mutual_info(&a, &b));
        stage(c, "entropy_hist", || {
            entropy::hist_entropy_bits(x, s.entropy_bins)
        });
        let gram = stage(c, "gram_f64", || linalg::gram_lower(x, None));
        let cov = stage(c, "cov_spectrum", || {
            spectrum::CovSpectrum::with_axes_sharing(x, &gram, 2)
        });
        // RankMe from the centred decomposition (a rank-one update, the
        // secular equation), as `compute_layer` has it; the Gram's own
        // decomposition only where that path falls back.
        stage(c, "rankme_eig", || {
            cov.as_ref()
                .and_then(spectrum::CovSpectrum::uncentred_eigenvalues)
                .map_or_else(
                    || rank::rankme_of_gram(&gram, n, d),
                    |e| rank::rankme_of_eigenvalues(&e, n, d),
                )
        });
        drop(gram);
        stage(c, "outliers", || {
            let found = outliers::outliers(x);
            if let Some(o) = found.as_ref() {
                entropy::hist_entropy_bits_masked(x, s.entropy_bins, Some(&o.mask));
            }
        });
        stage(c, "uniformity", || {
            uniformity::uniformity_with(x, s.uniformity_sample, s.seed)
        });
        stage(c, "map", || {
            cov.as_ref()
                .and_then(|cv| projection::pca_2d_from(cv, x, 1000, s.seed))
        });
        drop(cov);
        stage(c, "ami_labels", || ami::adjusted_mutual_info(&a, &labels));
        stage(c, "probe", || probe::probe_accuracy(x, &labels, s.seed));
        stage(c, "knn", || {
            knn::knn_accuracy_sampled(x, &labels, s.knn_k, s.knn_sample, s.seed)
        });
        stage(c, "compute_layer_label_free", || {
            compute_layer(x, None, &s).ok()
        });
        stage(c, "compute_layer_all", || {
            compute_layer(x, Some(&labels), &s).ok()
        });
    }
    // Multiply-adds x 2 of the GEMM-bound stages.
    let (nf, df) = (n as f64, d as f64);
    let m_sil = n.min(s.silhouette_sample) as f64;
    let q_knn = n.min(s.knn_sample) as f64;
    let m_unif = n.min(s.uniformity_sample) as f64;
    flops.insert("silhouette", m_sil * m_sil * df); // each pair once
    flops.insert("uniformity", m_unif * m_unif * df);
    flops.insert("gram_f64", nf * df * (df + 1.0));
    // Sampled: every query against every row; exact: each pair once.
    let knn_pairs = if q_knn < nf {
        q_knn * nf
    } else {
        nf * nf / 2.0
    };
    flops.insert("knn", 2.0 * knn_pairs * df);

    let f32_rate = gemm_rate_f32(rayon::current_num_threads());
    // One core's rate: CPU seconds / this floor is robust to other load.
    let f32_core = gemm_rate_f32(1);
    let f64_rate = gemm_rate_f64();
    // The sampled kNN search screens in bf16 where the processor can: its
    // products' floor is then the bf16 rate.
    let screened = q_knn < nf && sslwatch::metrics::bf16::available();
    let bf16_rates = (bf16_rate(rayon::current_num_threads()), bf16_rate(1));
    let knn_rates = match bf16_rates {
        (Some(all), Some(one)) if screened => (all, one),
        _ => (f32_rate, f32_core),
    };
    let mut out = serde_json::Map::new();
    let mut cpu = serde_json::Map::new();
    for (name, (wall, c)) in cols {
        out.insert(name.into(), median(wall).into());
        cpu.insert(name.into(), median(c).into());
    }
    out.insert("cpu".into(), serde_json::Value::Object(cpu));
    let mut floors = serde_json::Map::new();
    for (name, f) in &flops {
        let rate = match *name {
            "gram_f64" => f64_rate,
            "knn" => knn_rates.0,
            _ => f32_rate,
        };
        floors.insert((*name).into(), (f / (rate * 1e9)).into());
    }
    out.insert("floor".into(), serde_json::Value::Object(floors));
    // CPU-second floors: f32 stages at one core's rate, the f64 Gram at
    // the f64 rate per thread.
    let threads = rayon::current_num_threads() as f64;
    let mut cpu_floors = serde_json::Map::new();
    for (name, f) in &flops {
        let rate = match *name {
            "gram_f64" => f64_rate / threads,
            "knn" => knn_rates.1,
            _ => f32_core,
        };
        cpu_floors.insert((*name).into(), (f / (rate * 1e9)).into());
    }
    out.insert("cpu_floor".into(), serde_json::Value::Object(cpu_floors));
    out.insert("gemm_f32_core_gflops".into(), f32_core.into());
    out.insert("gemm_f32_gflops".into(), f32_rate.into());
    out.insert("gemm_f64_gflops".into(), f64_rate.into());
    out.insert("bf16_gflops".into(), bf16_rates.0.into());
    out.insert("bf16_core_gflops".into(), bf16_rates.1.into());
    out.insert("knn_screened".into(), screened.into());
    out.insert("peak_rss_mib".into(), peak_rss_mib().into());
    out.insert("threads".into(), rayon::current_num_threads().into());
    out.insert("n".into(), n.into());
    out.insert("d".into(), d.into());
    println!("{}", serde_json::Value::Object(out));
    Ok(())
}
