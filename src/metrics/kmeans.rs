//! k-means: greedy k-means++ seeding and Lloyd iterations (GEMM distances).
//!
//! Follows scikit-learn's `KMeans(algorithm="lloyd")`: rows are centred,
//! seeding is greedy k-means++ (`2 + floor(ln k)` candidates per centre, the
//! one that lowers the potential most is kept), Lloyd iterations run until
//! the assignment stops changing (or `max_iter`), an empty cluster is moved
//! to the row farthest from its centre, and the best of `n_init` runs wins.
//!
//! Every pass over the rows is parallel over fixed row blocks; per-block
//! partial results are combined in block order, so the result depends only
//! on the seed (and not on the thread count or scheduling).
//!
//! The runs are independent, but they are stepped together: each pass over
//! the rows (a k-means++ step, a Lloyd assignment, the final inertia) serves
//! every run still going, of every clustering asked for at once
//! (`kmeans_many`). The rows are read from memory once per pass instead of
//! once per run, and the distance products are wider and run closer to the
//! machine's GEMM rate.

use super::pairwise::{add_i64, block_rows, gemm_nt, quantise_into, sq_dist, sub_i64, CentredRows};
use ndarray::{Array2, ArrayView2};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;

/// Parameters of one clustering (best of `n_init` seeded runs).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct KMeansParams {
    pub k: usize,
    pub n_init: usize,
    pub max_iter: usize,
    pub seed: u64,
}

/// The lowest-inertia run of `n_init`.
#[derive(Debug, Clone)]
pub struct KMeansResult {
    /// Cluster id of each row, in `0..k`.
    pub labels: Vec<u32>,
    /// k x D centroids.
    pub centroids: Array2<f32>,
    /// Sum of squared distances of rows to their centroid (f64).
    pub inertia: f64,
    /// Lloyd iterations of the returned run.
    pub n_iter: usize,
    /// Rows the returned run's Lloyd passes read, all passes together:
    /// n x `n_iter` (plus one pass at `max_iter`) without the bounds that
    /// let a pass skip rows whose cluster cannot change.
    pub rows_read: usize,
}

/// Cluster the rows of `x` (all finite; 1 <= k <= n rows is guaranteed by the caller).
pub fn kmeans(x: ArrayView2<f32>, p: &KMeansParams) -> KMeansResult {
    let [r] = kmeans_many(x, &[*p]);
    r
}

/// Several clusterings of the same rows (one per entry of `ps`, e.g. the
/// same k with different seeds), computed together: every pass over the
/// rows serves all their runs. Each result is the clustering its params
/// describe, as `kmeans` would make it alone (up to float rounding of the
/// wider distance products).
pub fn kmeans_many<const M: usize>(
    x: ArrayView2<f32>,
    ps: &[KMeansParams; M],
) -> [KMeansResult; M] {
    let (n, d) = x.dim();
    if n == 0 {
        return ps.map(|p| KMeansResult {
            labels: Vec::new(),
            centroids: Array2::zeros((p.k.max(1), d)),
            inertia: 0.0,
            n_iter: 0,
            rows_read: 0,
        });
    }
    // Centred a block at a time as the passes read it: no n x d copy.
    let xs = x.as_standard_layout();
    let Some(data) = CentredRows::new(xs.view()) else {
        unreachable!("as_standard_layout gives a row-major matrix")
    };
    let best = best_runs(ps, n, |k, rngs, max_iter| {
        let inits = kmeans_plusplus(&data, k, rngs);
        Ok::<_, std::convert::Infallible>(lloyd_many(&data, inits, k, max_iter))
    });
    let Ok(runs) = best;
    runs.map(|(run, k)| finish_run(run, &data.mean, k, d))
}

/// The best run of each clustering in `ps` over `n` rows, with its k.
/// Runs are batched per k (seeding and assignment need one k per pass):
/// `runs_for(k, rngs, max_iter)` makes one run per entry of `rngs` (each
/// clustering with that k, `n_init` seeded runs each, in `ps` order), and
/// the lowest inertia of a clustering's runs wins (ties keep the earlier
/// run). The CPU and the device k-means share this driver, so the same
/// params give the same runs and the same choice on either.
pub(crate) fn best_runs<const M: usize, E>(
    ps: &[KMeansParams; M],
    n: usize,
    mut runs_for: impl FnMut(usize, &mut [ChaCha8Rng], &[usize]) -> Result<Vec<Run>, E>,
) -> Result<[(Run, usize); M], E> {
    let mut out: [Option<(Run, usize)>; M] = std::array::from_fn(|_| None);
    let mut ks: Vec<usize> = ps.iter().map(|p| p.k.clamp(1, n)).collect();
    ks.sort_unstable();
    ks.dedup();
    for k in ks {
        let group: Vec<usize> = (0..ps.len())
            .filter(|&i| ps[i].k.clamp(1, n) == k)
            .collect();
        let mut rngs = Vec::new();
        let mut max_iter = Vec::new();
        for &i in &group {
            let p = &ps[i];
            for r in 0..p.n_init.max(1) {
                rngs.push(ChaCha8Rng::seed_from_u64(run_seed(p.seed, r as u64)));
                max_iter.push(p.max_iter.max(1));
            }
        }
        let mut runs = runs_for(k, &mut rngs, &max_iter)?.into_iter();
        for &i in &group {
            let mut best: Option<Run> = None;
            for run in runs.by_ref().take(ps[i].n_init.max(1)) {
                // Strictly lower wins: ties keep the earlier run.
                match &best {
                    Some(b) if run.inertia >= b.inertia => {}
                    _ => best = Some(run),
                }
            }
            out[i] = best.map(|run| (run, k));
        }
    }
    Ok(out.map(|r| match r {
        Some(r) => r,
        None => unreachable!("runs_for makes one run per seeded stream"),
    }))
}

/// The public result of a run: centroids moved back by the data mean.
pub(crate) fn finish_run(best: Run, mean: &[f32], k: usize, d: usize) -> KMeansResult {
    let mut centroids = best.centroids;
    for row in centroids.chunks_exact_mut(d.max(1)) {
        for (c, m) in row.iter_mut().zip(mean) {
            *c += m;
        }
    }
    KMeansResult {
        labels: best.labels,
        centroids: Array2::from_shape_vec((k, d), centroids)
            .unwrap_or_else(|_| Array2::zeros((k, d))),
        inertia: best.inertia,
        n_iter: best.n_iter,
        rows_read: best.rows_read,
    }
}

/// Seed of run `r`: splitmix64 of the clustering seed, offset by `r`, mixed
/// again, so runs of different clusterings do not share streams.
pub(crate) fn run_seed(seed: u64, r: u64) -> u64 {
    splitmix64(splitmix64(seed).wrapping_add(r))
}

fn splitmix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// One finished run (centroids are centred, k x d row-major).
pub(crate) struct Run {
    pub(crate) labels: Vec<u32>,
    pub(crate) centroids: Vec<f32>,
    pub(crate) inertia: f64,
    pub(crate) n_iter: usize,
    /// Rows the run's passes read (all passes together).
    pub(crate) rows_read: usize,
}

/// Squared distance by the expansion, clamped at 0 (rounding can make it negative).
#[inline]
fn expand(x_norm: f32, y_norm: f32, dot: f32) -> f32 {
    (x_norm + y_norm - 2.0 * dot).max(0.0)
}

/// Greedy k-means++ for every run at once: each step is one pass over the
/// rows that scores all runs' candidates together (scikit-learn's
/// `_kmeans_plusplus`, run `r` drawing from `rngs[r]`). Returns each run's
/// k x d initial centroids.
fn kmeans_plusplus(data: &CentredRows, k: usize, rngs: &mut [ChaCha8Rng]) -> Vec<Vec<f32>> {
    let n = data.n;
    let runs = rngs.len();
    let trials = 2 + (k as f64).ln().floor() as usize;
    let mut chosen: Vec<Vec<usize>> = vec![Vec::with_capacity(k); runs];

    // First centre: uniform.
    let first: Vec<usize> = rngs.iter_mut().map(|rng| rng.gen_range(0..n)).collect();
    let (dist, pots) = candidate_pass(data, &first, None);
    let mut closest: Vec<Vec<f32>> = (0..runs).map(|r| column(&dist, runs, r)).collect();
    let mut pot: Vec<f64> = pots;
    for (c, &f) in chosen.iter_mut().zip(&first) {
        c.push(f);
    }

    let mut cumsum = vec![0f64; n];
    for _ in 1..k {
        let mut cands = Vec::with_capacity(runs * trials);
        for r in 0..runs {
            let mut acc = 0f64;
            for (c, &v) in cumsum.iter_mut().zip(&closest[r]) {
                acc += f64::from(v);
                *c = acc;
            }
            for _ in 0..trials {
                let target = rngs[r].gen::<f64>() * pot[r];
                // First index whose cumulative potential reaches `target`
                // (numpy's searchsorted, side="left"), clipped to the last row.
                let idx = cumsum.partition_point(|&c| c < target).min(n - 1);
                cands.push(idx);
            }
        }
        let (dist, pots) = candidate_pass(data, &cands, Some((&closest, trials)));
        for r in 0..runs {
            let block = &pots[r * trials..(r + 1) * trials];
            let mut best = 0;
            for (t, &v) in block.iter().enumerate() {
                if v < block[best] {
                    best = t;
                }
            }
            let col = r * trials + best;
            closest[r] = column(&dist, cands.len(), col);
            pot[r] = pots[col];
            chosen[r].push(cands[col]);
        }
    }

    chosen
        .iter()
        .map(|ids| {
            let mut c = Vec::with_capacity(k * data.d);
            for &i in ids {
                data.push_row(i, &mut c);
            }
            c
        })
        .collect()
}

/// Column `col` of a row-major matrix with `width` columns.
fn column(m: &[f32], width: usize, col: usize) -> Vec<f32> {
    m.chunks_exact(width).map(|row| row[col]).collect()
}

/// Squared distances of every row to the candidate rows `ids`
/// (n x ids.len(), row-major), each lowered to the run's current closest
/// distance when `closest = Some((per-run closest, candidates per run))`,
/// and each column's total (the potential if that candidate were added).
fn candidate_pass(
    data: &CentredRows,
    ids: &[usize],
    closest: Option<(&[Vec<f32>], usize)>,
) -> (Vec<f32>, Vec<f64>) {
    let (n, d) = (data.n, data.d);
    let nc = ids.len();
    let mut cand = Vec::with_capacity(nc * d);
    for &i in ids {
        data.push_row(i, &mut cand);
    }
    let cand_norms: Vec<f32> = ids.iter().map(|&i| data.norms[i]).collect();
    let b = block_rows(d);
    let mut dist = vec![0f32; n * nc];
    let partials: Vec<Vec<f64>> = dist
        .par_chunks_mut(b * nc)
        .enumerate()
        .map_init(Vec::new, |xb, (blk, out)| {
            let start = blk * b;
            let rows = out.len() / nc;
            data.rows_into(start, start + rows, xb);
            gemm_nt(xb, &cand, d, out);
            let mut pot = vec![0f64; nc];
            for (li, row) in out.chunks_exact_mut(nc).enumerate() {
                let i = start + li;
                for (t, v) in row.iter_mut().enumerate() {
                    // A row's distance to itself is 0, whatever rounding says.
                    let mut d2 = if ids[t] == i {
                        0.0
                    } else {
                        expand(data.norms[i], cand_norms[t], *v)
                    };
                    if let Some((cl, per_run)) = closest {
                        d2 = d2.min(cl[t / per_run][i]);
                    }
                    *v = d2;
                    pot[t] += f64::from(d2);
                }
            }
            pot
        })
        .collect();
    let mut pots = vec![0f64; nc];
    for p in &partials {
        for (a, v) in pots.iter_mut().zip(p) {
            *a += v;
        }
    }
    (dist, pots)
}

/// Per-cluster sums of rows in 64-bit fixed point: each centred value is
/// scaled by `scale` (a power of two) and truncated to an integer, with the
/// scale chosen so that `n` values of the largest magnitude cannot overflow.
/// Integer sums are exact: a sum kept up to date by moving single rows
/// between clusters is the same integer as one recomputed over every row, in
/// any order and on any thread count, so a pass is free to read only the
/// rows that can change cluster. The resolution, n x max|x| x 2^-62, is
/// 1e-14 of the largest value at 50,000 rows (f32 sums of a block: 6e-8).
#[derive(Debug, Clone, Copy)]
struct Fixed {
    scale: f64,
}

impl Fixed {
    fn new(n: usize, max_abs: f32) -> Fixed {
        let bound = n.max(1) as f64 * f64::from(max_abs);
        let s = if bound > 0.0 && bound.is_finite() {
            (62.0 - bound.log2()).floor()
        } else {
            0.0
        };
        Fixed {
            scale: 2f64.powi(s.clamp(-1000.0, 1000.0) as i32),
        }
    }
}

/// The rows a pass reads: every row, or the listed ones (increasing).
#[derive(Debug, Clone, Copy)]
enum Rows<'a> {
    All,
    Listed(&'a [usize]),
}

impl Rows<'_> {
    fn len(&self, n: usize) -> usize {
        match self {
            Rows::All => n,
            Rows::Listed(ix) => ix.len(),
        }
    }
}

/// What one pass found for one run, over the rows it read (in their order).
struct Measured {
    labels: Vec<u32>,
    /// Squared distances (the expansion in f32, clamped at 0) to the nearest
    /// and the second-nearest centroid (infinite when k = 1).
    d1: Vec<f32>,
    d2: Vec<f32>,
    /// Fixed-point sums (k x d) and counts: totals when the pass had no base
    /// labels, else the change from moving the rows whose label changed.
    sums: Vec<i64>,
    counts: Vec<i64>,
}

impl Measured {
    /// Nothing found yet, with room for `rows` rows' results.
    fn empty(rows: usize, k: usize, d: usize) -> Measured {
        Measured {
            labels: Vec::with_capacity(rows),
            d1: Vec::with_capacity(rows),
            d2: Vec::with_capacity(rows),
            sums: vec![0i64; k * d],
            counts: vec![0i64; k],
        }
    }
}

/// Chunks of a pass per thread: each keeps its own fixed-point sums, so this
/// bounds the sums alive at once (integer sums make the split irrelevant to
/// the result).
pub(crate) const CHUNKS_PER_THREAD: usize = 4;

/// Nearest and second-nearest centroid of each row in `rows`, for every run
/// (`centroids[r]` is run r's k x d), in one read of those rows; ties go to
/// the lower cluster id. With `base = None` the sums are the totals of the
/// rows per label; with `base = Some(labels)` (one per run) only rows whose
/// label differs from `labels` count, moved from their old cluster to the
/// new one.
fn measure(
    data: &CentredRows,
    rows: Rows,
    centroids: &[&[f32]],
    k: usize,
    fixed: Fixed,
    base: Option<&[&[u32]]>,
) -> Vec<Measured> {
    let d = data.d;
    let runs = centroids.len();
    let all: Vec<f32> = centroids.concat();
    let cnorms: Vec<f32> = all
        .chunks_exact(d.max(1))
        .map(|c| super::pairwise::sq_norm(c) as f32)
        .collect();
    let w = runs * k;
    let b = block_rows(d);
    let nr = rows.len(data.n);
    let chunks = (rayon::current_num_threads() * CHUNKS_PER_THREAD).max(1);
    // Whole blocks per chunk, so a chunk boundary is a block boundary.
    let chunk_rows = nr.div_ceil(b).div_ceil(chunks).max(1) * b;
    let bounds: Vec<(usize, usize)> = (0..nr)
        .step_by(chunk_rows)
        .map(|s| (s, (s + chunk_rows).min(nr)))
        .collect();
    let parts: Vec<Vec<Measured>> = bounds
        .par_iter()
        .map(|&(r0, r1)| {
            let mut out: Vec<Measured> =
                (0..runs).map(|_| Measured::empty(r1 - r0, k, d)).collect();
            let mut buf = Vec::new();
            let mut dots = Vec::new();
            let mut q = vec![0i64; d];
            for start in (r0..r1).step_by(b) {
                let end = (start + b).min(r1);
                match rows {
                    Rows::All => data.rows_into(start, end, &mut buf),
                    Rows::Listed(ix) => data.gather_into(&ix[start..end], &mut buf),
                }
                dots.resize((end - start) * w, 0f32);
                gemm_nt(&buf, &all, d, &mut dots);
                for (li, drow) in dots.chunks_exact(w).enumerate() {
                    let i = match rows {
                        Rows::All => start + li,
                        Rows::Listed(ix) => ix[start + li],
                    };
                    let x = &buf[li * d..(li + 1) * d];
                    let norm = data.norms[i];
                    let mut quantised = false;
                    for (r, m) in out.iter_mut().enumerate() {
                        let drun = &drow[r * k..(r + 1) * k];
                        let cn = &cnorms[r * k..(r + 1) * k];
                        let mut best = 0;
                        let mut best_v = cn[0] - 2.0 * drun[0];
                        let mut second_v = f32::INFINITY;
                        for (j, (&c, &dot)) in cn.iter().zip(drun).enumerate().skip(1) {
                            let v = c - 2.0 * dot;
                            if v < best_v {
                                second_v = best_v;
                                best_v = v;
                                best = j;
                            } else if v < second_v {
                                second_v = v;
                            }
                        }
                        m.labels.push(best as u32);
                        m.d1.push((norm + best_v).max(0.0));
                        m.d2.push((norm + second_v).max(0.0));
                        let old = base.map(|l| l[r][i] as usize);
                        if old == Some(best) {
                            continue;
                        }
                        if !quantised {
                            quantise_into(x, fixed.scale, &mut q);
                            quantised = true;
                        }
                        add_i64(&mut m.sums[best * d..(best + 1) * d], &q);
                        m.counts[best] += 1;
                        if let Some(o) = old {
                            sub_i64(&mut m.sums[o * d..(o + 1) * d], &q);
                            m.counts[o] -= 1;
                        }
                    }
                }
            }
            out
        })
        .collect();
    // Concatenated in row order; sums added (exact, so any order).
    let mut total: Vec<Measured> = (0..runs).map(|_| Measured::empty(nr, k, d)).collect();
    for part in parts {
        for (t, p) in total.iter_mut().zip(part) {
            t.labels.extend_from_slice(&p.labels);
            t.d1.extend_from_slice(&p.d1);
            t.d2.extend_from_slice(&p.d2);
            add_i64(&mut t.sums, &p.sums);
            add_i64(&mut t.counts, &p.counts);
        }
    }
    total
}

/// New centroids (cluster means) from fixed-point sums and counts. Empty
/// clusters take the rows farthest from their centroid (`min_d2`, the
/// squared distances of the assignment), which leave their old cluster's
/// sum (scikit-learn's `_relocate_empty_clusters_dense`); a cluster left
/// with no rows keeps its previous centroid.
fn centroids_from(
    data: &CentredRows,
    labels: &[u32],
    min_d2: &[f32],
    fixed: Fixed,
    (sums, counts): (&[i64], &[i64]),
    old: &[f32],
    k: usize,
) -> Vec<f32> {
    let d = data.d;
    let inv_scale = 1.0 / fixed.scale;
    let mut sums: Vec<f64> = sums.iter().map(|&s| s as f64 * inv_scale).collect();
    let mut counts: Vec<i64> = counts.to_vec();
    let empty: Vec<usize> = (0..k).filter(|&j| counts[j] == 0).collect();
    if !empty.is_empty() {
        let mut order: Vec<usize> = (0..data.n).collect();
        // Farthest first; equal distances by row index, so the choice is fixed.
        order.sort_by(|&i, &j| min_d2[j].total_cmp(&min_d2[i]).then(i.cmp(&j)));
        for (&new, &far) in empty.iter().zip(&order) {
            let from = labels[far] as usize;
            let row_copy = data.row(far);
            let row = row_copy.as_slice();
            for (s, &v) in sums[from * d..(from + 1) * d].iter_mut().zip(row) {
                *s -= f64::from(v);
            }
            counts[from] -= 1;
            for (s, &v) in sums[new * d..(new + 1) * d].iter_mut().zip(row) {
                *s = f64::from(v);
            }
            counts[new] = 1;
        }
    }
    let mut c = vec![0f32; k * d];
    for j in 0..k {
        let dst = &mut c[j * d..(j + 1) * d];
        if counts[j] <= 0 {
            dst.copy_from_slice(&old[j * d..(j + 1) * d]);
        } else {
            let inv = 1.0 / counts[j] as f64;
            for (o, &s) in dst.iter_mut().zip(&sums[j * d..(j + 1) * d]) {
                *o = (s * inv) as f32;
            }
        }
    }
    c
}

#[cfg(test)]
/// One Lloyd iteration from `centroids`, reading every row: the assignment
/// it makes and the centroids that follow from it.
fn lloyd_step(data: &CentredRows, centroids: &[f32], k: usize) -> (Vec<u32>, Vec<f32>) {
    let fixed = Fixed::new(data.n, data.max_abs);
    let m = measure(data, Rows::All, &[centroids], k, fixed, None).remove(0);
    let next = centroids_from(
        data,
        &m.labels,
        &m.d1,
        fixed,
        (&m.sums, &m.counts),
        centroids,
        k,
    );
    (m.labels, next)
}

/// Relative rounding allowance of a squared distance by the expansion in
/// f32 over `d` dimensions: |computed - exact| <= slack x (|x|^2 + |c|^2),
/// twice the first-order worst case (d + 4 roundings of 2^-24 each).
fn slack(d: usize) -> f64 {
    (d as f64 + 4.0) * f64::from(f32::EPSILON)
}

/// Where one run stands during `lloyd_many`. Between passes, `upper[i]`
/// bounds the exact distance of row i to its labelled centroid from above
/// and `lower[i]` the distance to every other centroid from below (Hamerly's
/// bounds, moved by how far the centroids moved), both with the expansion's
/// rounding allowed for. A row with `upper < lower` by more than that
/// allowance gets the same label from the next assignment whatever its
/// rounding, so the pass does not read it.
struct Lloyd {
    centroids: Vec<f32>,
    /// Empty before the first pass.
    labels: Vec<u32>,
    upper: Vec<f64>,
    lower: Vec<f64>,
    sums: Vec<i64>,
    counts: Vec<i64>,
    /// Squared distance of each row to its centroid, when the last pass read every row.
    min_d2: Option<Vec<f32>>,
    n_iter: usize,
    rows_read: usize,
    /// Stopped by `max_iter`: its labels predate its centroids' last move.
    stale: bool,
    done: bool,
}

impl Lloyd {
    /// The rounding allowance of row i's squared distances to the current
    /// centroids: `eps` x (|x_i|^2 + the largest |c|^2), see [`slack`].
    fn allowance<'d>(&self, data: &'d CentredRows, eps: f64) -> impl Fn(usize) -> f64 + 'd {
        let cmax = cmax_sq(&self.centroids, data.d);
        move |i| eps * (f64::from(data.norms[i]) + cmax)
    }

    /// The rows the next pass must read, or `None` for every row (no bounds
    /// yet, or more than half of them).
    fn rows_to_read(&self, data: &CentredRows, eps: f64) -> Option<Vec<usize>> {
        if self.labels.is_empty() {
            return None;
        }
        let allowance = self.allowance(data, eps);
        let mut ix = Vec::new();
        for i in 0..data.n {
            let eta = allowance(i);
            let (u, l) = (self.upper[i], self.lower[i]);
            if !(l > 0.0 && u * u + 2.0 * eta < l * l) {
                ix.push(i);
                if 2 * ix.len() > data.n {
                    return None;
                }
            }
        }
        Some(ix)
    }

    /// Take what a pass found (over `rows`, with the current centroids);
    /// whether any label changed.
    fn absorb(&mut self, data: &CentredRows, rows: Rows, m: Measured, eps: f64) -> bool {
        let allowance = self.allowance(data, eps);
        let bound = |i: usize, d1: f32, d2: f32| {
            let eta = allowance(i);
            let u = (f64::from(d1) + eta).sqrt();
            let l = (f64::from(d2) - eta).max(0.0).sqrt();
            (u, l)
        };
        match rows {
            Rows::All => {
                let changed = self.labels != m.labels;
                self.upper.resize(data.n, 0.0);
                self.lower.resize(data.n, 0.0);
                for i in 0..data.n {
                    (self.upper[i], self.lower[i]) = bound(i, m.d1[i], m.d2[i]);
                }
                self.labels = m.labels;
                self.sums = m.sums;
                self.counts = m.counts;
                self.min_d2 = Some(m.d1);
                changed
            }
            Rows::Listed(ix) => {
                let mut changed = false;
                for (t, &i) in ix.iter().enumerate() {
                    changed |= self.labels[i] != m.labels[t];
                    self.labels[i] = m.labels[t];
                    (self.upper[i], self.lower[i]) = bound(i, m.d1[t], m.d2[t]);
                }
                add_i64(&mut self.sums, &m.sums);
                add_i64(&mut self.counts, &m.counts);
                self.min_d2 = None;
                changed
            }
        }
    }

    /// Move to `next` centroids and the bounds with them: each row's
    /// distance to its centroid grows by at most that centroid's move, and
    /// to any other by at least minus the largest other move.
    fn move_to(&mut self, next: Vec<f32>, d: usize, k: usize) {
        let moves: Vec<f64> = self
            .centroids
            .chunks_exact(d.max(1))
            .zip(next.chunks_exact(d.max(1)))
            .map(|(a, b)| sq_dist(a, b).sqrt() * (1.0 + 1e-12))
            .collect();
        // The largest move, and the largest other than the largest one's.
        let mut top = (0usize, 0f64);
        for (j, &m) in moves.iter().enumerate() {
            if m > top.1 {
                top = (j, m);
            }
        }
        let second = (0..k)
            .filter(|&j| j != top.0)
            .map(|j| moves[j])
            .fold(0f64, f64::max);
        for ((u, l), &a) in self.upper.iter_mut().zip(&mut self.lower).zip(&self.labels) {
            let a = a as usize;
            *u += moves[a];
            *l -= if a == top.0 { second } else { top.1 };
        }
        self.centroids = next;
    }
}

/// Largest squared norm of the k x d `centroids` (f64).
fn cmax_sq(centroids: &[f32], d: usize) -> f64 {
    centroids
        .chunks_exact(d.max(1))
        .map(super::pairwise::sq_norm)
        .fold(0f64, f64::max)
}

/// Lloyd iterations of every run from its `inits` entry until its assignment
/// repeats or it reaches its `max_iter`. Runs that must read most rows share
/// one pass; a run whose bounds leave few rows in doubt reads only those.
/// The returned labels are always the nearest-centroid assignment of the
/// returned centroids.
fn lloyd_many(data: &CentredRows, inits: Vec<Vec<f32>>, k: usize, max_iter: &[usize]) -> Vec<Run> {
    let (d, eps) = (data.d, slack(data.d));
    let fixed = Fixed::new(data.n, data.max_abs);
    let mut runs: Vec<Lloyd> = inits
        .into_iter()
        .map(|centroids| Lloyd {
            centroids,
            labels: Vec::new(),
            upper: Vec::new(),
            lower: Vec::new(),
            sums: Vec::new(),
            counts: Vec::new(),
            min_d2: None,
            n_iter: 0,
            rows_read: 0,
            stale: false,
            done: false,
        })
        .collect();
    loop {
        let active: Vec<usize> = (0..runs.len()).filter(|&r| !runs[r].done).collect();
        if active.is_empty() {
            break;
        }
        let mut full = Vec::new();
        let mut listed = Vec::new();
        for &r in &active {
            match runs[r].rows_to_read(data, eps) {
                None => full.push(r),
                Some(ix) => listed.push((r, ix)),
            }
        }
        let mut passes: Vec<(usize, Option<Vec<usize>>, Measured)> = Vec::new();
        if !full.is_empty() {
            let cents: Vec<&[f32]> = full.iter().map(|&r| runs[r].centroids.as_slice()).collect();
            let found = measure(data, Rows::All, &cents, k, fixed, None);
            passes.extend(full.iter().zip(found).map(|(&r, m)| (r, None, m)));
        }
        for (r, ix) in listed {
            let base = [runs[r].labels.as_slice()];
            let cents = [runs[r].centroids.as_slice()];
            let found = measure(data, Rows::Listed(&ix), &cents, k, fixed, Some(&base));
            if let Some(m) = found.into_iter().next() {
                passes.push((r, Some(ix), m));
            }
        }
        for (r, ix, m) in passes {
            let run = &mut runs[r];
            let rows = ix.as_deref().map_or(Rows::All, Rows::Listed);
            let first = run.labels.is_empty();
            run.rows_read += rows.len(data.n);
            let changed = run.absorb(data, rows, m, eps) || first;
            if run.stale {
                // The labelling pass after `max_iter`: labels now match.
                run.stale = false;
                run.done = true;
                continue;
            }
            run.n_iter += 1;
            if !changed {
                // `centroids` are already the means of this assignment.
                run.done = true;
                continue;
            }
            if run.min_d2.is_none() && run.counts.contains(&0) {
                // Relocating an empty cluster needs every row's distance.
                let cents = [run.centroids.as_slice()];
                let found = measure(data, Rows::All, &cents, k, fixed, None);
                if let Some(m) = found.into_iter().next() {
                    run.absorb(data, Rows::All, m, eps);
                    run.rows_read += data.n;
                }
            }
            let next = centroids_from(
                data,
                &run.labels,
                run.min_d2.as_deref().unwrap_or(&[]),
                fixed,
                (&run.sums, &run.counts),
                &run.centroids,
                k,
            );
            run.move_to(next, d, k);
            // Stopped by max_iter: one more pass so labels match the centroids.
            run.stale = run.n_iter >= max_iter.get(r).copied().unwrap_or(1);
        }
    }
    let pairs: Vec<(&[u32], &[f32])> = runs
        .iter()
        .map(|r| (r.labels.as_slice(), r.centroids.as_slice()))
        .collect();
    let inertias = inertia_many(data, &pairs);
    runs.into_iter()
        .zip(inertias)
        .map(|(r, inertia)| Run {
            labels: r.labels,
            centroids: r.centroids,
            inertia,
            n_iter: r.n_iter,
            rows_read: r.rows_read,
        })
        .collect()
}

#[cfg(test)]
fn inertia(data: &CentredRows, labels: &[u32], centroids: &[f32]) -> f64 {
    inertia_many(data, &[(labels, centroids)])[0]
}

/// Sum of squared distances of rows to their centroid, exactly in f64, for
/// each (labels, centroids) run in one pass (per-block partials combined in
/// block order).
fn inertia_many(data: &CentredRows, runs: &[(&[u32], &[f32])]) -> Vec<f64> {
    let d = data.d;
    let b = block_rows(d);
    let starts: Vec<usize> = (0..data.n).step_by(b).collect();
    let partials: Vec<Vec<f64>> = starts
        .par_iter()
        .map_init(Vec::new, |buf, &start| {
            let end = (start + b).min(data.n);
            data.rows_into(start, end, buf);
            let xb: &[f32] = buf;
            runs.iter()
                .map(|&(labels, centroids)| {
                    (start..end)
                        .map(|i| {
                            let l = labels[i] as usize;
                            let row = &xb[(i - start) * d..(i - start + 1) * d];
                            sq_dist(row, &centroids[l * d..(l + 1) * d])
                        })
                        .sum::<f64>()
                })
                .collect()
        })
        .collect();
    (0..runs.len())
        .map(|r| partials.iter().map(|p| p[r]).sum())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{array, Array2};
    use proptest::prelude::*;

    fn params(k: usize, seed: u64) -> KMeansParams {
        KMeansParams {
            k,
            n_init: 3,
            max_iter: 300,
            seed,
        }
    }

    #[test]
    fn two_separated_groups_are_found_exactly() {
        // Group A: (0,0), (2,0), (1,3) -> mean (1,1); squared deviations
        //   1+1, 1+1, 0+4 = 8.
        // Group B: (10,10), (12,10), (11,13) -> mean (11,11); likewise 8.
        // Inertia 16.
        let x = array![
            [0.0f32, 0.0],
            [10.0, 10.0],
            [2.0, 0.0],
            [12.0, 10.0],
            [1.0, 3.0],
            [11.0, 13.0]
        ];
        for seed in 0..5 {
            let r = kmeans(x.view(), &params(2, seed));
            let l = &r.labels;
            assert_eq!((l[0], l[0]), (l[2], l[4]), "group A together");
            assert_eq!((l[1], l[1]), (l[3], l[5]), "group B together");
            assert_ne!(l[0], l[1]);
            assert!((r.inertia - 16.0).abs() < 1e-9, "inertia {}", r.inertia);
            let a = r.centroids.row(l[0] as usize).to_vec();
            let b = r.centroids.row(l[1] as usize).to_vec();
            assert_eq!((a, b), (vec![1.0, 1.0], vec![11.0, 11.0]));
        }
    }

    #[test]
    fn one_cluster_inertia_is_the_total_squared_deviation() {
        // Mean (2, 1); deviations (-2,-1), (0,1), (2,0): 5 + 1 + 4 = 10.
        let x = array![[0.0f32, 0.0], [2.0, 2.0], [4.0, 1.0]];
        let r = kmeans(x.view(), &params(1, 7));
        assert_eq!(r.labels, vec![0, 0, 0]);
        assert!((r.inertia - 10.0).abs() < 1e-9);
        assert_eq!(r.centroids, array![[2.0f32, 1.0]]);
    }

    #[test]
    fn k_equal_n_puts_each_row_alone() {
        let x = array![
            [0.0f32, 1.0],
            [5.0, 1.0],
            [0.0, 7.0],
            [3.0, 3.0],
            [9.0, 9.0]
        ];
        for seed in 0..5 {
            let r = kmeans(x.view(), &params(5, seed));
            assert_eq!(r.inertia, 0.0);
            let mut l = r.labels.clone();
            l.sort_unstable();
            assert_eq!(l, vec![0, 1, 2, 3, 4]);
        }
    }

    #[test]
    fn k_equal_n_with_duplicate_rows_has_zero_inertia() {
        // Two identical rows: one cluster stays empty, inertia is still 0.
        let x = array![[1.0f32, 1.0], [1.0, 1.0], [4.0, 0.0]];
        let r = kmeans(x.view(), &params(3, 1));
        assert_eq!(r.inertia, 0.0);
        assert_eq!(r.labels[0], r.labels[1]);
        assert_ne!(r.labels[0], r.labels[2]);
    }

    #[test]
    fn empty_cluster_takes_the_farthest_row() {
        // Centroids (0) and (100): every row is nearest to 0, so cluster 1
        // is empty and takes row 3 (value 9, the farthest from its centroid 0).
        // Cluster 0 keeps rows 0..3: mean (0 + 1 + 5) / 3 = 2. The data are
        // centred internally (mean 3.75), so centroids carry that shift.
        let x = array![[0.0f32], [1.0], [5.0], [9.0]];
        let data = CentredRows::new(x.view()).expect("row-major");
        let m = data.mean[0]; // 3.75
        let init = vec![0.0 - m, 100.0 - m];
        let (labels, next) = lloyd_step(&data, &init, 2);
        assert_eq!(labels, vec![0, 0, 0, 0]);
        assert_eq!(next, vec![2.0 - m, 9.0 - m]);
    }

    #[test]
    fn same_seed_same_clustering_and_seeds_matter() {
        let x = Array2::from_shape_fn((200, 3), |(i, j)| ((i * 37 + j * 11) % 17) as f32);
        let a = kmeans(x.view(), &params(4, 3));
        let b = kmeans(x.view(), &params(4, 3));
        assert_eq!(a.labels, b.labels);
        assert_eq!(a.inertia, b.inertia);
        assert_eq!(a.centroids, b.centroids);
    }

    #[test]
    fn run_seeds_differ_between_runs_and_clusterings() {
        let s1: Vec<u64> = (0..3).map(|r| run_seed(0, r)).collect();
        let s2: Vec<u64> = (0..3)
            .map(|r| run_seed(super::super::second_seed(0), r))
            .collect();
        let mut all = [s1, s2].concat();
        all.sort_unstable();
        all.dedup();
        assert_eq!(all.len(), 6);
    }

    /// Everything `kmeans` returns, compared bit for bit.
    fn assert_same(a: &KMeansResult, b: &KMeansResult) {
        assert_eq!(a.labels, b.labels);
        assert_eq!(a.inertia.to_bits(), b.inertia.to_bits());
        assert_eq!(a.centroids, b.centroids);
        assert_eq!(a.n_iter, b.n_iter);
    }

    #[test]
    fn batched_clusterings_equal_separate_ones() {
        // Mixed k, n_init and max_iter (1 stops every run before it
        // converges), so runs finish at different passes of the batch.
        let x = Array2::from_shape_fn((300, 5), |(i, j)| {
            (((i * 7919 + j * 104_729) % 1000) as f32 / 100.0) + (i % 4) as f32 * 8.0
        });
        let ps = [
            KMeansParams {
                k: 4,
                n_init: 3,
                max_iter: 300,
                seed: 0,
            },
            KMeansParams {
                k: 4,
                n_init: 1,
                max_iter: 1,
                seed: 9,
            },
            KMeansParams {
                k: 6,
                n_init: 2,
                max_iter: 300,
                seed: 3,
            },
            KMeansParams {
                k: 4,
                n_init: 2,
                max_iter: 2,
                seed: 5,
            },
        ];
        let batched = kmeans_many(x.view(), &ps);
        for (p, b) in ps.iter().zip(&batched) {
            assert_same(&kmeans(x.view(), p), b);
        }
        assert_eq!(batched[1].n_iter, 1);
    }

    #[test]
    fn a_pass_over_many_chunks_keeps_each_rows_label_and_exact_sums() {
        // d = 4 gives 1024-row blocks: 17 blocks, several per chunk.
        let n: usize = 17 * 1024 - 100;
        let x = Array2::from_shape_fn((n, 4), |(i, j)| ((i * 31 + j * 17) % 101) as f32 * 0.37);
        let data = CentredRows::new(x.view()).expect("row-major");
        let fixed = Fixed::new(n, data.max_abs);
        let mut c = Vec::new();
        data.rows_into(0, 3, &mut c);
        let a = measure(&data, Rows::All, &[&c], 3, fixed, None).remove(0);
        assert_eq!(a.labels.len(), n);
        assert_eq!(a.counts.iter().sum::<i64>(), n as i64);
        // Row i's label is its nearest centroid (ties go to the lower id).
        for i in 0..n {
            let d2: Vec<f64> = (0..3)
                .map(|j| sq_dist(&data.row(i), &data.row(j)))
                .collect();
            let best = (0..3).fold(0, |b, j| if d2[j] < d2[b] { j } else { b });
            assert_eq!(a.labels[i] as usize, best, "row {i}");
        }
        // The sums are exactly the integer sums of the truncated values of
        // the rows each label names, so within n x 2^-s of the real sums.
        for j in 0..3 {
            for col in 0..4 {
                let rows = (0..n).filter(|&i| a.labels[i] as usize == j);
                let exact: i64 = rows
                    .clone()
                    .map(|i| (f64::from(data.row(i)[col]) * fixed.scale) as i64)
                    .sum();
                assert_eq!(a.sums[j * 4 + col], exact, "cluster {j} col {col}");
                let direct: f64 = rows.map(|i| f64::from(data.row(i)[col])).sum();
                let err = (a.sums[j * 4 + col] as f64 / fixed.scale - direct).abs();
                assert!(
                    err <= n as f64 / fixed.scale,
                    "cluster {j} col {col}: {err}"
                );
            }
        }
    }

    #[test]
    fn fixed_point_sums_cannot_overflow_and_keep_their_resolution() {
        for (n, m) in [
            (1, 1.0f32),
            (50_000, 3.5),
            (10_000_000, f32::MAX),
            (2, 1e-40),
            (1000, 0.0),
        ] {
            let f = Fixed::new(n, m);
            let top = n as f64 * f64::from(m) * f.scale;
            assert!(top <= 2f64.powi(62), "n {n} max {m}: {top:e}");
            if m > 0.0 {
                assert!(top > 2f64.powi(61), "n {n} max {m}: {top:e} wastes bits");
            }
        }
    }

    /// Four overlapping groups in 8 dimensions: Lloyd needs many passes,
    /// and late ones change few labels.
    fn overlapping(n: usize) -> Array2<f32> {
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        Array2::from_shape_fn((n, 8), |(i, j)| {
            let centre = if j == i % 4 { 1.2 } else { 0.0 };
            centre + rand::Rng::gen::<f32>(&mut rng) * 2.0 - 1.0
        })
    }

    #[test]
    fn pruned_passes_give_the_clustering_of_passes_over_every_row() {
        let n = 4000;
        let (k, x) = (6, overlapping(n));
        let data = CentredRows::new(x.view()).expect("row-major");
        let mut rngs: Vec<ChaCha8Rng> = (0..3).map(ChaCha8Rng::seed_from_u64).collect();
        let inits = kmeans_plusplus(&data, k, &mut rngs);
        // The third run stops at max_iter 4: its labels must still be the
        // assignment of its returned centroids.
        let pruned = lloyd_many(&data, inits.clone(), k, &[300, 300, 4]);
        for ((init, run), max_iter) in inits.iter().zip(&pruned).zip([300, 300, 4]) {
            let mut c = init.clone();
            let mut prev: Option<Vec<u32>> = None;
            let mut iters = 0;
            let labels = loop {
                let (labels, next) = lloyd_step(&data, &c, k);
                iters += 1;
                if prev.as_ref() == Some(&labels) {
                    break labels;
                }
                if iters == max_iter {
                    c = next;
                    break lloyd_step(&data, &c, k).0;
                }
                prev = Some(labels);
                c = next;
            };
            assert_eq!(run.labels, labels);
            assert_eq!(run.centroids, c, "same integer sums, same centroids");
            assert_eq!(run.n_iter, iters);
        }
        // The converged runs took many passes, most of them reading few rows.
        for run in &pruned[..2] {
            assert!(run.n_iter > 8, "{} passes", run.n_iter);
            assert!(
                run.rows_read < run.n_iter * n / 2,
                "read {} rows in {} passes of {n}",
                run.rows_read,
                run.n_iter
            );
        }
    }

    #[test]
    fn clusterings_do_not_depend_on_the_thread_count() {
        let x = overlapping(3000);
        let ps = [4, 5].map(|seed| KMeansParams {
            k: 6,
            n_init: 3,
            max_iter: 300,
            seed,
        });
        let on = |threads: usize| {
            rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .expect("thread pool")
                .install(|| kmeans_many(x.view(), &ps))
        };
        let one = on(1);
        for threads in [2, 3, 5] {
            for (a, b) in one.iter().zip(&on(threads)) {
                assert_eq!(a.labels, b.labels, "{threads} threads");
                assert_eq!(a.centroids, b.centroids, "{threads} threads");
                assert_eq!(
                    a.inertia.to_bits(),
                    b.inertia.to_bits(),
                    "{threads} threads"
                );
                assert_eq!(a.n_iter, b.n_iter, "{threads} threads");
            }
        }
    }

    fn matrix(n: usize, d: usize) -> impl Strategy<Value = Array2<f32>> {
        proptest::collection::vec(-50.0f32..50.0, n * d)
            .prop_map(move |v| Array2::from_shape_vec((n, d), v).expect("n*d values"))
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(48))]

        /// Inertia of (assignment, centroids) never rises over Lloyd iterations.
        #[test]
        fn lloyd_never_increases_inertia(
            x in (5usize..60, 1usize..6).prop_flat_map(|(n, d)| matrix(n, d)),
            k in 1usize..6,
            seed in any::<u64>(),
        ) {
            let data = CentredRows::new(x.view()).expect("row-major");
            let k = k.min(data.n);
            let mut rngs = vec![ChaCha8Rng::seed_from_u64(seed)];
            let mut c = kmeans_plusplus(&data, k, &mut rngs).remove(0);
            let mut last = f64::INFINITY;
            for _ in 0..20 {
                let (labels, next) = lloyd_step(&data, &c, k);
                let now = inertia(&data, &labels, &c);
                prop_assert!(now <= last * (1.0 + 1e-5) + 1e-6, "{} then {}", last, now);
                last = now;
                c = next;
            }
        }

        /// Same seed, same result; labels in 0..k; inertia matches the labels.
        #[test]
        fn kmeans_is_deterministic_and_consistent(
            x in (3usize..80, 1usize..5).prop_flat_map(|(n, d)| matrix(n, d)),
            k in 1usize..5,
            seed in any::<u64>(),
        ) {
            let k = k.min(x.nrows());
            let p = KMeansParams { k, n_init: 2, max_iter: 100, seed };
            let a = kmeans(x.view(), &p);
            let b = kmeans(x.view(), &p);
            prop_assert_eq!(&a.labels, &b.labels);
            prop_assert_eq!(a.inertia, b.inertia);
            prop_assert!(a.labels.iter().all(|&l| (l as usize) < k));
            let direct: f64 = x
                .rows()
                .into_iter()
                .zip(&a.labels)
                .map(|(row, &l)| {
                    row.iter()
                        .zip(a.centroids.row(l as usize))
                        .map(|(&p, &q)| (f64::from(p) - f64::from(q)).powi(2))
                        .sum::<f64>()
                })
                .sum();
            prop_assert!((a.inertia - direct).abs() <= 1e-4 * (1.0 + direct));
        }
    }
}
