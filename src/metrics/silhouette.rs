//! Mean silhouette coefficient, exactly as scikit-learn's `silhouette_score`.

use ndarray::ArrayView2;

/// Mean silhouette of `labels` over the rows of `x` (Euclidean). Exact over
/// all rows when n <= `sample`, else over a seeded uniform sample of `sample`
/// rows. `None` when fewer than 2 clusters (or every row its own cluster).
pub fn silhouette_score(
    x: ArrayView2<f32>,
    labels: &[u32],
    sample: usize,
    seed: u64,
) -> Option<f64> {
    todo!("{:?} {} {} {}", x.dim(), labels.len(), sample, seed)
}
