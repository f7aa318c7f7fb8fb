//! Small numeric helpers over metric series (one value per milestone, in
//! step order, `None` where the value is missing): smoothing, resampling to
//! a cell's width, the trend mark, the shared column scale and the Spearman
//! summary shown in the run detail.

/// Weight of the past in the exponential moving average (as TensorBoard's
/// default smoothing of 0.6).
pub const EMA_BETA: f64 = 0.6;

/// Exponential moving average debiased as in Adam's bias correction:
/// `m_t = b m_(t-1) + (1-b) x_t`, shown as `m_t / (1 - b^t)`, so the first
/// points are not pulled towards zero. Applied in step order over every
/// milestone (no subsampling first); a missing value stays missing and does
/// not advance `t`.
pub fn ema_debiased(values: &[Option<f64>], beta: f64) -> Vec<Option<f64>> {
    let mut m = 0.0;
    let mut correction = 1.0; // b^t
    values
        .iter()
        .map(|v| {
            let x = (*v).filter(|x| x.is_finite())?;
            m = beta * m + (1.0 - beta) * x;
            correction *= beta;
            let denom = 1.0 - correction;
            if denom > 0.0 {
                Some(m / denom)
            } else {
                Some(x)
            }
        })
        .collect()
}

/// Resample a series to at most `width` columns. Each column is a bucket of
/// consecutive milestones and shows the latest present value in it (so the
/// last column is always the latest value); a bucket with no value is a gap.
/// A series that fits is returned unchanged, one column per milestone.
pub fn resample_latest(values: &[Option<f64>], width: usize) -> Vec<Option<f64>> {
    let n = values.len();
    if n <= width {
        return values.to_vec();
    }
    (0..width)
        .map(|i| {
            let start = i * n / width;
            let end = ((i + 1) * n / width).min(n);
            values[start..end].iter().rev().find_map(|v| *v)
        })
        .collect()
}

/// A series spread over exactly `width` columns: resampled as
/// [`resample_latest`] when it has more values than columns, else each
/// milestone repeated over an equal share of the columns (so a short series
/// fills a wide panel instead of a sliver at its left).
pub fn fit_width(values: &[Option<f64>], width: usize) -> Vec<Option<f64>> {
    let n = values.len();
    if n == 0 || n >= width {
        return resample_latest(values, width);
    }
    (0..width).map(|i| values[i * n / width]).collect()
}

/// Direction of the latest value against the mean of up to three values
/// before it; changes within 2% of `span` (the column's range) are flat.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trend {
    Up,
    Down,
    Flat,
}

pub fn trend(values: &[Option<f64>], span: f64) -> Option<Trend> {
    let mut present = values.iter().rev().filter_map(|v| *v);
    let latest = present.next()?;
    let before: Vec<f64> = present.take(3).collect();
    if before.is_empty() {
        return None;
    }
    let mean = before.iter().sum::<f64>() / before.len() as f64;
    let delta = latest - mean;
    let tolerance = 0.02 * if span > 0.0 { span } else { latest.abs() };
    Some(if delta > tolerance {
        Trend::Up
    } else if delta < -tolerance {
        Trend::Down
    } else {
        Trend::Flat
    })
}

/// Smallest and largest finite value over several series.
pub fn range<'a>(series: impl IntoIterator<Item = &'a [Option<f64>]>) -> Option<(f64, f64)> {
    let mut lo = f64::INFINITY;
    let mut hi = f64::NEG_INFINITY;
    for s in series {
        for v in s.iter().flatten() {
            if v.is_finite() {
                lo = lo.min(*v);
                hi = hi.max(*v);
            }
        }
    }
    (lo <= hi).then_some((lo, hi))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ema_is_debiased_so_the_first_point_is_itself() {
        let s = ema_debiased(&[Some(2.0), Some(2.0), Some(4.0)], 0.5);
        assert_eq!(s[0], Some(2.0));
        assert_eq!(s[1], Some(2.0));
        // m = 0.5*(0.5*1 + 1) + 2 = 2.75 -> / (1 - 0.125) = 3.142857
        let v = s[2].unwrap_or(f64::NAN);
        assert!((v - 2.75 / 0.875).abs() < 1e-12, "{v}");
    }

    #[test]
    fn ema_keeps_gaps_and_skips_non_finite() {
        let s = ema_debiased(&[Some(1.0), None, Some(f64::NAN), Some(1.0)], 0.6);
        assert_eq!(s[1], None);
        assert_eq!(s[2], None);
        let v = s[3].unwrap_or(f64::NAN);
        assert!((v - 1.0).abs() < 1e-12, "{v}");
    }

    #[test]
    fn resampling_takes_the_latest_value_per_bucket() {
        let v: Vec<Option<f64>> = (0..10).map(|i| Some(i as f64)).collect();
        let r = resample_latest(&v, 5);
        assert_eq!(
            r,
            vec![Some(1.0), Some(3.0), Some(5.0), Some(7.0), Some(9.0)]
        );
        let gaps = [Some(1.0), None, None, None];
        assert_eq!(resample_latest(&gaps, 2), vec![Some(1.0), None]);
        assert_eq!(resample_latest(&gaps, 10), gaps.to_vec());
        assert!(resample_latest(&gaps, 0).is_empty());
    }

    #[test]
    fn fitting_a_short_series_repeats_each_value_evenly() {
        let v = [Some(1.0), None, Some(3.0)];
        // Column i shows value floor(i * 3 / 7): 0 0 0 1 1 2 2.
        assert_eq!(
            fit_width(&v, 7),
            vec![
                Some(1.0),
                Some(1.0),
                Some(1.0),
                None,
                None,
                Some(3.0),
                Some(3.0)
            ]
        );
        assert_eq!(fit_width(&v, 3), v.to_vec());
        // Longer than the width: the latest value per bucket.
        assert_eq!(fit_width(&v, 2), vec![Some(1.0), Some(3.0)]);
        assert!(fit_width(&[], 5).is_empty());
    }

    #[test]
    fn trend_compares_latest_with_recent_mean() {
        let up = [Some(1.0), Some(1.0), Some(2.0)];
        assert_eq!(trend(&up, 1.0), Some(Trend::Up));
        let down = [Some(2.0), None, Some(1.0)];
        assert_eq!(trend(&down, 1.0), Some(Trend::Down));
        let flat = [Some(1.0), Some(1.001)];
        assert_eq!(trend(&flat, 1.0), Some(Trend::Flat));
        assert_eq!(trend(&[Some(1.0)], 1.0), None);
        assert_eq!(trend(&[], 1.0), None);
    }

    #[test]
    fn range_ignores_gaps_and_nan() {
        let a = [Some(1.0), None, Some(f64::NAN)];
        let b = [Some(-2.0), Some(5.0)];
        assert_eq!(range([&a[..], &b[..]]), Some((-2.0, 5.0)));
        let empty: [Option<f64>; 1] = [None];
        assert_eq!(range([&empty[..]]), None);
    }
}
