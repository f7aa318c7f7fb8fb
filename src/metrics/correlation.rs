//! Rank correlation between metric curves, and the summary of a metric
//! against probe accuracy over a run's milestones (the central analysis of
//! Xu, Lowe and Trappenberg): over all milestones and leaving out the first
//! [`EARLY_FRACTION`].

use super::Metric;
use serde::Serialize;

/// Fraction of the earliest milestones left out of the "late" correlation.
pub const EARLY_FRACTION: f64 = 0.2;

/// Spearman correlation of one metric with probe accuracy over milestones.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Correlation {
    pub metric: Metric,
    /// Over every milestone where both values exist.
    pub all: Option<f64>,
    pub n_all: usize,
    /// Leaving out the first 20% of milestones (early-training instability).
    pub late: Option<f64>,
    pub n_late: usize,
}

/// [`Correlation`] of `metric`'s values with `probe`, both one entry per
/// milestone in step order (`None` where a value is missing). The late
/// correlation leaves out the first `floor(milestones * EARLY_FRACTION)`
/// milestones, counted over all of them (not only those with both values).
pub fn over_milestones(
    metric: Metric,
    values: &[Option<f64>],
    probe: &[Option<f64>],
) -> Correlation {
    let skip = (values.len() as f64 * EARLY_FRACTION).floor() as usize;
    let pairs: Vec<(usize, f64, f64)> = values
        .iter()
        .zip(probe)
        .enumerate()
        .filter_map(|(i, (v, p))| Some((i, (*v)?, (*p)?)))
        .collect();
    let corr = |from: usize| {
        let (a, b): (Vec<f64>, Vec<f64>) = pairs
            .iter()
            .filter(|(i, _, _)| *i >= from)
            .map(|&(_, a, b)| (a, b))
            .unzip();
        (spearman(&a, &b), a.len())
    };
    let (all, n_all) = corr(0);
    let (late, n_late) = corr(skip);
    Correlation {
        metric,
        all,
        n_all,
        late,
        n_late,
    }
}

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
    fn late_leaves_out_the_first_fifth_of_the_milestones() {
        // 10 milestones: the late correlation starts at milestone 2. The
        // first two are anti-correlated outliers; without them the rest
        // rise together exactly.
        let v: Vec<Option<f64>> = [9.0, 8.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.5]
            .map(Some)
            .to_vec();
        let mut p: Vec<Option<f64>> = (0..10).map(|i| Some(i as f64)).collect();
        p[5] = None;
        let c = over_milestones(Metric::Silhouette, &v, &p);
        assert_eq!((c.n_all, c.n_late), (9, 7));
        assert_eq!(c.late, Some(1.0));
        let all = c.all.expect("all");
        assert!(all < 0.9, "{all}");
        let json = serde_json::to_value(&c).expect("json");
        assert_eq!(json["metric"], "silhouette");
    }

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
