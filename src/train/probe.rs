//! The linear probe at each milestone: a linear classifier trained on the
//! backbone features of (a capped subset of) the training split, its
//! accuracy measured on the evaluation split. The classifier itself is the
//! project's metrics code.

use ndarray::ArrayView2;

/// Accuracy on `test` of a linear classifier trained on `train`; `None`
/// when the probe cannot be fitted (fewer than 2 classes).
pub fn accuracy(
    train_x: ArrayView2<f32>,
    train_y: &[i64],
    test_x: ArrayView2<f32>,
    test_y: &[i64],
) -> Option<f64> {
    crate::metrics::probe::train_test_accuracy(train_x, train_y, test_x, test_y)
}
