//! Gram matrices and symmetric eigendecompositions, shared by RankMe, the
//! covariance spectrum (spectrum, alpha-ReQ, the Gaussian entropy) and the
//! PCA map.
//!
//! Both metrics look at the small end of the spectrum (RankMe through the
//! square roots of the eigenvalues, the Gaussian entropy through their
//! logarithms), so the D x D Gram matrix is accumulated in f64: an f32 Gram
//! would put rounding noise of about 1e-7 of the largest eigenvalue into
//! every direction and make a collapsed embedding look full-rank.

use faer::linalg::matmul::triangular::{self, BlockStructure};
use faer::{Accum, Mat, MatRef, Par, Side};
use ndarray::{ArrayView2, Axis};
use rayon::prelude::*;

/// Rows converted to f64 at a time (128 x 512 f64 is 512 KiB, cache-sized;
/// 64 to 1024 rows measured within 15% of each other).
pub(crate) const ROW_BLOCK: usize = 128;

/// Column means of `x`, accumulated in f64 (one contiguous part of the rows
/// per thread, parts added in order: deterministic for a thread count).
pub fn column_means(x: ArrayView2<f32>) -> Vec<f64> {
    let (n, d) = x.dim();
    let sums: Vec<Vec<f64>> = x
        .axis_chunks_iter(Axis(0), rows_per_thread(n))
        .into_par_iter()
        .map(|part| {
            let mut s = vec![0.0f64; d];
            for row in part.rows() {
                for (acc, &v) in s.iter_mut().zip(row.iter()) {
                    *acc += f64::from(v);
                }
            }
            s
        })
        .collect();
    let inv = 1.0 / n.max(1) as f64;
    (0..d)
        .map(|j| sums.iter().map(|s| s[j]).sum::<f64>() * inv)
        .collect()
}

/// Rows in each thread's contiguous part of an `n`-row matrix.
fn rows_per_thread(n: usize) -> usize {
    n.div_ceil(rayon::current_num_threads().max(1)).max(1)
}

/// `(X - 1 m^T)^T (X - 1 m^T)` in f64, where `m` is `center` or zero.
///
/// Only the lower triangle (with the diagonal) is filled; read it with
/// [`Side::Lower`]. `center`, when given, must have one entry per column.
///
/// The rows are split into one contiguous part per rayon thread, each part
/// accumulates its own Gram matrix, and the parts are added in order, so the
/// result is the same for a given thread count.
pub fn gram_lower(x: ArrayView2<f32>, center: Option<&[f64]>) -> Mat<f64> {
    let (n, d) = x.dim();
    let parts: Vec<Mat<f64>> = x
        .axis_chunks_iter(Axis(0), rows_per_thread(n))
        .into_par_iter()
        .map(|part| gram_lower_seq(part, center))
        .collect();
    let mut g = Mat::<f64>::zeros(d, d);
    for p in &parts {
        g += p;
    }
    g
}

/// One thread's share of [`gram_lower`]: rows converted to f64 a block at a
/// time, each block's triangular product added into the result.
fn gram_lower_seq(x: ArrayView2<f32>, center: Option<&[f64]>) -> Mat<f64> {
    let d = x.ncols();
    let mut g = Mat::<f64>::zeros(d, d);
    let mut buf: Vec<f64> = Vec::with_capacity(ROW_BLOCK * d);
    for block in x.axis_chunks_iter(Axis(0), ROW_BLOCK) {
        buf.clear();
        for row in block.rows() {
            match center {
                Some(m) => buf.extend(row.iter().zip(m).map(|(&v, &c)| f64::from(v) - c)),
                None => buf.extend(row.iter().map(|&v| f64::from(v))),
            }
        }
        let xb = MatRef::from_row_major_slice(&buf, block.nrows(), d);
        triangular::matmul(
            g.as_mut(),
            BlockStructure::TriangularLower,
            Accum::Add,
            xb.transpose(),
            BlockStructure::Rectangular,
            xb,
            BlockStructure::Rectangular,
            1.0,
            Par::Seq,
        );
    }
    g
}

/// `(X - 1 m^T)(X - 1 m^T)^T` (N x N) in f64, where `m` is `center` or zero:
/// the row Gram matrix, whose non-zero eigenvalues are those of
/// [`gram_lower`]'s, cheaper when N < D (N^2 D instead of N D^2 products and
/// an N x N eigenproblem). Only the lower triangle is filled.
///
/// The centred rows are converted to f64 first (N x D x 8 bytes, small when
/// N < D); faer's product splits the work over the rayon threads with a
/// fixed partition, so the result is the same for a given thread count.
pub fn row_gram_lower(x: ArrayView2<f32>, center: Option<&[f64]>) -> Mat<f64> {
    let (n, d) = x.dim();
    let c = centred_f64(x, center);
    let mut g = Mat::<f64>::zeros(n, n);
    if d > 0 {
        triangular::matmul(
            g.as_mut(),
            BlockStructure::TriangularLower,
            Accum::Replace,
            c.as_ref(),
            BlockStructure::Rectangular,
            c.transpose(),
            BlockStructure::Rectangular,
            1.0,
            Par::rayon(0),
        );
    }
    g
}

/// `x - 1 m^T` (or `x`) as an f64 matrix.
pub(crate) fn centred_f64(x: ArrayView2<f32>, center: Option<&[f64]>) -> Mat<f64> {
    let (n, d) = x.dim();
    Mat::from_fn(n, d, |i, j| {
        f64::from(x[(i, j)]) - center.map_or(0.0, |m| m[j])
    })
}

/// Eigenvalues (ascending) and eigenvectors (the matching columns) of the
/// symmetric matrix whose lower triangle is stored in `a`. `None` as
/// [`sym_eigenvalues_lower`].
pub fn sym_eigen_lower(a: &Mat<f64>) -> Option<(Vec<f64>, Mat<f64>)> {
    if !lower_is_finite(a) {
        return None;
    }
    let evd = a.self_adjoint_eigen(Side::Lower).ok()?;
    let values: Vec<f64> = evd.S().column_vector().iter().copied().collect();
    Some((values, evd.U().to_owned()))
}

fn lower_is_finite(a: &Mat<f64>) -> bool {
    (0..a.ncols()).all(|j| (j..a.nrows()).all(|i| a[(i, j)].is_finite()))
}

/// Eigenvalues (ascending) of the symmetric matrix whose lower triangle is
/// stored in `a`. `None` when the eigensolver does not converge or the matrix
/// holds non-finite values.
pub fn sym_eigenvalues_lower(a: &Mat<f64>) -> Option<Vec<f64>> {
    if !lower_is_finite(a) {
        return None;
    }
    a.self_adjoint_eigenvalues(Side::Lower).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    #[test]
    fn gram_lower_matches_hand_product() {
        // X = [[1,2],[3,4],[5,6]]: X^T X = [[1+9+25, 2+12+30], [., 4+16+36]]
        //                                = [[35, 44], [44, 56]].
        let x = array![[1.0f32, 2.0], [3.0, 4.0], [5.0, 6.0]];
        let g = gram_lower(x.view(), None);
        assert_eq!(g[(0, 0)], 35.0);
        assert_eq!(g[(1, 0)], 44.0);
        assert_eq!(g[(1, 1)], 56.0);
    }

    #[test]
    fn centred_gram_subtracts_the_means() {
        // Column means (3, 4); centred rows (-2,-2), (0,0), (2,2):
        // sum of outer products = [[8, 8], [8, 8]].
        let x = array![[1.0f32, 2.0], [3.0, 4.0], [5.0, 6.0]];
        let m = column_means(x.view());
        assert_eq!(m, vec![3.0, 4.0]);
        let g = gram_lower(x.view(), Some(&m));
        assert_eq!((g[(0, 0)], g[(1, 0)], g[(1, 1)]), (8.0, 8.0, 8.0));
    }

    #[test]
    fn eigenvalues_of_a_two_by_two() {
        // [[2,1],[1,2]] has eigenvalues 1 and 3 (eigenvectors (1,-1), (1,1)).
        let a = Mat::from_fn(2, 2, |i, j| if i == j { 2.0 } else { 1.0 });
        let ev = sym_eigenvalues_lower(&a).expect("converges");
        assert!((ev[0] - 1.0).abs() < 1e-12 && (ev[1] - 3.0).abs() < 1e-12);
    }

    #[test]
    fn row_gram_is_the_product_of_the_centred_rows() {
        // Centred rows (-2,-2), (0,0), (2,2) (means (3, 4)): their dot
        // products are [[8, 0, -8], [0, 0, 0], [-8, 0, 8]] (lower triangle).
        let x = array![[1.0f32, 2.0], [3.0, 4.0], [5.0, 6.0]];
        let g = row_gram_lower(x.view(), Some(&[3.0, 4.0]));
        assert_eq!((g[(0, 0)], g[(1, 0)], g[(2, 0)]), (8.0, 0.0, -8.0));
        assert_eq!((g[(1, 1)], g[(2, 1)], g[(2, 2)]), (0.0, 0.0, 8.0));
    }

    #[test]
    fn eigenvectors_of_a_two_by_two() {
        // [[2,1],[1,2]]: eigenvalue 1 with (1,-1)/sqrt 2, 3 with (1,1)/sqrt 2.
        let a = Mat::from_fn(2, 2, |i, j| if i == j { 2.0 } else { 1.0 });
        let (ev, u) = sym_eigen_lower(&a).expect("converges");
        assert!((ev[0] - 1.0).abs() < 1e-12 && (ev[1] - 3.0).abs() < 1e-12);
        let h = std::f64::consts::FRAC_1_SQRT_2;
        assert!((u[(0, 1)].abs() - h).abs() < 1e-12 && (u[(1, 1)] - u[(0, 1)]).abs() < 1e-12);
        assert!((u[(0, 0)] + u[(1, 0)]).abs() < 1e-12);
    }

    #[test]
    fn non_finite_matrix_has_no_eigenvalues() {
        let a = Mat::from_fn(2, 2, |i, j| if i == j { f64::NAN } else { 0.0 });
        assert!(sym_eigenvalues_lower(&a).is_none());
        assert!(sym_eigen_lower(&a).is_none());
    }
}
