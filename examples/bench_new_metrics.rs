//! Times the issue-11 metric kernels against `compute_layer` on standard
//! normal data (10,000 x 512, seed 0, by default), and measures how much a
//! uniformity sample moves over seeds.
//!
//! Usage: bench_new_metrics [N] [D] [REPEATS]   (run it under `nice`; the
//! load average is printed first). Prints one line per measurement: median
//! wall ms over REPEATS (default 5) and the share of compute_layer's median.

use ndarray::Array2;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::StandardNormal;
use sslwatch::metrics::spectrum::{CovSpectrum, SPECTRUM_KEEP};
use sslwatch::metrics::{
    compute_layer, entropy, outliers, projection, uniformity, EntropyEstimator, MetricSettings,
};
use std::hint::black_box;
use std::time::Instant;

fn median_ms(reps: usize, mut f: impl FnMut()) -> f64 {
    let mut v: Vec<f64> = (0..reps)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed().as_secs_f64() * 1e3
        })
        .collect();
    v.sort_by(f64::total_cmp);
    v[reps / 2]
}

fn normal(n: usize, d: usize, seed: u64) -> Array2<f32> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    Array2::from_shape_simple_fn((n, d), || rng.sample::<f32, _>(StandardNormal))
}

fn main() -> anyhow::Result<()> {
    sslwatch::memory::configure_allocator();
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let n = args.first().copied().unwrap_or(10_000);
    let d = args.get(1).copied().unwrap_or(512);
    let reps = args.get(2).copied().unwrap_or(5).max(1);
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!(
        "{n} x {d}, {reps} repeats, threads {}, load {}",
        rayon::current_num_threads(),
        load.split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" ")
    );
    let x = normal(n, d, 0);
    let xv = x.view();
    let s = MetricSettings::default();

    let t_layer = median_ms(reps, || {
        black_box(compute_layer(xv, None, &s).ok());
    });
    let gauss = MetricSettings {
        entropy: EntropyEstimator::Gauss,
        ..MetricSettings::default()
    };
    let t_layer_gauss = median_ms(reps, || {
        black_box(compute_layer(xv, None, &gauss).ok());
    });
    // The new metrics as compute_layer runs them (N >= D: the spectrum
    // reuses RankMe's Gram of x, so its own cost is the subtraction and the
    // eigendecomposition with two axes).
    let gram = sslwatch::metrics::linalg::gram_lower(xv, None);
    let shared = CovSpectrum::with_axes_sharing(xv, &gram, 2);
    let mut new_rows: Vec<(String, f64)> = vec![
        (
            "spectrum+alpha+axes (sharing Gram)".into(),
            median_ms(reps, || {
                let sp = CovSpectrum::with_axes_sharing(xv, &gram, 2);
                black_box(
                    sp.as_ref()
                        .map(|sp| (sp.normalised_singular(SPECTRUM_KEEP), sp.alpha_req())),
                );
            }),
        ),
        (
            "map projection (1,000 rows)".into(),
            median_ms(reps, || {
                if let Some(sp) = &shared {
                    black_box(projection::pca_2d_from(
                        sp,
                        xv,
                        sslwatch::metrics::MAP_POINTS,
                        0,
                    ));
                }
            }),
        ),
        (
            "outliers + inlier hist entropy".into(),
            median_ms(reps, || {
                if let Some(o) = outliers::outliers(xv) {
                    let h = outliers::inlier_rows(xv, &o)
                        .map(|m| entropy::hist_entropy_bits(m.view(), s.entropy_bins));
                    black_box(h);
                }
            }),
        ),
        (
            format!("uniformity ({} rows)", s.uniformity_sample),
            median_ms(reps, || {
                black_box(uniformity::uniformity_with(xv, s.uniformity_sample, 0));
            }),
        ),
    ];
    let new_total: f64 = new_rows.iter().map(|(_, ms)| ms).sum();
    new_rows.push(("all new metrics".into(), new_total));
    let mut rows: Vec<(String, f64)> = vec![
        (
            "spectrum+alpha (CovSpectrum::of)".into(),
            median_ms(reps, || {
                let sp = CovSpectrum::of(xv);
                black_box(
                    sp.as_ref()
                        .map(|sp| (sp.normalised_singular(SPECTRUM_KEEP), sp.alpha_req())),
                );
            }),
        ),
        (
            "gauss_entropy_bits".into(),
            median_ms(reps, || {
                black_box(entropy::gauss_entropy_bits(xv));
            }),
        ),
    ];
    for m in [1_000usize, 2_000, 5_000] {
        if m <= n {
            rows.push((
                format!("uniformity on {m} rows"),
                median_ms(reps, || {
                    black_box(uniformity::uniformity_with(xv, m, 0));
                }),
            ));
        }
    }
    println!("compute_layer (hist, no labels)   {t_layer:9.1} ms");
    println!("compute_layer (gauss, no labels)  {t_layer_gauss:9.1} ms");
    let rest = t_layer - new_total;
    for (name, ms) in &new_rows {
        println!(
            "{name:<34}{ms:9.1} ms  {:5.1}% of the rest of compute_layer ({rest:.1} ms)",
            100.0 * ms / rest
        );
    }
    for (name, ms) in &rows {
        println!(
            "{name:<34}{ms:9.1} ms  {:5.1}% of compute_layer",
            100.0 * ms / t_layer
        );
    }

    // How much a sample of m rows moves the value: sd over 10 seeds, and
    // the offset of their mean from the exact value over all rows.
    let exact = uniformity::uniformity_with(xv, n, 0).value;
    println!("uniformity exact over {n} rows: {exact:.6}");
    for m in [1_000usize, 2_000, 5_000] {
        if m < n {
            let v: Vec<f64> = (0..10)
                .map(|seed| uniformity::uniformity_with(xv, m, seed).value)
                .collect();
            let mean = v.iter().sum::<f64>() / v.len() as f64;
            let sd = (v.iter().map(|a| (a - mean).powi(2)).sum::<f64>() / 9.0).sqrt();
            println!(
                "uniformity sample {m}: mean {mean:.6} sd over 10 seeds {sd:.2e} (mean - exact {:.2e})",
                mean - exact
            );
        }
    }

    // The N < D path: the row Gram (used) against the D x D covariance.
    let wide = normal(359, 2048, 1);
    let w = wide.view();
    let rows_ms = median_ms(reps, || {
        black_box(CovSpectrum::of(w));
    });
    let cols_ms = median_ms(reps.min(3), || {
        black_box(sslwatch::metrics::linalg::sym_eigenvalues_lower(
            &sslwatch::metrics::linalg::gram_lower(
                w,
                Some(&sslwatch::metrics::linalg::column_means(w)),
            ),
        ));
    });
    println!(
        "359 x 2048 spectrum: N x N row Gram {rows_ms:.1} ms, D x D covariance {cols_ms:.1} ms"
    );
    Ok(())
}
