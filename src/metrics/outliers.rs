//! Outlier embeddings: rows far from the coordinate-wise median, in robust
//! z-scores of their distance (the paper's open question 3: early outliers
//! that lower the entropy).
//!
//! With m the coordinate-wise median row and d_i = |x_i - m| (Euclidean, in
//! f64), z_i = (d_i - median(d)) / (1.4826 MAD) with MAD = median(|d_i -
//! median(d)|); row i is an outlier when z_i > 5. Medians of an even count
//! are the mean of the two middle values (numpy's `median`), computed in f64.
//!
//! MAD = 0 happens when more than half of the rows lie at exactly the median
//! distance (a collapsed embedding, many duplicate rows). The formula is then
//! read as numpy computes it: z_i = +inf for every row farther than the
//! median distance, so exactly those rows are outliers (infinitely many
//! spreads away from a majority that has none), and no row is one when no
//! row is farther. Every step is O(N D) (medians by selection).

use ndarray::{Array2, ArrayView2, Axis};
use rayon::prelude::*;

/// A row is an outlier when its robust z-score exceeds this.
pub const OUTLIER_Z: f64 = 5.0;

/// MAD to standard deviation for normal data (1 / Phi^-1(3/4)).
pub const MAD_SCALE: f64 = 1.4826;

/// Outlier indices kept (highest z first).
pub const OUTLIER_IDX_KEEP: usize = 20;

/// Columns gathered per pass over the rows (64 f32 = four cache lines of
/// each row; 64 x 50,000 f32 is 12.8 MB per worker).
const COLUMN_BLOCK: usize = 64;

/// The outliers of one matrix.
#[derive(Debug, Clone, PartialEq)]
pub struct Outliers {
    /// Outliers / rows.
    pub frac: f64,
    /// The outliers' row indices (into the matrix given), highest z first
    /// (farthest first; ties by index), at most [`OUTLIER_IDX_KEEP`].
    pub idx: Vec<u32>,
    /// Per row: is it an outlier.
    pub mask: Vec<bool>,
    /// Number of outliers.
    pub count: usize,
}

impl Outliers {
    /// `idx` as rows of the file the matrix came from, when the matrix holds
    /// only the rows where `kept` is true (in order), as `compute_layer`
    /// keeps the finite rows. An index with no such row is left out.
    pub fn file_rows(&self, kept: &[bool]) -> Vec<u32> {
        let file: Vec<u32> = (0..kept.len() as u32)
            .filter(|&i| kept[i as usize])
            .collect();
        self.idx
            .iter()
            .filter_map(|&i| file.get(i as usize).copied())
            .collect()
    }
}

/// The outliers of the rows of `x`. `None` for an empty matrix or
/// non-finite values (the caller drops non-finite rows first).
pub fn outliers(x: ArrayView2<f32>) -> Option<Outliers> {
    let (n, d) = x.dim();
    if n == 0 || d == 0 {
        return None;
    }
    let m = median_row(x);
    let dist: Vec<f64> = x
        .axis_iter(Axis(0))
        .into_par_iter()
        .map(|r| {
            r.iter()
                .zip(&m)
                .map(|(&v, &c)| (f64::from(v) - c).powi(2))
                .sum::<f64>()
                .sqrt()
        })
        .collect();
    if dist.iter().any(|v| !v.is_finite()) {
        return None;
    }
    let med = median(&mut dist.clone());
    let mad = median(&mut dist.iter().map(|v| (v - med).abs()).collect::<Vec<_>>());
    let spread = MAD_SCALE * mad;
    let mask: Vec<bool> = dist
        .iter()
        .map(|&v| {
            if spread > 0.0 {
                (v - med) / spread > OUTLIER_Z
            } else {
                // (v - med) / 0 is +inf exactly when v > med.
                v > med
            }
        })
        .collect();
    let mut out: Vec<u32> = (0..n as u32).filter(|&i| mask[i as usize]).collect();
    let count = out.len();
    // z is increasing in d (spread > 0), or +inf for all of them: farthest first.
    out.sort_unstable_by(|&a, &b| {
        dist[b as usize]
            .total_cmp(&dist[a as usize])
            .then(a.cmp(&b))
    });
    out.truncate(OUTLIER_IDX_KEEP);
    Some(Outliers {
        frac: count as f64 / n as f64,
        idx: out,
        mask,
        count,
    })
}

/// The rows of `x` that are not outliers, for `entropy_inliers`; `None`
/// when there are no outliers (the caller reuses the full entropy) or the
/// mask does not have one entry per row.
pub fn inlier_rows(x: ArrayView2<f32>, o: &Outliers) -> Option<Array2<f32>> {
    if o.count == 0 || o.mask.len() != x.nrows() {
        return None;
    }
    let keep: Vec<usize> = (0..x.nrows()).filter(|&i| !o.mask[i]).collect();
    Some(x.select(Axis(0), &keep))
}

/// The coordinate-wise median row, in f64: columns gathered
/// [`COLUMN_BLOCK`] at a time (one pass over the rows per block), each
/// column's median by selection.
pub fn median_row(x: ArrayView2<f32>) -> Vec<f64> {
    let (n, d) = x.dim();
    let starts: Vec<usize> = (0..d).step_by(COLUMN_BLOCK).collect();
    let parts: Vec<Vec<f64>> = starts
        .par_iter()
        .map(|&c0| {
            let w = COLUMN_BLOCK.min(d - c0);
            // f32 values as they are: the order statistics, and so the
            // median in f64, are those of the values converted to f64.
            let mut cols = vec![Vec::with_capacity(n); w];
            for row in x.axis_iter(Axis(0)) {
                let seg = row.slice(ndarray::s![c0..c0 + w]);
                for (col, &v) in cols.iter_mut().zip(seg.iter()) {
                    col.push(v);
                }
            }
            cols.iter_mut().map(|c| median_f32(c)).collect()
        })
        .collect();
    parts.concat()
}

/// [`median`] of f32 values, in f64 (the same value as on the values
/// converted to f64: conversion keeps their order).
fn median_f32(v: &mut [f32]) -> f64 {
    let n = v.len();
    if n == 0 {
        return f64::NAN;
    }
    let (left, &mut hi, _) = v.select_nth_unstable_by(n / 2, f32::total_cmp);
    if n % 2 == 1 {
        return f64::from(hi);
    }
    let lo = left.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    0.5 * (f64::from(lo) + f64::from(hi))
}

/// numpy's median (the mean of the two middle values of an even count),
/// reordering `v`; NaN when empty.
pub fn median(v: &mut [f64]) -> f64 {
    let n = v.len();
    if n == 0 {
        return f64::NAN;
    }
    let (left, &mut hi, _) = v.select_nth_unstable_by(n / 2, f64::total_cmp);
    if n % 2 == 1 {
        return hi;
    }
    // The largest of the lower half is the other middle value.
    let lo = left.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    0.5 * (lo + hi)
}

/// Extra heap (bytes) of [`outliers`] plus [`inlier_rows`] on an `n` x `d`
/// matrix with `threads` rayon threads: per running column block its `n`
/// f64 values per column, the median row, the distances (and the two copies
/// the medians reorder), the mask and the sorted ids, then the inlier copy
/// (at most all rows; `compute_layer`'s histogram entropy skips the
/// outliers in place instead, the other estimators take the copy).
pub fn working_set_bytes(n: usize, d: usize, threads: usize) -> u64 {
    let (nf, df) = (n as f64, d as f64);
    let blocks = threads.max(1).min(d.div_ceil(COLUMN_BLOCK).max(1)) as f64;
    let medians = blocks * COLUMN_BLOCK as f64 * nf * 4.0 + df * 8.0 * 2.0;
    let rest = 3.0 * nf * 8.0 + nf + nf * 4.0;
    let inliers = nf * 8.0 + nf * df * 4.0;
    (medians + rest + inliers).ceil() as u64
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    #[test]
    fn median_of_odd_and_even_counts() {
        assert_eq!(median(&mut [3.0, 1.0, 2.0]), 2.0);
        // Even: mean of 2 and 3.
        assert_eq!(median(&mut [4.0, 1.0, 3.0, 2.0]), 2.5);
        assert!(median(&mut []).is_nan());
    }

    #[test]
    fn median_row_is_per_coordinate() {
        // Column 0: 1, 5, 3 -> 3; column 1: 10, -2, 7 -> 7 (not a row of x).
        let x = array![[1.0f32, 10.0], [5.0, -2.0], [3.0, 7.0]];
        assert_eq!(median_row(x.view()), vec![3.0, 7.0]);
    }

    #[test]
    fn median_row_spans_column_blocks_and_averages_even_counts() {
        // 4 rows x 130 columns (3 column blocks): column j holds j, 3j, -j
        // and 0.5 + j: sorted -j, 0 or j..., the middle two average.
        // For j >= 1: sorted -j, j, j + 0.5, 3j -> (j + j + 0.5) / 2 = j + 0.25.
        // For j = 0: 0, 0, 0, 0.5 -> 0.
        let x = ndarray::Array2::from_shape_fn((4, 130), |(i, j)| {
            let j = j as f32;
            [j, 3.0 * j, -j, 0.5 + j][i]
        });
        let m = median_row(x.view());
        assert_eq!(m[0], 0.0);
        for (j, &v) in m.iter().enumerate().skip(1) {
            assert_eq!(v, j as f64 + 0.25, "column {j}");
        }
    }

    #[test]
    fn one_far_row_is_the_outlier() {
        // Rows 0..=9 on a line: (i, 0) for i = 0..9, and row 10 at (100, 0).
        // Median row: column 0 median of 0..9, 100 = 5; column 1: 0.
        // d = |i - 5| = 5,4,3,2,1,0,1,2,3,4 and 95; sorted:
        // 0,1,1,2,2,3,3,4,4,5,95 -> median(d) = 3.
        // |d - 3| = 2,1,0,1,2,3,2,1,0,1,92; sorted 0,0,1,1,1,1,2,2,2,3,92
        // -> MAD = 1, 1.4826 MAD = 1.4826. z of row 10 = 92 / 1.4826 = 62;
        // the next largest, row 0: (5 - 3) / 1.4826 = 1.35.
        let mut x = Array2::<f32>::zeros((11, 2));
        for i in 0..10 {
            x[(i, 0)] = i as f32;
        }
        x[(10, 0)] = 100.0;
        let o = outliers(x.view()).expect("outliers");
        assert_eq!(o.idx, vec![10]);
        assert_eq!(o.count, 1);
        assert!((o.frac - 1.0 / 11.0).abs() < 1e-15);
        assert!(o.mask[10] && o.mask.iter().filter(|&&m| m).count() == 1);
    }

    #[test]
    fn threshold_is_strictly_above_five() {
        // One column x = 1, 1, 1, 0, 2, t (t > 2): sorted 0,1,1,1,2,t, so
        // the median row is 1 and d = 0, 0, 0, 1, 1, t - 1; median(d) =
        // (0 + 1) / 2 = 0.5 (even count), |d - 0.5| = 0.5 x5 and t - 1.5,
        // MAD = 0.5, 1.4826 MAD = 0.7413. Row 5 is an outlier iff
        // (t - 1.5) / 0.7413 > 5, i.e. t > 5.2065.
        let with = |t: f32| array![[1.0f32], [1.0], [1.0], [0.0], [2.0], [t]];
        let o = outliers(with(5.3).view()).expect("outliers");
        assert_eq!(o.idx, vec![5]);
        let o = outliers(with(5.1).view()).expect("outliers");
        assert_eq!(o.count, 0);
        assert!(o.idx.is_empty());
    }

    #[test]
    fn mad_zero_flags_exactly_the_rows_beyond_the_median_distance() {
        // 5 identical rows and 2 others: median row (0, 0), d = 0 x5, 1, 2:
        // median(d) = 0, MAD = median(0 x5, 1, 2) = 0. Rows farther than 0
        // (indices 5 and 6) are outliers, the farther one first.
        let x = array![
            [0.0f32, 0.0],
            [0.0, 0.0],
            [0.0, 0.0],
            [0.0, 0.0],
            [0.0, 0.0],
            [1.0, 0.0],
            [0.0, 2.0]
        ];
        let o = outliers(x.view()).expect("outliers");
        assert_eq!(o.idx, vec![6, 5]);
        assert_eq!(o.count, 2);
        // All rows identical: MAD = 0 and no row is farther: none.
        let same = Array2::<f32>::ones((4, 3));
        assert_eq!(outliers(same.view()).expect("outliers").count, 0);
    }

    #[test]
    fn idx_keeps_the_twenty_farthest() {
        // 100 rows at distance 0..1 of the origin (a tight core) and 30
        // planted rows at 1000 + i: all 30 are outliers, idx holds the 20
        // farthest (the last planted first).
        let mut x = Array2::<f32>::zeros((130, 1));
        for i in 0..100 {
            x[(i, 0)] = (i as f32) * 0.01;
        }
        for i in 0..30 {
            x[(100 + i, 0)] = 1000.0 + i as f32;
        }
        let o = outliers(x.view()).expect("outliers");
        assert_eq!(o.count, 30);
        assert_eq!(o.idx, (110..130).rev().collect::<Vec<u32>>());
    }

    #[test]
    fn inlier_rows_drop_the_outliers() {
        let mut x = Array2::<f32>::zeros((11, 2));
        for i in 0..10 {
            x[(i, 0)] = i as f32;
        }
        x[(10, 0)] = 100.0;
        let o = outliers(x.view()).expect("outliers");
        let inl = inlier_rows(x.view(), &o).expect("some outliers");
        assert_eq!(inl.nrows(), 10);
        assert_eq!(
            inl.column(0).to_vec(),
            (0..10).map(|i| i as f32).collect::<Vec<_>>()
        );
        // No outliers: None, the full entropy applies.
        let none = outliers(x.slice(ndarray::s![..10, ..])).expect("outliers");
        assert!(inlier_rows(x.slice(ndarray::s![..10, ..]), &none).is_none());
    }

    #[test]
    fn file_rows_map_back_over_dropped_rows() {
        // Matrix rows 0, 1, 2 were file rows 0, 2, 3 (file row 1 dropped).
        let o = Outliers {
            frac: 1.0 / 3.0,
            idx: vec![2, 0],
            mask: vec![true, false, true],
            count: 2,
        };
        assert_eq!(o.file_rows(&[true, false, true, true]), vec![3, 0]);
    }

    #[test]
    fn working_set_counts_the_inlier_copy_and_the_column_blocks() {
        // At least the inlier copy (n d f32) and one block of 16 f64 columns.
        let w = working_set_bytes(10_000, 512, 2);
        assert!(w >= 10_000 * 512 * 4 + 16 * 10_000 * 8);
        assert!(working_set_bytes(10_000, 512, 4) > w);
    }

    #[test]
    fn degenerate_inputs_are_none() {
        assert!(outliers(Array2::<f32>::zeros((0, 2)).view()).is_none());
        assert!(outliers(array![[f32::INFINITY, 0.0], [0.0, 0.0]].view()).is_none());
    }
}
