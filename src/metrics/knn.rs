//! Nearest-neighbour metrics: leave-one-out k-nearest-neighbour accuracy
//! (cosine similarity) and the Kozachenko-Leonenko entropy estimator
//! (Euclidean distance). Both share one blocked top-k neighbour search that
//! never holds more than a row block x column block of similarities.
//!
//! Both are O(N^2 D). Up to a number of rows (the caller's `max_queries`,
//! [`KNN_EXACT`] by default) every row is a query and each pair is scored
//! once; above it a seeded uniform sample of `max_queries` rows are the
//! queries, each searched against all N rows (so a query's neighbours are
//! exact; only which rows are averaged over is sampled).

use super::bf16;
use super::pairwise::{dot_f32, from_order_key, gemm_nt, order_key, sq_norm};
use super::uniformity::seeded_rows;
use multiversion::multiversion;
use ndarray::{Array2, ArrayView2};
use rayon::prelude::*;
use std::ops::Range;
use std::sync::atomic::{AtomicU32, Ordering};

/// Rows per parallel task (one similarity slab is `ROW_BLOCK x COL_BLOCK` f32).
pub(crate) const ROW_BLOCK: usize = if cfg!(test) { 128 } else { 512 };
/// Columns per similarity slab: 512 x 512 x 4 bytes = 1 MiB per task, half
/// an L2 cache here, so the selection reads the slab the GEMM just wrote
/// from L2 (1,024 columns, a full 2 MiB L2, measured about 7% slower at
/// 10,000 x 512). Unit tests use small blocks so that their few hundred
/// rows span several.
pub(crate) const COL_BLOCK: usize = if cfg!(test) { 200 } else { 512 };
/// Rows per strip of a diagonal block (see [`top_k_neighbours`]).
const DIAGONAL_STRIP: usize = if cfg!(test) { 48 } else { 256 };
/// Most queries per task of the sampled search. Each task streams all N
/// rows through the GEMM once, so wide query blocks read the rows fewer
/// times: at 10,000 queries x 50,000 x 2,048, 256 -> 1,024 queries per task
/// (with 512-column slabs) took the search from 8.4 to 7.3 s, 1.04x its
/// GEMM floor (2 cores).
pub(crate) const QUERY_BLOCK: usize = if cfg!(test) { 48 } else { 1024 };
/// Columns per similarity slab of the sampled search (a 1,024 x 512 slab
/// is 2 MiB, an L2 cache here).
pub(crate) const QUERY_COL_BLOCK: usize = if cfg!(test) { 200 } else { 512 };

/// Queries per task for `m` queries on `threads` workers: at most
/// [`QUERY_BLOCK`], and small enough for two tasks per worker.
pub(crate) fn query_block(m: usize, threads: usize) -> usize {
    QUERY_BLOCK.min(m.div_ceil(2 * threads.max(1))).max(1)
}

/// Rows up to which kNN accuracy (and the KL entropy) use every row as a
/// query; above it, a seeded sample of this many queries (`knn_sample`).
/// The sampled accuracy p over m queries has standard error
/// sqrt(p (1 - p) / m): at most 0.005 for m = 10,000.
pub const KNN_EXACT: usize = 10_000;

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
    knn_accuracy_sampled(x, labels, k, usize::MAX, 0)
}

/// [`knn_accuracy`] over at most `max_queries` rows: exact (every row a
/// query, the same value as [`knn_accuracy`]) when n <= `max_queries`, else
/// the accuracy of a seeded uniform sample of `max_queries` rows (drawn
/// with `seed`, as silhouette's and uniformity's samples are), each voted by
/// its `k` nearest among all the other n - 1 rows.
pub fn knn_accuracy_sampled(
    x: ArrayView2<f32>,
    labels: &[i64],
    k: usize,
    max_queries: usize,
    seed: u64,
) -> Option<f64> {
    let n = x.nrows();
    if n <= 1 || k == 0 || labels.len() != n {
        return None;
    }
    let k = k.min(n - 1);
    let classes = dense_classes(labels);
    let (queries, nb) = if n <= max_queries.max(1) {
        (None, top_k_neighbours(x, k, Metric::Cosine))
    } else {
        let q = seeded_rows(n, max_queries.max(1), seed);
        let nb = top_k_of_queries(x, &q, k, Metric::Cosine);
        (Some(q), nb)
    };
    let m = nb.idx.len() / k;
    let correct: usize = nb
        .idx
        .par_chunks(k)
        .enumerate()
        .map(|(r, row)| {
            let i = queries.as_ref().map_or(r, |q| q[r]);
            usize::from(vote(row, &classes) == classes[i])
        })
        .sum();
    Some(correct as f64 / m as f64)
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
    kl_entropy_bits_sampled(x, k, usize::MAX, 0)
}

/// [`kl_entropy_bits`] with the mean of ln r_i over at most `max_queries`
/// rows: exact when n <= `max_queries`, else over a seeded uniform sample
/// of that many rows (each r_i still the k-th distance among all N rows;
/// N stays the N of psi(N)).
pub fn kl_entropy_bits_sampled(x: ArrayView2<f32>, k: usize, max_queries: usize, seed: u64) -> f64 {
    let (n, d) = x.dim();
    if k == 0 || d == 0 || n <= k {
        return f64::NAN;
    }
    let x = x.as_standard_layout();
    // Relative to the data's scale, so the estimate is scale-equivariant.
    let max_abs = x.iter().fold(0f32, |m, v| m.max(v.abs()));
    let ln_floor = (MIN_DISTANCE * f64::from(max_abs)).ln();
    let (queries, nb) = if n <= max_queries.max(1) {
        (None, top_k_neighbours(x.view(), k, Metric::SqEuclidean))
    } else {
        let q = seeded_rows(n, max_queries.max(1), seed);
        let nb = top_k_of_queries(x.view(), &q, k, Metric::SqEuclidean);
        (Some(q), nb)
    };
    let m = nb.idx.len() / k;
    let sum_ln_r: f64 = nb
        .idx
        .par_chunks(k)
        .enumerate()
        .map(|(r, row)| {
            let i = queries.as_ref().map_or(r, |q| q[r]);
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
    let nats = digamma(nf) - digamma(k as f64) + ln_unit_ball + df / m as f64 * sum_ln_r;
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

/// Rows scaled to unit L2 norm (see [`unit_into`]); zero rows stay zero.
#[cfg_attr(not(any(test, feature = "train")), allow(dead_code))]
pub(crate) fn normalise_rows(x: ArrayView2<f32>) -> Array2<f32> {
    let x = x.as_standard_layout();
    let mut out = Array2::zeros(x.dim());
    let d = x.ncols().max(1);
    if let (Some(src), Some(dst)) = (x.as_slice(), out.as_slice_mut()) {
        dst.par_chunks_mut(d)
            .zip(src.par_chunks(d))
            .for_each(|(o, r)| unit_into(r, o));
    }
    out
}

/// `out = row / |row|`, the norm summed in f64 by [`sq_norm`] and each
/// value divided in f64; a zero row is copied as it is.
pub(crate) fn unit_into(row: &[f32], out: &mut [f32]) {
    divide_into(row, sq_norm(row).sqrt(), out);
}

/// `out = row / norm` in f64 (`row` itself when `norm` is 0).
#[multiversion(targets("x86_64+avx512f", "x86_64+avx2+fma"))]
fn divide_into(row: &[f32], norm: f64, out: &mut [f32]) {
    if norm > 0.0 {
        for (o, &v) in out.iter_mut().zip(row) {
            *o = (f64::from(v) / norm) as f32;
        }
    } else {
        out.copy_from_slice(row);
    }
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
/// `1 <= k < n`. For [`Metric::Cosine`] the rows are scaled to unit norm
/// here (as [`normalise_rows`] does), so `x` may be raw.
///
/// Each unordered pair is scored once. The rows are first copied in
/// [`locality_order`], so that a row block holds mostly rows near each
/// other. Row block I (rows `r0..r0+B`) is then multiplied by itself and by
/// the columns `r0+B..n` in column blocks, and every pair `(i, j)` with
/// `j > i` is offered to both rows' lists. The diagonal blocks all run
/// first: they give each row's list a high k-th score early, so that most
/// far pairs after them are rejected by one compare.
///
/// Tasks run in parallel, each worker (at most one per thread) keeping its
/// own [`TopK`] table of all n rows; the tables are merged at the end. Lists hold the
/// rows' original indices under the total order (score descending, index
/// ascending), and every pair's score is computed exactly once by a fixed
/// block layout, so the result does not depend on the thread count, on
/// which worker ran which task, or on the order of the merges.
fn top_k_neighbours(x: ArrayView2<f32>, k: usize, metric: Metric) -> Neighbours {
    let x = x.as_standard_layout();
    let (n, d) = x.dim();
    debug_assert!(k >= 1 && k < n);
    let Some(raw) = x.as_slice() else {
        return Neighbours {
            idx: Vec::new(),
            score: Vec::new(),
        };
    };
    // ids[p]: the original index of the p-th row in search order.
    let ids = locality_order(raw, n, d, metric);
    let mut xs = vec![0f32; n * d];
    xs.par_chunks_mut(d.max(1)).zip(&ids).for_each(|(dst, &i)| {
        let src = &raw[i as usize * d..(i as usize + 1) * d];
        match metric {
            Metric::Cosine => unit_into(src, dst),
            Metric::SqEuclidean => dst.copy_from_slice(src),
        }
    });
    let sq_norms: Vec<f32> = match metric {
        Metric::Cosine => Vec::new(),
        Metric::SqEuclidean => xs.par_chunks(d.max(1)).map(|r| sq_norm(r) as f32).collect(),
    };
    // Tasks 0..blocks: the diagonal blocks; then the rest of each row
    // block, largest (those starting at low rows) first, for load balance.
    // One table and one slab per worker (bounded memory, see `workers`).
    let starts: Vec<usize> = (0..n).step_by(ROW_BLOCK).collect();
    let blocks = starts.len();
    let slab_len = ROW_BLOCK.min(n) * COL_BLOCK.max(ROW_BLOCK).min(n);
    let bound = SharedBound::new(n);
    let tables = super::workers::run(
        2 * blocks,
        || (TopK::new(n, k), vec![0f32; slab_len]),
        |(table, slab), task| {
            // Scores rows `rs` against columns `cs` (cs.start >= rs.start)
            // and offers the pairs above the diagonal.
            let mut score = |rs: Range<usize>, cs: Range<usize>| {
                let sv = &mut slab[..rs.len() * cs.len()];
                gemm_nt(
                    &xs[rs.start * d..rs.end * d],
                    &xs[cs.start * d..cs.end * d],
                    d,
                    sv,
                );
                bound.tighten(table, rs.clone());
                bound.tighten(table, cs.clone());
                for (i, srow) in rs.clone().zip(sv.chunks_exact_mut(cs.len())) {
                    if metric == Metric::SqEuclidean {
                        neg_sq_distances(srow, sq_norms[i], &sq_norms[cs.clone()]);
                    }
                    // Only j > i: pairs below the diagonal belong to earlier blocks.
                    let first = (i + 1).max(cs.start) - cs.start;
                    offer_pairs(table, &ids, i, &srow[first..], cs.start + first);
                }
                bound.publish(table, rs.clone());
                bound.publish(table, cs);
            };
            let r0 = starts[task % blocks];
            let r1 = (r0 + ROW_BLOCK).min(n);
            if task < blocks {
                // The diagonal block in strips of DIAGONAL_STRIP rows, each
                // against the columns from its own first row on: only the
                // strips' own diagonal squares are scored twice.
                for a0 in (r0..r1).step_by(DIAGONAL_STRIP) {
                    score(a0..(a0 + DIAGONAL_STRIP).min(r1), a0..r1);
                }
            } else {
                for c0 in (r1..n).step_by(COL_BLOCK) {
                    score(r0..r1, c0..(c0 + COL_BLOCK).min(n));
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
    let (idx, score) = merged
        .unwrap_or_else(|| TopK::new(n, k))
        .into_lists_at(&ids);
    Neighbours { idx, score }
}

/// A search order that keeps near rows together: each row goes to the
/// nearest of a seeded sample of pivot rows, one per row block (cosine: the
/// highest x.p / |p|; Euclidean: the highest 2 x.p - |p|^2), and the rows
/// are sorted by pivot, stably. Returns the original row indices in that
/// order. Its n x pivots product is about 2 / ROW_BLOCK (1/256) of the
/// search's n^2 / 2 pairs.
fn locality_order(x: &[f32], n: usize, d: usize, metric: Metric) -> Vec<u32> {
    if d == 0 {
        // No columns: every row is as near as any other.
        return (0..n as u32).collect();
    }
    let p = n.div_ceil(ROW_BLOCK).clamp(1, n);
    let mut pv = Vec::with_capacity(p * d);
    for i in seeded_rows(n, p, LOCALITY_SEED) {
        pv.extend_from_slice(&x[i * d..(i + 1) * d]);
    }
    // A pivot's score is dot * mul + add.
    let (mul, add): (Vec<f32>, Vec<f32>) = pv
        .chunks(d)
        .map(|r| {
            let s = sq_norm(r);
            match metric {
                Metric::Cosine if s > 0.0 => ((1.0 / s.sqrt()) as f32, 0.0),
                Metric::Cosine => (0.0, 0.0),
                Metric::SqEuclidean => (2.0, -(s as f32)),
            }
        })
        .unzip();
    let cell: Vec<u32> = x
        .par_chunks(ROW_BLOCK * d)
        .flat_map_iter(|xb| {
            let mut dots = vec![0f32; xb.len() / d * p];
            gemm_nt(xb, &pv, d, &mut dots);
            dots.chunks(p)
                .map(|r| {
                    let mut best = (f32::NEG_INFINITY, 0u32);
                    for (c, &v) in r.iter().enumerate() {
                        let s = v * mul[c] + add[c];
                        if s > best.0 {
                            best = (s, c as u32);
                        }
                    }
                    best.1
                })
                .collect::<Vec<u32>>()
        })
        .collect();
    let mut ids: Vec<u32> = (0..n as u32).collect();
    ids.sort_by_key(|&i| cell[i as usize]);
    ids
}

/// Seed of [`locality_order`]'s pivots (fixed: the order changes how fast
/// the search runs, not what it finds).
const LOCALITY_SEED: u64 = 0x6b6e_6e5f_6f72_6472;

/// Both sides of a symmetric slab row: `scores[c]` is the score of the pair
/// (i, j0 + c), all with j0 + c > i, and each pair enters row i's list as
/// neighbour j and row j's list as neighbour i. One pass reads the scores:
/// a chunk of 16 is skipped with two vector compares when every score is
/// below both row i's k-th score and each row j's (a list's k-th score only
/// rises, so no pair that would enter is skipped; `offer` re-checks each).
#[multiversion(targets("x86_64+avx512f+avx512bw", "x86_64+avx2+fma"))]
fn offer_pairs(table: &mut TopK, ids: &[u32], i: usize, scores: &[f32], j0: usize) {
    let mut j = j0;
    for chunk in scores.chunks(16) {
        let wi = table.worst[i];
        let wj = &table.worst[j..j + chunk.len()];
        let mut hits = chunk
            .iter()
            .zip(wj)
            .enumerate()
            .fold(0u32, |h, (c, (&s, &w))| {
                h | (u32::from((s >= wi) | (s >= w)) << c)
            });
        while hits != 0 {
            let c = hits.trailing_zeros() as usize;
            hits &= hits - 1;
            table.offer(i, chunk[c], ids[j + c]);
            table.offer(j + c, chunk[c], ids[i]);
        }
        j += chunk.len();
    }
}

/// Offer candidates `j0 + c` with scores `scores[c]` to list `row`, except
/// candidate `skip` (the query itself); chunks of 16 below the list's k-th
/// score are skipped with one vector compare.
#[multiversion(targets("x86_64+avx512f+avx512bw", "x86_64+avx2+fma"))]
fn offer_row(table: &mut TopK, row: usize, scores: &[f32], j0: usize, skip: usize) {
    let mut j = j0;
    for chunk in scores.chunks(16) {
        let w = table.worst[row];
        if chunk.iter().fold(false, |h, &s| h | (s >= w)) {
            for (c, &sc) in chunk.iter().enumerate() {
                if j + c != skip {
                    table.offer(row, sc, (j + c) as u32);
                }
            }
        }
        j += chunk.len();
    }
}

/// `row[c] *= f[c]` (cosine from raw dot products and inverse norms).
#[multiversion(targets("x86_64+avx512f", "x86_64+avx2+fma"))]
fn scale_columns(row: &mut [f32], f: &[f32]) {
    for (v, &s) in row.iter_mut().zip(f) {
        *v *= s;
    }
}

/// Dot products to negated squared distances `-(ni - 2 v + nj)` (at most 0).
#[multiversion(targets("x86_64+avx512f", "x86_64+avx2+fma"))]
fn neg_sq_distances(row: &mut [f32], ni: f32, nj: &[f32]) {
    for (v, &n) in row.iter_mut().zip(nj) {
        *v = -(ni - 2.0 * *v + n).max(0.0);
    }
}

/// The `k` nearest of all other rows for each row of `queries` (row
/// indices), nearest first, flattened `queries.len() x k` in query order.
/// Requires `1 <= k < n`.
///
/// No normalised or centred copy of `x` is made: each task gathers its
/// block of queries (scaled to unit norm for cosine), multiplies it with
/// the raw rows a column block at a time, and turns the dot products into
/// scores with the rows' inverse norms (cosine) or squared norms
/// (Euclidean). Each query's list is built by one task under the total
/// order of [`top_k_neighbours`], so the result does not depend on the
/// thread count.
///
/// Cosine on a processor with AVX512-BF16 screens in bf16 (see
/// [`screen_block`]): the same lists, from about half the GEMM time.
fn top_k_of_queries(x: ArrayView2<f32>, queries: &[usize], k: usize, metric: Metric) -> Neighbours {
    let screen = metric == Metric::Cosine && bf16::available();
    top_k_of_queries_with(x, queries, k, metric, screen)
}

/// Per worker of [`top_k_of_queries_with`]: its buffers and its tasks' lists.
#[derive(Default)]
struct QueryWork {
    /// The task's queries (unit rows for cosine), `d` values each.
    queries: Vec<f32>,
    /// One slab of scores.
    slab: Vec<f32>,
    /// Screening: the queries rounded to bf16, packed, and their errors.
    packed: Vec<u32>,
    rounded: Vec<u16>,
    query_err: Vec<f32>,
    /// Screening: one column block's rows rounded to bf16, and their errors.
    rows: Vec<u16>,
    row_err: Vec<f32>,
    lists: Vec<(usize, TopK)>,
}

/// [`top_k_of_queries`], screening in bf16 or not (the tests take both
/// paths on any processor: without AVX512-BF16 the bf16 products are
/// computed by a plain loop).
fn top_k_of_queries_with(
    x: ArrayView2<f32>,
    queries: &[usize],
    k: usize,
    metric: Metric,
    screen: bool,
) -> Neighbours {
    let x = x.as_standard_layout();
    let (n, d) = x.dim();
    debug_assert!(k >= 1 && k < n);
    let Some(xs) = x.as_slice() else {
        return Neighbours {
            idx: Vec::new(),
            score: Vec::new(),
        };
    };
    let sq: Vec<f64> = xs.par_chunks(d.max(1)).map(sq_norm).collect();
    // Per column: the inverse norm (cosine; 0 for a zero row, whose
    // similarity is then 0 to every row) or the squared norm (Euclidean).
    let col: Vec<f32> = match metric {
        Metric::Cosine => sq
            .iter()
            .map(|&s| {
                if s > 0.0 {
                    (1.0 / s.sqrt()) as f32
                } else {
                    0.0
                }
            })
            .collect(),
        Metric::SqEuclidean => sq.iter().map(|&s| s as f32).collect(),
    };
    let screen = screen && metric == Metric::Cosine && d > 0;
    let m = queries.len();
    let qb = query_block(m, rayon::current_num_threads());
    let tasks = m.div_ceil(qb);
    let cols = QUERY_COL_BLOCK.min(n);
    let done = super::workers::run(tasks, QueryWork::default, |work, task| {
        let qs = &queries[task * qb..((task + 1) * qb).min(m)];
        work.queries.clear();
        work.queries.resize(qs.len() * d, 0.0);
        for (&i, q) in qs.iter().zip(work.queries.chunks_exact_mut(d.max(1))) {
            let row = &xs[i * d..(i + 1) * d];
            match metric {
                // As `unit_into` scales a row.
                Metric::Cosine => divide_into(row, sq[i].sqrt(), q),
                Metric::SqEuclidean => q.copy_from_slice(row),
            }
        }
        let mut table = TopK::new(qs.len(), k);
        if screen {
            screen_block(work, &mut table, qs, xs, d, &col, cols);
        } else {
            work.slab.resize(qs.len() * cols, 0.0);
            for c0 in (0..n).step_by(cols) {
                let w = cols.min(n - c0);
                let sv = &mut work.slab[..qs.len() * w];
                gemm_nt(&work.queries, &xs[c0 * d..(c0 + w) * d], d, sv);
                for (r, srow) in sv.chunks_exact_mut(w).enumerate() {
                    let i = qs[r];
                    match metric {
                        Metric::Cosine => scale_columns(srow, &col[c0..c0 + w]),
                        Metric::SqEuclidean => neg_sq_distances(srow, col[i], &col[c0..c0 + w]),
                    }
                    offer_row(&mut table, r, srow, c0, i);
                }
            }
        }
        work.lists.push((task, table));
    });
    let mut parts: Vec<(usize, TopK)> = done.into_iter().flat_map(|w| w.lists).collect();
    parts.sort_unstable_by_key(|(t, _)| *t);
    let mut idx = Vec::with_capacity(m * k);
    let mut score = Vec::with_capacity(m * k);
    for (_, t) in parts {
        t.append_lists(&mut idx, &mut score);
    }
    Neighbours { idx, score }
}

/// Cosine lists of the task's queries `qs` (unit rows in `work.queries`)
/// against all rows, screened in bf16.
///
/// Every row, scaled to unit norm, and every query are rounded to bf16 with
/// their rounding errors e (norms of the differences), and multiplied with
/// [`bf16::product`] at twice the f32 GEMM's rate. The bf16 score b of a
/// pair is within `slack = e_q + e_j + e_q e_j +` [`bf16::sum_slack`] of
/// its f32 cosine s (the module's bound), so a pair with
/// `b + slack < ` the query's k-th score so far has `s` below the final
/// k-th score and cannot be among the k nearest; every other pair's f32
/// score is computed (as the unscreened search computes it: the unit query
/// times the raw row, times the row's inverse norm, summed in a fixed
/// order) and offered. The lists are those of the f32 scores of every pair.
/// At 50,000 x 2,048 (the benchmark's mixture, 10,000 queries, k = 20)
/// about 230 of a query's 50,000 pairs are recomputed.
fn screen_block(
    work: &mut QueryWork,
    table: &mut TopK,
    qs: &[usize],
    xs: &[f32],
    d: usize,
    col: &[f32],
    cols: usize,
) {
    let (n, words) = (xs.len() / d, bf16::words(d));
    let qn = qs.len();
    bf16::round_rows(&work.queries, d, &mut work.rounded, &mut work.query_err);
    bf16::pack_panels(&work.rounded, words, &mut work.packed);
    let sum_slack = bf16::sum_slack(d);
    work.slab.resize(cols * qn, 0.0);
    work.rows.resize(cols * 2 * words, 0);
    for c0 in (0..n).step_by(cols) {
        let w = cols.min(n - c0);
        work.row_err.clear();
        for (j, out) in work.rows.chunks_exact_mut(2 * words).take(w).enumerate() {
            let row = &xs[(c0 + j) * d..(c0 + j + 1) * d];
            work.row_err.push(bf16::round_row(row, col[c0 + j], out));
        }
        // Row j of the slab: column block row c0 + j against every query.
        let sv = &mut work.slab[..w * qn];
        bf16::product(&work.rows[..w * 2 * words], words, &work.packed, qn, sv);
        for (jl, (sims, &e_j)) in sv.chunks_exact(qn).zip(&work.row_err).enumerate() {
            let j = c0 + jl;
            let row = &xs[j * d..(j + 1) * d];
            let base = e_j + sum_slack;
            let grow = 1.0 + e_j;
            for (r0, chunk) in (0..qn).step_by(16).zip(sims.chunks(16)) {
                let worst = &table.worst[r0..r0 + chunk.len()];
                let errs = &work.query_err[r0..r0 + chunk.len()];
                let hit = chunk
                    .iter()
                    .zip(worst)
                    .zip(errs)
                    .fold(false, |h, ((&b, &w), &e)| h | (b + (e * grow + base) >= w));
                if !hit {
                    continue;
                }
                for (c, &b) in chunk.iter().enumerate() {
                    let r = r0 + c;
                    if b + (work.query_err[r] * grow + base) >= table.worst[r] && qs[r] != j {
                        let q = &work.queries[r * d..(r + 1) * d];
                        table.offer(r, dot_f32(q, row) * col[j], j as u32);
                    }
                }
            }
        }
    }
}

/// Per row, the highest k-th score any worker's list has reached, shared
/// by the workers of [`top_k_neighbours`]: each keeps its own lists (its
/// share of the pairs), so a worker's own k-th score alone rises slowly.
/// A candidate below another worker's k-th score cannot be among the row's
/// k best (that worker holds k better ones), so each worker filters with the
/// higher of the two. Exchanged once per slab for the slab's rows and
/// columns (relaxed atomics; any value read was a real k-th score, so a
/// stale one only filters less).
struct SharedBound(Vec<AtomicU32>);

impl SharedBound {
    fn new(n: usize) -> Self {
        SharedBound(
            (0..n)
                .map(|_| AtomicU32::new(order_key(f32::NEG_INFINITY)))
                .collect(),
        )
    }

    /// Raise `table`'s filter for `rows` to the shared bound.
    fn tighten(&self, table: &mut TopK, rows: std::ops::Range<usize>) {
        for (w, b) in table.worst[rows.clone()].iter_mut().zip(&self.0[rows]) {
            *w = w.max(from_order_key(b.load(Ordering::Relaxed)));
        }
    }

    /// Share the k-th scores of `table`'s full lists among `rows`.
    fn publish(&self, table: &TopK, rows: std::ops::Range<usize>) {
        for row in rows {
            if table.len[row] as usize == table.k {
                let key = order_key(table.kth(row));
                if key > self.0[row].load(Ordering::Relaxed) {
                    self.0[row].fetch_max(key, Ordering::Relaxed);
                }
            }
        }
    }
}

/// The list key of neighbour `j` with score `s`: higher is better, by score
/// and then by lower index (-0.0 counts as 0.0, as `==` has it), so one
/// integer compare decides the total order of the lists.
fn list_key(s: f32, j: u32) -> u64 {
    (u64::from(order_key(s + 0.0)) << 32) | u64::from(!j)
}

/// Entries per insert step of a [`TopK`] list (one 512-bit vector of keys).
pub(crate) const LIST_LANES: usize = 8;

/// One sorted top-k list per row, best first, each padded to `stride`
/// entries (`k` rounded up to [`LIST_LANES`]) so that an insert is a few
/// whole-vector steps.
struct TopK {
    k: usize,
    stride: usize,
    /// [`list_key`]s, `stride` per row. Unused entries are 0 (below every
    /// key); entries past the k-th are whatever was pushed down there.
    key: Vec<u64>,
    len: Vec<u32>,
    /// Score of each row's k-th entry once full, else -inf: a cheap first
    /// rejection that reads one contiguous array.
    worst: Vec<f32>,
}

impl TopK {
    fn new(n: usize, k: usize) -> Self {
        let stride = k.next_multiple_of(LIST_LANES);
        TopK {
            k,
            stride,
            key: vec![0; n * stride],
            len: vec![0; n],
            worst: vec![f32::NEG_INFINITY; n],
        }
    }

    /// Offer neighbour `j` with score `s` to `row`'s list. The common case,
    /// a candidate below the row's k-th score, costs one compare.
    #[inline(always)]
    fn offer(&mut self, row: usize, s: f32, j: u32) {
        if s >= self.worst[row] {
            self.insert(row, list_key(s, j));
        }
    }

    #[inline(always)]
    fn insert(&mut self, row: usize, key: u64) {
        let (k, stride) = (self.k, self.stride);
        let list = &mut self.key[row * stride..(row + 1) * stride];
        if key <= list[k - 1] {
            return;
        }
        insert_sorted(list, key);
        if self.len[row] < k as u32 {
            self.len[row] += 1;
        }
        if self.len[row] as usize == k {
            // At least another worker's k-th score (see `SharedBound`).
            self.worst[row] = self.worst[row].max(self.kth(row));
        }
    }

    /// The score of `row`'s last entry (its k-th once full).
    fn kth(&self, row: usize) -> f32 {
        key_score(self.key[row * self.stride + self.k - 1])
    }

    fn merge(mut self, other: TopK) -> TopK {
        let stride = self.stride;
        for row in 0..self.len.len() {
            let at = row * stride;
            for &key in &other.key[at..at + other.len[row] as usize] {
                self.offer(row, key_score(key), key_index(key));
            }
        }
        self
    }

    /// `row`'s neighbour indices and scores, best first, into `idx` and
    /// `score` (`k` each; missing entries index `u32::MAX`, score -inf).
    fn write_list(&self, row: usize, idx: &mut [u32], score: &mut [f32]) {
        let len = self.len[row] as usize;
        let list = &self.key[row * self.stride..row * self.stride + self.k];
        for (e, ((&key, i), s)) in list.iter().zip(idx).zip(score).enumerate() {
            (*i, *s) = if e < len {
                (key_index(key), key_score(key))
            } else {
                (u32::MAX, f32::NEG_INFINITY)
            };
        }
    }

    /// Append the lists, `k` entries per row (see [`TopK::write_list`]).
    fn append_lists(self, idx: &mut Vec<u32>, score: &mut Vec<f32>) {
        let (k, at, rows) = (self.k, idx.len(), self.len.len());
        idx.resize(at + rows * k, 0);
        score.resize(at + rows * k, 0.0);
        for row in 0..self.len.len() {
            let r = at + row * k..at + (row + 1) * k;
            self.write_list(row, &mut idx[r.clone()], &mut score[r]);
        }
    }

    /// The lists with row p's at row `place[p]` (a permutation of the rows).
    fn into_lists_at(self, place: &[u32]) -> (Vec<u32>, Vec<f32>) {
        let k = self.k;
        let mut idx = vec![0; self.len.len() * k];
        let mut score = vec![0.0; self.len.len() * k];
        for (row, &p) in place.iter().enumerate() {
            let r = p as usize * k..(p as usize + 1) * k;
            self.write_list(row, &mut idx[r.clone()], &mut score[r]);
        }
        (idx, score)
    }

    /// [`TopK::append_lists`] into new vectors.
    #[cfg(test)]
    fn into_lists(self) -> (Vec<u32>, Vec<f32>) {
        let (mut idx, mut score) = (Vec::new(), Vec::new());
        self.append_lists(&mut idx, &mut score);
        (idx, score)
    }
}

/// The score of a [`list_key`].
fn key_score(key: u64) -> f32 {
    from_order_key((key >> 32) as u32)
}

/// The neighbour index of a [`list_key`].
fn key_index(key: u64) -> u32 {
    !(key as u32)
}

/// Put `key` into its place in the descending `list` (a whole number of
/// [`LIST_LANES`]; unused entries are 0, below every key), dropping the
/// last entry. Branch-free: entry q becomes max(old[q], min(old[q - 1],
/// key)) with old[-1] = +inf, which is old[q] above the new key's place,
/// the key at it and old[q - 1] below it; one vector step per LIST_LANES.
#[inline(always)]
fn insert_sorted(list: &mut [u64], key: u64) {
    let mut carry = u64::MAX;
    for chunk in list.chunks_exact_mut(LIST_LANES) {
        let mut old = [0u64; LIST_LANES];
        old.copy_from_slice(chunk);
        for (q, v) in chunk.iter_mut().enumerate() {
            let above = if q == 0 { carry } else { old[q - 1] };
            *v = old[q].max(above.min(key));
        }
        carry = old[LIST_LANES - 1];
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
    use ndarray::{array, s, Array2};

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
    fn sampled_knn_accuracy_averages_the_hand_verdicts_of_the_sampled_rows() {
        // The six rows of the tie test, k = 2: verdicts right, right, wrong,
        // right, wrong, wrong (worked out there). Up to 6 queries the value
        // is the exact 3 / 6; with 3 queries it is the share of right
        // verdicts among the 3 rows drawn, each still voted by its 2 nearest
        // of all 6 rows.
        let x = at_angles(&[0.0, 10.0, 25.0, 45.0, 70.0, 100.0]);
        let y = [0, 0, 1, 1, 0, 1];
        assert_eq!(knn_accuracy_sampled(x.view(), &y, 2, 6, 0), Some(0.5));
        assert_eq!(knn_accuracy_sampled(x.view(), &y, 2, 100, 9), Some(0.5));
        let right = [true, true, false, true, false, false];
        for seed in 0..8 {
            let q = seeded_rows(6, 3, seed);
            let want = q.iter().filter(|&&i| right[i]).count() as f64 / 3.0;
            assert_eq!(
                knn_accuracy_sampled(x.view(), &y, 2, 3, seed),
                Some(want),
                "seed {seed}, queries {q:?}"
            );
        }
    }

    /// Rows of a fixed pseudo-random pattern (no two pairs tie in f32).
    fn scattered(n: usize, d: usize) -> Array2<f32> {
        use rand::{Rng, SeedableRng};
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(42);
        Array2::from_shape_fn((n, d), |_| rng.gen::<f32>() - 0.5)
    }

    /// Brute force in f64: each query's `k` nearest other rows (highest
    /// score first, lower index on ties), by cosine or negated squared distance.
    fn brute_neighbours(x: &Array2<f32>, i: usize, k: usize, cosine: bool) -> Vec<u32> {
        let row = |r: usize| x.row(r).iter().map(|&v| f64::from(v)).collect::<Vec<_>>();
        let xi = row(i);
        let norm = |v: &[f64]| v.iter().map(|a| a * a).sum::<f64>().sqrt();
        let mut scored: Vec<(f64, usize)> = (0..x.nrows())
            .filter(|&j| j != i)
            .map(|j| {
                let xj = row(j);
                let dot: f64 = xi.iter().zip(&xj).map(|(a, b)| a * b).sum();
                let s = if cosine {
                    dot / (norm(&xi) * norm(&xj))
                } else {
                    -xi.iter()
                        .zip(&xj)
                        .map(|(a, b)| (a - b) * (a - b))
                        .sum::<f64>()
                };
                (s, j)
            })
            .collect();
        scored.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
        scored.iter().take(k).map(|&(_, j)| j as u32).collect()
    }

    #[test]
    fn sampled_queries_get_their_exact_neighbours_among_all_rows() {
        // 450 rows: 10 query blocks of 48 and 3 column blocks of 200 under test.
        let x = scattered(450, 6);
        let q = seeded_rows(450, 100, 3);
        for (metric, screen) in [
            (Metric::Cosine, false),
            (Metric::Cosine, true),
            (Metric::SqEuclidean, false),
        ] {
            let nb = top_k_of_queries_with(x.view(), &q, 4, metric, screen);
            for (r, &i) in q.iter().enumerate() {
                let want = brute_neighbours(&x, i, 4, metric == Metric::Cosine);
                assert_eq!(
                    &nb.idx[r * 4..(r + 1) * 4],
                    &want[..],
                    "{metric:?} screen {screen} query {i}"
                );
            }
        }
    }

    /// `n` rows of `d` columns around 3 centres, close enough that many
    /// cosines of a query lie within bf16 rounding of its k-th, with a zero
    /// row and two duplicated rows.
    fn crowded(n: usize, d: usize) -> Array2<f32> {
        use rand::{Rng, SeedableRng};
        use rand_distr::{Distribution, StandardNormal};
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
        let centres: Vec<Vec<f32>> = (0..3)
            .map(|_| (0..d).map(|_| StandardNormal.sample(&mut rng)).collect())
            .collect();
        let mut x = Array2::from_shape_fn((n, d), |(i, j)| {
            let z: f32 = StandardNormal.sample(&mut rng);
            centres[i % 3][j] + 0.05 * z
        });
        x.row_mut(5).fill(0.0);
        let dup = x.row(9).to_owned();
        x.row_mut(10).assign(&dup);
        x.row_mut(11).assign(&(&dup * 2.0));
        x.row_mut(12).mapv_inplace(|v| v * rng.gen_range(1e-3..1e3));
        x
    }

    #[test]
    fn screened_search_keeps_the_lists_of_the_unscreened_one() {
        // Close rows at d = 300: a query's cosines to its own centre's rows
        // span about 0.003, under the bf16 slack (about 0.005), so most
        // pairs are recomputed and the bound decides which.
        let x = crowded(400, 300);
        let mut q = seeded_rows(400, 90, 1);
        q.extend([5, 9, 10, 11, 12]);
        for k in [1, 4, 17] {
            let plain = top_k_of_queries_with(x.view(), &q, k, Metric::Cosine, false);
            let screened = top_k_of_queries_with(x.view(), &q, k, Metric::Cosine, true);
            assert_eq!(plain.idx.len(), q.len() * k);
            for (r, &i) in q.iter().enumerate() {
                let (a, b) = (
                    &plain.idx[r * k..(r + 1) * k],
                    &screened.idx[r * k..(r + 1) * k],
                );
                // The f32 scores of the two paths round in other orders:
                // where the lists differ, the scores must be within that.
                if a != b {
                    for (&sa, &sb) in plain.score[r * k..(r + 1) * k]
                        .iter()
                        .zip(&screened.score[r * k..(r + 1) * k])
                    {
                        assert!((sa - sb).abs() <= 1e-5, "k {k} query {i}: {a:?} vs {b:?}");
                    }
                }
                assert_eq!(
                    &brute_neighbours(&x, i, k, true)[..1],
                    &b[..1],
                    "k {k} query {i}"
                );
            }
        }
        // A duplicated row is its twin's nearest (cosine 1, exactly).
        let nb = top_k_of_queries_with(x.view(), &[10], 2, Metric::Cosine, true);
        assert_eq!(&nb.idx[..2], &[9, 11]);
    }

    #[test]
    fn bf16_scores_lie_within_the_slack_of_the_f32_cosines() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
        for d in [2, 7, 64, 2048] {
            // Values that round by nearly half a bf16 ulp, of both signs,
            // and plain random ones.
            let awkward = |rng: &mut rand_chacha::ChaCha8Rng| {
                let e = rng.gen_range(-6..6);
                let sign = if rng.gen::<bool>() { 1.0 } else { -1.0 };
                sign * (1.0 + (2.0 * rng.gen_range(0..64) as f32 + 0.999) * 2f32.powi(-8))
                    * 2f32.powi(e)
            };
            let rows: Vec<Vec<f32>> = (0..40)
                .map(|i| {
                    (0..d)
                        .map(|_| {
                            if i % 2 == 0 {
                                awkward(&mut rng)
                            } else {
                                rng.gen::<f32>() - 0.5
                            }
                        })
                        .collect()
                })
                .collect();
            let w = bf16::words(d);
            let inv: Vec<f32> = rows
                .iter()
                .map(|r| (1.0 / sq_norm(r).sqrt()) as f32)
                .collect();
            let units: Vec<Vec<f32>> = rows
                .iter()
                .map(|r| {
                    let mut u = vec![0f32; d];
                    divide_into(r, sq_norm(r).sqrt(), &mut u);
                    u
                })
                .collect();
            let mut rounded = vec![0u16; 40 * 2 * w];
            let mut q_err = Vec::new();
            for (u, o) in units.iter().zip(rounded.chunks_exact_mut(2 * w)) {
                q_err.push(bf16::round_row(u, 1.0, o));
            }
            let mut packed = Vec::new();
            bf16::pack_panels(&rounded, w, &mut packed);
            let mut r_rounded = vec![0u16; 40 * 2 * w];
            let mut r_err = Vec::new();
            for ((r, &s), o) in rows.iter().zip(&inv).zip(r_rounded.chunks_exact_mut(2 * w)) {
                r_err.push(bf16::round_row(r, s, o));
            }
            let mut b = vec![0f32; 40 * 40];
            bf16::product(&r_rounded, w, &packed, 40, &mut b);
            for j in 0..40 {
                for q in 0..40 {
                    let s = dot_f32(&units[q], &rows[j]) * inv[j];
                    let slack = q_err[q] * (1.0 + r_err[j]) + r_err[j] + bf16::sum_slack(d);
                    let got = b[j * 40 + q];
                    assert!(
                        (got - s).abs() <= slack,
                        "d {d} ({q}, {j}): bf16 {got} vs f32 {s}, slack {slack}"
                    );
                }
            }
        }
    }

    #[test]
    fn sampled_knn_accuracy_is_the_exact_vote_of_the_seeded_queries() {
        let x = scattered(450, 6);
        let y: Vec<i64> = (0..450).map(|i| (i * 7 % 5) as i64).collect();
        let classes = dense_classes(&y);
        // Below the threshold: the exact value, whatever the seed.
        let exact = knn_accuracy(x.view(), &y, 5);
        assert_eq!(knn_accuracy_sampled(x.view(), &y, 5, 450, 11), exact);
        let brute_all = (0..450)
            .filter(|&i| vote(&brute_neighbours(&x, i, 5, true), &classes) == classes[i])
            .count() as f64
            / 450.0;
        assert_eq!(exact, Some(brute_all));
        // Above it: the brute-force vote over the seeded queries only.
        for seed in [0, 1] {
            let q = seeded_rows(450, 120, seed);
            let right = q
                .iter()
                .filter(|&&i| vote(&brute_neighbours(&x, i, 5, true), &classes) == classes[i])
                .count();
            let got = knn_accuracy_sampled(x.view(), &y, 5, 120, seed);
            assert_eq!(got, Some(right as f64 / 120.0), "seed {seed}");
            assert_eq!(got, knn_accuracy_sampled(x.view(), &y, 5, 120, seed));
        }
        assert_ne!(seeded_rows(450, 120, 0), seeded_rows(450, 120, 1));
    }

    #[test]
    fn sampled_kl_entropy_averages_the_log_distances_of_the_queries() {
        let x = scattered(450, 3);
        let (n, d, k) = (450usize, 3usize, 3usize);
        assert_eq!(
            kl_entropy_bits_sampled(x.view(), k, 450, 5).to_bits(),
            kl_entropy_bits(x.view(), k).to_bits()
        );
        let q = seeded_rows(n, 90, 5);
        let mean_ln_r = q
            .iter()
            .map(|&i| {
                let j = brute_neighbours(&x, i, k, false)[k - 1] as usize;
                let r2: f64 = x
                    .row(i)
                    .iter()
                    .zip(x.row(j).iter())
                    .map(|(&a, &b)| (f64::from(a) - f64::from(b)).powi(2))
                    .sum();
                r2.sqrt().ln()
            })
            .sum::<f64>()
            / 90.0;
        let ln_ball = 1.5 * std::f64::consts::PI.ln() - ln_gamma(2.5);
        let nats = digamma(n as f64) - digamma(k as f64) + ln_ball + d as f64 * mean_ln_r;
        let got = kl_entropy_bits_sampled(x.view(), k, 90, 5);
        assert!((got - nats / std::f64::consts::LN_2).abs() < 1e-9, "{got}");
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
        // No columns: every similarity is 0, so each row's nearest is the
        // lowest other index (p1 for p0, p0 for the rest): right, right,
        // wrong, wrong.
        let empty = Array2::<f32>::zeros((4, 0));
        assert_eq!(knn_accuracy(empty.view(), &[0, 0, 1, 1], 1), Some(0.5));
    }

    #[test]
    fn neighbour_lists_do_not_depend_on_the_thread_count() {
        // 700 rows (6 row blocks under test) of small integers: many equal
        // distances, so the shared k-th-score bound between workers must
        // keep ties (index order decides) and drop nothing it should keep.
        let x = Array2::from_shape_fn((700, 2), |(i, j)| ((i * 7 + j * 13) % 9) as f32);
        let run = |threads: usize| {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .expect("pool");
            pool.install(|| top_k_neighbours(x.view(), 6, Metric::SqEuclidean).idx)
        };
        let one = run(1);
        for threads in [2, 3, 5] {
            assert_eq!(run(threads), one, "{threads} threads");
        }
        for i in [0, 1, 99, 350, 699] {
            assert_eq!(
                &one[i * 6..(i + 1) * 6],
                brute_neighbours(&x, i, 6, false).as_slice()
            );
        }
        // Distinct scores on scattered rows, by cosine: exact for every row.
        let y = scattered(500, 5);
        let unit = normalise_rows(y.view());
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(4)
            .build()
            .expect("pool");
        let nb = pool.install(|| top_k_neighbours(unit.view(), 5, Metric::Cosine));
        for i in 0..500 {
            assert_eq!(
                &nb.idx[i * 5..(i + 1) * 5],
                brute_neighbours(&y, i, 5, true).as_slice(),
                "row {i}"
            );
        }
    }

    #[test]
    fn list_keys_order_by_score_then_lower_index_with_signed_zeros_equal() {
        assert!(list_key(0.5, 9) > list_key(0.25, 0));
        assert!(list_key(-0.25, 9) > list_key(-0.5, 0));
        assert!(list_key(0.5, 3) > list_key(0.5, 4));
        assert!(list_key(f32::NEG_INFINITY, 0) > 0, "0 is below every key");
        // -0.0 == 0.0, so the tie goes to the lower index either way.
        assert!(list_key(-0.0, 1) > list_key(0.0, 2));
        assert!(list_key(0.0, 1) > list_key(-0.0, 2));
        assert_eq!(key_score(list_key(-0.75, 7)), -0.75);
        assert_eq!(key_index(list_key(-0.75, 7)), 7);
    }

    #[test]
    fn a_full_list_keeps_the_k_best_of_its_offers_in_order() {
        let mut t = TopK::new(2, 3);
        for (s, j) in [(0.1, 5), (0.9, 1), (0.5, 2), (0.5, 0), (0.2, 3), (0.95, 4)] {
            t.offer(1, s, j);
        }
        let (idx, score) = t.into_lists();
        assert_eq!(&idx[..3], &[u32::MAX; 3], "row 0 got no offers");
        assert_eq!(&idx[3..], &[4, 1, 0]);
        assert_eq!(&score[3..], &[0.95, 0.9, 0.5]);
    }

    #[test]
    fn padded_lists_keep_the_k_best_across_insert_steps() {
        // k = 11: lists of 16 entries, two insert steps. 200 distinct
        // offers in a scrambled order; each list must be the 11 best,
        // best first, whichever step the new key lands in.
        let k = 11;
        let mut t = TopK::new(3, k);
        assert_eq!(t.stride, 16);
        let offers: Vec<(f32, u32)> = (0..200u32)
            .map(|j| (((j * 73) % 200) as f32 / 10.0 - 7.0, j))
            .collect();
        for &(s, j) in &offers {
            t.offer(2, s, j);
            if j % 3 == 0 {
                t.offer(0, -s, j);
            }
        }
        let best = |row: &mut Vec<(f32, u32)>| {
            row.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
            row.truncate(k);
            row.iter().map(|&(_, j)| j).collect::<Vec<u32>>()
        };
        let want2 = best(&mut offers.clone());
        let want0 = best(
            &mut offers
                .iter()
                .filter(|o| o.1 % 3 == 0)
                .map(|&(s, j)| (-s, j))
                .collect(),
        );
        let (idx, score) = t.into_lists();
        assert_eq!(&idx[..k], want0.as_slice());
        assert_eq!(&idx[k..2 * k], &[u32::MAX; 11], "row 1 got no offers");
        assert_eq!(&idx[2 * k..], want2.as_slice());
        assert!(score[2 * k..].windows(2).all(|w| w[0] > w[1]));
    }

    #[test]
    fn locality_order_is_a_permutation_sorted_by_nearest_pivot() {
        // Three tight groups of 150 rows, interleaved by index: the order
        // puts rows of the same nearest pivot together, pivots in sample order.
        let n = 450;
        let centres = [[10.0f32, 0.0], [0.0, 10.0], [-10.0, -10.0]];
        let x = Array2::from_shape_fn((n, 2), |(i, j)| {
            centres[i % 3][j] + ((i * 37 + j * 11) % 17) as f32 / 17.0
        });
        let xs = x.as_slice().expect("standard layout");
        for metric in [Metric::Cosine, Metric::SqEuclidean] {
            let ids = locality_order(xs, n, 2, metric);
            let mut sorted = ids.clone();
            sorted.sort_unstable();
            assert_eq!(sorted, (0..n as u32).collect::<Vec<_>>(), "{metric:?}");
            let pivots = seeded_rows(n, n.div_ceil(ROW_BLOCK), LOCALITY_SEED);
            let nearest = |i: usize| {
                let (xi, best) = (x.row(i), pivots.iter().enumerate());
                best.map(|(c, &p)| {
                    let xp = x.row(p);
                    let s = match metric {
                        Metric::Cosine => xi.dot(&xp) / xp.dot(&xp).sqrt(),
                        Metric::SqEuclidean => -(&xi - &xp).mapv(|v| v * v).sum(),
                    };
                    (s, c)
                })
                .fold((f32::NEG_INFINITY, 0), |b, e| if e.0 > b.0 { e } else { b })
                .1
            };
            let cells: Vec<usize> = ids.iter().map(|&i| nearest(i as usize)).collect();
            assert!(cells.windows(2).all(|w| w[0] <= w[1]), "{metric:?}");
            // Within a cell, the original order (stable).
            assert!(ids
                .windows(2)
                .zip(cells.windows(2))
                .all(|(i, c)| c[0] != c[1] || i[0] < i[1]));
        }
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
