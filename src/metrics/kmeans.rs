//! k-means: greedy k-means++ seeding and Lloyd iterations (GEMM distances).

use ndarray::{Array2, ArrayView2};

/// Parameters of one clustering (best of `n_init` seeded runs).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct KMeansParams {
    pub k: usize,
    pub n_init: usize,
    pub max_iter: usize,
    pub seed: u64,
}

/// The lowest-inertia run of `n_init`.
#[derive(Debug, Clone)]
pub struct KMeansResult {
    /// Cluster id of each row, in `0..k`.
    pub labels: Vec<u32>,
    /// k x D centroids.
    pub centroids: Array2<f32>,
    /// Sum of squared distances of rows to their centroid (f64).
    pub inertia: f64,
    /// Lloyd iterations of the returned run.
    pub n_iter: usize,
}

/// Cluster the rows of `x` (all finite; 1 <= k <= n rows is guaranteed by the caller).
pub fn kmeans(x: ArrayView2<f32>, p: &KMeansParams) -> KMeansResult {
    todo!("kmeans {:?} {:?}", x.dim(), p)
}
