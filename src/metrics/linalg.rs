//! Gram matrices and symmetric eigendecompositions, shared by RankMe, the
//! covariance spectrum (spectrum, alpha-ReQ, the Gaussian entropy) and the
//! PCA map.
//!
//! Both metrics look at the small end of the spectrum (RankMe through the
//! square roots of the eigenvalues, the Gaussian entropy through their
//! logarithms), so the D x D Gram matrix is accumulated in f64: an f32 Gram
//! would put rounding noise of about 1e-7 of the largest eigenvalue into
//! every direction and make a collapsed embedding look full-rank.

use faer::linalg::matmul::triangular::{self, BlockStructure};
use faer::{Accum, Mat, MatRef, Par, Side};
use ndarray::{ArrayView2, Axis};
use rayon::prelude::*;

/// Rows converted to f64 at a time (128 x 512 f64 is 512 KiB, cache-sized;
/// 64 to 1024 rows measured within 15% of each other).
pub(crate) const ROW_BLOCK: usize = 128;

/// Column means of `x`, accumulated in f64 (one contiguous part of the rows
/// per thread, parts added in order: deterministic for a thread count).
pub fn column_means(x: ArrayView2<f32>) -> Vec<f64> {
    let (n, d) = x.dim();
    let sums: Vec<Vec<f64>> = x
        .axis_chunks_iter(Axis(0), rows_per_thread(n))
        .into_par_iter()
        .map(|part| {
            let mut s = vec![0.0f64; d];
            for row in part.rows() {
                for (acc, &v) in s.iter_mut().zip(row.iter()) {
                    *acc += f64::from(v);
                }
            }
            s
        })
        .collect();
    let inv = 1.0 / n.max(1) as f64;
    (0..d)
        .map(|j| sums.iter().map(|s| s[j]).sum::<f64>() * inv)
        .collect()
}

/// Rows in each thread's contiguous part of an `n`-row matrix.
fn rows_per_thread(n: usize) -> usize {
    n.div_ceil(rayon::current_num_threads().max(1)).max(1)
}

/// `(X - 1 m^T)^T (X - 1 m^T)` in f64, where `m` is `center` or zero.
///
/// Only the lower triangle (with the diagonal) is filled; read it with
/// [`Side::Lower`]. `center`, when given, must have one entry per column.
///
/// The rows are split into one contiguous part per rayon thread, each part
/// accumulates its own Gram matrix, and the parts are added in order, so the
/// result is the same for a given thread count.
pub fn gram_lower(x: ArrayView2<f32>, center: Option<&[f64]>) -> Mat<f64> {
    let (n, d) = x.dim();
    let parts: Vec<Mat<f64>> = x
        .axis_chunks_iter(Axis(0), rows_per_thread(n))
        .into_par_iter()
        .map(|part| gram_lower_seq(part, center))
        .collect();
    let mut g = Mat::<f64>::zeros(d, d);
    for p in &parts {
        g += p;
    }
    g
}

/// One thread's share of [`gram_lower`]: rows converted to f64 a block at a
/// time, each block's triangular product added into the result.
fn gram_lower_seq(x: ArrayView2<f32>, center: Option<&[f64]>) -> Mat<f64> {
    let d = x.ncols();
    let mut g = Mat::<f64>::zeros(d, d);
    let mut buf: Vec<f64> = Vec::with_capacity(ROW_BLOCK * d);
    for block in x.axis_chunks_iter(Axis(0), ROW_BLOCK) {
        buf.clear();
        for row in block.rows() {
            match center {
                Some(m) => buf.extend(row.iter().zip(m).map(|(&v, &c)| f64::from(v) - c)),
                None => buf.extend(row.iter().map(|&v| f64::from(v))),
            }
        }
        let xb = MatRef::from_row_major_slice(&buf, block.nrows(), d);
        triangular::matmul(
            g.as_mut(),
            BlockStructure::TriangularLower,
            Accum::Add,
            xb.transpose(),
            BlockStructure::Rectangular,
            xb,
            BlockStructure::Rectangular,
            1.0,
            Par::Seq,
        );
    }
    g
}

/// `(X - 1 m^T)(X - 1 m^T)^T` (N x N) in f64, where `m` is `center` or zero:
/// the row Gram matrix, whose non-zero eigenvalues are those of
/// [`gram_lower`]'s, cheaper when N < D (N^2 D instead of N D^2 products and
/// an N x N eigenproblem). Only the lower triangle is filled.
///
/// The centred rows are converted to f64 first (N x D x 8 bytes, small when
/// N < D); faer's product splits the work over the rayon threads with a
/// fixed partition, so the result is the same for a given thread count.
pub fn row_gram_lower(x: ArrayView2<f32>, center: Option<&[f64]>) -> Mat<f64> {
    let (n, d) = x.dim();
    let c = centred_f64(x, center);
    let mut g = Mat::<f64>::zeros(n, n);
    if d > 0 {
        triangular::matmul(
            g.as_mut(),
            BlockStructure::TriangularLower,
            Accum::Replace,
            c.as_ref(),
            BlockStructure::Rectangular,
            c.transpose(),
            BlockStructure::Rectangular,
            1.0,
            Par::rayon(0),
        );
    }
    g
}

/// `x - 1 m^T` (or `x`) as an f64 matrix.
pub(crate) fn centred_f64(x: ArrayView2<f32>, center: Option<&[f64]>) -> Mat<f64> {
    let (n, d) = x.dim();
    Mat::from_fn(n, d, |i, j| {
        f64::from(x[(i, j)]) - center.map_or(0.0, |m| m[j])
    })
}

/// Eigenvalues (ascending) and eigenvectors (the matching columns) of the
/// symmetric matrix whose lower triangle is stored in `a`. `None` as
/// [`sym_eigenvalues_lower`].
pub fn sym_eigen_lower(a: &Mat<f64>) -> Option<(Vec<f64>, Mat<f64>)> {
    if !lower_is_finite(a) {
        return None;
    }
    let evd = a.self_adjoint_eigen(Side::Lower).ok()?;
    let values: Vec<f64> = evd.S().column_vector().iter().copied().collect();
    Some((values, evd.U().to_owned()))
}

fn lower_is_finite(a: &Mat<f64>) -> bool {
    (0..a.ncols()).all(|j| (j..a.nrows()).all(|i| a[(i, j)].is_finite()))
}

/// Eigenvalues (ascending) of the symmetric matrix whose lower triangle is
/// stored in `a`. `None` when the eigensolver does not converge or the matrix
/// holds non-finite values.
pub fn sym_eigenvalues_lower(a: &Mat<f64>) -> Option<Vec<f64>> {
    if !lower_is_finite(a) {
        return None;
    }
    a.self_adjoint_eigenvalues(Side::Lower).ok()
}

/// Eigenvalues (ascending) of `diag(d) + rho z z^T`, a symmetric rank-one
/// update of a diagonal matrix (`rho >= 0`), from the secular equation
/// `f(t) = 1 + rho sum_i z_i^2 / (d_i - t) = 0` instead of a dense
/// eigendecomposition: O(D^2) work (a few evaluations of `f` per root) and
/// O(D) memory. `None` when the lengths differ or a value is not finite
/// (or `rho` is negative).
///
/// With `w = sqrt(rho) z`, components are deflated first as LAPACK's
/// `dlaed2` does (Bunch, Nielsen and Sorensen, 1978), each changing the
/// matrix by at most `tol = 8 eps max(max |d_i|, |w|^2)` in norm:
/// - `|w_i| |w| <= tol`: `w_i` is dropped and `d_i` is an eigenvalue;
/// - two poles `d_p <= d_q` (consecutive among those kept) close enough that
///   the Givens rotation putting `(w_p, w_q)` into `(0, hypot(w_p, w_q))`
///   leaves an off-diagonal `|(d_q - d_p) c s| <= tol`: the rotated `p` is an
///   eigenvalue, and `q` carries the whole weight. A cluster of equal
///   eigenvalues so ends with one weighted pole, the others eigenvalues.
///
/// The kept poles are strictly increasing with non-zero weights, so `f`
/// increases from -inf to +inf between consecutive poles: exactly one root
/// in each gap, and the largest in `(d_max, d_max + |w|^2]` (there
/// `f >= 0`). [`secular_root`] finds each, in parallel.
pub fn rank_one_update_eigenvalues(d: &[f64], z: &[f64], rho: f64) -> Option<Vec<f64>> {
    if d.len() != z.len() || !(rho >= 0.0 && rho.is_finite()) {
        return None;
    }
    if !d.iter().chain(z).all(|v| v.is_finite()) {
        return None;
    }
    let sr = rho.sqrt();
    let mut order: Vec<usize> = (0..d.len()).collect();
    order.sort_by(|&a, &b| d[a].total_cmp(&d[b]));
    let wnorm2: f64 = z.iter().map(|&v| (sr * v) * (sr * v)).sum();
    if !wnorm2.is_finite() {
        return None;
    }
    let dmax = d.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    let tol = 8.0 * f64::EPSILON * dmax.max(wnorm2);
    let wnorm = wnorm2.sqrt();

    let mut values: Vec<f64> = Vec::with_capacity(d.len());
    // (pole, weight) kept for the secular equation, poles non-decreasing.
    let mut kept: Vec<(f64, f64)> = Vec::with_capacity(d.len());
    for &i in &order {
        let (di, wi) = (d[i], sr * z[i]);
        if wi.abs() * wnorm <= tol {
            values.push(di);
            continue;
        }
        if let Some(&(dp, wp)) = kept.last() {
            let r = wp.hypot(wi);
            let (c, s) = (wi / r, -wp / r);
            if ((di - dp) * c * s).abs() <= tol {
                values.push(dp * c * c + di * s * s);
                if let Some(last) = kept.last_mut() {
                    *last = (dp * s * s + di * c * c, r);
                }
                continue;
            }
        }
        kept.push((di, wi));
    }
    let poles: Vec<f64> = kept.iter().map(|p| p.0).collect();
    let w2: Vec<f64> = kept.iter().map(|p| p.1 * p.1).collect();
    let kept_norm2: f64 = w2.iter().sum();
    let roots: Vec<f64> = (0..poles.len())
        .into_par_iter()
        .map(|k| secular_root(&poles, &w2, k, kept_norm2))
        .collect();
    values.extend(roots);
    values.sort_by(f64::total_cmp);
    Some(values)
}

/// Iterations of [`secular_root`] before it takes what it has (each either
/// halves the bracket or is a step of a method that converges quadratically,
/// so a handful suffice; this only bounds a pathological case).
const SECULAR_MAX_ITER: usize = 200;

/// The root of `1 + sum_j w2_j / (poles_j - t)` in `(poles[k], poles[k+1])`
/// (or `(poles[k], poles[k] + norm2]` for the last `k`), where `poles` is
/// non-decreasing and every `w2_j > 0`.
///
/// `t` is carried as `origin + tau`, `origin` the pole nearer the root
/// (decided by the sign of `f` at the middle of the gap), so the distances
/// `(poles_j - origin) - tau` keep their relative accuracy near that pole.
/// Each step solves the Bunch-Nielsen-Sorensen model (the poles below and
/// those above each replaced by one pole at the gap's end, matched in value
/// and slope at `t`); a step that leaves the bracket `f(a) < 0 <= f(b)` is
/// replaced by bisection. It stops when the step is below rounding of `tau`.
fn secular_root(poles: &[f64], w2: &[f64], k: usize, norm2: f64) -> f64 {
    let m = poles.len();
    let lo = poles[k];
    let upper = (k + 1 < m).then(|| poles[k + 1]);
    // f at origin + tau, with psi (poles 0..=k) and phi (the rest) apart
    // and their derivatives.
    let eval = |origin: f64, tau: f64| {
        let (mut psi, mut dpsi, mut phi, mut dphi) = (0.0, 0.0, 0.0, 0.0);
        for (j, (&p, &w)) in poles.iter().zip(w2).enumerate() {
            let delta = (p - origin) - tau;
            let term = w / delta;
            if j <= k {
                psi += term;
                dpsi += term / delta;
            } else {
                phi += term;
                dphi += term / delta;
            }
        }
        (1.0 + psi + phi, psi, dpsi, phi, dphi)
    };
    // The origin and the bracket (a, b) in tau.
    let (origin, mut a, mut b) = match upper {
        None => (lo, 0.0, norm2),
        Some(hi) => {
            let half = 0.5 * (hi - lo);
            if half <= 0.0 {
                return lo;
            }
            if eval(lo, half).0 >= 0.0 {
                (lo, 0.0, half)
            } else {
                (hi, -half, 0.0)
            }
        }
    };
    let mut tau = 0.5 * (a + b);
    for _ in 0..SECULAR_MAX_ITER {
        let (f, psi, dpsi, phi, dphi) = eval(origin, tau);
        // |f| within its own rounding (each term's, and tau's through the
        // slope): no step can do better.
        let noise = 8.0 * f64::EPSILON * (1.0 + phi - psi + tau.abs() * (dpsi + dphi));
        if f.abs() <= noise {
            break;
        }
        if f < 0.0 {
            a = tau;
        } else {
            b = tau;
        }
        // Distances from t to the gap's poles.
        let dl = (lo - origin) - tau;
        let step = match upper {
            // c + p1 / (dl - s) = 0 with p1 = dpsi dl^2, c = 1 + psi - dpsi dl.
            None => dl + dpsi * dl * dl / (1.0 + psi - dpsi * dl),
            Some(hi) => {
                let du = (hi - origin) - tau;
                model_step(
                    1.0 + psi - dpsi * dl + phi - dphi * du,
                    dpsi * dl * dl,
                    dphi * du * du,
                    dl,
                    du,
                )
            }
        };
        let next = tau + step;
        let next = if next.is_finite() && next > a && next < b {
            next
        } else {
            0.5 * (a + b)
        };
        let done = (next - tau).abs() <= 2.0 * f64::EPSILON * next.abs() || next == a || next == b;
        tau = next;
        if done {
            break;
        }
    }
    origin + tau
}

/// The root `s` in `(dl, du)` (`dl < 0 < du`) of
/// `c + p1 / (dl - s) + q1 / (du - s) = 0` (`p1, q1 >= 0`), which is
/// `c s^2 - (c (dl + du) + p1 + q1) s + (c dl du + p1 du + q1 dl) = 0`; of the
/// two roots of the quadratic, computed without cancellation, the one
/// inside. NaN (the caller bisects) when neither is.
fn model_step(c: f64, p1: f64, q1: f64, dl: f64, du: f64) -> f64 {
    let bq = c * (dl + du) + p1 + q1;
    let cq = c * dl * du + p1 * du + q1 * dl;
    let sq = (bq * bq - 4.0 * c * cq).max(0.0).sqrt();
    let q = 0.5 * (bq + if bq >= 0.0 { sq } else { -sq });
    [cq / q, q / c]
        .into_iter()
        .find(|s| s.is_finite() && *s > dl && *s < du)
        .unwrap_or(f64::NAN)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    /// Eigenvalues of `diag(d) + rho z z^T` formed explicitly (ascending).
    fn direct(d: &[f64], z: &[f64], rho: f64) -> Vec<f64> {
        let m = d.len();
        let a = Mat::from_fn(m, m, |i, j| {
            (if i == j { d[i] } else { 0.0 }) + rho * z[i] * z[j]
        });
        sym_eigenvalues_lower(&a).expect("converges")
    }

    /// The secular solution equals the dense one to 1e-12 of the largest
    /// eigenvalue, interlaces with the sorted `d` (mu_i in [d_i, d_i+1], the
    /// largest at least d_max) and keeps the trace.
    fn check_update(d: &[f64], z: &[f64], rho: f64, what: &str) {
        let got = rank_one_update_eigenvalues(d, z, rho).expect("finite input");
        let want = direct(d, z, rho);
        assert_eq!(got.len(), want.len(), "{what}");
        let top = want.iter().fold(0.0f64, |m, v| m.max(v.abs()));
        let tol = 1e-12 * top;
        for (i, (g, w)) in got.iter().zip(&want).enumerate() {
            assert!(
                (g - w).abs() <= tol,
                "{what}: eigenvalue {i}: {g} vs {w} (top {top})"
            );
        }
        let mut sorted = d.to_vec();
        sorted.sort_by(f64::total_cmp);
        for (i, g) in got.iter().enumerate() {
            let above = sorted.get(i + 1).copied().unwrap_or(f64::INFINITY);
            assert!(
                *g >= sorted[i] - tol && *g <= above + tol,
                "{what}: {i} {g} not interlaced"
            );
        }
        let trace: f64 = d.iter().sum::<f64>() + rho * z.iter().map(|v| v * v).sum::<f64>();
        let sum: f64 = got.iter().sum();
        assert!(
            (sum - trace).abs() <= 1e-12 * top * d.len() as f64,
            "{what}: trace {sum} vs {trace}"
        );
    }

    fn normals(rng: &mut rand_chacha::ChaCha8Rng, m: usize) -> Vec<f64> {
        use rand::Rng;
        (0..m)
            .map(|_| rng.sample(rand_distr::StandardNormal))
            .collect()
    }

    #[test]
    fn rank_one_update_of_a_two_by_two() {
        // diag(1, 2) + (1, 1)(1, 1)^T = [[2, 1], [1, 3]]: (5 -+ sqrt 5) / 2.
        let got = rank_one_update_eigenvalues(&[2.0, 1.0], &[1.0, 1.0], 1.0).expect("finite");
        let r5 = 5f64.sqrt();
        assert!((got[0] - (5.0 - r5) / 2.0).abs() < 1e-15, "{got:?}");
        assert!((got[1] - (5.0 + r5) / 2.0).abs() < 1e-15, "{got:?}");
        assert!(rank_one_update_eigenvalues(&[1.0], &[1.0, 2.0], 1.0).is_none());
        assert!(rank_one_update_eigenvalues(&[f64::NAN], &[1.0], 1.0).is_none());
        assert!(rank_one_update_eigenvalues(&[1.0], &[1.0], -1.0).is_none());
    }

    #[test]
    fn rank_one_update_of_random_values() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
        for m in [1, 2, 3, 7, 60, 300] {
            for rho in [1e-3, 1.0, 50.0] {
                // Unsorted, as the function sorts them itself.
                let d: Vec<f64> = (0..m).map(|_| rng.gen_range(0.0..10.0)).collect();
                let z = normals(&mut rng, m);
                check_update(&d, &z, rho, &format!("m={m} rho={rho}"));
            }
        }
        // A spread over many orders of magnitude (a decaying spectrum).
        let d: Vec<f64> = (0..200).map(|i| 10f64.powf(-(i as f64) / 20.0)).collect();
        let z = normals(&mut rng, 200);
        check_update(&d, &z, 3.0, "decaying");
    }

    #[test]
    fn rank_one_update_with_exact_zeros_in_z() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(5);
        let d: Vec<f64> = (0..80).map(|_| rng.gen_range(-1.0..4.0)).collect();
        let mut z = normals(&mut rng, 80);
        for v in z.iter_mut().step_by(3) {
            *v = 0.0;
        }
        check_update(&d, &z, 2.0, "every third z zero");
        // One weight only, and none: d itself.
        let mut one = vec![0.0; 80];
        one[17] = 1.5;
        check_update(&d, &one, 2.0, "one weight");
        let got = rank_one_update_eigenvalues(&d, &[0.0; 80], 2.0).expect("finite");
        let mut sorted = d.clone();
        sorted.sort_by(f64::total_cmp);
        assert_eq!(got, sorted);
    }

    #[test]
    fn rank_one_update_with_repeated_values() {
        use rand::SeedableRng;
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
        // Clusters of equal eigenvalues, each with non-zero weights: each
        // cluster of c keeps c - 1 eigenvalues exactly and moves one.
        let mut d = Vec::new();
        for (v, c) in [(0.5, 3), (2.0, 2), (3.0, 4), (7.0, 1), (9.0, 6)] {
            d.extend(std::iter::repeat_n(v, c));
        }
        let z = normals(&mut rng, d.len());
        check_update(&d, &z, 1.0, "clusters");
        let got = rank_one_update_eigenvalues(&d, &z, 1.0).expect("finite");
        let at = |v: f64| got.iter().filter(|g| (*g - v).abs() <= 1e-12 * 9.0).count();
        assert!(at(0.5) >= 2 && at(3.0) >= 3 && at(9.0) >= 5, "{got:?}");
        // Some weights in a cluster zero; near-equal (not equal) values.
        let mut z2 = z.clone();
        z2[0] = 0.0;
        z2[6] = 0.0;
        check_update(&d, &z2, 1.0, "clusters, some weights zero");
        let near: Vec<f64> = d
            .iter()
            .enumerate()
            .map(|(i, v)| v * (1.0 + 1e-15 * i as f64))
            .collect();
        check_update(&near, &z, 1.0, "near-equal clusters");
        let near: Vec<f64> = d
            .iter()
            .enumerate()
            .map(|(i, v)| v * (1.0 + 1e-9 * i as f64))
            .collect();
        check_update(&near, &z, 1.0, "close clusters");
        // All equal.
        check_update(&[4.0; 50], &normals(&mut rng, 50), 0.7, "all equal");
    }

    #[test]
    fn rank_one_update_of_a_rank_deficient_scatter() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(11);
        // 150 of 200 eigenvalues exactly zero, with and without weight on
        // them; then zeros as an eigensolver returns them (+-1e-16 noise),
        // the mean (z) in the non-zero part as it is for collinear columns.
        let m = 200;
        let d: Vec<f64> = (0..m)
            .map(|i| {
                if i < 150 {
                    0.0
                } else {
                    rng.gen_range(1.0..5.0)
                }
            })
            .collect();
        let z = normals(&mut rng, m);
        check_update(&d, &z, 1.0, "zeros weighted");
        let z_off: Vec<f64> = z
            .iter()
            .enumerate()
            .map(|(i, v)| if i < 150 { 0.0 } else { *v })
            .collect();
        check_update(&d, &z_off, 41.0, "zeros unweighted");
        // Each exact zero replaced by rounding-sized noise of magnitude `eps`.
        let mut jitter_zeros = |v: &[f64], eps: f64| -> Vec<f64> {
            v.iter()
                .map(|&x| {
                    if x == 0.0 {
                        rng.gen_range(-eps..eps)
                    } else {
                        x
                    }
                })
                .collect()
        };
        let noisy = jitter_zeros(&d, 1e-16);
        let z_tiny = jitter_zeros(&z_off, 1e-17);
        check_update(&noisy, &z_tiny, 41.0, "noisy zeros");
    }

    #[test]
    fn rank_one_update_dominated_by_the_weight() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(13);
        // Means far from 0 compared with the spread: rho |z|^2 ~ 5e4 * 1e6 * m
        // against eigenvalues in (0, 1).
        for m in [5, 120] {
            let d: Vec<f64> = (0..m).map(|_| rng.gen_range(0.0..1.0)).collect();
            let z: Vec<f64> = (0..m).map(|_| 1e3 + rng.gen_range(-1.0..1.0)).collect();
            check_update(&d, &z, 5e4, &format!("m={m} huge weight"));
        }
    }

    #[test]
    fn gram_lower_matches_hand_product() {
        // X = [[1,2],[3,4],[5,6]]: X^T X = [[1+9+25, 2+12+30], [., 4+16+36]]
        //                                = [[35, 44], [44, 56]].
        let x = array![[1.0f32, 2.0], [3.0, 4.0], [5.0, 6.0]];
        let g = gram_lower(x.view(), None);
        assert_eq!(g[(0, 0)], 35.0);
        assert_eq!(g[(1, 0)], 44.0);
        assert_eq!(g[(1, 1)], 56.0);
    }

    #[test]
    fn centred_gram_subtracts_the_means() {
        // Column means (3, 4); centred rows (-2,-2), (0,0), (2,2):
        // sum of outer products = [[8, 8], [8, 8]].
        let x = array![[1.0f32, 2.0], [3.0, 4.0], [5.0, 6.0]];
        let m = column_means(x.view());
        assert_eq!(m, vec![3.0, 4.0]);
        let g = gram_lower(x.view(), Some(&m));
        assert_eq!((g[(0, 0)], g[(1, 0)], g[(1, 1)]), (8.0, 8.0, 8.0));
    }

    #[test]
    fn eigenvalues_of_a_two_by_two() {
        // [[2,1],[1,2]] has eigenvalues 1 and 3 (eigenvectors (1,-1), (1,1)).
        let a = Mat::from_fn(2, 2, |i, j| if i == j { 2.0 } else { 1.0 });
        let ev = sym_eigenvalues_lower(&a).expect("converges");
        assert!((ev[0] - 1.0).abs() < 1e-12 && (ev[1] - 3.0).abs() < 1e-12);
    }

    #[test]
    fn row_gram_is_the_product_of_the_centred_rows() {
        // Centred rows (-2,-2), (0,0), (2,2) (means (3, 4)): their dot
        // products are [[8, 0, -8], [0, 0, 0], [-8, 0, 8]] (lower triangle).
        let x = array![[1.0f32, 2.0], [3.0, 4.0], [5.0, 6.0]];
        let g = row_gram_lower(x.view(), Some(&[3.0, 4.0]));
        assert_eq!((g[(0, 0)], g[(1, 0)], g[(2, 0)]), (8.0, 0.0, -8.0));
        assert_eq!((g[(1, 1)], g[(2, 1)], g[(2, 2)]), (0.0, 0.0, 8.0));
    }

    #[test]
    fn eigenvectors_of_a_two_by_two() {
        // [[2,1],[1,2]]: eigenvalue 1 with (1,-1)/sqrt 2, 3 with (1,1)/sqrt 2.
        let a = Mat::from_fn(2, 2, |i, j| if i == j { 2.0 } else { 1.0 });
        let (ev, u) = sym_eigen_lower(&a).expect("converges");
        assert!((ev[0] - 1.0).abs() < 1e-12 && (ev[1] - 3.0).abs() < 1e-12);
        let h = std::f64::consts::FRAC_1_SQRT_2;
        assert!((u[(0, 1)].abs() - h).abs() < 1e-12 && (u[(1, 1)] - u[(0, 1)]).abs() < 1e-12);
        assert!((u[(0, 0)] + u[(1, 0)]).abs() < 1e-12);
    }

    #[test]
    fn non_finite_matrix_has_no_eigenvalues() {
        let a = Mat::from_fn(2, 2, |i, j| if i == j { f64::NAN } else { 0.0 });
        assert!(sym_eigenvalues_lower(&a).is_none());
        assert!(sym_eigen_lower(&a).is_none());
    }
}
