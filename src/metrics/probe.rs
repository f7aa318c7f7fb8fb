//! Linear probe: softmax regression on a stratified 80/20 split.
//!
//! The model and objective are scikit-learn's `LogisticRegression()` defaults
//! (multinomial, C = 1, L2 penalty on the weights but not the intercept,
//! L-BFGS for at most 100 iterations, gradient tolerance 1e-4), on features
//! standardised with the training part's mean and standard deviation. As in
//! scikit-learn, the objective is minimised in its per-sample form
//! `(1/n) * (sum of losses + ||W||^2 / (2 C))`, which has the same minimiser
//! as the plain sum and makes the tolerance independent of n.

use super::pairwise::{add_to_f64, exp_nonpositive, gemm_nt};
use multiversion::multiversion;
use ndarray::ArrayView2;
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
/// Rows per parallel block of the loss and gradient (one partial gradient each).
pub(crate) const ROW_BLOCK: usize = 1024;
/// Rows standardised at a time inside a block: 128 x 2048 f32 is 1 MiB,
/// in L2 while the forward and the backward product read it.
pub(crate) const SUB_BLOCK: usize = 128;

/// Held-out accuracy of an L2-regularised multinomial logistic regression
/// trained on a seeded stratified 80/20 split ([`stratified_split`]).
/// `None` when fewer than 2 classes, too few rows to hold any out, or
/// `labels.len()` differs from the row count.
///
/// The split's rows are read in place (no copy of the train or test part):
/// each pass gathers and standardises a block of rows at a time.
pub fn probe_accuracy(x: ArrayView2<f32>, labels: &[i64], seed: u64) -> Option<f64> {
    if labels.len() != x.nrows() {
        return None;
    }
    let (train, test) = stratified_split(labels, seed);
    let pick = |rows: &[usize]| rows.iter().map(|&i| labels[i]).collect::<Vec<i64>>();
    fit_and_score(
        Rows { x, rows: &train },
        &pick(&train),
        Rows { x, rows: &test },
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
    let all_train: Vec<usize> = (0..train_x.nrows()).collect();
    let all_test: Vec<usize> = (0..test_x.nrows()).collect();
    fit_and_score(
        Rows {
            x: train_x,
            rows: &all_train,
        },
        train_y,
        Rows {
            x: test_x,
            rows: &all_test,
        },
        test_y,
    )
}

/// Some rows of a matrix, in the order given.
#[derive(Clone, Copy)]
struct Rows<'x, 'r> {
    x: ArrayView2<'x, f32>,
    rows: &'r [usize],
}

impl Rows<'_, '_> {
    fn len(&self) -> usize {
        self.rows.len()
    }

    /// Rows `start..end` of the selection, standardised, into `out`
    /// (`(v - mean) * inv_scale` in f64, rounded to f32; `inv_scale` is
    /// 1 / scale, a product being far cheaper than a division per value).
    fn standardised_into(
        &self,
        (start, end): (usize, usize),
        mean: &[f64],
        inv_scale: &[f64],
        out: &mut Vec<f32>,
    ) {
        let d = self.x.ncols();
        out.resize((end - start) * d, 0.0);
        for (dst, &r) in out.chunks_exact_mut(d.max(1)).zip(&self.rows[start..end]) {
            let row = self.x.row(r);
            match row.as_slice() {
                Some(v) => standardise_row(v, mean, inv_scale, dst),
                None => standardise_row(&row.to_vec(), mean, inv_scale, dst),
            }
        }
    }
}

#[multiversion(targets("x86_64+avx512f", "x86_64+avx2+fma"))]
fn standardise_row(v: &[f32], mean: &[f64], inv_scale: &[f64], out: &mut [f32]) {
    for (((o, &v), m), s) in out.iter_mut().zip(v).zip(mean).zip(inv_scale) {
        *o = ((f64::from(v) - m) * s) as f32;
    }
}

fn fit_and_score(train: Rows, train_y: &[i64], test: Rows, test_y: &[i64]) -> Option<f64> {
    let d = train.x.ncols();
    if train.len() != train_y.len()
        || test.len() != test_y.len()
        || test.x.ncols() != d
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

    let (mean, scale) = column_mean_scale(train);
    let inv_scale: Vec<f64> = scale.iter().map(|s| 1.0 / s).collect();
    let model = Softmax {
        x: train,
        mean: &mean,
        inv_scale: &inv_scale,
        y: &y,
        classes: classes.len(),
        penalty: 1.0 / (INVERSE_PENALTY * train_y.len() as f64),
    };
    let theta = lbfgs(
        vec![0.0; model.n_params()],
        |t| model.loss_grad(t),
        MAX_ITER,
    );

    let predicted = model.predict(test, &theta);
    let correct = predicted
        .iter()
        .zip(test_y)
        .filter(|(&p, &label)| classes[p] == label)
        .count();
    Some(correct as f64 / test_y.len() as f64)
}

/// Per-column mean and standard deviation (ddof 0) in f64; a zero deviation
/// becomes 1 so the column is only centred. Two passes (the sums, then the
/// squared deviations from the mean), each parallel over blocks of
/// [`ROW_BLOCK`] rows whose partial sums are added in block order.
fn column_mean_scale(x: Rows) -> (Vec<f64>, Vec<f64>) {
    let (n, d) = (x.len(), x.x.ncols());
    let column_sums = |term: &(dyn Fn(&[f32], &mut [f64]) + Sync)| -> Vec<f64> {
        let parts: Vec<Vec<f64>> = x
            .rows
            .par_chunks(ROW_BLOCK)
            .map(|block| {
                let mut acc = vec![0.0f64; d];
                for &r in block {
                    let row = x.x.row(r);
                    match row.as_slice() {
                        Some(v) => term(v, &mut acc),
                        None => term(&row.to_vec(), &mut acc),
                    }
                }
                acc
            })
            .collect();
        let mut total = vec![0.0f64; d];
        for p in &parts {
            for (t, v) in total.iter_mut().zip(p) {
                *t += v;
            }
        }
        total
    };
    let sum = column_sums(&|v, acc| add_to_f64(acc, v));
    let mean: Vec<f64> = sum.iter().map(|s| s / n.max(1) as f64).collect();
    let sq = column_sums(&|v, acc| add_sq_dev(acc, v, &mean));
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

/// `acc[j] += (v[j] - mean[j])^2`, in f64.
#[multiversion(targets("x86_64+avx512f", "x86_64+avx2+fma"))]
fn add_sq_dev(acc: &mut [f64], v: &[f32], mean: &[f64]) {
    for ((a, &x), m) in acc.iter_mut().zip(v).zip(mean) {
        let t = f64::from(x) - m;
        *a += t * t;
    }
}

/// First index of the largest value (NaN never wins).
fn argmax(row: &[f32]) -> usize {
    let mut best = 0;
    for (j, &v) in row.iter().enumerate() {
        if v > row[best] {
            best = j;
        }
    }
    best
}

/// `dst (c x d) += a^T b` for row-major `a` (rows x c) and `b` (rows x d).
fn gemm_tn_add(a: &[f32], b: &[f32], rows: usize, c: usize, d: usize, dst: &mut [f32]) {
    if rows == 0 || c == 0 || d == 0 {
        return;
    }
    let lhs = faer::MatRef::from_row_major_slice(a, rows, c);
    let rhs = faer::MatRef::from_row_major_slice(b, rows, d);
    let out = faer::MatMut::from_row_major_slice_mut(dst, c, d);
    faer::linalg::matmul::matmul(
        out,
        faer::Accum::Add,
        lhs.transpose(),
        rhs,
        1.0f32,
        faer::Par::Seq,
    );
}

/// Multinomial logistic regression on standardised rows. Parameters are
/// flattened as the `classes x d` weights (row-major) then `classes`
/// intercepts.
struct Softmax<'x, 'a> {
    /// The training rows, standardised on the fly with `mean` and `inv_scale`
    /// (1 / the columns' standard deviations).
    x: Rows<'x, 'a>,
    mean: &'a [f64],
    inv_scale: &'a [f64],
    y: &'a [u32],
    classes: usize,
    /// L2 strength per sample: 1 / (C n).
    penalty: f64,
}

impl Softmax<'_, '_> {
    fn n_params(&self) -> usize {
        self.classes * (self.x.x.ncols() + 1)
    }

    fn weights_f32(&self, theta: &[f64]) -> Vec<f32> {
        let d = self.x.x.ncols();
        theta[..self.classes * d]
            .iter()
            .map(|&v| v as f32)
            .collect()
    }

    /// Predicted class (index into the classes) of each row of `rows`:
    /// the largest of the scores `x W^T + b`, in f32.
    fn predict(&self, rows: Rows, theta: &[f64]) -> Vec<usize> {
        let d = self.x.x.ncols();
        let c = self.classes;
        let w = self.weights_f32(theta);
        let b: Vec<f32> = theta[c * d..].iter().map(|&v| v as f32).collect();
        let starts: Vec<usize> = (0..rows.len()).step_by(SUB_BLOCK).collect();
        type Part = (usize, Vec<usize>);
        let done = super::workers::run(
            starts.len(),
            || (Vec::new(), Vec::new(), Vec::<Part>::new()),
            |(buf, z, out): &mut (Vec<f32>, Vec<f32>, Vec<Part>), task| {
                let r0 = starts[task];
                let r1 = (r0 + SUB_BLOCK).min(rows.len());
                rows.standardised_into((r0, r1), self.mean, self.inv_scale, buf);
                z.resize((r1 - r0) * c, 0.0);
                gemm_nt(buf, &w, d, z);
                let best = z
                    .chunks_exact_mut(c)
                    .map(|zr| {
                        zr.iter_mut().zip(&b).for_each(|(v, &bj)| *v += bj);
                        argmax(zr)
                    })
                    .collect();
                out.push((task, best));
            },
        );
        let mut parts: Vec<Part> = done.into_iter().flat_map(|(_, _, p)| p).collect();
        parts.sort_unstable_by_key(|p| p.0);
        parts.into_iter().flat_map(|(_, p)| p).collect()
    }

    /// Objective `(1/n) sum_i [logsumexp(z_i) - z_i[y_i]] + (penalty/2) ||W||^2`
    /// and its gradient: `(1/n) (P - Y)^T X + penalty W` for the weights,
    /// `(1/n) sum_i (p_i - y_i)` for the intercepts. Products in f32 GEMMs,
    /// softmax, loss and block sums in f64; blocks of [`ROW_BLOCK`] rows are
    /// summed in a fixed order. Within a block the rows are standardised
    /// [`SUB_BLOCK`] at a time into a buffer that both products read while
    /// it is in cache.
    fn loss_grad(&self, theta: &[f64]) -> (f64, Vec<f64>) {
        let n = self.x.len();
        let d = self.x.x.ncols();
        let c = self.classes;
        let w = self.weights_f32(theta);
        let b = &theta[c * d..];
        let starts: Vec<usize> = (0..n).step_by(ROW_BLOCK).collect();
        // One buffer set per worker; each block's partial kept by index.
        type Part = (usize, f64, Vec<f32>, Vec<f64>);
        let done = super::workers::run(
            starts.len(),
            || (Vec::new(), Vec::new(), Vec::new(), Vec::<Part>::new()),
            |(buf, z, resid, parts): &mut (Vec<f32>, Vec<f32>, Vec<f32>, Vec<Part>), task| {
                let r0 = starts[task];
                let r1 = (r0 + ROW_BLOCK).min(n);
                let mut gw = vec![0f32; c * d];
                let mut loss = 0.0f64;
                let mut grad_b = vec![0.0f64; c];
                let mut p = vec![0.0f64; c];
                for s0 in (r0..r1).step_by(SUB_BLOCK) {
                    let s1 = (s0 + SUB_BLOCK).min(r1);
                    let rows = s1 - s0;
                    self.x
                        .standardised_into((s0, s1), self.mean, self.inv_scale, buf);
                    z.resize(rows * c, 0.0);
                    gemm_nt(buf, &w, d, z);
                    resid.resize(rows * c, 0.0);
                    for (r, (zr, out)) in
                        z.chunks_exact(c).zip(resid.chunks_exact_mut(c)).enumerate()
                    {
                        for (pj, (&zj, bj)) in p.iter_mut().zip(zr.iter().zip(b)) {
                            *pj = f64::from(zj) + bj;
                        }
                        let m = p.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                        let label = self.y[s0 + r] as usize;
                        let z_label = p[label];
                        for pj in p.iter_mut() {
                            *pj = exp_nonpositive(*pj - m);
                        }
                        let total: f64 = p.iter().sum();
                        loss += m + total.ln() - z_label;
                        for (j, (pj, o)) in p.iter().zip(out.iter_mut()).enumerate() {
                            let g = pj / total - if j == label { 1.0 } else { 0.0 };
                            *o = g as f32;
                            grad_b[j] += g;
                        }
                    }
                    gemm_tn_add(resid, buf, rows, c, d, &mut gw);
                }
                parts.push((task, loss, gw, grad_b));
            },
        );
        let mut parts: Vec<Part> = done.into_iter().flat_map(|(_, _, _, p)| p).collect();
        parts.sort_unstable_by_key(|p| p.0);

        let inv_n = 1.0 / n as f64;
        let mut loss = 0.0;
        let mut grad = vec![0.0f64; c * (d + 1)];
        for (_, block_loss, gw, gb) in &parts {
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
    use ndarray::{array, s, Array2};

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
        // Mean 0 and scale 1: the standardised rows are the rows.
        let rows: Vec<usize> = (0..5).collect();
        let (mean, inv_scale) = (vec![0.0; 3], vec![1.0; 3]);
        let model = Softmax {
            x: Rows {
                x: x.view(),
                rows: &rows,
            },
            mean: &mean,
            inv_scale: &inv_scale,
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
