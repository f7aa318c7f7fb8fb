//! Entropy of the embedding distribution, in bits (three estimators).

use super::linalg::{column_means, gram_lower, sym_eigenvalues_lower};
use multiversion::multiversion;
use ndarray::ArrayView2;

/// Rows per task in the histogram passes.
pub(crate) const ROW_BLOCK: usize = 512;

/// Eigenvalues of the covariance are floored at this fraction of the largest.
const EIGEN_FLOOR: f64 = 1e-12;

/// Mean over dimensions of the histogram entropy with `bins` equal-width bins.
///
/// For each column j (the caller passes only finite rows): if its max equals
/// its min, H_j = 0; otherwise the B = `bins` bins split [min, max] evenly,
/// a value v falls in bin `floor((v - min) / (max - min) * B)` (in f64),
/// clamped to B - 1 so that the max lands in the last bin, and
/// H_j = -sum p log2 p over the non-empty bins. The result is the mean of H_j.
///
/// NaN when `x` has no rows or no columns, or `bins` is 0.
pub fn hist_entropy_bits(x: ArrayView2<f32>, bins: usize) -> f64 {
    let (n, d) = x.dim();
    if n == 0 || d == 0 || bins == 0 {
        return f64::NAN;
    }
    let (lo, hi) = column_ranges(x);
    let lo: Vec<f64> = lo.into_iter().map(f64::from).collect();
    let width: Vec<f64> = hi
        .into_iter()
        .zip(&lo)
        .map(|(h, &l)| f64::from(h) - l)
        .collect();

    // Per-row passes keep the row-major reads contiguous; each worker (at
    // most one per thread) owns a d x bins table of counters (64 bins x 512
    // columns x 8 B = 256 KiB). Integer counts add up in any order.
    let blocks = n.div_ceil(ROW_BLOCK);
    let tables = super::workers::run(
        blocks,
        || (vec![0u64; d * bins], vec![0usize; d]),
        |(counts, idx), task| {
            let block = x.slice(ndarray::s![
                task * ROW_BLOCK..((task + 1) * ROW_BLOCK).min(n),
                ..
            ]);
            for row in block.rows() {
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
        .map(|(col, &w)| {
            if w > 0.0 {
                col.iter()
                    .filter(|&&c| c > 0)
                    .map(|&c| {
                        let p = c as f64 * inv_n;
                        -p * p.log2()
                    })
                    .sum::<f64>()
            } else {
                0.0
            }
        })
        .sum();
    total / d as f64
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
fn column_ranges(x: ArrayView2<f32>) -> (Vec<f32>, Vec<f32>) {
    let (n, d) = x.dim();
    let parts = super::workers::run(
        n.div_ceil(ROW_BLOCK),
        || (vec![f32::INFINITY; d], vec![f32::NEG_INFINITY; d]),
        |(lo, hi), task| {
            let block = x.slice(ndarray::s![
                task * ROW_BLOCK..((task + 1) * ROW_BLOCK).min(n),
                ..
            ]);
            for row in block.rows() {
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

/// Gaussian differential entropy from the covariance eigenvalues, in bits.
///
/// The covariance is the sample covariance with ddof = 1 (divided by N - 1),
/// accumulated in f64. With its eigenvalues lambda_j floored at 1e-12 times
/// the largest, H = 0.5 * sum_j log2(2 pi e lambda_j).
///
/// NaN with fewer than 2 rows or no columns, a zero covariance (every
/// column constant), non-finite values, or if the eigensolver fails.
pub fn gauss_entropy_bits(x: ArrayView2<f32>) -> f64 {
    let (n, d) = x.dim();
    if n < 2 || d == 0 {
        return f64::NAN;
    }
    let means = column_means(x);
    let Some(eig) = sym_eigenvalues_lower(&gram_lower(x, Some(&means))) else {
        return f64::NAN;
    };
    let scale = 1.0 / (n - 1) as f64;
    let largest = eig.iter().fold(0.0f64, |m, &l| m.max(l)) * scale;
    if largest.is_nan() || largest <= 0.0 {
        return f64::NAN;
    }
    let floor = EIGEN_FLOOR * largest;
    let two_pi_e = 2.0 * std::f64::consts::PI * std::f64::consts::E;
    0.5 * eig
        .iter()
        .map(|&l| (two_pi_e * (l * scale).max(floor)).log2())
        .sum::<f64>()
}

/// Kozachenko-Leonenko nearest-neighbour estimator with `k` neighbours, in bits.
pub fn knn_entropy_bits(x: ArrayView2<f32>, k: usize) -> f64 {
    super::knn::kl_entropy_bits(x, k)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{array, Array2};

    #[test]
    fn hist_counts_two_one_one_give_one_and_a_half_bits() {
        // Column 0.0, 0.1, 1.0, 3.0 with 3 bins over [0, 3] (width 1):
        // bins get {0.0, 0.1}, {1.0}, {3.0} -> counts [2, 1, 1].
        // H = -(1/2 log2 1/2 + 2 * 1/4 log2 1/4) = 0.5 + 1.0 = 1.5 bits.
        let x = array![[0.0f32], [0.1], [1.0], [3.0]];
        assert!((hist_entropy_bits(x.view(), 3) - 1.5).abs() < 1e-12);
    }

    #[test]
    fn hist_constant_column_is_zero_and_mean_is_over_columns() {
        // Column 0 constant -> 0 bits; column 1 is (0, 1) with 2 bins:
        // counts [1, 1] -> 1 bit. Mean over the two columns = 0.5.
        let x = array![[5.0f32, 0.0], [5.0, 1.0]];
        assert!((hist_entropy_bits(x.view(), 2) - 0.5).abs() < 1e-12);
        assert_eq!(hist_entropy_bits(array![[2.0f32], [2.0]].view(), 8), 0.0);
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
        // H = 0.5 (log2(2 pi e 4/3) + log2(2 pi e 16/3)).
        let x = array![[-1.0f32, -2.0], [1.0, -2.0], [-1.0, 2.0], [1.0, 2.0]];
        let c = 2.0 * std::f64::consts::PI * std::f64::consts::E;
        let want = 0.5 * ((c * 4.0 / 3.0).log2() + (c * 16.0 / 3.0).log2());
        assert!((gauss_entropy_bits(x.view()) - want).abs() < 1e-12);
    }

    #[test]
    fn gauss_is_shift_invariant_and_floors_small_eigenvalues() {
        // Shifting by 1000 changes nothing (the data is centred first).
        // A third constant column has eigenvalue 0, floored at 1e-12 * 16/3.
        let x = array![
            [999.0f32, 998.0, 7.0],
            [1001.0, 998.0, 7.0],
            [999.0, 1002.0, 7.0],
            [1001.0, 1002.0, 7.0]
        ];
        let c = 2.0 * std::f64::consts::PI * std::f64::consts::E;
        let big = 16.0 / 3.0;
        let want = 0.5 * ((c * 4.0 / 3.0).log2() + (c * big).log2() + (c * 1e-12 * big).log2());
        assert!((gauss_entropy_bits(x.view()) - want).abs() < 1e-9);
    }

    #[test]
    fn gauss_degenerate_inputs_are_nan() {
        assert!(gauss_entropy_bits(array![[1.0f32, 2.0]].view()).is_nan());
        assert!(gauss_entropy_bits(array![[1.0f32], [1.0]].view()).is_nan());
    }
}
