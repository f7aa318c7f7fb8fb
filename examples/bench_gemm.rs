//! What this machine's f32 matrix product reaches, to put the metric timings
//! in context (silhouette's floor is its N²/2 x D multiply-adds at this rate).
//!
//! Usage: cargo run --release --example bench_gemm
//!
//! Times `a · bᵀ` for 1024 x 512 blocks (the shape silhouette's blocks have
//! at D = 512) with the kernel the metrics use (faer, `gemm_nt`) and with
//! ndarray's `.dot` (matrixmultiply), on one thread and on every rayon thread
//! (independent blocks in parallel, as the metrics do), and the kNN
//! search's bf16 screening product where the processor has AVX512-BF16.
//! Medians of 7.

use ndarray::Array2;
use rayon::prelude::*;
use sslwatch::metrics::bf16;
use sslwatch::metrics::pairwise::gemm_nt;
use std::time::Instant;

const ROWS: usize = 1024;
const D: usize = 512;
const BLOCKS_PER_THREAD: usize = 8;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    let a: Vec<f32> = (0..ROWS * D)
        .map(|i| ((i * 7919) % 1000) as f32 / 1000.0)
        .collect();
    let b: Vec<f32> = (0..ROWS * D)
        .map(|i| ((i * 104_729) % 1000) as f32 / 1000.0)
        .collect();
    let an = Array2::from_shape_vec((ROWS, D), a.clone()).expect("shape");
    let bn = Array2::from_shape_vec((ROWS, D), b.clone()).expect("shape");
    let flops_per_block = 2.0 * (ROWS * ROWS * D) as f64;
    let threads = rayon::current_num_threads();

    let faer_block = |out: &mut Vec<f32>| gemm_nt(&a, &b, D, out);
    let nd_block = || std::hint::black_box(an.dot(&bn.t()));

    let rate = |blocks: usize, secs: f64| blocks as f64 * flops_per_block / secs / 1e9;
    let time = |f: &dyn Fn()| {
        median(
            (0..7)
                .map(|_| {
                    let t = Instant::now();
                    f();
                    t.elapsed().as_secs_f64()
                })
                .collect(),
        )
    };

    let blocks = BLOCKS_PER_THREAD * threads;
    // Seconds for BLOCKS_PER_THREAD blocks in a loop on one thread (one
    // output reused) and for `blocks` blocks, one per task, on every thread.
    let one_and_all = |block: &(dyn Fn(&mut Vec<f32>) + Sync)| {
        let one = time(&|| {
            let mut out = vec![0f32; ROWS * ROWS];
            for _ in 0..BLOCKS_PER_THREAD {
                block(&mut out);
            }
            std::hint::black_box(&out);
        });
        let all = time(&|| {
            (0..blocks).into_par_iter().for_each(|_| {
                let mut out = vec![0f32; ROWS * ROWS];
                block(&mut out);
                std::hint::black_box(&out);
            });
        });
        (one, all)
    };
    let (one_faer, all_faer) = one_and_all(&faer_block);
    let one_nd = time(&|| {
        for _ in 0..BLOCKS_PER_THREAD {
            nd_block();
        }
    });
    let all_nd = time(&|| {
        (0..blocks).into_par_iter().for_each(|_| {
            nd_block();
        });
    });
    println!("a·bᵀ, {ROWS} x {D} blocks (f32 unless named), GFLOP/s (medians of 7):");
    println!(
        "  {:<28}{:>10}{:>14}",
        "",
        "1 thread",
        format!("{threads} threads")
    );
    println!(
        "  {:<28}{:>10.1}{:>14.1}",
        "faer (the metrics' kernel)",
        rate(BLOCKS_PER_THREAD, one_faer),
        rate(blocks, all_faer)
    );
    println!(
        "  {:<28}{:>10.1}{:>14.1}",
        "ndarray .dot (matrixmultiply)",
        rate(BLOCKS_PER_THREAD, one_nd),
        rate(blocks, all_nd)
    );
    // The kNN search's bf16 screening products (same shapes, rows rounded
    // to bf16), where the processor has AVX512-BF16.
    if bf16::available() {
        let w = bf16::words(D);
        let round = |x: &[f32]| {
            let (mut out, mut err) = (Vec::new(), Vec::new());
            bf16::round_rows(x, D, &mut out, &mut err);
            out
        };
        let (ah, bh) = (round(&a), round(&b));
        let mut panels = Vec::new();
        bf16::pack_panels(&bh, w, &mut panels);
        let (one, all) =
            one_and_all(&|out: &mut Vec<f32>| bf16::product(&ah, w, &panels, ROWS, out));
        println!(
            "  {:<28}{:>10.1}{:>14.1}",
            "bf16 vdpbf16ps (kNN screen)",
            rate(BLOCKS_PER_THREAD, one),
            rate(blocks, all)
        );
    } else {
        println!("  bf16 (kNN screen): this processor has no AVX512-BF16");
    }
    let n = 10_000f64;
    let sil_flops = n * n / 2.0 * D as f64 * 2.0;
    let best = rate(blocks, all_faer.min(all_nd));
    println!(
        "silhouette floor at 10,000 x {D} (each pair once): {:.2} s at {best:.0} GFLOP/s",
        sil_flops / (best * 1e9)
    );
}
