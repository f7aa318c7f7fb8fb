//! Rank correlation between metric curves.

/// Spearman's rank correlation (average ranks for ties). `None` for fewer
/// than 3 pairs or when either side is constant.
///
/// Computed as scipy's `spearmanr`: the Pearson correlation of the two rank
/// vectors, tied values sharing the mean of the ranks they span. Also `None`
/// when the lengths differ or any value is NaN or infinite.
pub fn spearman(a: &[f64], b: &[f64]) -> Option<f64> {
    if a.len() != b.len() || a.len() < 3 {
        return None;
    }
    if a.iter().chain(b).any(|v| !v.is_finite()) {
        return None;
    }
    let is_constant = |v: &[f64]| v.iter().all(|&x| x == v[0]);
    if is_constant(a) || is_constant(b) {
        return None;
    }
    let r = pearson(&average_ranks(a), &average_ranks(b))?;
    Some(r.clamp(-1.0, 1.0))
}

/// 1-based ranks; a run of equal values gets the mean of its ranks.
fn average_ranks(v: &[f64]) -> Vec<f64> {
    let mut order: Vec<usize> = (0..v.len()).collect();
    order.sort_by(|&i, &j| v[i].total_cmp(&v[j]));
    let mut ranks = vec![0.0; v.len()];
    let mut start = 0;
    while start < order.len() {
        let value = v[order[start]];
        let end = start
            + order[start..]
                .iter()
                .take_while(|&&i| v[i] == value)
                .count();
        // Positions start..end hold ranks start+1 ..= end; their mean:
        let mean_rank = (start + 1 + end) as f64 / 2.0;
        for &i in &order[start..end] {
            ranks[i] = mean_rank;
        }
        start = end;
    }
    ranks
}

/// Pearson correlation; `None` when either side has zero variance.
fn pearson(x: &[f64], y: &[f64]) -> Option<f64> {
    let n = x.len() as f64;
    let mx = x.iter().sum::<f64>() / n;
    let my = y.iter().sum::<f64>() / n;
    let (mut sxy, mut sxx, mut syy) = (0.0, 0.0, 0.0);
    for (&a, &b) in x.iter().zip(y) {
        let (da, db) = (a - mx, b - my);
        sxy += da * db;
        sxx += da * da;
        syy += db * db;
    }
    let den = (sxx * syy).sqrt();
    (den > 0.0).then(|| sxy / den)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn monotone_curves_are_plus_or_minus_one() {
        let a = [0.1, 0.5, 0.7, 2.0];
        assert_eq!(spearman(&a, &[1.0, 10.0, 100.0, 1000.0]), Some(1.0));
        assert_eq!(spearman(&a, &[4.0, 3.0, 2.0, 1.0]), Some(-1.0));
    }

    #[test]
    fn ties_get_average_ranks() {
        // a = [1, 2, 2, 3] -> ranks [1, 2.5, 2.5, 4] (mean 2.5)
        // b = [1, 3, 2, 4] -> ranks [1, 3, 2, 4]     (mean 2.5)
        // deviations a: [-1.5, 0, 0, 1.5], b: [-1.5, 0.5, -0.5, 1.5]
        // sxy = 2.25 + 0 + 0 + 2.25 = 4.5; sxx = 4.5; syy = 2.25+.25+.25+2.25 = 5
        // rho = 4.5 / sqrt(4.5 * 5) = sqrt(4.5 / 5) = sqrt(0.9).
        let got = spearman(&[1.0, 2.0, 2.0, 3.0], &[1.0, 3.0, 2.0, 4.0]).expect("defined");
        assert!((got - 0.9f64.sqrt()).abs() < 1e-15, "{got}");
    }

    #[test]
    fn average_ranks_of_a_three_way_tie() {
        // 5 is smallest (rank 1); the three 7s span ranks 2..=4 -> 3 each.
        assert_eq!(
            average_ranks(&[7.0, 5.0, 7.0, 9.0, 7.0]),
            vec![3.0, 1.0, 3.0, 5.0, 3.0]
        );
    }

    #[test]
    fn undefined_cases_are_none() {
        assert_eq!(spearman(&[1.0, 2.0], &[2.0, 1.0]), None);
        assert_eq!(spearman(&[1.0, 2.0, 3.0], &[1.0, 2.0]), None);
        assert_eq!(spearman(&[1.0, 1.0, 1.0], &[1.0, 2.0, 3.0]), None);
        assert_eq!(spearman(&[1.0, 2.0, 3.0], &[4.0, 4.0, 4.0]), None);
        assert_eq!(spearman(&[1.0, f64::NAN, 3.0], &[1.0, 2.0, 3.0]), None);
        assert_eq!(spearman(&[1.0, 2.0, 3.0], &[1.0, f64::INFINITY, 3.0]), None);
    }
}
