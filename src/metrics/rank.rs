//! RankMe: the effective rank of the embedding matrix (Garrido et al., 2023).

use super::linalg::{gram_lower, sym_eigenvalues_lower};
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
    // Ascending order: the largest min(n, d) are at the end.
    let s: Vec<f64> = eig[d - n.min(d)..]
        .iter()
        .map(|&l| l.max(0.0).sqrt())
        .collect();
    rankme_from_singular_values(&s)
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

    #[test]
    fn degenerate_inputs_are_nan() {
        assert!(rankme(Array2::<f32>::zeros((3, 2)).view()).is_nan());
        assert!(rankme(Array2::<f32>::zeros((0, 2)).view()).is_nan());
        assert!(rankme(array![[f32::NAN, 1.0]].view()).is_nan());
    }
}
