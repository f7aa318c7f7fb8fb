//! The metric set on the CPU kernels against the device kernels, in one run
//! on the same seeded synthetic embeddings (used by `scripts/gpu-check.sh`).
//!
//! Usage: bench_device [--size NxD] [--device cuda|torch-cpu] [--repeats R]
//!   (defaults: 50000x2048, cuda, 3). Build with `--features cuda` for
//!   cuda, `--features train` for torch-cpu (the device code on libtorch's
//!   CPU: a check of the code path, not a speed claim).
//!
//! Prints, per kernel (both k-means clusterings, silhouette, kNN accuracy,
//! the Gram matrix) and for the whole `compute_layer` with labels: the
//! median seconds on each side and the ratio; then each metric's value on
//! both sides and the absolute difference; the load average before and
//! after. A device kernel that fell back to the CPU is an error here.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};
use sslwatch::metrics::device::{Device, Kernels};
use sslwatch::metrics::{compute_layer, kmeans, second_seed, Metric, MetricSettings};
use std::time::Instant;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn load() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .unwrap_or_default()
        .split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" ")
}

/// Rows around 10 centres (standard deviation 0.2 per dimension) with
/// noise 1, in a decaying spectrum (dimension j scaled by
/// 1 / sqrt(1 + j / 64)): the classes overlap, so k-means, kNN and the
/// silhouette are not trivially perfect.
fn synthetic(n: usize, d: usize, seed: u64) -> (ndarray::Array2<f32>, Vec<i64>) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let c = 10;
    let centres: Vec<f32> = (0..c * d)
        .map(|_| {
            let z: f32 = StandardNormal.sample(&mut rng);
            0.2 * z
        })
        .collect();
    let labels: Vec<i64> = (0..n).map(|_| rng.gen_range(0..c) as i64).collect();
    let scale: Vec<f32> = (0..d)
        .map(|j| 1.0 / (1.0 + j as f32 / 64.0).sqrt())
        .collect();
    let x = ndarray::Array2::from_shape_fn((n, d), |(i, j)| {
        let z: f32 = StandardNormal.sample(&mut rng);
        (centres[labels[i] as usize * d + j] + z) * scale[j]
    });
    (x, labels)
}

fn timed<T>(f: impl FnOnce() -> T) -> (T, f64) {
    let t = Instant::now();
    let v = f();
    (v, t.elapsed().as_secs_f64())
}

fn main() -> anyhow::Result<()> {
    sslwatch::memory::configure_allocator();
    let mut size = (50_000usize, 2_048usize);
    let mut device = Device::Cuda(0);
    let mut reps = 3usize;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let v = args.next().unwrap_or_default();
        match a.as_str() {
            "--size" => {
                let (n, d) = v
                    .split_once('x')
                    .ok_or_else(|| anyhow::anyhow!("--size NxD, e.g. 50000x2048"))?;
                size = (n.parse()?, d.parse()?);
            }
            "--device" => {
                device = match v.as_str() {
                    "cuda" => Device::Cuda(0),
                    "torch-cpu" => Device::TorchCpu,
                    other => anyhow::bail!("--device {other}: cuda or torch-cpu"),
                }
            }
            "--repeats" => reps = v.parse::<usize>()?.max(1),
            other => anyhow::bail!("unknown argument {other}"),
        }
    }
    let (n, d) = size;
    let threads = rayon::current_num_threads();
    println!(
        "bench_device: {n} x {d}, 10 classes, labels given; cpu kernels ({threads} rayon threads) vs {device}; median of {reps}"
    );
    println!("load before: {}", load());
    let (x, labels) = synthetic(n, d, 7);
    let x = x.view();
    let s = MetricSettings::default();
    let k = 10;
    let params = |seed| kmeans::KMeansParams {
        k,
        n_init: s.n_init,
        max_iter: s.max_iter,
        seed,
    };
    let ps = [params(s.seed), params(second_seed(s.seed))];

    let names = [
        "kmeans_x2",
        "silhouette",
        "knn_acc",
        "gram",
        "compute_layer",
    ];
    let mut secs: Vec<[Vec<f64>; 5]> = vec![Default::default(), Default::default()];
    let mut results = Vec::new();
    let mut fallbacks = Vec::new();
    for (side, dev) in [Device::Cpu, device].into_iter().enumerate() {
        let kern = Kernels::new(dev);
        let mut w = Vec::new();
        for _ in 0..reps {
            let ([c1, _c2], t) = timed(|| kern.kmeans_many(x, &ps, &mut w));
            secs[side][0].push(t);
            let (_, t) =
                timed(|| kern.silhouette_score(x, &c1.labels, s.silhouette_sample, s.seed, &mut w));
            secs[side][1].push(t);
            let (_, t) = timed(|| {
                kern.knn_accuracy_sampled(x, &labels, s.knn_k, s.knn_sample, s.seed, &mut w)
            });
            secs[side][2].push(t);
            let (_, t) = timed(|| kern.gram(x, &mut w));
            secs[side][3].push(t);
            let settings = MetricSettings {
                device: dev,
                ..s.clone()
            };
            let (r, t) = timed(|| compute_layer(x, Some(&labels), &settings));
            secs[side][4].push(t);
            let (m, c) = r?;
            w.extend(m.warnings.iter().cloned());
            results.push((side, m, c));
        }
        fallbacks.extend(w.into_iter().filter(|w| w.contains("computed on the CPU")));
    }
    println!(
        "{:<14} {:>10} {:>10} {:>8}",
        "kernel",
        "cpu_s",
        device.to_string() + "_s",
        "ratio"
    );
    for (i, name) in names.iter().enumerate() {
        let c = median(secs[0][i].clone());
        let g = median(secs[1][i].clone());
        println!("{name:<14} {c:>10.3} {g:>10.3} {:>7.2}x", c / g);
    }
    let cpu = results.iter().find(|r| r.0 == 0);
    let dev = results.iter().find(|r| r.0 == 1);
    if let (Some((_, a, ca)), Some((_, b, cb))) = (cpu, dev) {
        println!(
            "{:<16} {:>14} {:>14} {:>10}",
            "metric",
            "cpu",
            device.to_string(),
            "abs_diff"
        );
        for m in Metric::ALL {
            let (va, vb) = (a.get(m), b.get(m));
            let diff = match (va, vb) {
                (Some(p), Some(q)) => format!("{:.3e}", (p - q).abs()),
                (None, None) => "-".into(),
                _ => "null on one side".into(),
            };
            let show = |v: Option<f64>| v.map_or("null".into(), |v| format!("{v:.6}"));
            println!(
                "{:<16} {:>14} {:>14} {:>10}",
                m.key(),
                show(va),
                show(vb),
                diff
            );
        }
        let same = ca.c1.iter().zip(&cb.c1).filter(|(p, q)| p == q).count();
        println!(
            "k-means c1 labels identical on {same} of {n} rows ({:.4}%)",
            100.0 * same as f64 / n as f64
        );
    }
    println!("load after: {}", load());
    if !fallbacks.is_empty() {
        anyhow::bail!(
            "device kernels fell back to the CPU: {}",
            fallbacks.join("; ")
        );
    }
    Ok(())
}
