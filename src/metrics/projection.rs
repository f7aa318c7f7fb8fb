//! The embedding map: a 2-D PCA projection of a seeded sample of rows, for
//! the detail view's braille scatter.
//!
//! The axes are the top two principal components of the WHOLE matrix (the
//! eigenvectors of its centred covariance, from [`CovSpectrum::with_axes`],
//! the same eigendecomposition the spectrum metrics read), each with its
//! sign fixed so that its largest-|loading| coordinate is positive; only the
//! plotted rows are sampled. Row i is drawn at ((x_i - mean) . v_1,
//! (x_i - mean) . v_2), computed in f64.

use super::spectrum::CovSpectrum;
use super::uniformity::seeded_rows;
use ndarray::{ArrayView2, Axis};

/// Rows drawn on the map at most.
pub const MAP_ROWS: usize = 2_000;

/// A 2-D projection of some rows.
#[derive(Debug, Clone, PartialEq)]
pub struct Projection {
    /// Which rows of the matrix (a seeded sample, sorted).
    pub rows: Vec<u32>,
    /// Their coordinates on PC1 and PC2, in the data's units.
    pub xy: Vec<[f32; 2]>,
    /// The fraction of the total variance along PC1 and PC2 (0 for a
    /// component that does not exist, e.g. PC2 of one column).
    pub explained: [f64; 2],
}

/// [`pca_2d_from`] with its own eigendecomposition.
pub fn pca_2d(x: ArrayView2<f32>, max_rows: usize, seed: u64) -> Option<Projection> {
    pca_2d_from(&CovSpectrum::with_axes(x, 2)?, x, max_rows, seed)
}

/// The PCA map of `min(N, max_rows)` rows of `x` (a uniform sample drawn
/// with `seed`, deterministic) on the axes of `spectrum`, which must be
/// [`CovSpectrum::with_axes`] of the same `x` with at least 2 axes (or
/// `min(N, D)` when smaller). `None` when the spectrum has no axes or does
/// not match `x`'s shape, or the total variance is 0.
pub fn pca_2d_from(
    spectrum: &CovSpectrum,
    x: ArrayView2<f32>,
    max_rows: usize,
    seed: u64,
) -> Option<Projection> {
    let (n, d) = x.dim();
    let axes = spectrum.axes();
    let trace = spectrum.trace();
    if spectrum.shape() != (n, d) || axes.is_empty() || trace.is_nan() || trace <= 0.0 {
        return None;
    }
    let means = spectrum.means();
    let rows = seeded_rows(n, max_rows.max(1), seed);
    let xy: Vec<[f32; 2]> = rows
        .iter()
        .map(|&r| {
            let row = x.index_axis(Axis(0), r);
            let mut p = [0f32; 2];
            for (slot, v) in p.iter_mut().zip(axes) {
                *slot = row
                    .iter()
                    .zip(means)
                    .zip(v)
                    .map(|((&a, &m), &w)| (f64::from(a) - m) * w)
                    .sum::<f64>() as f32;
            }
            p
        })
        .collect();
    let ev = spectrum.eigenvalues();
    let explained = [0, 1].map(|k| if k < axes.len() { ev[k] / trace } else { 0.0 });
    Some(Projection {
        rows: rows.into_iter().map(|r| r as u32).collect(),
        xy,
        explained,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{array, Array2};

    #[test]
    fn points_on_a_line_project_onto_pc1() {
        // Rows t (3, 4) for t = -2..2: mean 0, PC1 = (0.6, 0.8) (largest
        // loading 0.8 positive), coordinates 5t, all variance on PC1,
        // PC2 coordinates 0.
        let x = Array2::from_shape_fn((5, 2), |(i, j)| (i as f32 - 2.0) * [3.0, 4.0][j]);
        let p = pca_2d(x.view(), MAP_ROWS, 0).expect("map");
        assert_eq!(p.rows, vec![0, 1, 2, 3, 4]);
        for (i, xy) in p.xy.iter().enumerate() {
            assert!((xy[0] - 5.0 * (i as f32 - 2.0)).abs() < 1e-5, "{p:?}");
            assert!(xy[1].abs() < 1e-5);
        }
        assert!((p.explained[0] - 1.0).abs() < 1e-12 && p.explained[1].abs() < 1e-12);
    }

    #[test]
    fn ellipse_axes_and_explained_variance() {
        // (3 cos a, sin a) rotated by 90 degrees into (-sin a, 3 cos a), for
        // a = 0, 90, 180, 270 degrees: rows (0, 3), (-1, 0), (0, -3), (1, 0).
        // Variances (ddof 1): column 1 18/3 = 6, column 0 2/3; PC1 = column
        // 1 (explained 6 / (20/3) = 0.9), PC2 = column 0 (0.1), signs fixed
        // positive: coordinates (3, 0), (0, -1), (-3, 0), (0, 1).
        let x = array![[0.0f32, 3.0], [-1.0, 0.0], [0.0, -3.0], [1.0, 0.0]];
        let p = pca_2d(x.view(), MAP_ROWS, 0).expect("map");
        let want = [[3.0, 0.0], [0.0, -1.0], [-3.0, 0.0], [0.0, 1.0]];
        for (got, w) in p.xy.iter().zip(want) {
            assert!(
                (got[0] - w[0]).abs() < 1e-6 && (got[1] - w[1]).abs() < 1e-6,
                "{p:?}"
            );
        }
        assert!((p.explained[0] - 0.9).abs() < 1e-12 && (p.explained[1] - 0.1).abs() < 1e-12);
    }

    #[test]
    fn sign_rule_makes_the_map_independent_of_a_flip() {
        // Negating the data flips the eigenvectors' natural sign; the rule
        // flips the axes back, so the map is the point reflection of the
        // original map (coordinates negated), never a mirror in one axis.
        let x = array![
            [0.0f32, 3.0],
            [-1.0, 0.5],
            [0.2, -3.0],
            [1.0, 0.0],
            [0.5, 1.0]
        ];
        let a = pca_2d(x.view(), MAP_ROWS, 0).expect("map");
        let b = pca_2d(x.mapv(|v| -v).view(), MAP_ROWS, 0).expect("map");
        for (p, q) in a.xy.iter().zip(&b.xy) {
            assert!((p[0] + q[0]).abs() < 1e-5 && (p[1] + q[1]).abs() < 1e-5);
        }
    }

    #[test]
    fn sampled_rows_are_seeded_sorted_and_bounded() {
        let x = Array2::from_shape_fn((500, 3), |(i, j)| ((i * 31 + j * 7) % 17) as f32);
        let a = pca_2d(x.view(), 50, 3).expect("map");
        assert_eq!(a, pca_2d(x.view(), 50, 3).expect("map"));
        assert_ne!(a.rows, pca_2d(x.view(), 50, 4).expect("map").rows);
        assert_eq!(a.rows.len(), 50);
        assert!(a.rows.windows(2).all(|w| w[0] < w[1]));
        // The axes are the whole matrix's: a sampled row's coordinates are
        // those it has in the map of all rows.
        let all = pca_2d(x.view(), 500, 0).expect("map");
        for (r, xy) in a.rows.iter().zip(&a.xy) {
            assert_eq!(all.xy[*r as usize], *xy);
        }
    }

    #[test]
    fn one_column_and_degenerate_inputs() {
        // D = 1: only PC1; PC2 coordinates 0 and explained 0.
        let x = array![[1.0f32], [2.0], [4.0]];
        let p = pca_2d(x.view(), MAP_ROWS, 0).expect("map");
        assert_eq!(p.explained[1], 0.0);
        assert!(p.xy.iter().all(|xy| xy[1] == 0.0));
        assert!((p.explained[0] - 1.0).abs() < 1e-12);
        assert!(pca_2d(Array2::<f32>::ones((5, 2)).view(), MAP_ROWS, 0).is_none());
        assert!(pca_2d(array![[1.0f32, 2.0]].view(), MAP_ROWS, 0).is_none());
        // A spectrum without axes (CovSpectrum::of) cannot draw a map.
        let s = CovSpectrum::of(x.view()).expect("spectrum");
        assert!(pca_2d_from(&s, x.view(), MAP_ROWS, 0).is_none());
    }
}
