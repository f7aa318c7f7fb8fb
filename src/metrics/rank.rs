//! RankMe: the effective rank of the embedding matrix (Garrido et al., 2023).

use super::linalg::{gram_lower, sym_eigenvalues_lower};
use super::spectrum::CovSpectrum;
use ndarray::ArrayView2;

/// Added to every normalised singular value, as in the RankMe paper.
const RANKME_EPS: f64 = 1e-7;

/// exp(entropy of the normalised singular values (+1e-7)) of the uncentred matrix.
///
/// The singular values of the N x D matrix `x` are the square roots of the
/// eigenvalues of `x^T x` (computed in f64, negative round-off clamped to 0);
/// only the `min(N, D)` largest are used, as an SVD would return. With
/// `p_i = s_i / sum(s) + 1e-7`, RankMe is `exp(-sum p_i ln p_i)`.
///
/// NaN for an empty matrix, an all-zero matrix (no direction to normalise
/// by), non-finite values, or if the eigensolver fails.
pub fn rankme(x: ArrayView2<f32>) -> f64 {
    let (n, d) = x.dim();
    if n == 0 || d == 0 {
        return f64::NAN;
    }
    rankme_of_gram(&gram_lower(x, None), n, d)
}

/// [`rankme`] from the lower triangle of `x^T x` (`gram_lower(x, None)`)
/// of an `n` x `d` matrix.
pub fn rankme_of_gram(gram: &faer::Mat<f64>, n: usize, d: usize) -> f64 {
    if n == 0 || d == 0 || gram.nrows() != d {
        return f64::NAN;
    }
    let Some(eig) = sym_eigenvalues_lower(gram) else {
        return f64::NAN;
    };
    rankme_of_eigenvalues(&eig, n, d)
}

/// [`rankme`] from the `d` eigenvalues of `x^T x`, ascending.
pub fn rankme_of_eigenvalues(ascending: &[f64], n: usize, d: usize) -> f64 {
    if n == 0 || d == 0 || ascending.len() != d {
        return f64::NAN;
    }
    // Ascending order: the largest min(n, d) are at the end.
    let s: Vec<f64> = ascending[d - n.min(d)..]
        .iter()
        .map(|&l| l.max(0.0).sqrt())
        .collect();
    rankme_from_singular_values(&s)
}

/// [`rankme`] and [`CovSpectrum::with_axes`]`(x, k)` from `gram`, the
/// uncentred Gram of `x` (`gram_lower(x, None)`), with one D x D
/// eigendecomposition: the centred one (with vectors), whose eigenvalues
/// and the means in its eigenbasis give those of `x^T x`
/// ([`CovSpectrum::uncentred_eigenvalues`]).
///
/// Where centring by subtraction falls back (N < D, means that dwarf the
/// spread: see [`CovSpectrum::try_with_axes_from_uncentred`]), RankMe is
/// [`rankme_of_gram`] of `gram` and the spectrum is computed from the
/// centred data, as two decompositions; where the centred decomposition
/// fails, RankMe is [`rankme`] of `x`.
pub fn rankme_and_spectrum(
    x: ArrayView2<f32>,
    gram: faer::Mat<f64>,
    k: usize,
) -> (f64, Option<CovSpectrum>) {
    let (n, d) = x.dim();
    match CovSpectrum::try_with_axes_from_uncentred(x, gram, k) {
        Ok(Some(cov)) => {
            let rankme = cov
                .uncentred_eigenvalues()
                .map_or_else(|| rankme(x), |e| rankme_of_eigenvalues(&e, n, d));
            (rankme, Some(cov))
        }
        Ok(None) => (rankme(x), None),
        Err(gram) => {
            let rankme = rankme_of_gram(&gram, n, d);
            drop(gram);
            (rankme, CovSpectrum::with_axes(x, k))
        }
    }
}

/// RankMe of given singular values; NaN when they sum to zero.
fn rankme_from_singular_values(s: &[f64]) -> f64 {
    let total: f64 = s.iter().sum();
    if total.is_nan() || total <= 0.0 {
        return f64::NAN;
    }
    let h: f64 = s
        .iter()
        .map(|&v| {
            let p = v / total + RANKME_EPS;
            -p * p.ln()
        })
        .sum();
    h.exp()
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{array, Array2};

    /// RankMe of singular values in closed form, for the expected values below.
    fn by_hand(s: &[f64]) -> f64 {
        let t: f64 = s.iter().sum();
        s.iter()
            .map(|v| {
                let p = v / t + 1e-7;
                -p * p.ln()
            })
            .sum::<f64>()
            .exp()
    }

    #[test]
    fn orthogonal_columns_of_known_norms() {
        // Columns (3,0,0,0), (0,4,0,0), (0,0,0,0): orthogonal, so the
        // singular values are the column norms 4, 3, 0 (sum 7).
        // p = (4/7, 3/7, 0) + 1e-7; H = -sum p ln p
        //   = 4/7 ln(7/4) + 3/7 ln(7/3) + (1e-7 terms) ~= 0.683 nats.
        let x = array![
            [3.0f32, 0.0, 0.0],
            [0.0, 4.0, 0.0],
            [0.0, 0.0, 0.0],
            [0.0, 0.0, 0.0]
        ];
        let got = rankme(x.view());
        let want = by_hand(&[4.0, 3.0, 0.0]);
        let plain =
            ((4.0f64 / 7.0) * (7.0f64 / 4.0).ln() + (3.0f64 / 7.0) * (7.0f64 / 3.0).ln()).exp();
        assert!((got - want).abs() < 1e-9, "{got} vs {want}");
        assert!((got - plain).abs() < 1e-5, "{got} vs {plain}");
    }

    #[test]
    fn equal_norms_give_the_dimension() {
        // 2 * identity (4 x 4): four equal singular values, p = 1/4 each,
        // H = ln 4, RankMe = 4 (up to the 1e-7 offset).
        let x = Array2::<f32>::eye(4) * 2.0;
        assert!((rankme(x.view()) - 4.0).abs() < 1e-5);
    }

    #[test]
    fn rank_one_matrix_is_about_one() {
        // Every row is a multiple of (1, 2): one non-zero singular value.
        let x = array![[1.0f32, 2.0], [2.0, 4.0], [-1.0, -2.0]];
        let got = rankme(x.view());
        assert!((got - 1.0).abs() < 1e-5, "{got}");
    }

    #[test]
    fn fewer_rows_than_columns_uses_min_n_d_values() {
        // One row (3, 4): one singular value, 5. p = 1 + 1e-7, so RankMe is
        // exp(-(1+1e-7) ln(1+1e-7)) ~= 1 - 1e-7; the three zero eigenvalues of
        // X^T X must not add p = 1e-7 terms.
        let x = array![[3.0f32, 4.0, 0.0, 0.0]];
        let want = by_hand(&[5.0]);
        assert!((rankme(x.view()) - want).abs() < 1e-12);
    }

    /// RankMe through [`rankme_and_spectrum`] and through a decomposition of
    /// the explicit uncentred Gram; whether the secular path was taken (then
    /// its eigenvalues are checked against the Gram's, to 1e-12 of the
    /// largest); and that the spectrum is the one `with_axes_from_uncentred`
    /// gives.
    fn both_ways(x: &Array2<f32>) -> (f64, f64, bool) {
        let (n, d) = x.dim();
        let g = gram_lower(x.view(), None);
        let want = rankme_of_gram(&g, n, d);
        let direct = sym_eigenvalues_lower(&g).expect("converges");
        let plain = CovSpectrum::with_axes_from_uncentred(x.view(), g.clone(), 2);
        let (got, cov) = rankme_and_spectrum(x.view(), g, 2);
        assert_eq!(
            cov.as_ref().map(|c| c.eigenvalues().to_vec()),
            plain.as_ref().map(|c| c.eigenvalues().to_vec())
        );
        let secular = cov.as_ref().and_then(CovSpectrum::uncentred_eigenvalues);
        if let Some(e) = &secular {
            let top = direct[d - 1];
            for (a, b) in e.iter().zip(&direct) {
                assert!((a - b).abs() <= 1e-12 * top, "{a} vs {b} (top {top})");
            }
        }
        (got, want, secular.is_some())
    }

    /// RankMe of the singular values of `x` itself (faer's SVD in f64): the
    /// exact value, to which a Gram-based one is close only to
    /// sqrt(eps) x the largest singular value per zero singular value.
    fn by_svd(x: &Array2<f32>) -> f64 {
        let xf = faer::Mat::from_fn(x.nrows(), x.ncols(), |i, j| f64::from(x[(i, j)]));
        rankme_from_singular_values(&xf.singular_values().expect("converges"))
    }

    fn normal(rng: &mut rand_chacha::ChaCha8Rng) -> f32 {
        use rand::Rng;
        rng.sample(rand_distr::StandardNormal)
    }

    #[test]
    fn rankme_from_the_centred_decomposition_matches_the_gram() {
        use rand::SeedableRng;
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(21);
        let random = Array2::from_shape_simple_fn((400, 48), || normal(&mut rng));
        // Means of several sizes, one far from 0 against its spread (300
        // against 1, still under the 1e4 standard deviations that centring
        // by subtraction allows).
        let offset = Array2::from_shape_fn((400, 48), |(i, j)| {
            let spread = if j % 5 == 0 { 0.1 } else { 1.0 };
            random[(i, j)] * spread + (j as f32 - 20.0) * 0.7 + if j == 3 { 300.0 } else { 0.0 }
        });
        // Rank 6 (42 zero singular values), with a mean.
        let left = Array2::from_shape_simple_fn((400, 6), || normal(&mut rng));
        let right = Array2::from_shape_simple_fn((6, 48), || normal(&mut rng));
        let low = left.dot(&right).mapv(|v| v + 2.0);
        // N just above D with collinear columns (each of the last 20 a
        // multiple of one of the first 10).
        let mut thin = Array2::from_shape_simple_fn((50, 48), || normal(&mut rng) + 1.5);
        for j in 28..48 {
            let src = thin.column(j % 10).to_owned();
            thin.column_mut(j).assign(&(src * (j as f32 / 7.0)));
        }
        // A constant (zero) column, and a wider matrix.
        let mut zero_col = offset.clone();
        zero_col.column_mut(7).fill(0.0);
        let wide = Array2::from_shape_simple_fn((3000, 256), || normal(&mut rng) * 0.5 + 0.2);
        for (name, x, deficient) in [
            ("random", &random, false),
            ("offset", &offset, false),
            ("rank 6", &low, true),
            ("collinear", &thin, true),
            ("zero column", &zero_col, false),
            ("3000 x 256", &wide, false),
        ] {
            let (got, want, secular) = both_ways(x);
            assert!(secular, "{name}: expected the secular path");
            let rel = (got - want).abs() / want;
            if !deficient {
                assert!(rel <= 1e-10, "{name}: {got} vs {want} ({rel:e})");
                continue;
            }
            // Zero singular values come out of either Gram as sqrt(noise of
            // eps x the largest eigenvalue), different noise in each: they
            // agree only to ~1e-8 here (the eigenvalues themselves to
            // 1e-12, checked above), and neither is farther from the
            // exact SVD value than that: the secular path is no worse.
            let exact = by_svd(x);
            assert!(rel <= 1e-6, "{name}: {got} vs {want} ({rel:e})");
            assert!(
                (got - exact).abs() <= 2.0 * (want - exact).abs() + 1e-12 * exact,
                "{name}: {got}, Gram {want}, SVD {exact}"
            );
        }
    }

    #[test]
    fn rankme_falls_back_to_its_own_decomposition() {
        // A constant non-zero column: mean^2 > 1e8 x variance (0), so the
        // Gram is not centred by subtraction; RankMe is then that Gram's, as
        // it was, bit for bit.
        let mut x = Array2::from_shape_fn((60, 8), |(i, j)| ((i * 7 + j * 3) % 11) as f32 - 5.0);
        x.column_mut(2).fill(4.0);
        let (got, want, secular) = both_ways(&x);
        assert!(!secular);
        assert_eq!(got.to_bits(), want.to_bits());
        // Fewer rows than columns: no D x D path either.
        let wide = Array2::from_shape_fn((5, 8), |(i, j)| ((i * 5 + j) % 7) as f32);
        let g = gram_lower(wide.view(), None);
        let (got, cov) = rankme_and_spectrum(wide.view(), g, 2);
        assert_eq!(got.to_bits(), rankme(wide.view()).to_bits());
        assert!(cov.is_some_and(|c| c.uncentred_eigenvalues().is_none()));
    }

    #[test]
    fn degenerate_inputs_are_nan() {
        assert!(rankme(Array2::<f32>::zeros((3, 2)).view()).is_nan());
        assert!(rankme(Array2::<f32>::zeros((0, 2)).view()).is_nan());
        assert!(rankme(array![[f32::NAN, 1.0]].view()).is_nan());
    }
}
