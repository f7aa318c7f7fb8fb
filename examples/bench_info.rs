//! Times AMI, histogram/Gaussian entropy and RankMe on synthetic data
//! (10,000 x 512 f32 by default). Usage: bench_info [N] [D] [REPEATS]

use ndarray::Array2;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::StandardNormal;
use sslwatch::metrics::{ami, entropy, rank};
use std::time::Instant;

/// Process CPU time (all threads), less disturbed than wall time on a
/// machine shared with other jobs.
fn cpu_ms() -> f64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes one timespec through a valid pointer.
    unsafe { libc::clock_gettime(libc::CLOCK_PROCESS_CPUTIME_ID, &mut ts) };
    ts.tv_sec as f64 * 1e3 + ts.tv_nsec as f64 * 1e-6
}

/// Median wall ms, median CPU ms, and the last value.
fn median_ms(mut f: impl FnMut() -> f64, reps: usize) -> (f64, f64, f64) {
    let (mut wall, mut cpu) = (Vec::new(), Vec::new());
    let mut last = 0.0;
    for _ in 0..reps {
        let (t, c) = (Instant::now(), cpu_ms());
        last = f();
        wall.push(t.elapsed().as_secs_f64() * 1e3);
        cpu.push(cpu_ms() - c);
    }
    wall.sort_by(f64::total_cmp);
    cpu.sort_by(f64::total_cmp);
    (wall[reps / 2], cpu[reps / 2], last)
}

fn main() {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let n = args.first().copied().unwrap_or(10_000);
    let d = args.get(1).copied().unwrap_or(512);
    let reps = args.get(2).copied().unwrap_or(7);
    let mut rng = ChaCha8Rng::seed_from_u64(0);
    let x = Array2::from_shape_simple_fn((n, d), || rng.sample::<f32, _>(StandardNormal));
    let a: Vec<i64> = (0..n).map(|_| rng.gen_range(0..10)).collect();
    let b: Vec<i64> = a
        .iter()
        .map(|&l| {
            if rng.gen_bool(0.3) {
                rng.gen_range(0..10)
            } else {
                l
            }
        })
        .collect();
    let distinct: Vec<i64> = (0..n as i64).collect();
    println!("threads {}", rayon::current_num_threads());
    for (name, (ms, cpu, v)) in [
        (
            "ami 10x10",
            median_ms(|| ami::adjusted_mutual_info(&a, &b), reps),
        ),
        (
            "ami all-distinct vs 10",
            median_ms(|| ami::adjusted_mutual_info(&distinct, &a), reps),
        ),
        (
            "hist_entropy 64 bins",
            median_ms(|| entropy::hist_entropy_bits(x.view(), 64), reps),
        ),
        (
            "gauss_entropy",
            median_ms(|| entropy::gauss_entropy_bits(x.view()), reps),
        ),
        ("rankme", median_ms(|| rank::rankme(x.view()), reps)),
    ] {
        println!("{name:<26} {ms:9.3} ms wall {cpu:9.3} ms cpu   value {v}");
    }
}
