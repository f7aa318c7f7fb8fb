//! Entropy of the embedding distribution, in bits (three estimators).

use ndarray::ArrayView2;

/// Mean over dimensions of the histogram entropy with `bins` equal-width bins.
pub fn hist_entropy_bits(x: ArrayView2<f32>, bins: usize) -> f64 {
    todo!("{:?} {}", x.dim(), bins)
}

/// Gaussian differential entropy from the covariance eigenvalues, in bits.
pub fn gauss_entropy_bits(x: ArrayView2<f32>) -> f64 {
    todo!("{:?}", x.dim())
}

/// Kozachenko-Leonenko nearest-neighbour estimator with `k` neighbours, in bits.
pub fn knn_entropy_bits(x: ArrayView2<f32>, k: usize) -> f64 {
    todo!("{:?} {}", x.dim(), k)
}
