//! Leave-one-out k-nearest-neighbour accuracy (cosine similarity).

use ndarray::ArrayView2;

/// Leave-one-out kNN accuracy with `k` neighbours, majority vote, ties to the
/// tied class whose first neighbour is nearest. `None` when n <= 1.
pub fn knn_accuracy(x: ArrayView2<f32>, labels: &[i64], k: usize) -> Option<f64> {
    todo!("{:?} {} {}", x.dim(), labels.len(), k)
}
