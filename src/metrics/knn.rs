//! Nearest-neighbour metrics: leave-one-out k-nearest-neighbour accuracy
//! (cosine similarity) and the Kozachenko-Leonenko entropy estimator
//! (Euclidean distance). Both share one blocked top-k neighbour search that
//! never holds more than a row block x column block of similarities.

use ndarray::linalg::general_mat_mul;
use ndarray::{s, Array2, ArrayView2, Axis};
use rayon::prelude::*;

/// Rows per parallel task (one similarity slab is `ROW_BLOCK x COL_BLOCK` f32).
pub(crate) const ROW_BLOCK: usize = if cfg!(test) { 128 } else { 512 };
/// Columns per similarity slab: 512 x 2048 x 4 bytes = 4 MiB per task.
/// Unit tests use small blocks so that their few hundred rows span several.
pub(crate) const COL_BLOCK: usize = if cfg!(test) { 200 } else { 2048 };

/// Floor on the k-th neighbour distance in [`kl_entropy_bits`] (duplicates),
/// relative to the largest |value| of the data.
const MIN_DISTANCE: f64 = 1e-10;

/// Leave-one-out kNN accuracy with `k` neighbours, majority vote, ties to the
/// tied class whose first neighbour is nearest. `None` when n <= 1.
///
/// Similarity is cosine: rows are L2-normalised, and an all-zero row has
/// similarity 0 to every row. A row's neighbours are the `min(k, n - 1)`
/// most similar other rows; equal similarities go to the lower row index.
/// `None` also when `k == 0` or `labels.len()` differs from the row count.
pub fn knn_accuracy(x: ArrayView2<f32>, labels: &[i64], k: usize) -> Option<f64> {
    let n = x.nrows();
    if n <= 1 || k == 0 || labels.len() != n {
        return None;
    }
    let k = k.min(n - 1);
    let classes = dense_classes(labels);
    let unit = normalise_rows(x);
    let nb = top_k_neighbours(unit.view(), k, Metric::Cosine);
    let correct: usize = nb
        .idx
        .par_chunks(k)
        .enumerate()
        .map(|(i, row)| usize::from(vote(row, &classes) == classes[i]))
        .sum();
    Some(correct as f64 / n as f64)
}

/// Kozachenko-Leonenko entropy estimate with `k` neighbours, in bits:
///
/// H = psi(N) - psi(k) + ln V_d + (d / N) * sum_i ln r_i  (nats, then / ln 2)
///
/// where r_i is the Euclidean distance from row i to its k-th nearest other
/// row and V_d = pi^(d/2) / Gamma(d/2 + 1) the volume of the unit d-ball
/// (taken through its logarithm, since Gamma overflows for d >= ~340).
///
/// Duplicate rows give r_i = 0 and ln r_i = -inf; r_i is floored at 1e-10
/// times the largest |value| of `x` instead (so a duplicate counts as a very
/// small but finite distance rather than being skipped, which would bias the
/// estimate towards the others; relative, so that scaling the data by c adds
/// exactly d log2 c bits, as it does to a differential entropy).
/// The neighbours are found with f32 similarity products; the k-th distance
/// is then recomputed in f64 from the rows themselves.
///
/// NaN when `k == 0`, the matrix has no columns, or there are not more than
/// `k` rows.
pub fn kl_entropy_bits(x: ArrayView2<f32>, k: usize) -> f64 {
    let (n, d) = x.dim();
    if k == 0 || d == 0 || n <= k {
        return f64::NAN;
    }
    let x = x.as_standard_layout();
    // Relative to the data's scale, so the estimate is scale-equivariant.
    let max_abs = x.iter().fold(0f32, |m, v| m.max(v.abs()));
    let ln_floor = (MIN_DISTANCE * f64::from(max_abs)).ln();
    let nb = top_k_neighbours(x.view(), k, Metric::SqEuclidean);
    let sum_ln_r: f64 = nb
        .idx
        .par_chunks(k)
        .enumerate()
        .map(|(i, row)| {
            let xi = x.row(i);
            let r2 = row
                .iter()
                .map(|&j| {
                    xi.iter()
                        .zip(x.row(j as usize).iter())
                        .map(|(&a, &b)| {
                            let t = f64::from(a) - f64::from(b);
                            t * t
                        })
                        .sum::<f64>()
                })
                .fold(0.0, f64::max);
            // ln 0 = -inf: duplicates take the floor.
            r2.sqrt().ln().max(ln_floor)
        })
        .collect::<Vec<f64>>()
        .iter()
        .sum();
    let (nf, df) = (n as f64, d as f64);
    let ln_unit_ball = df / 2.0 * std::f64::consts::PI.ln() - ln_gamma(df / 2.0 + 1.0);
    let nats = digamma(nf) - digamma(k as f64) + ln_unit_ball + df / nf * sum_ln_r;
    nats / std::f64::consts::LN_2
}

/// Predicted class of one row: majority among `neighbours` (nearest first);
/// a tie goes to the tied class that appears first in the list.
pub(crate) fn vote(neighbours: &[u32], classes: &[u32]) -> u32 {
    // (class, votes), in order of first appearance.
    let mut tally: Vec<(u32, usize)> = Vec::with_capacity(neighbours.len());
    for &j in neighbours {
        let c = classes[j as usize];
        match tally.iter_mut().find(|(tc, _)| *tc == c) {
            Some(entry) => entry.1 += 1,
            None => tally.push((c, 1)),
        }
    }
    // The first maximum in appearance order wins the tie.
    let mut best = tally[0];
    for &entry in &tally[1..] {
        if entry.1 > best.1 {
            best = entry;
        }
    }
    best.0
}

/// Labels as dense ids 0.. in sorted label order.
pub(crate) fn dense_classes(labels: &[i64]) -> Vec<u32> {
    let mut sorted = labels.to_vec();
    sorted.sort_unstable();
    sorted.dedup();
    labels
        .iter()
        .map(|l| sorted.binary_search(l).map_or(0, |p| p as u32))
        .collect()
}

/// Rows scaled to unit L2 norm (norm in f64); zero rows stay zero.
pub(crate) fn normalise_rows(x: ArrayView2<f32>) -> Array2<f32> {
    let mut out = x.as_standard_layout().into_owned();
    out.axis_iter_mut(Axis(0))
        .into_par_iter()
        .for_each(|mut row| {
            let norm = row
                .iter()
                .map(|&v| f64::from(v) * f64::from(v))
                .sum::<f64>()
                .sqrt();
            if norm > 0.0 {
                row.mapv_inplace(|v| (f64::from(v) / norm) as f32);
            }
        });
    out
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Metric {
    /// Dot product of (already normalised) rows.
    Cosine,
    /// Negated squared Euclidean distance |x|^2 - 2 x.y + |y|^2 (clamped at 0).
    SqEuclidean,
}

/// Each row's `k` nearest other rows, nearest first, flattened `n x k`.
/// `score` is the similarity (cosine) or the negated squared distance:
/// higher is nearer. Equal scores are ordered by row index.
struct Neighbours {
    idx: Vec<u32>,
    #[cfg_attr(not(test), allow(dead_code))]
    score: Vec<f32>,
}

/// Blocked exact k-nearest-neighbour search, self excluded. Requires
/// `1 <= k < n` and a standard-layout `x`.
///
/// Each unordered pair is scored once: row block I (rows `r0..r0+B`) is
/// multiplied against the columns `r0..n` in column blocks, and every pair
/// `(i, j)` with `j > i` is offered to both rows' lists. Row blocks run in
/// parallel, each worker (at most one per thread) keeping its own full
/// `n x k` table; the tables are merged at the end. Lists are kept under the
/// total order (score descending, index ascending) and every pair's score is
/// computed exactly once by a fixed block layout, so the result does not
/// depend on the thread count, on which worker ran which block, or on the
/// order of the merges.
fn top_k_neighbours(x: ArrayView2<f32>, k: usize, metric: Metric) -> Neighbours {
    let n = x.nrows();
    debug_assert!(k >= 1 && k < n);
    let sq_norms: Vec<f32> = match metric {
        Metric::Cosine => Vec::new(),
        Metric::SqEuclidean => x
            .axis_iter(Axis(0))
            .map(|r| r.iter().map(|&v| f64::from(v) * f64::from(v)).sum::<f64>() as f32)
            .collect(),
    };
    // Largest blocks (those starting at low rows) first, for load balance.
    // One table and one slab per worker (bounded memory, see `workers`).
    let starts: Vec<usize> = (0..n).step_by(ROW_BLOCK).collect();
    let slab_dim = (ROW_BLOCK.min(n), COL_BLOCK.min(n));
    let tables = super::workers::run(
        starts.len(),
        || (TopK::new(n, k), Array2::<f32>::zeros(slab_dim)),
        |(table, slab), task| {
            let r0 = starts[task];
            let rows = ROW_BLOCK.min(n - r0);
            let xb = x.slice(s![r0..r0 + rows, ..]);
            for c0 in (r0..n).step_by(COL_BLOCK) {
                let cols = COL_BLOCK.min(n - c0);
                let mut sv = slab.slice_mut(s![..rows, ..cols]);
                general_mat_mul(1.0, &xb, &x.slice(s![c0..c0 + cols, ..]).t(), 0.0, &mut sv);
                for (r, mut srow) in sv.axis_iter_mut(Axis(0)).enumerate() {
                    let i = r0 + r;
                    let Some(srow) = srow.as_slice_mut() else {
                        continue;
                    };
                    if metric == Metric::SqEuclidean {
                        let ni = sq_norms[i];
                        for (v, &nj) in srow.iter_mut().zip(&sq_norms[c0..c0 + cols]) {
                            *v = -(ni - 2.0 * *v + nj).max(0.0);
                        }
                    }
                    // Only j > i: pairs below the diagonal belong to earlier blocks.
                    let first = (i + 1).max(c0) - c0;
                    for (c, &sc) in srow.iter().enumerate().skip(first) {
                        let j = c0 + c;
                        table.offer(i, sc, j as u32);
                        table.offer(j, sc, i as u32);
                    }
                }
            }
        },
    );
    // Merged one by one, each worker's slab freed first.
    let mut merged: Option<TopK> = None;
    for (table, slab) in tables {
        drop(slab);
        merged = Some(match merged {
            None => table,
            Some(m) => m.merge(table),
        });
    }
    let table = merged.unwrap_or_else(|| TopK::new(n, k));
    Neighbours {
        idx: table.idx,
        score: table.score,
    }
}

/// One sorted top-k list per row, flattened `n x k`.
struct TopK {
    k: usize,
    score: Vec<f32>,
    idx: Vec<u32>,
    len: Vec<u32>,
    /// Score of each row's k-th entry once full, else -inf: a cheap first
    /// rejection that reads one contiguous array.
    worst: Vec<f32>,
}

impl TopK {
    fn new(n: usize, k: usize) -> Self {
        TopK {
            k,
            score: vec![f32::NEG_INFINITY; n * k],
            idx: vec![u32::MAX; n * k],
            len: vec![0; n],
            worst: vec![f32::NEG_INFINITY; n],
        }
    }

    /// Offer neighbour `j` with score `s` to `row`'s list. The common case,
    /// a candidate below the row's k-th score, costs one compare.
    #[inline(always)]
    fn offer(&mut self, row: usize, s: f32, j: u32) {
        if s >= self.worst[row] {
            self.insert(row, s, j);
        }
    }

    #[inline(never)]
    fn insert(&mut self, row: usize, s: f32, j: u32) {
        let k = self.k;
        let base = row * k;
        let len = self.len[row] as usize;
        let better = |s2: f32, j2: u32| s > s2 || (s == s2 && j < j2);
        if len == k && !better(self.score[base + k - 1], self.idx[base + k - 1]) {
            return;
        }
        // Shift worse entries one place down (dropping the last when full).
        let mut q = len.min(k - 1);
        while q > 0 && better(self.score[base + q - 1], self.idx[base + q - 1]) {
            self.score[base + q] = self.score[base + q - 1];
            self.idx[base + q] = self.idx[base + q - 1];
            q -= 1;
        }
        self.score[base + q] = s;
        self.idx[base + q] = j;
        if len < k {
            self.len[row] += 1;
        }
        if self.len[row] as usize == k {
            self.worst[row] = self.score[base + k - 1];
        }
    }

    fn merge(mut self, other: TopK) -> TopK {
        let k = self.k;
        for row in 0..self.len.len() {
            for e in 0..other.len[row] as usize {
                self.offer(row, other.score[row * k + e], other.idx[row * k + e]);
            }
        }
        self
    }
}

/// Digamma psi(x) for x > 0: recurrence psi(x) = psi(x + 1) - 1/x up to
/// x >= 10 (truncation error below 1e-14 there), then the asymptotic series
/// ln x - 1/(2x) - 1/(12x^2) + 1/(120x^4) - 1/(252x^6) + 1/(240x^8) - 1/(132x^10).
pub(crate) fn digamma(mut x: f64) -> f64 {
    if x <= 0.0 || !x.is_finite() {
        return f64::NAN;
    }
    let mut acc = 0.0;
    while x < 10.0 {
        acc -= 1.0 / x;
        x += 1.0;
    }
    let x2 = 1.0 / (x * x);
    let series = x2
        * (1.0 / 12.0
            - x2 * (1.0 / 120.0 - x2 * (1.0 / 252.0 - x2 * (1.0 / 240.0 - x2 * (1.0 / 132.0)))));
    acc + x.ln() - 0.5 / x - series
}

/// ln Gamma(x) for x > 0: recurrence Gamma(x) = Gamma(x + 1) / x up to
/// x >= 10 (truncation error below 1e-13 there), then Stirling's series
/// (x - 1/2) ln x - x + ln(2 pi)/2
///   + 1/(12x) - 1/(360x^3) + 1/(1260x^5) - 1/(1680x^7) + 1/(1188x^9).
pub(crate) fn ln_gamma(mut x: f64) -> f64 {
    if x <= 0.0 || !x.is_finite() {
        return f64::NAN;
    }
    let mut shift = 0.0;
    while x < 10.0 {
        shift -= x.ln();
        x += 1.0;
    }
    let inv = 1.0 / x;
    let inv2 = inv * inv;
    let series = inv
        * (1.0 / 12.0
            - inv2 * (1.0 / 360.0 - inv2 * (1.0 / 1260.0 - inv2 * (1.0 / 1680.0 - inv2 / 1188.0))));
    let half_ln_2pi = 0.5 * (2.0 * std::f64::consts::PI).ln();
    shift + (x - 0.5) * x.ln() - x + half_ln_2pi + series
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{array, Array2};

    const EULER_GAMMA: f64 = 0.577_215_664_901_532_9;

    /// Unit vectors at the given angles in degrees.
    fn at_angles(deg: &[f64]) -> Array2<f32> {
        let mut x = Array2::zeros((deg.len(), 2));
        for (i, d) in deg.iter().enumerate() {
            let t = d.to_radians();
            x[[i, 0]] = t.cos() as f32;
            x[[i, 1]] = t.sin() as f32;
        }
        x
    }

    #[test]
    fn digamma_matches_known_values() {
        // psi(1) = -gamma; psi(1/2) = -gamma - 2 ln 2; psi(4) = -gamma + 1 + 1/2 + 1/3.
        assert!((digamma(1.0) + EULER_GAMMA).abs() < 1e-13);
        assert!((digamma(0.5) + EULER_GAMMA + 2.0 * 2f64.ln()).abs() < 1e-13);
        assert!((digamma(4.0) - (-EULER_GAMMA + 11.0 / 6.0)).abs() < 1e-13);
        // psi(10000) = ln(10000) - 1/20000 - 1/(12 * 10^8) + ...
        let big = 10000f64.ln() - 1.0 / 20000.0 - 1.0 / 1.2e9;
        assert!((digamma(10000.0) - big).abs() < 1e-14);
        assert!(digamma(0.0).is_nan());
    }

    #[test]
    fn ln_gamma_matches_known_values() {
        // ln Gamma(1/2) = ln sqrt(pi) = 0.5723649429247001; Gamma(1) = Gamma(2) = 1;
        // Gamma(5) = 24; Gamma(3/2) = sqrt(pi)/2.
        assert!((ln_gamma(0.5) - 0.572_364_942_924_700_1).abs() < 1e-13);
        assert!(ln_gamma(1.0).abs() < 1e-13);
        assert!(ln_gamma(2.0).abs() < 1e-13);
        assert!((ln_gamma(5.0) - 24f64.ln()).abs() < 1e-13);
        let pi = std::f64::consts::PI;
        assert!((ln_gamma(1.5) - (pi.sqrt() / 2.0).ln()).abs() < 1e-13);
        // Large argument (d = 2048 -> Gamma(1025)): ln 1024! = 6078.2118847...
        let ln_fact_1024: f64 = (1..=1024).map(|i| (i as f64).ln()).sum();
        assert!((ln_gamma(1025.0) - ln_fact_1024).abs() < 1e-9 * ln_fact_1024);
    }

    #[test]
    fn knn_accuracy_breaks_vote_ties_by_the_nearest_neighbour() {
        // Angles 0, 10, 25, 45, 70, 100 degrees; labels 0 0 1 1 0 1.
        // Cosine order = angular-gap order. With k = 2 (self excluded):
        //   p0: p1 (10), p2 (25)  -> 0 vs 1 tie, p1 first -> 0, true 0: right
        //   p1: p0 (10), p2 (15)  -> tie, p0 first -> 0, true 0: right
        //   p2: p1 (15), p3 (20)  -> tie, p1 first -> 0, true 1: wrong
        //   p3: p2 (20), p4 (25)  -> tie, p2 first -> 1, true 1: right
        //   p4: p3 (25), p5 (30)  -> 1 1 -> 1, true 0: wrong
        //   p5: p4 (30), p3 (55)  -> tie, p4 first -> 0, true 1: wrong
        // 3 / 6. (Ties to the lower label would give p3 -> 0: 2 / 6.)
        let x = at_angles(&[0.0, 10.0, 25.0, 45.0, 70.0, 100.0]);
        let y = [0, 0, 1, 1, 0, 1];
        assert_eq!(knn_accuracy(x.view(), &y, 2), Some(0.5));
        // Labels 7/3 instead of 0/1: only the tie rule and not label order matters.
        let y2 = [7, 7, 3, 3, 7, 3];
        assert_eq!(knn_accuracy(x.view(), &y2, 2), Some(0.5));
        // k = 3: third neighbours p3, p3, p0, p1, p2, p2 turn the ties into majorities:
        //   p0: 0 1 1 -> 1 wrong; p1: 0 1 1 -> 1 wrong; p2: 0 1 0 -> 0 wrong;
        //   p3: 1 0 0 -> 0 wrong; p4: 1 1 1 -> 1 wrong; p5: 0 1 1 -> 1 right. 1 / 6.
        assert_eq!(knn_accuracy(x.view(), &y, 3), Some(1.0 / 6.0));
    }

    #[test]
    fn knn_accuracy_scales_rows_and_treats_zero_rows_as_dissimilar() {
        // Row lengths do not matter (cosine): scaling p2 by 5 changes nothing.
        let mut x = at_angles(&[0.0, 10.0, 25.0, 45.0, 70.0, 100.0]);
        x.row_mut(2).mapv_inplace(|v| v * 5.0);
        assert_eq!(knn_accuracy(x.view(), &[0, 0, 1, 1, 0, 1], 2), Some(0.5));
        // Points at 0 deg (class 0), 170 deg (class 1) and a zero row (class 1), k = 1.
        // p0: cos to p1 = -0.985, to zero row = 0 -> nearest is the zero row -> 1, wrong.
        // p1: likewise -> zero row -> 1, right.
        // p2 (zero): similarity 0 to both, tie by index -> p0 -> 0, wrong.
        let z = at_angles(&[0.0, 170.0, 0.0]);
        let mut z = z.clone();
        z.row_mut(2).fill(0.0);
        assert_eq!(knn_accuracy(z.view(), &[0, 1, 1], 1), Some(1.0 / 3.0));
    }

    #[test]
    fn knn_accuracy_caps_k_and_rejects_degenerate_input() {
        // k larger than n - 1 uses all other rows: 3 rows, labels 0 0 1, k = 50.
        // p0 sees {p1: 0, p2: 1} -> tie -> the nearer; angles 0, 10, 90: p1 -> 0 right.
        // p1 sees p0 (10) then p2 (80) -> 0 right. p2 sees p1 (80) then p0 (90) -> 0 wrong.
        let x = at_angles(&[0.0, 10.0, 90.0]);
        assert_eq!(knn_accuracy(x.view(), &[0, 0, 1], 50), Some(2.0 / 3.0));
        assert_eq!(knn_accuracy(x.view(), &[0, 0, 1], 0), None);
        assert_eq!(knn_accuracy(x.view(), &[0, 0], 1), None);
        assert_eq!(knn_accuracy(x.slice(s![..1, ..]), &[0], 1), None);
    }

    #[test]
    fn neighbours_are_exact_across_blocks_with_index_tie_break() {
        // 600 rows (5 row blocks, 3 column blocks under test) of integer points on a line: x_i = i mod 300,
        // so every row has an exact duplicate 300 rows away. Squared distance is exact
        // in f32 here. Row 5's nearest: its duplicate 305 (0), then 4, 6, 304, 306
        // (all at distance 1, in index order).
        let n = 600;
        let x = Array2::from_shape_fn((n, 1), |(i, _)| (i % 300) as f32);
        let nb = top_k_neighbours(x.view(), 5, Metric::SqEuclidean);
        assert_eq!(&nb.idx[5 * 5..6 * 5], &[305, 4, 6, 304, 306]);
        assert_eq!(&nb.score[5 * 5..6 * 5], &[0.0, -1.0, -1.0, -1.0, -1.0]);
        // Row 299 (value 299, last before the wrap): 599 (0), then 298, 598 (1), 297, 597 (4).
        assert_eq!(&nb.idx[299 * 5..300 * 5], &[599, 298, 598, 297, 597]);
    }

    #[test]
    fn kl_entropy_of_a_rectangle_matches_the_formula_by_hand() {
        // Corners of a 3 x 4 rectangle: each corner is 3, 4 and 5 away from the others.
        // k = 2 -> r_i = 4 for all; N = 4, d = 2, V_2 = pi.
        // H = psi(4) - psi(2) + ln pi + (2/4) * 4 ln 4 = (1/2 + 1/3) + ln pi + 2 ln 4 nats.
        let x = array![[0.0f32, 0.0], [3.0, 0.0], [0.0, 4.0], [3.0, 4.0]];
        let nats = 5.0 / 6.0 + std::f64::consts::PI.ln() + 2.0 * 4f64.ln();
        let bits = kl_entropy_bits(x.view(), 2);
        assert!(
            (bits - nats / std::f64::consts::LN_2).abs() < 1e-12,
            "{bits}"
        );
        // k = 1 -> r_i = 3: psi(4) - psi(1) = 1 + 1/2 + 1/3; (2/4) * 4 ln 3 = 2 ln 3.
        let nats1 = 11.0 / 6.0 + std::f64::consts::PI.ln() + 2.0 * 3f64.ln();
        let bits1 = kl_entropy_bits(x.view(), 1);
        assert!(
            (bits1 - nats1 / std::f64::consts::LN_2).abs() < 1e-12,
            "{bits1}"
        );
    }

    #[test]
    fn kl_entropy_floors_duplicate_distances() {
        // 1-D points 0, 0, 5, 5 with k = 1: every r_i = 0 -> floored at 1e-10
        // times the largest |value| 5.
        // H = psi(4) - psi(1) + ln 2 + (1/4) * 4 ln 5e-10 = 11/6 + ln 2 + ln 5e-10 nats.
        let x = array![[0.0f32], [0.0], [5.0], [5.0]];
        let nats = 11.0 / 6.0 + 2f64.ln() + 5e-10f64.ln();
        let bits = kl_entropy_bits(x.view(), 1);
        assert!(
            (bits - nats / std::f64::consts::LN_2).abs() < 1e-12,
            "{bits}"
        );
        // Scaled by 2^-60, the floor follows: exactly 60 bits less.
        let tiny = x.mapv(|v| v * 2f32.powi(-60));
        let shifted = kl_entropy_bits(tiny.view(), 1);
        assert!(
            (shifted - (bits - 60.0)).abs() < 1e-9,
            "{shifted} vs {bits} - 60"
        );
        // Too few rows, k = 0, no columns: NaN.
        assert!(kl_entropy_bits(x.view(), 4).is_nan());
        assert!(kl_entropy_bits(x.view(), 0).is_nan());
        assert!(kl_entropy_bits(Array2::<f32>::zeros((4, 0)).view(), 1).is_nan());
    }
}
