//! Linear probe: softmax regression on a stratified 80/20 split.
//!
//! The model and objective are scikit-learn's `LogisticRegression()` defaults
//! (multinomial, C = 1, L2 penalty on the weights but not the intercept,
//! L-BFGS for at most 100 iterations, gradient tolerance 1e-4), on features
//! standardised with the training part's mean and standard deviation. As in
//! scikit-learn, the objective is minimised in its per-sample form
//! `(1/n) * (sum of losses + ||W||^2 / (2 C))`, which has the same minimiser
//! as the plain sum and makes the tolerance independent of n.

use ndarray::{s, Array1, Array2, ArrayView1, ArrayView2, Axis};
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;
use std::collections::VecDeque;

/// Inverse regularisation strength (scikit-learn's `C`).
const INVERSE_PENALTY: f64 = 1.0;
/// L-BFGS iterations (scikit-learn's `max_iter`).
const MAX_ITER: usize = 100;
/// Stop when every gradient component is at most this (scikit-learn's `tol`).
const GRAD_TOL: f64 = 1e-4;
/// Correction pairs kept by L-BFGS (scipy's default `maxcor`).
pub(crate) const HISTORY: usize = 10;
/// Share of each class held out for testing.
pub(crate) const TEST_FRACTION: f64 = 0.2;
/// Rows per parallel block of the loss and gradient.
pub(crate) const ROW_BLOCK: usize = 1024;

/// Held-out accuracy of an L2-regularised multinomial logistic regression
/// trained on a seeded stratified 80/20 split ([`stratified_split`]).
/// `None` when fewer than 2 classes, too few rows to hold any out, or
/// `labels.len()` differs from the row count.
pub fn probe_accuracy(x: ArrayView2<f32>, labels: &[i64], seed: u64) -> Option<f64> {
    if labels.len() != x.nrows() {
        return None;
    }
    let (train, test) = stratified_split(labels, seed);
    let pick = |rows: &[usize]| rows.iter().map(|&i| labels[i]).collect::<Vec<i64>>();
    train_test_accuracy(
        x.select(Axis(0), &train).view(),
        &pick(&train),
        x.select(Axis(0), &test).view(),
        &pick(&test),
    )
}

/// Seeded stratified split into (train, test) row indices, each ascending.
///
/// Classes are taken in ascending label order with one ChaCha8 stream seeded
/// by `seed`; each class's rows are shuffled and the first
/// `round(0.2 * count)` go to test, at least 1 when the class has 2 or more
/// rows (a single-row class stays in train).
pub fn stratified_split(labels: &[i64], seed: u64) -> (Vec<usize>, Vec<usize>) {
    let mut order: Vec<usize> = (0..labels.len()).collect();
    // Stable: rows of one class stay in index order before shuffling.
    order.sort_by_key(|&i| labels[i]);
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let (mut train, mut test) = (Vec::new(), Vec::new());
    for members in order.chunk_by_mut(|&a, &b| labels[a] == labels[b]) {
        members.shuffle(&mut rng);
        let count = members.len();
        let mut n_test = (TEST_FRACTION * count as f64).round() as usize;
        if count >= 2 {
            n_test = n_test.max(1);
        }
        test.extend_from_slice(&members[..n_test]);
        train.extend_from_slice(&members[n_test..]);
    }
    train.sort_unstable();
    test.sort_unstable();
    (train, test)
}

/// Accuracy on `test` of the probe trained on `train`. Features are
/// standardised with the training rows' mean and (population) standard
/// deviation; a constant feature gets scale 1. A test label never seen in
/// training counts as an error. `None` when the training part has fewer than
/// 2 classes, the test part is empty, or the shapes disagree.
pub fn train_test_accuracy(
    train_x: ArrayView2<f32>,
    train_y: &[i64],
    test_x: ArrayView2<f32>,
    test_y: &[i64],
) -> Option<f64> {
    let d = train_x.ncols();
    if train_x.nrows() != train_y.len()
        || test_x.nrows() != test_y.len()
        || test_x.ncols() != d
        || test_y.is_empty()
    {
        return None;
    }
    let mut classes = train_y.to_vec();
    classes.sort_unstable();
    classes.dedup();
    if classes.len() < 2 {
        return None;
    }
    let y: Vec<u32> = train_y
        .iter()
        .map(|l| classes.binary_search(l).map_or(0, |p| p as u32))
        .collect();

    let (mean, scale) = column_mean_scale(train_x);
    let xs = standardise(train_x, &mean, &scale);
    let model = Softmax {
        x: xs.view(),
        y: &y,
        classes: classes.len(),
        penalty: 1.0 / (INVERSE_PENALTY * train_y.len() as f64),
    };
    let theta = lbfgs(
        vec![0.0; model.n_params()],
        |t| model.loss_grad(t),
        MAX_ITER,
    );

    let xt = standardise(test_x, &mean, &scale);
    let scores = model.scores(xt.view(), &theta);
    let correct = scores
        .axis_iter(Axis(0))
        .zip(test_y)
        .filter(|(row, &label)| classes[argmax(*row)] == label)
        .count();
    Some(correct as f64 / test_y.len() as f64)
}

/// Per-column mean and standard deviation (ddof 0) in f64; a zero deviation
/// becomes 1 so the column is only centred.
fn column_mean_scale(x: ArrayView2<f32>) -> (Vec<f64>, Vec<f64>) {
    let (n, d) = x.dim();
    let mut sum = vec![0.0f64; d];
    for row in x.axis_iter(Axis(0)) {
        for (acc, &v) in sum.iter_mut().zip(row.iter()) {
            *acc += f64::from(v);
        }
    }
    let mean: Vec<f64> = sum.iter().map(|s| s / n.max(1) as f64).collect();
    let mut sq = vec![0.0f64; d];
    for row in x.axis_iter(Axis(0)) {
        for ((acc, &v), m) in sq.iter_mut().zip(row.iter()).zip(&mean) {
            let t = f64::from(v) - m;
            *acc += t * t;
        }
    }
    let scale = sq
        .iter()
        .map(|s| {
            let sd = (s / n.max(1) as f64).sqrt();
            if sd > 0.0 {
                sd
            } else {
                1.0
            }
        })
        .collect();
    (mean, scale)
}

fn standardise(x: ArrayView2<f32>, mean: &[f64], scale: &[f64]) -> Array2<f32> {
    let mut out = Array2::<f32>::zeros(x.dim());
    out.axis_iter_mut(Axis(0))
        .into_par_iter()
        .zip(x.axis_iter(Axis(0)).into_par_iter())
        .for_each(|(mut o, r)| {
            for (((o, &v), m), s) in o.iter_mut().zip(r.iter()).zip(mean).zip(scale) {
                *o = ((f64::from(v) - m) / s) as f32;
            }
        });
    out
}

/// First index of the largest value (NaN never wins).
fn argmax(row: ArrayView1<f32>) -> usize {
    let mut best = 0;
    for (j, &v) in row.iter().enumerate() {
        if v > row[best] {
            best = j;
        }
    }
    best
}

/// Multinomial logistic regression on standardised rows. Parameters are
/// flattened as the `classes x d` weights (row-major) then `classes`
/// intercepts.
struct Softmax<'a> {
    x: ArrayView2<'a, f32>,
    y: &'a [u32],
    classes: usize,
    /// L2 strength per sample: 1 / (C n).
    penalty: f64,
}

impl Softmax<'_> {
    fn n_params(&self) -> usize {
        self.classes * (self.x.ncols() + 1)
    }

    fn weights_f32(&self, theta: &[f64]) -> Array2<f32> {
        let d = self.x.ncols();
        Array2::from_shape_fn((self.classes, d), |(c, j)| theta[c * d + j] as f32)
    }

    /// Class scores `x W^T + b` of the rows of `x`.
    fn scores(&self, x: ArrayView2<f32>, theta: &[f64]) -> Array2<f32> {
        let d = self.x.ncols();
        let mut z = x.dot(&self.weights_f32(theta).t());
        let b = Array1::from_iter(theta[self.classes * d..].iter().map(|&v| v as f32));
        z += &b;
        z
    }

    /// Objective `(1/n) sum_i [logsumexp(z_i) - z_i[y_i]] + (penalty/2) ||W||^2`
    /// and its gradient: `(1/n) (P - Y)^T X + penalty W` for the weights,
    /// `(1/n) sum_i (p_i - y_i)` for the intercepts. Products in f32 GEMMs,
    /// softmax, loss and block sums in f64; blocks are summed in a fixed order.
    fn loss_grad(&self, theta: &[f64]) -> (f64, Vec<f64>) {
        let (n, d) = self.x.dim();
        let c = self.classes;
        let w = self.weights_f32(theta);
        let b = &theta[c * d..];
        let starts: Vec<usize> = (0..n).step_by(ROW_BLOCK).collect();
        let parts: Vec<(f64, Array2<f32>, Vec<f64>)> = starts
            .par_iter()
            .map(|&r0| {
                let xb = self.x.slice(s![r0..(r0 + ROW_BLOCK).min(n), ..]);
                let z = xb.dot(&w.t());
                let mut resid = Array2::<f32>::zeros(z.dim());
                let mut loss = 0.0f64;
                let mut grad_b = vec![0.0f64; c];
                let mut p = vec![0.0f64; c];
                for (r, (zr, mut out)) in z
                    .axis_iter(Axis(0))
                    .zip(resid.axis_iter_mut(Axis(0)))
                    .enumerate()
                {
                    for (pj, (&zj, bj)) in p.iter_mut().zip(zr.iter().zip(b)) {
                        *pj = f64::from(zj) + bj;
                    }
                    let m = p.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                    let label = self.y[r0 + r] as usize;
                    let z_label = p[label];
                    let mut total = 0.0;
                    for pj in p.iter_mut() {
                        *pj = (*pj - m).exp();
                        total += *pj;
                    }
                    loss += m + total.ln() - z_label;
                    for (j, (pj, o)) in p.iter().zip(out.iter_mut()).enumerate() {
                        let g = pj / total - if j == label { 1.0 } else { 0.0 };
                        *o = g as f32;
                        grad_b[j] += g;
                    }
                }
                (loss, resid.t().dot(&xb), grad_b)
            })
            .collect();

        let inv_n = 1.0 / n as f64;
        let mut loss = 0.0;
        let mut grad = vec![0.0f64; c * (d + 1)];
        for (block_loss, gw, gb) in &parts {
            loss += block_loss;
            for (g, &v) in grad.iter_mut().zip(gw.iter()) {
                *g += f64::from(v);
            }
            for (g, v) in grad[c * d..].iter_mut().zip(gb) {
                *g += v;
            }
        }
        let mut w_sq = 0.0;
        for (g, &t) in grad[..c * d].iter_mut().zip(&theta[..c * d]) {
            *g = *g * inv_n + self.penalty * t;
            w_sq += t * t;
        }
        for g in grad[c * d..].iter_mut() {
            *g *= inv_n;
        }
        (loss * inv_n + 0.5 * self.penalty * w_sq, grad)
    }
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// Minimise a smooth function with L-BFGS: two-loop recursion over the last
/// [`HISTORY`] pairs, initial scaling `s.y / y.y`, and a backtracking line
/// search (Armijo, c1 = 1e-4, safeguarded quadratic interpolation). A pair
/// with `s.y <= 0` is not stored. Stops after `max_iter` iterations, when
/// every gradient component is at most [`GRAD_TOL`], or when the line search
/// can no longer decrease the objective (f32 products limit its precision).
fn lbfgs(mut theta: Vec<f64>, f: impl Fn(&[f64]) -> (f64, Vec<f64>), max_iter: usize) -> Vec<f64> {
    const C1: f64 = 1e-4;
    const MAX_TRIALS: usize = 30;
    let (mut fx, mut g) = f(&theta);
    let mut history: VecDeque<(Vec<f64>, Vec<f64>, f64)> = VecDeque::with_capacity(HISTORY);
    for _ in 0..max_iter {
        if g.iter().all(|v| v.abs() <= GRAD_TOL) {
            break;
        }
        // Two-loop recursion: dir = -H g.
        let mut q = g.clone();
        let mut alphas = Vec::with_capacity(history.len());
        for (s, y, rho) in history.iter().rev() {
            let a = rho * dot(s, &q);
            q.iter_mut().zip(y).for_each(|(qi, yi)| *qi -= a * yi);
            alphas.push(a);
        }
        if let Some((s, y, _)) = history.back() {
            let gamma = dot(s, y) / dot(y, y);
            q.iter_mut().for_each(|qi| *qi *= gamma);
        }
        for ((s, y, rho), a) in history.iter().zip(alphas.iter().rev()) {
            let beta = rho * dot(y, &q);
            q.iter_mut()
                .zip(s)
                .for_each(|(qi, si)| *qi += (a - beta) * si);
        }
        let mut dir: Vec<f64> = q.iter().map(|v| -v).collect();
        let mut slope = dot(&g, &dir);
        if slope >= 0.0 || !slope.is_finite() {
            // Not a descent direction: restart from steepest descent.
            history.clear();
            dir = g.iter().map(|v| -v).collect();
            slope = -dot(&g, &g);
        }
        let mut step = if history.is_empty() {
            (1.0 / dot(&dir, &dir).sqrt()).min(1.0)
        } else {
            1.0
        };

        let mut accepted = None;
        for _ in 0..MAX_TRIALS {
            let trial: Vec<f64> = theta.iter().zip(&dir).map(|(t, d)| t + step * d).collect();
            let (ft, gt) = f(&trial);
            if ft.is_finite() && ft <= fx + C1 * step * slope {
                accepted = Some((trial, ft, gt));
                break;
            }
            // Minimiser of the quadratic through f(0), f'(0) and f(step),
            // kept within [0.1, 0.5] of the current step.
            let quad = -slope * step * step / (2.0 * (ft - fx - slope * step));
            step = if quad.is_finite() {
                quad.clamp(0.1 * step, 0.5 * step)
            } else {
                0.5 * step
            };
        }
        let Some((trial, ft, gt)) = accepted else {
            break;
        };
        let s: Vec<f64> = trial.iter().zip(&theta).map(|(a, b)| a - b).collect();
        let y: Vec<f64> = gt.iter().zip(&g).map(|(a, b)| a - b).collect();
        let sy = dot(&s, &y);
        if sy > 1e-12 * dot(&y, &y).max(f64::MIN_POSITIVE) {
            if history.len() == HISTORY {
                history.pop_front();
            }
            history.push_back((s, y, 1.0 / sy));
        }
        theta = trial;
        fx = ft;
        g = gt;
    }
    theta
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{array, Array2};

    #[test]
    fn split_is_stratified_with_rounded_counts() {
        // Class sizes 10, 2, 1, 7, 13 (labels 0, 1, 2, 3, 5, interleaved).
        // Test counts: round(2.0) = 2; round(0.4) = 0 -> at least 1; single row -> 0;
        // round(1.4) = 1; round(2.6) = 3. Total 7 test, 26 train.
        let sizes = [(0i64, 10usize), (1, 2), (2, 1), (3, 7), (5, 13)];
        let mut labels = Vec::new();
        for round in 0..13 {
            for &(l, c) in &sizes {
                if round < c {
                    labels.push(l);
                }
            }
        }
        let (train, test) = stratified_split(&labels, 42);
        assert_eq!((train.len(), test.len()), (26, 7));
        let count = |rows: &[usize], l: i64| rows.iter().filter(|&&i| labels[i] == l).count();
        let want = [(0, 2), (1, 1), (2, 0), (3, 1), (5, 3)];
        for (l, n_test) in want {
            assert_eq!(count(&test, l), n_test, "class {l}");
        }
        // Disjoint, ascending, and together all rows.
        let mut all: Vec<usize> = train.iter().chain(&test).copied().collect();
        all.sort_unstable();
        assert_eq!(all, (0..labels.len()).collect::<Vec<_>>());
        assert!(train.windows(2).all(|w| w[0] < w[1]));
        assert!(test.windows(2).all(|w| w[0] < w[1]));
        // Same seed, same split; the seed picks which rows.
        assert_eq!(stratified_split(&labels, 42), (train, test.clone()));
        let seeds_differ = (0..5).any(|s| stratified_split(&labels, s).1 != test);
        assert!(seeds_differ);
    }

    #[test]
    fn separable_clusters_are_probed_perfectly() {
        // Three well-separated 2-D clusters of 10 points (centres (-5,0), (5,0), (0,8),
        // offsets within +-1) plus a constant third column (std 0 -> scale 1, no NaN).
        // Each class holds out round(0.2 * 10) = 2 rows; any sensible linear
        // classifier separates the clusters, so accuracy is 6/6.
        let centres = [(-5.0f32, 0.0f32), (5.0, 0.0), (0.0, 8.0)];
        let mut x = Array2::<f32>::zeros((30, 3));
        let mut y = Vec::new();
        for i in 0..30 {
            let (cx, cy) = centres[i % 3];
            x[[i, 0]] = cx + ((i * 7) % 5) as f32 * 0.5 - 1.0;
            x[[i, 1]] = cy + ((i * 3) % 5) as f32 * 0.5 - 1.0;
            x[[i, 2]] = 4.0;
            y.push((i % 3) as i64 * 10);
        }
        assert_eq!(probe_accuracy(x.view(), &y, 0), Some(1.0));
        assert_eq!(probe_accuracy(x.view(), &y, 7), Some(1.0));
    }

    #[test]
    fn symmetric_problem_splits_at_zero_and_unseen_labels_count_as_errors() {
        // Train 1-D points -3 -2 -1 (class 0) and 1 2 3 (class 1): mean 0, the problem
        // is symmetric under x -> -x with the classes swapped, so the optimum has
        // equal intercepts and the boundary is exactly x = 0.
        // Test -0.5 -> 0 (right), 0.5 -> 1 (right), 2.5 -> 1 (right), -4 labelled 9
        // (a class not in training, predicted 0: wrong). 3 / 4.
        let train = array![[-3.0f32], [-2.0], [-1.0], [1.0], [2.0], [3.0]];
        let test = array![[-0.5f32], [0.5], [2.5], [-4.0]];
        let acc = train_test_accuracy(
            train.view(),
            &[0, 0, 0, 1, 1, 1],
            test.view(),
            &[0, 1, 1, 9],
        );
        assert_eq!(acc, Some(0.75));
    }

    #[test]
    fn degenerate_inputs_give_none() {
        let x = array![[0.0f32], [1.0], [2.0], [3.0]];
        // One class.
        assert_eq!(probe_accuracy(x.view(), &[1, 1, 1, 1], 0), None);
        // Two rows, each its own class: no class can spare a test row.
        assert_eq!(probe_accuracy(x.slice(s![..2, ..]), &[0, 1], 0), None);
        // Length mismatch.
        assert_eq!(probe_accuracy(x.view(), &[0, 1], 0), None);
        // Training part with a single class.
        let t = x.slice(s![..2, ..]);
        assert_eq!(train_test_accuracy(t, &[0, 0], t, &[0, 1]), None);
        // Empty test part; column mismatch.
        let empty = Array2::<f32>::zeros((0, 1));
        assert_eq!(train_test_accuracy(t, &[0, 1], empty.view(), &[]), None);
        let wide = Array2::<f32>::zeros((2, 2));
        assert_eq!(train_test_accuracy(t, &[0, 1], wide.view(), &[0, 1]), None);
    }

    #[test]
    fn gradient_matches_central_differences() {
        // 5 rows, 3 features, 3 classes; small integers and dyadic weights so the
        // f32 scores are exact and the only error is the O(h^2) difference error.
        let x = array![
            [1.0f32, -2.0, 0.0],
            [3.0, 1.0, -1.0],
            [0.0, 2.0, 2.0],
            [-1.0, -1.0, 1.0],
            [2.0, 0.0, -3.0]
        ];
        let y = [0u32, 2, 1, 1, 0];
        let model = Softmax {
            x: x.view(),
            y: &y,
            classes: 3,
            penalty: 0.25,
        };
        let theta: Vec<f64> = (0..model.n_params())
            .map(|i| ((i * 5) % 7) as f64 / 8.0 - 0.375)
            .collect();
        let (_, grad) = model.loss_grad(&theta);
        let h = 1.0 / 1024.0;
        for i in 0..theta.len() {
            let mut plus = theta.clone();
            let mut minus = theta.clone();
            plus[i] += h;
            minus[i] -= h;
            let numeric = (model.loss_grad(&plus).0 - model.loss_grad(&minus).0) / (2.0 * h);
            assert!(
                (numeric - grad[i]).abs() < 1e-5,
                "param {i}: numeric {numeric} analytic {}",
                grad[i]
            );
        }
        // And the loss itself at theta = 0: every class has p = 1/3, so the mean
        // loss is ln 3 with no penalty.
        let (f0, g0) = model.loss_grad(&vec![0.0; model.n_params()]);
        assert!((f0 - 3f64.ln()).abs() < 1e-12);
        // Intercept gradient at 0: mean of (1/3 - onehot): class 0 has 2 of 5 rows,
        // class 1 has 2, class 2 has 1 -> 1/3 - 2/5, 1/3 - 2/5, 1/3 - 1/5.
        let gb = &g0[9..];
        assert!((gb[0] - (1.0 / 3.0 - 0.4)).abs() < 1e-7);
        assert!((gb[2] - (1.0 / 3.0 - 0.2)).abs() < 1e-7);
    }

    #[test]
    fn lbfgs_minimises_a_quadratic() {
        // f(t) = (t0 - 1)^2 + 10 (t1 + 2)^2: minimum at (1, -2).
        let f = |t: &[f64]| {
            let (a, b) = (t[0] - 1.0, t[1] + 2.0);
            (a * a + 10.0 * b * b, vec![2.0 * a, 20.0 * b])
        };
        let t = lbfgs(vec![0.0, 0.0], f, 100);
        assert!(
            (t[0] - 1.0).abs() < 1e-4 && (t[1] + 2.0).abs() < 1e-5,
            "{t:?}"
        );
    }
}
