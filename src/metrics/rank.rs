//! RankMe: the effective rank of the embedding matrix.

use ndarray::ArrayView2;

/// exp(entropy of the normalised singular values (+1e-7)) of the uncentred matrix.
pub fn rankme(x: ArrayView2<f32>) -> f64 {
    todo!("{:?}", x.dim())
}
