//! Entropy of the embedding distribution, in bits (three estimators).

use multiversion::multiversion;
use ndarray::ArrayView2;

/// Rows per task in the histogram passes.
pub(crate) const ROW_BLOCK: usize = 512;

/// The Gaussian estimator's ridge: `GAUSS_RIDGE * trace(C) / D` (that
/// fraction of the mean covariance eigenvalue) is added to every eigenvalue.
pub const GAUSS_RIDGE: f64 = 1e-4;

/// The histogram entropy of a matrix and how many of its columns were left
/// out as constant.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct HistEntropy {
    /// Mean of H_j over the non-constant columns, in bits; NaN when every
    /// column is constant (or for the degenerate inputs of [`hist_entropy`]).
    pub bits: f64,
    /// Columns whose max equals their min (dead units), left out of `bits`.
    pub constant_columns: usize,
}

/// [`hist_entropy`]'s value alone.
pub fn hist_entropy_bits(x: ArrayView2<f32>, bins: usize) -> f64 {
    hist_entropy(x, bins).bits
}

/// Mean over the non-constant dimensions of the histogram entropy with
/// `bins` equal-width bins.
///
/// A column whose max equals its min (the caller passes only finite rows) is
/// constant: a dead unit, typical of post-ReLU layers, that carries no
/// information. It is counted in `constant_columns` and left out of the
/// mean, so the value describes the units that vary instead of falling with
/// the share of dead ones. For every other column j the B = `bins` bins split
/// [min, max] evenly, a value v falls in bin `floor((v - min) / (max - min) * B)`
/// (in f64), clamped to B - 1 so that the max lands in the last bin, and
/// H_j = -sum p log2 p over the non-empty bins. Exact zeros of a partly-zero
/// column are ordinary values (they fill the bin of 0).
///
/// `bits` is NaN when `x` has no rows or no columns, `bins` is 0, or every
/// column is constant.
pub fn hist_entropy(x: ArrayView2<f32>, bins: usize) -> HistEntropy {
    hist_entropy_masked(x, bins, None)
}

/// [`hist_entropy_bits`] of the rows of `x` whose `skip` entry is false.
pub fn hist_entropy_bits_masked(x: ArrayView2<f32>, bins: usize, skip: Option<&[bool]>) -> f64 {
    hist_entropy_masked(x, bins, skip).bits
}

/// [`hist_entropy`] of the rows of `x` whose `skip` entry is false (all
/// rows when `skip` is `None`): the same value as on a copy of those rows,
/// without the copy (ranges are min/max and counts integers, so the order
/// and the rows left out cannot change the rest). A `skip` of the wrong
/// length is ignored (every row counts).
pub fn hist_entropy_masked(x: ArrayView2<f32>, bins: usize, skip: Option<&[bool]>) -> HistEntropy {
    let skip = skip.filter(|m| m.len() == x.nrows());
    let kept = |i: usize| skip.is_none_or(|m| !m[i]);
    let n_all = x.nrows();
    let d = x.ncols();
    let n = skip.map_or(n_all, |m| m.iter().filter(|&&s| !s).count());
    if n == 0 || d == 0 || bins == 0 {
        return HistEntropy {
            bits: f64::NAN,
            constant_columns: 0,
        };
    }
    let (lo, hi) = column_ranges(x, &kept);
    let lo: Vec<f64> = lo.into_iter().map(f64::from).collect();
    let width: Vec<f64> = hi
        .into_iter()
        .zip(&lo)
        .map(|(h, &l)| f64::from(h) - l)
        .collect();

    // Per-row passes keep the row-major reads contiguous; each worker (at
    // most one per thread) owns a d x bins table of counters (64 bins x 512
    // columns x 8 B = 256 KiB). Integer counts add up in any order.
    let blocks = n_all.div_ceil(ROW_BLOCK);
    let tables = super::workers::run(
        blocks,
        || (vec![0u64; d * bins], vec![0usize; d]),
        |(counts, idx), task| {
            let r0 = task * ROW_BLOCK;
            let block = x.slice(ndarray::s![r0..(r0 + ROW_BLOCK).min(n_all), ..]);
            for (r, row) in block.rows().into_iter().enumerate() {
                if !kept(r0 + r) {
                    continue;
                }
                // Bin indices first (a loop the compiler can vectorise),
                // then the scattered increments.
                match row.as_slice() {
                    Some(row) => bin_indices(idx, row, &lo, &width, bins),
                    None => bin_indices(idx, &row.to_vec(), &lo, &width, bins),
                }
                for (j, &i) in idx.iter().enumerate() {
                    counts[j * bins + i] += 1;
                }
            }
        },
    );
    let mut tables = tables.into_iter().map(|(counts, _)| counts);
    let mut counts = tables.next().unwrap_or_else(|| vec![0u64; d * bins]);
    for t in tables {
        counts.iter_mut().zip(&t).for_each(|(a, b)| *a += b);
    }

    let inv_n = 1.0 / n as f64;
    let total: f64 = counts
        .chunks_exact(bins)
        .zip(&width)
        .filter(|(_, &w)| w > 0.0)
        .map(|(col, _)| {
            col.iter()
                .filter(|&&c| c > 0)
                .map(|&c| {
                    let p = c as f64 * inv_n;
                    -p * p.log2()
                })
                .sum::<f64>()
        })
        .sum();
    let constant_columns = width.iter().filter(|&&w| w <= 0.0).count();
    let varying = d - constant_columns;
    HistEntropy {
        // 0 / 0 is NaN: no column varies.
        bits: total / varying as f64,
        constant_columns,
    }
}

/// The bin of each value of a row: floor((v - lo) / width * bins), clamped
/// to the last bin (NaN, a constant column's 0 / 0, goes to bin 0). Compiled
/// for AVX2 too: without SSE4.1, `floor` is a library call per value.
#[multiversion(targets("x86_64+avx2+fma"))]
fn bin_indices(idx: &mut [usize], row: &[f32], lo: &[f64], width: &[f64], bins: usize) {
    let b = bins as f64;
    let last = bins - 1;
    for (((slot, &v), &l), &w) in idx.iter_mut().zip(row).zip(lo).zip(width) {
        let t = ((f64::from(v) - l) / w * b).floor();
        // `as` saturates: NaN -> 0.
        *slot = (t as usize).min(last);
    }
}

/// Per-column (min, max) of `x`.
fn column_ranges(
    x: ArrayView2<f32>,
    kept: &(impl Fn(usize) -> bool + Sync),
) -> (Vec<f32>, Vec<f32>) {
    let (n, d) = x.dim();
    let parts = super::workers::run(
        n.div_ceil(ROW_BLOCK),
        || (vec![f32::INFINITY; d], vec![f32::NEG_INFINITY; d]),
        |(lo, hi), task| {
            let r0 = task * ROW_BLOCK;
            let block = x.slice(ndarray::s![r0..(r0 + ROW_BLOCK).min(n), ..]);
            for (r, row) in block.rows().into_iter().enumerate() {
                if !kept(r0 + r) {
                    continue;
                }
                for ((l, h), &v) in lo.iter_mut().zip(hi.iter_mut()).zip(row) {
                    *l = l.min(v);
                    *h = h.max(v);
                }
            }
        },
    );
    let mut lo = vec![f32::INFINITY; d];
    let mut hi = vec![f32::NEG_INFINITY; d];
    for (lo2, hi2) in &parts {
        lo.iter_mut().zip(lo2).for_each(|(a, &b)| *a = a.min(b));
        hi.iter_mut().zip(hi2).for_each(|(a, &b)| *a = a.max(b));
    }
    (lo, hi)
}

/// Gaussian differential entropy of the ridge-regularised sample
/// covariance, in bits.
///
/// C is the sample covariance with ddof = 1 (divided by N - 1), accumulated
/// in f64, with eigenvalues lambda_j (negative rounding noise set to 0). Every
/// eigenvalue gets the same ridge delta = [`GAUSS_RIDGE`] * trace(C) / D
/// (1e-4 of the mean eigenvalue), and
/// H = 0.5 * sum_j log2(2 pi e (lambda_j + delta)),
/// the entropy of a Gaussian with covariance C + delta I.
///
/// Why: with N <= D rows (a 2048-wide projector seen on a few hundred
/// samples) or a collapsed embedding, at least D - rank(C) eigenvalues are 0
/// and the unregularised entropy is -infinity (an eigenvalue floor makes it
/// a large negative number set by the floor). The ridge gives each such
/// direction 0.5 log2(2 pi e delta) bits, finite and proportional to the
/// data's scale, so the value stays comparable across steps. On full-rank
/// data the ridge adds 0.5 sum_j log2(1 + delta / lambda_j) bits: with every
/// lambda_j near the mean, about 0.5 * 1e-4 / ln 2 = 7.2e-5 bits per
/// dimension (a relative change of about 3.5e-5 for unit-variance data).
/// Scaling the data by c adds exactly D log2 c bits.
///
/// NaN with fewer than 2 rows or no columns, a zero covariance (every
/// column constant), non-finite values, or if the eigensolver fails.
pub fn gauss_entropy_bits(x: ArrayView2<f32>) -> f64 {
    // The covariance spectrum (module `spectrum`) holds the formula, so the
    // spectrum metrics and this estimator can share one eigendecomposition.
    super::spectrum::CovSpectrum::of(x).map_or(f64::NAN, |s| s.gauss_entropy_bits())
}

/// Kozachenko-Leonenko nearest-neighbour estimator with `k` neighbours, in bits.
pub fn knn_entropy_bits(x: ArrayView2<f32>, k: usize) -> f64 {
    super::knn::kl_entropy_bits(x, k)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{array, Array2};

    const TWO_PI_E: f64 = 2.0 * std::f64::consts::PI * std::f64::consts::E;

    #[test]
    fn masked_hist_entropy_is_that_of_the_kept_rows() {
        // Rows 1 and 3 left out: the kept column 0.0, 1.0, 3.0, 0.5 with 2
        // bins over [0, 3] (split at 1.5) counts 3 + 1: 0.811278 bits. On all
        // six rows, 10.0 and -7.0 widen the range to [-7, 10] (split at 1.5
        // again, but -7 joins the low bin and 10 the high one): 4 + 2, 0.918
        // bits. Equal to the entropy of a copy of the kept rows.
        let x = array![[0.0f32], [10.0], [1.0], [-7.0], [3.0], [0.5]];
        let skip = [false, true, false, true, false, false];
        let h = hist_entropy_bits_masked(x.view(), 2, Some(&skip));
        let bits = |p: &[f64]| p.iter().map(|q| -q * q.log2()).sum::<f64>();
        assert!((h - bits(&[0.75, 0.25])).abs() < 1e-12, "{h}");
        let copy = array![[0.0f32], [1.0], [3.0], [0.5]];
        assert_eq!(h, hist_entropy_bits(copy.view(), 2));
        let all = hist_entropy_bits(x.view(), 2);
        assert!((all - bits(&[4.0 / 6.0, 2.0 / 6.0])).abs() < 1e-12, "{all}");
        assert_eq!(hist_entropy_bits_masked(x.view(), 2, None), all);
        assert!(hist_entropy_bits_masked(x.view(), 2, Some(&[true; 6])).is_nan());
    }

    #[test]
    fn hist_counts_two_one_one_give_one_and_a_half_bits() {
        // Column 0.0, 0.1, 1.0, 3.0 with 3 bins over [0, 3] (width 1):
        // bins get {0.0, 0.1}, {1.0}, {3.0} -> counts [2, 1, 1].
        // H = -(1/2 log2 1/2 + 2 * 1/4 log2 1/4) = 0.5 + 1.0 = 1.5 bits.
        let x = array![[0.0f32], [0.1], [1.0], [3.0]];
        assert!((hist_entropy_bits(x.view(), 3) - 1.5).abs() < 1e-12);
    }

    #[test]
    fn hist_constant_columns_are_left_out_of_the_mean() {
        // Column 0 constant (left out); column 1 is (0, 1) with 2 bins:
        // counts [1, 1] -> 1 bit. Mean over the one varying column = 1.0
        // (the old mean over both columns was 0.5).
        let x = array![[5.0f32, 0.0], [5.0, 1.0]];
        let h = hist_entropy(x.view(), 2);
        assert_eq!(h.constant_columns, 1);
        assert!((h.bits - 1.0).abs() < 1e-12, "{h:?}");
    }

    #[test]
    fn hist_of_only_constant_columns_is_nan_not_zero() {
        let h = hist_entropy(array![[2.0f32, 0.0], [2.0, 0.0]].view(), 8);
        assert_eq!(h.constant_columns, 2);
        assert!(h.bits.is_nan(), "{h:?}");
    }

    #[test]
    fn hist_of_a_post_relu_layer_averages_the_live_units() {
        // 4 rows after a ReLU, 2 bins:
        // col 0 (0, 0, 0, 0): dead unit, constant, left out.
        // col 1 (0, 0, 0, 2): partly zero, width 2; 0 -> bin 0, 2 -> bin 2
        //   clamped to 1: counts [3, 1], H = -(3/4 log2 3/4 + 1/4 log2 1/4)
        //   = 0.811278 bits (the spike at 0 is kept as a bin like any other).
        // col 2 (0, 1, 2, 3): width 3; 0 -> 0, 1 -> floor(2/3) = 0,
        //   2 -> floor(4/3) = 1, 3 -> 2 clamped to 1: counts [2, 2], 1 bit.
        // Mean over the two live columns: (0.811278 + 1) / 2 = 0.905639
        // (over all three, as before: 0.603759).
        let x = array![
            [0.0f32, 0.0, 0.0],
            [0.0, 0.0, 1.0],
            [0.0, 0.0, 2.0],
            [0.0, 2.0, 3.0]
        ];
        let h1 = -(0.75f64 * 0.75f64.log2() + 0.25 * 0.25f64.log2());
        let h = hist_entropy(x.view(), 2);
        assert_eq!(h.constant_columns, 1);
        assert!((h.bits - (h1 + 1.0) / 2.0).abs() < 1e-12, "{h:?}");
        assert!((h.bits - 0.905_639).abs() < 1e-6);
    }

    #[test]
    fn hist_max_lands_in_the_last_bin() {
        // (0, 1, 2, 4) with 4 bins of width 1 over [0, 4]: 0->0, 1->1, 2->2,
        // and 4 -> floor(4) = 4, clamped to bin 3. Counts [1,1,1,1]: 2 bits.
        // (Without the clamp the max would get a fifth bin, still 2 bits,
        // so also check a case where the clamp merges: (0, 2, 4) with 2 bins:
        // 0->0, 2->1, 4->2 clamped to 1: counts [1, 2] -> H = 0.918 bits.)
        let x = array![[0.0f32], [1.0], [2.0], [4.0]];
        assert!((hist_entropy_bits(x.view(), 4) - 2.0).abs() < 1e-12);
        let y = array![[0.0f32], [2.0], [4.0]];
        let want = -(1.0f64 / 3.0) * (1.0f64 / 3.0).log2() - (2.0 / 3.0) * (2.0f64 / 3.0).log2();
        assert!((hist_entropy_bits(y.view(), 2) - want).abs() < 1e-12);
    }

    #[test]
    fn hist_single_bin_is_zero_and_degenerate_inputs_are_nan() {
        let x = array![[0.0f32], [1.0], [7.0]];
        assert_eq!(hist_entropy_bits(x.view(), 1), 0.0);
        assert!(hist_entropy_bits(x.view(), 0).is_nan());
        assert!(hist_entropy_bits(Array2::<f32>::zeros((0, 3)).view(), 4).is_nan());
    }

    #[test]
    fn gauss_diagonal_covariance() {
        // Column 0: (-1, 1, -1, 1), mean 0, sum of squares 4, variance 4/3.
        // Column 1: (-2, -2, 2, 2), mean 0, sum of squares 16, variance 16/3.
        // Cross products: 2 - 2 - 2 + 2 = 0, so the eigenvalues are 4/3, 16/3.
        // trace = 20/3, D = 2: ridge delta = 1e-4 * 10/3.
        // H = 0.5 (log2(2 pi e (4/3 + delta)) + log2(2 pi e (16/3 + delta))).
        let x = array![[-1.0f32, -2.0], [1.0, -2.0], [-1.0, 2.0], [1.0, 2.0]];
        let delta = 1e-4 * 10.0 / 3.0;
        let want = 0.5
            * ((TWO_PI_E * (4.0 / 3.0 + delta)).log2() + (TWO_PI_E * (16.0 / 3.0 + delta)).log2());
        assert!((gauss_entropy_bits(x.view()) - want).abs() < 1e-12);
    }

    #[test]
    fn gauss_is_shift_invariant_and_gives_a_zero_eigenvalue_the_ridge() {
        // Shifting by 1000 changes nothing (the data is centred first).
        // A third constant column has eigenvalue 0: it gets the ridge alone,
        // delta = 1e-4 * trace / D = 1e-4 * (4/3 + 16/3) / 3 = 1e-4 * 20/9.
        let x = array![
            [999.0f32, 998.0, 7.0],
            [1001.0, 998.0, 7.0],
            [999.0, 1002.0, 7.0],
            [1001.0, 1002.0, 7.0]
        ];
        let delta = 1e-4 * 20.0 / 9.0;
        let want = 0.5
            * ((TWO_PI_E * (4.0 / 3.0 + delta)).log2()
                + (TWO_PI_E * (16.0 / 3.0 + delta)).log2()
                + (TWO_PI_E * delta).log2());
        assert!((gauss_entropy_bits(x.view()) - want).abs() < 1e-9);
    }

    /// Sylvester's 16 x 16 Hadamard matrix: entry (i, k) is
    /// (-1)^popcount(i & k). Columns 1..15 sum to 0 and are orthogonal,
    /// each with squared norm 16.
    fn hadamard16(i: usize, k: usize) -> f32 {
        if (i & k).count_ones().is_multiple_of(2) {
            1.0
        } else {
            -1.0
        }
    }

    #[test]
    fn gauss_with_fewer_rows_than_dimensions_is_finite_and_exact() {
        // 16 rows x 64 columns; column j is Hadamard column 1 + (j mod 15).
        // Each Hadamard column is centred with squared norm 16, so the
        // covariance (ddof 1) is sum_k (16/15) u_k u_k^T, u_k the indicator
        // of the columns using Hadamard column k; the u_k have disjoint
        // supports, so the eigenvalues are (16/15) |u_k|^2: 64 = 4 * 5 +
        // 11 * 4 columns give 4 eigenvalues 16/15 * 5, 11 of 16/15 * 4, and
        // 64 - 15 = 49 zeros. trace = 64 * 16/15, delta = 1e-4 * 16/15.
        let x = Array2::from_shape_fn((16, 64), |(i, j)| hadamard16(i, 1 + j % 15));
        let u = 16.0 / 15.0;
        let delta = 1e-4 * u;
        let want = 0.5
            * (4.0 * (TWO_PI_E * (5.0 * u + delta)).log2()
                + 11.0 * (TWO_PI_E * (4.0 * u + delta)).log2()
                + 49.0 * (TWO_PI_E * delta).log2());
        let got = gauss_entropy_bits(x.view());
        assert!((got - want).abs() < 1e-9, "{got} vs {want}");
        // About -175.9 bits; the old floor at 1e-12 of the largest
        // eigenvalue gave about -770.1.
        assert!((got - -175.9).abs() < 0.1, "{got}");
    }

    #[test]
    fn gauss_of_wide_data_is_stable_and_grows_with_the_spread() {
        // 20 x 64 roughly normal data (a fixed LCG): two different
        // draws agree to a few percent, the same data spread over more
        // directions has more entropy, and scaling by 2 adds D = 64 bits.
        fn wide(seed: u64, rank: usize) -> Array2<f32> {
            let mut s = seed;
            let mut next = move || {
                // Sum of 4 uniforms, centred: a rough normal.
                (0..4)
                    .map(|_| {
                        s = s
                            .wrapping_mul(6364136223846793005)
                            .wrapping_add(1442695040888963407);
                        (s >> 40) as f32 / (1u64 << 24) as f32 - 0.5
                    })
                    .sum::<f32>()
            };
            let z = Array2::from_shape_fn((20, rank), |_| next());
            // Mix `rank` directions into 64 columns with weights of norm 1.
            let w =
                Array2::from_shape_fn((rank, 64), |(r, j)| if j % rank == r { 1.0 } else { 0.0 });
            z.dot(&w)
        }
        let a = gauss_entropy_bits(wide(1, 64).view());
        let b = gauss_entropy_bits(wide(2, 64).view());
        // About -206 bits (45 of the 64 directions carry only the ridge);
        // the old 1e-12 floor gave about -720.
        assert!(a > -300.0 && b > -300.0, "{a}, {b}");
        assert!((a - b).abs() <= 0.05 * a.abs(), "{a} vs {b}");
        // The same trace per column, but only 4 independent directions.
        let low = gauss_entropy_bits(wide(1, 4).view());
        assert!(low < a - 50.0, "rank 4: {low} vs full {a}");
        let doubled = gauss_entropy_bits(wide(1, 64).mapv(|v| v * 2.0).view());
        assert!((doubled - (a + 64.0)).abs() < 1e-6, "{doubled} vs {a} + 64");
    }

    #[test]
    fn gauss_on_well_conditioned_full_rank_data_moves_by_the_ridge_only() {
        // The 4 x 2 case above has condition number 4: the ridge adds
        // 0.5 (log2(1 + delta/(4/3)) + log2(1 + delta/(16/3))) bits, below
        // 2e-4 relative to H (4.1e-5 by hand).
        let x = array![[-1.0f32, -2.0], [1.0, -2.0], [-1.0, 2.0], [1.0, 2.0]];
        let plain = 0.5 * ((TWO_PI_E * 4.0 / 3.0).log2() + (TWO_PI_E * 16.0 / 3.0).log2());
        let got = gauss_entropy_bits(x.view());
        assert!(
            got > plain && (got - plain) < 2e-4 * plain,
            "{got} vs {plain}"
        );
    }

    #[test]
    fn gauss_degenerate_inputs_are_nan() {
        assert!(gauss_entropy_bits(array![[1.0f32, 2.0]].view()).is_nan());
        assert!(gauss_entropy_bits(array![[1.0f32], [1.0]].view()).is_nan());
    }
}
