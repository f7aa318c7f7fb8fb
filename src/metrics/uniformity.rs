//! Uniformity (Wang & Isola, ICML 2020): how evenly the L2-normalised
//! embeddings cover the unit sphere.
//!
//! uniformity = ln( mean over pairs i < j of exp(-2 |u_i - u_j|^2) ), with
//! u the rows scaled to unit norm. Lower is more uniform: every row at the
//! same point gives 0, and the value falls towards -4 (the mean of
//! exp(-4 + 4 u_i.u_j) for u_i.u_j near 0) as the rows spread out in many
//! dimensions.
//!
//! For unit rows |u_i - u_j|^2 = 2 - 2 u_i.u_j, so each term is
//! exp(4 u_i.u_j - 4), in [e^-8, 1]: the dot products come from blocked
//! GEMMs (block pairs I <= J, never the N x N matrix), and each block's
//! terms are summed in f64. The terms cannot underflow or overflow there,
//! so a plain f64 sum per block (blocks added in a fixed order) keeps the
//! mean exact to rounding; no log-sum-exp shift is needed.

use super::pairwise::{exp_nonpositive, gemm_nt, lane_sum, sq_norm};
use multiversion::multiversion;
use ndarray::{ArrayView2, Axis};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;

/// Rows measured exactly; above this, a seeded sample of this many rows.
///
/// Issue 11 asked for 10,000, but its cost budget (all new metrics at most
/// 15% of `compute_layer` at 10,000 x 512) does not hold it: measured there
/// (examples/bench_new_metrics, 2 threads), 10,000 rows cost 3.2x
/// `compute_layer`, 2,000 rows 13%, while the spectrum and the outliers
/// already take about 13-15%. 1,000 rows cost about 4%, and the value moves
/// by a standard deviation of 2.7e-4 over 10 sample seeds on standard
/// normal data (uniformity itself spans -8..0; see the README).
pub const UNIFORMITY_EXACT: usize = 1_000;

/// Rows per block of the pairwise products (256 x 256 f32 = 256 KiB).
pub(crate) const BLOCK: usize = 256;

/// Uniformity of a matrix and which rows it was measured on.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Uniformity {
    /// ln of the mean of exp(-2 |u_i - u_j|^2) over the pairs of the rows
    /// used; NaN when fewer than 2 rows have a non-zero norm.
    pub value: f64,
    /// Rows the value was computed on (all non-zero rows, or the sample).
    pub rows: usize,
    /// Rows of norm 0 (no direction on the sphere), left out before
    /// sampling; the caller can warn about them.
    pub zero_rows: usize,
}

/// [`uniformity_with`] with at most [`UNIFORMITY_EXACT`] rows.
pub fn uniformity(x: ArrayView2<f32>, seed: u64) -> Uniformity {
    uniformity_with(x, UNIFORMITY_EXACT, seed)
}

/// Uniformity of the rows of `x`: exact over the non-zero rows when there
/// are at most `max_rows` of them, else over a uniform sample of `max_rows`
/// of them drawn with `seed` (deterministic). Rows of norm 0 have no
/// direction and are left out (counted in `zero_rows`). The caller passes
/// finite rows.
pub fn uniformity_with(x: ArrayView2<f32>, max_rows: usize, seed: u64) -> Uniformity {
    let (n, d) = x.dim();
    let x = x.as_standard_layout();
    // One parallel pass (f64 lanes) for every row's norm.
    let norms: Vec<f64> = match x.as_slice() {
        Some(xs) if d > 0 => xs.par_chunks(d).map(|r| sq_norm(r).sqrt()).collect(),
        _ => vec![0.0; n],
    };
    let nonzero: Vec<usize> = (0..n).filter(|&i| norms[i] > 0.0).collect();
    let zero_rows = n - nonzero.len();
    let rows: Vec<usize> = if nonzero.len() > max_rows {
        seeded_rows(nonzero.len(), max_rows, seed)
            .into_iter()
            .map(|p| nonzero[p])
            .collect()
    } else {
        nonzero
    };
    let m = rows.len();
    let value = if m < 2 || d == 0 {
        f64::NAN
    } else {
        let mut u = vec![0f32; m * d];
        for (dst, &r) in u.chunks_exact_mut(d).zip(&rows) {
            let inv = 1.0 / norms[r];
            for (o, &v) in dst.iter_mut().zip(x.index_axis(Axis(0), r)) {
                *o = (f64::from(v) * inv) as f32;
            }
        }
        let pairs = (m * (m - 1) / 2) as f64;
        (pair_sum(&u, m, d) / pairs).ln()
    };
    Uniformity {
        value,
        rows: m,
        zero_rows,
    }
}

/// `m` of `0..n` drawn uniformly with `seed` (ChaCha8, as silhouette's
/// sample), sorted; all of `0..n` when `m >= n`.
pub(crate) fn seeded_rows(n: usize, m: usize, seed: u64) -> Vec<usize> {
    if m >= n {
        return (0..n).collect();
    }
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut rows = rand::seq::index::sample(&mut rng, n, m).into_vec();
    rows.sort_unstable();
    rows
}

/// Sum over pairs i < j of exp(4 u_i.u_j - 4) for the `m` unit rows `u`.
///
/// Each block pair (I <= J) is one task; its f64 sum is kept by task
/// index and the sums are added in that order, so the result does not
/// depend on which worker ran which block.
fn pair_sum(u: &[f32], m: usize, d: usize) -> f64 {
    let blocks: Vec<(usize, usize)> = (0..m.div_ceil(BLOCK))
        .map(|b| (b * BLOCK, ((b + 1) * BLOCK).min(m)))
        .collect();
    let pairs: Vec<(usize, usize)> = (0..blocks.len())
        .flat_map(|i| (i..blocks.len()).map(move |j| (i, j)))
        .collect();
    let states = super::workers::run(
        pairs.len(),
        || (Vec::<f32>::new(), Vec::<(usize, f64)>::new()),
        |(dots, sums), task| {
            let (bi, bj) = pairs[task];
            let (i0, i1) = blocks[bi];
            let (j0, j1) = blocks[bj];
            let w = j1 - j0;
            dots.resize((i1 - i0) * w, 0.0);
            gemm_nt(&u[i0 * d..i1 * d], &u[j0 * d..j1 * d], d, dots);
            let mut s = 0.0f64;
            for (li, row) in dots.chunks_exact(w).enumerate() {
                // Within a diagonal block only j > i.
                let first = if bi == bj { li + 1 } else { 0 };
                s += exp_sum(&row[first.min(w)..]);
            }
            sums.push((task, s));
        },
    );
    let mut all: Vec<(usize, f64)> = states.into_iter().flat_map(|(_, s)| s).collect();
    all.sort_unstable_by_key(|&(t, _)| t);
    all.iter().map(|&(_, s)| s).sum()
}

/// Sum of exp(4 c - 4) over dot products `c`, in f64; rounding of c past 1
/// (unit rows) is clamped to 1, so every term is at most 1. Summed by
/// [`lane_sum`], each term by [`exp_nonpositive`] (vectorises, unlike
/// libm's `exp`).
#[multiversion(targets("x86_64+avx512f", "x86_64+avx2+fma"))]
fn exp_sum(dots: &[f32]) -> f64 {
    lane_sum(dots, |v| exp_nonpositive(4.0 * f64::from(v).min(1.0) - 4.0))
}

/// Extra heap (bytes) of [`uniformity`] on an `n` x `d` matrix with
/// `threads` rayon threads: the norms and row lists, the sample's index set,
/// the unit-row copy, and per worker one block of dot products and its sums
/// (GEMM packing is the caller's per-thread allowance).
pub fn working_set_bytes(n: usize, d: usize, max_rows: usize, threads: usize) -> u64 {
    let m = n.min(max_rows.max(2)) as f64;
    let (nf, df) = (n as f64, d as f64);
    let blocks = (m / BLOCK as f64).ceil();
    let pairs = blocks * (blocks + 1.0) / 2.0;
    let lists = nf * 8.0 + 2.0 * nf * 8.0 + m * 16.0;
    let copy = m * df * 4.0;
    let per_worker = (BLOCK * BLOCK) as f64 * 4.0;
    let sums = 2.0 * pairs * 16.0 + pairs * 16.0;
    (lists + copy + threads.max(1) as f64 * per_worker + sums).ceil() as u64
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{array, Array2};
    use rand::Rng;
    use rand_distr::StandardNormal;

    #[test]
    fn the_lane_sum_of_terms_matches_libm() {
        let dots: Vec<f32> = (0..1001).map(|i| (i as f32 / 500.0) - 1.0).collect();
        let plain: f64 = dots.iter().map(|&c| (4.0 * f64::from(c) - 4.0).exp()).sum();
        assert!((exp_sum(&dots) - plain).abs() < 1e-12 * plain);
    }

    #[test]
    fn two_points_by_hand() {
        // (1, 0) and (0, 2): unit rows (1, 0), (0, 1), |u1 - u2|^2 = 2, one
        // pair: ln(exp(-4)) = -4. Antipodal (1, 0), (-3, 0): distance^2 4,
        // ln(exp(-8)) = -8. The same point twice: ln(exp(0)) = 0.
        let u = uniformity(array![[1.0f32, 0.0], [0.0, 2.0]].view(), 0);
        assert!((u.value - -4.0).abs() < 1e-12, "{u:?}");
        assert_eq!((u.rows, u.zero_rows), (2, 0));
        let a = uniformity(array![[1.0f32, 0.0], [-3.0, 0.0]].view(), 0);
        assert!((a.value - -8.0).abs() < 1e-12, "{a:?}");
        let s = uniformity(array![[2.0f32, 2.0], [5.0, 5.0]].view(), 0);
        assert!(s.value.abs() < 1e-6, "{s:?}");
    }

    #[test]
    fn three_points_by_hand() {
        // (1,0), (0,1), (-1,0): pair distances^2 2, 4, 2 ->
        // mean = (2 e^-4 + e^-8) / 3, uniformity = ln of that ~= -4.49.
        let x = array![[1.0f32, 0.0], [0.0, 1.0], [-1.0, 0.0]];
        let want = ((2.0 * (-4.0f64).exp() + (-8.0f64).exp()) / 3.0).ln();
        let got = uniformity(x.view(), 0).value;
        assert!((got - want).abs() < 1e-12, "{got} vs {want}");
    }

    #[test]
    fn zero_rows_are_left_out_and_counted() {
        // The zero row has no direction: the value is the two-point one.
        let x = array![[1.0f32, 0.0], [0.0, 0.0], [0.0, 2.0]];
        let u = uniformity(x.view(), 0);
        assert_eq!((u.rows, u.zero_rows), (2, 1));
        assert!((u.value - -4.0).abs() < 1e-12);
        let one = uniformity(array![[1.0f32, 0.0], [0.0, 0.0]].view(), 0);
        assert!(one.value.is_nan());
        assert!(uniformity(Array2::<f32>::zeros((0, 3)).view(), 0)
            .value
            .is_nan());
    }

    fn normal(n: usize, d: usize, seed: u64) -> Array2<f32> {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        Array2::from_shape_simple_fn((n, d), || rng.sample::<f32, _>(StandardNormal))
    }

    /// The definition term by term in f64, for the checks below.
    fn direct(x: &Array2<f32>) -> f64 {
        let u: Vec<Vec<f64>> = x
            .rows()
            .into_iter()
            .map(|r| {
                let n = r.iter().map(|&v| f64::from(v).powi(2)).sum::<f64>().sqrt();
                r.iter().map(|&v| f64::from(v) / n).collect()
            })
            .collect();
        let (mut s, mut c) = (0.0, 0.0);
        for i in 0..u.len() {
            for j in i + 1..u.len() {
                let d2: f64 = u[i].iter().zip(&u[j]).map(|(a, b)| (a - b).powi(2)).sum();
                s += (-2.0 * d2).exp();
                c += 1.0;
            }
        }
        (s / c).ln()
    }

    #[test]
    fn blocked_sum_matches_the_definition_across_blocks() {
        // 600 rows: three blocks of 256, 256 and 88 rows (diagonal and
        // off-diagonal block pairs, a ragged last block).
        let x = normal(600, 16, 3);
        let got = uniformity(x.view(), 0).value;
        let want = direct(&x);
        assert!((got - want).abs() < 1e-6 * want.abs(), "{got} vs {want}");
    }

    #[test]
    fn sampled_and_exact_agree_at_the_boundary() {
        // 400 rows with max_rows 400: exact (every row); with 399 a sample
        // of 399 rows: a value within a few standard errors of the exact
        // one, and the same for the same seed, different for another.
        let x = normal(400, 8, 4);
        let exact = uniformity_with(x.view(), 400, 0);
        assert_eq!(exact.rows, 400);
        assert!((exact.value - direct(&x)).abs() < 1e-6 * exact.value.abs());
        let s1 = uniformity_with(x.view(), 399, 1);
        let s1b = uniformity_with(x.view(), 399, 1);
        let s2 = uniformity_with(x.view(), 399, 2);
        assert_eq!(s1.rows, 399);
        assert_eq!(s1, s1b);
        assert_ne!(s1.value, s2.value);
        assert!((s1.value - exact.value).abs() < 0.01, "{s1:?} vs {exact:?}");
    }

    #[test]
    fn seeded_rows_are_sorted_distinct_and_reproducible() {
        let a = seeded_rows(1000, 50, 7);
        assert_eq!(a, seeded_rows(1000, 50, 7));
        assert_ne!(a, seeded_rows(1000, 50, 8));
        assert!(a.windows(2).all(|w| w[0] < w[1]) && a.len() == 50);
        assert_eq!(seeded_rows(3, 5, 0), vec![0, 1, 2]);
    }

    #[test]
    fn clustered_rows_are_less_uniform_than_spread_ones() {
        // Rows near one direction score near 0; spread rows lower.
        let spread = normal(300, 32, 5);
        let mut tight = normal(300, 32, 6).mapv(|v| 0.05 * v);
        tight.column_mut(0).mapv_inplace(|v| v + 1.0);
        let (s, t) = (
            uniformity(spread.view(), 0).value,
            uniformity(tight.view(), 0).value,
        );
        assert!(t > -0.5 && s < -3.0 && t > s, "tight {t}, spread {s}");
    }
}
