//! Rank correlation between metric curves.

/// Spearman's rank correlation (average ranks for ties). `None` for fewer
/// than 3 pairs or when either side is constant.
pub fn spearman(a: &[f64], b: &[f64]) -> Option<f64> {
    todo!("{} {}", a.len(), b.len())
}
