//! The eigenspectrum of the centred covariance, and what is read off it: the
//! normalised singular values (dimensional collapse at a glance), alpha-ReQ
//! (Agrawal et al., NeurIPS 2022), the Gaussian entropy, and the principal
//! axes of the embedding map.
//!
//! One eigendecomposition serves all of them: [`CovSpectrum::of`] (values
//! only) or [`CovSpectrum::with_axes`] (values and the leading eigenvectors,
//! for [`super::projection`]). RankMe looks at the uncentred matrix, as in
//! its paper: `X^T X = S + N m m^T` (S the centred scatter, m the means) is
//! a rank-one update of S, so when the spectrum is built from the uncentred
//! Gram ([`CovSpectrum::try_with_axes_from_uncentred`]) it also keeps the
//! means in S's eigenbasis, and [`CovSpectrum::uncentred_eigenvalues`] gives
//! the eigenvalues of `X^T X` from the secular equation (no second D x D
//! decomposition). Otherwise RankMe keeps its own decomposition (`rank`).
//!
//! With N >= D rows the D x D covariance is decomposed; with N < D the N x N
//! Gram matrix of the centred rows, which has the same non-zero eigenvalues
//! (times N - 1) and costs N^2 D + N^3 instead of N D^2 + D^3: for the
//! SimSiam shape 359 x 2048 that is the difference between an eigenproblem
//! of 359 and one of 2048.

use super::entropy::GAUSS_RIDGE;
use super::linalg::{
    centred_f64, column_means, gram_lower, rank_one_update_eigenvalues, row_gram_lower,
    sym_eigen_lower, sym_eigenvalues_lower,
};
use faer::Mat;
use ndarray::ArrayView2;

/// Normalised singular values kept per milestone.
pub const SPECTRUM_KEEP: usize = 64;

/// alpha-ReQ fits the eigenvalues at least this fraction of the largest.
pub const ALPHA_REQ_CUTOFF: f64 = 1e-6;

/// Which Gram matrix [`CovSpectrum`] decomposes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Side {
    /// D x D covariance (N >= D).
    Columns,
    /// N x N Gram matrix of the centred rows (N < D).
    Rows,
}

impl Side {
    fn for_shape(n: usize, d: usize) -> Side {
        if n < d {
            Side::Rows
        } else {
            Side::Columns
        }
    }
}

/// Eigenvalues of the sample covariance (ddof = 1) of an N x D matrix.
#[derive(Debug, Clone, PartialEq)]
pub struct CovSpectrum {
    /// The `min(N, D)` largest eigenvalues, decreasing, negative rounding
    /// set to 0; the other `D - min(N, D)` are exactly 0 (not stored).
    eigenvalues: Vec<f64>,
    n: usize,
    d: usize,
    /// trace(C) from the diagonal (the sum of the column variances), exact
    /// to rounding whatever the eigensolver does at the small end.
    trace: f64,
    /// The column means that were subtracted.
    means: Vec<f64>,
    /// With [`CovSpectrum::with_axes`]: the leading principal axes (unit
    /// vectors of length D, sign fixed by [`fix_sign`]), one per eigenvalue.
    axes: Vec<Vec<f64>>,
    /// From [`CovSpectrum::try_with_axes_from_uncentred`]: `Q^T m`, the
    /// means in the eigenbasis (one per eigenvalue, in the same order), for
    /// [`CovSpectrum::uncentred_eigenvalues`].
    mean_coords: Option<Vec<f64>>,
}

impl CovSpectrum {
    /// The spectrum of `x`'s centred covariance. `None` with fewer than 2
    /// rows or no columns, non-finite values, or if the eigensolver fails.
    pub fn of(x: ArrayView2<f32>) -> Option<CovSpectrum> {
        let (n, d) = x.dim();
        Self::compute(x, 0, Side::for_shape(n, d))
    }

    /// [`CovSpectrum::of`] with the `k` leading principal axes too (at most
    /// `min(N, D)`), for the PCA map: one eigendecomposition with vectors.
    pub fn with_axes(x: ArrayView2<f32>, k: usize) -> Option<CovSpectrum> {
        let (n, d) = x.dim();
        Self::compute(x, k, Side::for_shape(n, d))
    }

    /// [`CovSpectrum::with_axes`] reusing `uncentred`, the lower triangle
    /// of `x^T x` (as [`gram_lower`]`(x, None)` gives it, which RankMe also
    /// needs): the centred Gram is `x^T x - n m m^T`. That subtraction
    /// cancels when the means dwarf the spread; then (any column with
    /// mean^2 > 1e8 x its variance, or N < D) the centred Gram is computed
    /// from the data as [`CovSpectrum::with_axes`] does.
    pub fn with_axes_sharing(
        x: ArrayView2<f32>,
        uncentred: &Mat<f64>,
        k: usize,
    ) -> Option<CovSpectrum> {
        let (n, d) = x.dim();
        if n < 2 || d == 0 || n < d || uncentred.nrows() != d {
            return Self::with_axes(x, k);
        }
        Self::with_axes_from_uncentred(x, uncentred.clone(), k)
    }

    /// [`CovSpectrum::with_axes_sharing`] taking the uncentred Gram by value
    /// and centring it in place (one D x D matrix less alive at the peak,
    /// for a caller that has no further use for it).
    pub fn with_axes_from_uncentred(
        x: ArrayView2<f32>,
        g: Mat<f64>,
        k: usize,
    ) -> Option<CovSpectrum> {
        Self::try_with_axes_from_uncentred(x, g, k).unwrap_or_else(|g| {
            drop(g);
            Self::with_axes(x, k)
        })
    }

    /// [`CovSpectrum::with_axes_from_uncentred`], which also keeps the means
    /// in the eigenbasis (for [`CovSpectrum::uncentred_eigenvalues`]), or
    /// `Err` with `g` untouched where that falls back to centring the data:
    /// N < D or fewer than 2 rows, `g` not D x D, or a column with
    /// mean^2 > 1e8 x its variance (decided from the diagonal before
    /// anything is subtracted). `Ok(None)` as [`CovSpectrum::of`].
    ///
    /// Memory: `g` is centred in place and dropped once decomposed; the
    /// eigensolver's vectors are read once more for `Q^T m` (D values), so
    /// the D x D peak is the decomposition's, as before.
    pub fn try_with_axes_from_uncentred(
        x: ArrayView2<f32>,
        mut g: Mat<f64>,
        k: usize,
    ) -> Result<Option<CovSpectrum>, Mat<f64>> {
        let (n, d) = x.dim();
        if n < 2 || d == 0 || n < d || g.nrows() != d || g.ncols() != d {
            return Err(g);
        }
        let means = column_means(x);
        let nf = n as f64;
        let cancels = (0..d).any(|j| {
            let var = (g[(j, j)] - nf * means[j] * means[j]) / nf;
            means[j] * means[j] > 1e8 * var.max(0.0)
        });
        if cancels {
            return Err(g);
        }
        for j in 0..d {
            for i in j..d {
                g[(i, j)] -= nf * means[i] * means[j];
            }
        }
        Ok(Self::from_gram(x, k, Side::Columns, means, g, true))
    }

    pub(crate) fn compute(x: ArrayView2<f32>, k: usize, side: Side) -> Option<CovSpectrum> {
        let (n, d) = x.dim();
        if n < 2 || d == 0 {
            return None;
        }
        let means = column_means(x);
        let gram = match side {
            Side::Columns => gram_lower(x, Some(&means)),
            Side::Rows => row_gram_lower(x, Some(&means)),
        };
        Self::from_gram(x, k, side, means, gram, false)
    }

    /// The spectrum from the centred Gram matrix of `side` (lower triangle);
    /// with `mean_coords` (only for [`Side::Columns`]), all eigenvectors are
    /// computed and the means expressed in them.
    fn from_gram(
        x: ArrayView2<f32>,
        k: usize,
        side: Side,
        means: Vec<f64>,
        gram: Mat<f64>,
        mean_coords: bool,
    ) -> Option<CovSpectrum> {
        let (n, d) = x.dim();
        let scale = 1.0 / (n - 1) as f64;
        let trace = (0..gram.nrows()).map(|j| gram[(j, j)]).sum::<f64>() * scale;
        let keep = n.min(d);
        let k = k.min(keep);
        let mean_coords = mean_coords && side == Side::Columns && keep == d;
        let (ascending, vectors) = if k == 0 && !mean_coords {
            (sym_eigenvalues_lower(&gram)?, None)
        } else {
            let (v, u) = sym_eigen_lower(&gram)?;
            (v, Some(u))
        };
        drop(gram);
        let m = ascending.len();
        // z_i = q_i . m, in the decreasing order of `eigenvalues`.
        let mean_coords = match (&vectors, mean_coords) {
            (Some(u), true) => Some(
                (0..m)
                    .rev()
                    .map(|col| (0..d).map(|j| u[(j, col)] * means[j]).sum::<f64>())
                    .collect(),
            ),
            _ => None,
        };
        let eigenvalues: Vec<f64> = ascending
            .iter()
            .rev()
            .take(keep)
            .map(|&l| (l * scale).max(0.0))
            .collect();
        let axes = match vectors {
            None => Vec::new(),
            Some(u) => (0..k)
                .map(|i| {
                    let col = m - 1 - i;
                    let mut v: Vec<f64> = match side {
                        Side::Columns => (0..d).map(|j| u[(j, col)]).collect(),
                        // v = X_c^T u / |X_c^T u|: the right singular vector.
                        Side::Rows => rows_to_axis(x, &means, &u, col),
                    };
                    fix_sign(&mut v);
                    v
                })
                .collect(),
        };
        Some(CovSpectrum {
            eigenvalues,
            n,
            d,
            trace,
            means,
            axes,
            mean_coords,
        })
    }

    /// The eigenvalues of the uncentred Gram `X^T X` (ascending, all D),
    /// where the spectrum came from
    /// [`CovSpectrum::try_with_axes_from_uncentred`]: with the centred
    /// scatter `S = (N - 1) C = Q diag(lambda) Q^T`, `X^T X = S + N m m^T`,
    /// whose eigenvalues are those of `diag(lambda) + N z z^T`, `z = Q^T m`
    /// (see [`rank_one_update_eigenvalues`]). `None` for any other spectrum.
    pub fn uncentred_eigenvalues(&self) -> Option<Vec<f64>> {
        let z = self.mean_coords.as_ref()?;
        let nm1 = (self.n - 1) as f64;
        let lambda: Vec<f64> = self.eigenvalues.iter().map(|&l| l * nm1).collect();
        rank_one_update_eigenvalues(&lambda, z, self.n as f64)
    }

    /// The stored eigenvalues (the `min(N, D)` largest), decreasing.
    pub fn eigenvalues(&self) -> &[f64] {
        &self.eigenvalues
    }

    /// Rows and columns of the matrix.
    pub fn shape(&self) -> (usize, usize) {
        (self.n, self.d)
    }

    /// trace(C), the total variance.
    pub fn trace(&self) -> f64 {
        self.trace
    }

    pub(crate) fn means(&self) -> &[f64] {
        &self.means
    }

    pub(crate) fn axes(&self) -> &[Vec<f64>] {
        &self.axes
    }

    /// The normalised singular values s_i / sum_j s_j of the centred matrix,
    /// decreasing, the `keep` largest (fewer when min(N, D) is smaller).
    ///
    /// s_i = sqrt((N - 1) lambda_i); the factor cancels, so s_i is taken as
    /// sqrt(lambda_i). The sum runs over all min(N, D) values, as an SVD
    /// returns them. Empty when every value is 0 (no direction to normalise by).
    pub fn normalised_singular(&self, keep: usize) -> Vec<f64> {
        let s: Vec<f64> = self.eigenvalues.iter().map(|l| l.sqrt()).collect();
        let total: f64 = s.iter().sum();
        if !(total > 0.0 && total.is_finite()) {
            return Vec::new();
        }
        s.iter().take(keep).map(|v| v / total).collect()
    }

    /// alpha-ReQ: minus the least-squares slope of ln(lambda_i) against
    /// ln(i), i = 1..r, where r is the number of eigenvalues at least
    /// [`ALPHA_REQ_CUTOFF`] times the largest, at most min(N - 1, D) (the
    /// centred matrix has rank at most N - 1). `None` when r < 2 (a slope
    /// needs two points) or every eigenvalue is 0.
    pub fn alpha_req(&self) -> Option<f64> {
        let largest = *self.eigenvalues.first()?;
        if !(largest > 0.0 && largest.is_finite()) {
            return None;
        }
        let cap = (self.n - 1).min(self.d);
        let r = self
            .eigenvalues
            .iter()
            .take(cap)
            .take_while(|&&l| l >= ALPHA_REQ_CUTOFF * largest)
            .count();
        if r < 2 {
            return None;
        }
        let pts: Vec<(f64, f64)> = self.eigenvalues[..r]
            .iter()
            .enumerate()
            .map(|(i, &l)| (((i + 1) as f64).ln(), l.ln()))
            .collect();
        let rf = r as f64;
        let mx = pts.iter().map(|p| p.0).sum::<f64>() / rf;
        let my = pts.iter().map(|p| p.1).sum::<f64>() / rf;
        let sxy: f64 = pts.iter().map(|(a, b)| (a - mx) * (b - my)).sum();
        let sxx: f64 = pts.iter().map(|(a, _)| (a - mx) * (a - mx)).sum();
        Some(-sxy / sxx)
    }

    /// The Gaussian differential entropy of C + delta I in bits, delta =
    /// [`GAUSS_RIDGE`] * trace(C) / D, as [`super::entropy::gauss_entropy_bits`]
    /// defines it (the D - min(N, D) eigenvalues that are not stored are 0
    /// and carry the ridge alone). NaN when trace(C) is 0.
    pub fn gauss_entropy_bits(&self) -> f64 {
        if self.trace.is_nan() || self.trace <= 0.0 {
            return f64::NAN;
        }
        let delta = GAUSS_RIDGE * self.trace / self.d as f64;
        let two_pi_e = 2.0 * std::f64::consts::PI * std::f64::consts::E;
        let stored: f64 = self
            .eigenvalues
            .iter()
            .map(|&l| (two_pi_e * (l + delta)).log2())
            .sum();
        let zeros = (self.d - self.eigenvalues.len()) as f64;
        0.5 * (stored + zeros * (two_pi_e * delta).log2())
    }
}

/// Extra heap (bytes) of [`CovSpectrum::with_axes`] on an `n` x `d` matrix
/// with `threads` rayon threads (an upper bound for [`CovSpectrum::of`]):
/// the means, then for N >= D one D x D f64 Gram per thread and their sum
/// (as `budget`'s RankMe term), for N < D the centred f64 copy and the
/// N x N Gram; then the eigensolver's copy, workspace and eigenvectors.
pub fn working_set_bytes(n: usize, d: usize, threads: usize) -> u64 {
    let (nf, df, t) = (n as f64, d as f64, threads.max(1) as f64);
    let padded = |rows: f64, cols: f64| rows * ((cols / 8.0).ceil() * 8.0) * 8.0;
    let means = (t + 1.0) * df * 8.0;
    let (gram, m) = if n < d {
        (nf * df * 8.0 * 2.0 + padded(nf, nf), nf)
    } else {
        let mat = padded(df, df);
        (
            t * (mat + super::linalg::ROW_BLOCK as f64 * df * 8.0) + mat,
            df,
        )
    };
    let eigen = 5.0 * padded(m, m) + 64.0 * m * 8.0;
    (means + gram + eigen + 2.0 * df * 8.0).ceil() as u64
}

/// The unit right singular vector X_c^T u / |X_c^T u| for column `col` of
/// the row Gram's eigenvectors `u`; all zeros when it has no length (a
/// direction without variance).
fn rows_to_axis(x: ArrayView2<f32>, means: &[f64], u: &Mat<f64>, col: usize) -> Vec<f64> {
    let c = centred_f64(x, Some(means));
    let d = x.ncols();
    let mut v = vec![0.0f64; d];
    for i in 0..c.nrows() {
        let w = u[(i, col)];
        for (j, acc) in v.iter_mut().enumerate() {
            *acc += w * c[(i, j)];
        }
    }
    let norm = v.iter().map(|a| a * a).sum::<f64>().sqrt();
    if norm > 0.0 {
        v.iter_mut().for_each(|a| *a /= norm);
    }
    v
}

/// An eigenvector's sign is arbitrary: make its largest-|value| coordinate
/// (the first of equal ones) positive, so that the same data always gives
/// the same axis.
pub(crate) fn fix_sign(v: &mut [f64]) {
    let mut best = 0usize;
    for (j, a) in v.iter().enumerate() {
        if a.abs() > v[best].abs() {
            best = j;
        }
    }
    if v.get(best).is_some_and(|&a| a < 0.0) {
        v.iter_mut().for_each(|a| *a = -*a);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sharing_the_uncentred_gram_gives_the_same_spectrum() {
        // Offsets of 3 and -7 on spread-1 columns: subtracting n m m^T from
        // x^T x must give the directly centred spectrum (and axes).
        let x = ndarray::Array2::from_shape_fn((300, 6), |(i, j)| {
            let t = ((i * 37 + j * 11) % 97) as f32 / 97.0 - 0.5;
            t * (j + 1) as f32 + if j % 2 == 0 { 3.0 } else { -7.0 }
        });
        let direct = CovSpectrum::with_axes(x.view(), 2).expect("direct");
        let g = crate::metrics::linalg::gram_lower(x.view(), None);
        let shared = CovSpectrum::with_axes_sharing(x.view(), &g, 2).expect("shared");
        for (a, b) in direct.eigenvalues().iter().zip(shared.eigenvalues()) {
            assert!((a - b).abs() <= 1e-9 * direct.eigenvalues()[0], "{a} {b}");
        }
        for (u, v) in direct.axes().iter().zip(shared.axes()) {
            for (a, b) in u.iter().zip(v) {
                assert!((a - b).abs() < 1e-9, "{a} {b}");
            }
        }
        // Means that dwarf the spread fall back to centring the data.
        let far = x.mapv(|v| v * 1e-6 + 1e3);
        let g = crate::metrics::linalg::gram_lower(far.view(), None);
        let shared = CovSpectrum::with_axes_sharing(far.view(), &g, 2).expect("shared");
        let direct = CovSpectrum::with_axes(far.view(), 2).expect("direct");
        assert_eq!(shared.eigenvalues(), direct.eigenvalues());
    }
    use ndarray::{array, Array2};

    /// Sylvester's 16 x 16 Hadamard matrix: entry (i, k) is
    /// (-1)^popcount(i & k). Columns 1..15 sum to 0, are orthogonal, and
    /// have squared norm 16.
    fn hadamard16(i: usize, k: usize) -> f32 {
        if (i & k).count_ones().is_multiple_of(2) {
            1.0
        } else {
            -1.0
        }
    }

    /// 16 rows; column j is Hadamard column 1 + j times `scale[j]`: centred,
    /// orthogonal columns of squared norm 16 scale[j]^2, so the singular
    /// values of the centred matrix are 4 |scale[j]| and the covariance
    /// eigenvalues 16 scale[j]^2 / 15.
    fn orthogonal(scale: &[f32]) -> Array2<f32> {
        Array2::from_shape_fn((16, scale.len()), |(i, j)| hadamard16(i, 1 + j) * scale[j])
    }

    #[test]
    fn spectrum_of_orthogonal_columns() {
        // Scales 3, 1, 2: singular values 12, 4, 8 (sum 24), so the
        // normalised values are 1/2, 1/3, 1/6 in decreasing order.
        let x = orthogonal(&[3.0, 1.0, 2.0]);
        let s = CovSpectrum::of(x.view()).expect("spectrum");
        let got = s.normalised_singular(SPECTRUM_KEEP);
        let want = [0.5, 1.0 / 3.0, 1.0 / 6.0];
        assert_eq!(got.len(), 3);
        for (g, w) in got.iter().zip(want) {
            assert!((g - w).abs() < 1e-12, "{got:?}");
        }
        // Covariance eigenvalues 16 * 9/15, 16 * 4/15, 16/15; trace their sum.
        let ev = s.eigenvalues();
        assert!((ev[0] - 9.6).abs() < 1e-12 && (ev[2] - 16.0 / 15.0).abs() < 1e-12);
        assert!((s.trace() - 16.0 * 14.0 / 15.0).abs() < 1e-12);
        // keep = 2 keeps the two largest, still divided by the full sum.
        assert_eq!(s.normalised_singular(2).len(), 2);
        assert!((s.normalised_singular(2)[1] - 1.0 / 3.0).abs() < 1e-12);
    }

    #[test]
    fn spectrum_is_of_the_centred_matrix() {
        // Adding 100 to every value changes the uncentred spectrum (a huge
        // first singular value) but not the centred one.
        let x = orthogonal(&[3.0, 1.0, 2.0]);
        let a = CovSpectrum::of(x.view()).expect("spectrum");
        let b = CovSpectrum::of(x.mapv(|v| v + 100.0).view()).expect("spectrum");
        for (p, q) in a
            .normalised_singular(3)
            .iter()
            .zip(b.normalised_singular(3))
        {
            assert!((p - q).abs() < 1e-9);
        }
    }

    #[test]
    fn fewer_rows_than_columns_keeps_min_n_d_values() {
        // 3 rows x 4 columns: rows (1,0,0,0), (0,1,0,0), (0,0,0,0) (+ column
        // 3 all zero). Means (1/3, 1/3, 0, 0); the centred rank is 2 = N - 1,
        // so 3 = min(N, D) values are kept, the third 0. Row path and column
        // path agree.
        let x = array![
            [1.0f32, 0.0, 0.0, 0.0],
            [0.0, 1.0, 0.0, 0.0],
            [0.0, 0.0, 0.0, 0.0]
        ];
        let rows = CovSpectrum::compute(x.view(), 0, Side::Rows).expect("rows");
        let cols = CovSpectrum::compute(x.view(), 0, Side::Columns).expect("cols");
        assert_eq!(rows.eigenvalues().len(), 3);
        assert_eq!(cols.eigenvalues().len(), 3);
        // Centred: (2/3,-1/3), (-1/3,2/3), (-1/3,-1/3) on the first two
        // columns; C = [[1/3, -1/6], [-1/6, 1/3]] (ddof 1): eigenvalues 1/2, 1/6.
        for s in [&rows, &cols] {
            let ev = s.eigenvalues();
            assert!((ev[0] - 0.5).abs() < 1e-12 && (ev[1] - 1.0 / 6.0).abs() < 1e-12);
            assert!(ev[2].abs() < 1e-12, "{ev:?}");
        }
    }

    #[test]
    fn alpha_of_an_exact_power_law_is_its_exponent() {
        // Scales i^(-a/2) on orthogonal columns: covariance eigenvalues
        // (16/15) i^(-a), so ln(lambda_i) = ln(16/15) - a ln(i) exactly and
        // the fitted slope is -a.
        for a in [0.5f64, 1.0, 2.3] {
            let scale: Vec<f32> = (1..=12).map(|i| (i as f64).powf(-a / 2.0) as f32).collect();
            let s = CovSpectrum::of(orthogonal(&scale).view()).expect("spectrum");
            let alpha = s.alpha_req().expect("alpha");
            assert!((alpha - a).abs() < 1e-5, "a={a}: {alpha}");
        }
    }

    #[test]
    fn alpha_cuts_eigenvalues_below_a_millionth_of_the_largest() {
        // Scales 1, 1/2, 1/4, then 1e-4 (eigenvalue ratio 1e-8 < 1e-6):
        // r = 3 and the fit is over lambda = c (1, 1/4, 1/16), i = 1, 2, 3:
        // ln lambda = ln c - 2 ln 2 (0, 1, 2), against ln i = (0, ln 2, ln 3).
        let x = orthogonal(&[1.0, 0.5, 0.25, 1e-4]);
        let s = CovSpectrum::of(x.view()).expect("spectrum");
        let lx = [0.0f64, 2f64.ln(), 3f64.ln()];
        let ly = [0.0f64, -2.0 * 2f64.ln(), -4.0 * 2f64.ln()];
        let (mx, my) = (lx.iter().sum::<f64>() / 3.0, ly.iter().sum::<f64>() / 3.0);
        let sxy: f64 = lx.iter().zip(&ly).map(|(a, b)| (a - mx) * (b - my)).sum();
        let sxx: f64 = lx.iter().map(|a| (a - mx) * (a - mx)).sum();
        let want = -sxy / sxx;
        let got = s.alpha_req().expect("alpha");
        assert!((got - want).abs() < 1e-9, "{got} vs {want}");
    }

    #[test]
    fn alpha_needs_two_eigenvalues() {
        // Rank one (one scale non-zero): r = 1, None. Two rows: the centred
        // matrix has rank 1 = N - 1, so r is capped at 1 whatever D is.
        let x = orthogonal(&[2.0, 0.0, 0.0]);
        assert_eq!(CovSpectrum::of(x.view()).expect("s").alpha_req(), None);
        let two = array![[1.0f32, 5.0, 2.0], [3.0, -1.0, 0.0]];
        assert_eq!(CovSpectrum::of(two.view()).expect("s").alpha_req(), None);
        let zero = Array2::<f32>::zeros((5, 3));
        let z = CovSpectrum::of(zero.view()).expect("s");
        assert_eq!(z.alpha_req(), None);
        assert!(z.normalised_singular(4).is_empty());
        assert!(z.gauss_entropy_bits().is_nan());
    }

    #[test]
    fn working_set_follows_the_smaller_side() {
        // N >= D: a 512 x 512 f64 Gram per thread and the sum (2 MiB each);
        // N < D: the 359 x 359 row Gram and the 359 x 2048 f64 copy, far
        // less than a 2048 x 2048 Gram (32 MiB).
        assert!(working_set_bytes(10_000, 512, 2) >= 3 * 512 * 512 * 8);
        let wide = working_set_bytes(359, 2048, 2);
        assert!((359 * 2048 * 8..2048 * 2048 * 8).contains(&wide), "{wide}");
    }

    #[test]
    fn degenerate_inputs_have_no_spectrum() {
        assert!(CovSpectrum::of(array![[1.0f32, 2.0]].view()).is_none());
        assert!(CovSpectrum::of(Array2::<f32>::zeros((4, 0)).view()).is_none());
        assert!(CovSpectrum::of(array![[f32::NAN, 1.0], [0.0, 1.0]].view()).is_none());
    }

    #[test]
    fn gauss_entropy_from_the_spectrum_matches_the_estimator() {
        // Orthogonal scales 3, 1, 2 plus a zero column (D = 4): eigenvalues
        // 16/15 (9, 4, 1, 0), trace 16/15 * 14, delta = 1e-4 * trace / 4.
        let x = orthogonal(&[3.0, 1.0, 2.0, 0.0]);
        let s = CovSpectrum::of(x.view()).expect("spectrum");
        let u = 16.0 / 15.0;
        let delta = 1e-4 * u * 14.0 / 4.0;
        let tpe = 2.0 * std::f64::consts::PI * std::f64::consts::E;
        let want = 0.5
            * [9.0 * u, 4.0 * u, u, 0.0]
                .iter()
                .map(|l| (tpe * (l + delta)).log2())
                .sum::<f64>();
        assert!((s.gauss_entropy_bits() - want).abs() < 1e-9);
        // Wide (N < D, row path): the unstored zeros carry the ridge.
        let wide = Array2::from_shape_fn((16, 40), |(i, j)| hadamard16(i, 1 + j % 15));
        let s = CovSpectrum::of(wide.view()).expect("spectrum");
        let cols = CovSpectrum::compute(wide.view(), 0, Side::Columns).expect("cols");
        assert!((s.gauss_entropy_bits() - cols.gauss_entropy_bits()).abs() < 1e-9);
    }

    #[test]
    fn axes_have_a_fixed_sign_and_agree_between_paths() {
        // Points on the line t * (3, -4) / 5 (+ tiny orthogonal spread): the
        // first axis is +-(0.6, -0.8); the sign rule makes the largest
        // coordinate (-0.8) positive: (-0.6, 0.8).
        let x = array![
            [3.0f32, -4.0],
            [-3.0, 4.0],
            [6.0, -8.0],
            [0.8, 0.6],
            [-0.8, -0.6]
        ];
        let s = CovSpectrum::with_axes(x.view(), 2).expect("spectrum");
        let a = &s.axes()[0];
        assert!(
            (a[0] + 0.6).abs() < 1e-9 && (a[1] - 0.8).abs() < 1e-9,
            "{a:?}"
        );
        let wide = Array2::from_shape_fn((4, 6), |(i, j)| ((i * 7 + j * 3) % 5) as f32 - j as f32);
        let r = CovSpectrum::compute(wide.view(), 2, Side::Rows).expect("rows");
        let c = CovSpectrum::compute(wide.view(), 2, Side::Columns).expect("cols");
        for (p, q) in r.axes().iter().zip(c.axes()) {
            for (u, v) in p.iter().zip(q) {
                assert!((u - v).abs() < 1e-9, "{p:?} vs {q:?}");
            }
        }
    }

    #[test]
    fn sign_rule_flips_a_negative_largest_coordinate() {
        let mut v = vec![0.3, -0.9, 0.3];
        fix_sign(&mut v);
        assert_eq!(v, vec![-0.3, 0.9, -0.3]);
        // Ties: the first of the equal largest decides.
        let mut t = vec![-0.5, 0.5];
        fix_sign(&mut t);
        assert_eq!(t, vec![0.5, -0.5]);
    }
}
