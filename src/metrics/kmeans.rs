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

use super::pairwise::{add_to_f32, block_rows, gemm_nt, sq_dist, CentredRows};
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
        });
    }
    // Centred a block at a time as the passes read it: no n x d copy.
    let xs = x.as_standard_layout();
    let Some(data) = CentredRows::new(xs.view()) else {
        unreachable!("as_standard_layout gives a row-major matrix")
    };
    // Runs are batched per k (seeding and assignment need one k per pass).
    let mut out: [Option<KMeansResult>; M] = std::array::from_fn(|_| None);
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
        let inits = kmeans_plusplus(&data, k, &mut rngs);
        let mut runs = lloyd_many(&data, inits, k, &max_iter).into_iter();
        for &i in &group {
            let mut best: Option<Run> = None;
            for run in runs.by_ref().take(ps[i].n_init.max(1)) {
                // Strictly lower wins: ties keep the earlier run.
                match &best {
                    Some(b) if run.inertia >= b.inertia => {}
                    _ => best = Some(run),
                }
            }
            if let Some(best) = best {
                out[i] = Some(finish_run(best, &data.mean, k, d));
            }
        }
    }
    out.map(|r| match r {
        Some(r) => r,
        None => unreachable!("every params' runs were made"),
    })
}

/// The public result of a run: centroids moved back by the data mean.
fn finish_run(best: Run, mean: &[f32], k: usize, d: usize) -> KMeansResult {
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
struct Run {
    labels: Vec<u32>,
    centroids: Vec<f32>,
    inertia: f64,
    n_iter: usize,
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

/// Result of one assignment pass.
struct Assignment {
    labels: Vec<u32>,
    /// Squared distance of each row to its centroid (expansion, f32).
    min_d2: Vec<f32>,
    /// Per-cluster sums of the rows (k x d, f64) and counts.
    sums: Vec<f64>,
    counts: Vec<u64>,
}

/// Row blocks handled per wave of a pass: their per-block partial sums are
/// alive at once, so this bounds the memory of a pass (and not the rows).
pub(crate) const WAVE: usize = 16;

/// Assign every row to its nearest centroid and sum the rows per cluster,
/// for several runs in one pass (`centroids[r]` is run r's k x d).
/// Ties go to the lower cluster id.
fn assign_many(data: &CentredRows, centroids: &[&[f32]], k: usize) -> Vec<Assignment> {
    let (n, d) = (data.n, data.d);
    let runs = centroids.len();
    let all: Vec<f32> = centroids.concat();
    let cnorms: Vec<f32> = all
        .chunks_exact(d.max(1))
        .map(|c| super::pairwise::sq_norm(c) as f32)
        .collect();
    let w = runs * k;
    let b = block_rows(d);
    let mut out: Vec<Assignment> = (0..runs)
        .map(|_| Assignment {
            labels: Vec::with_capacity(n),
            min_d2: Vec::with_capacity(n),
            sums: vec![0f64; k * d],
            counts: vec![0u64; k],
        })
        .collect();
    let starts: Vec<usize> = (0..n).step_by(b).collect();
    for wave in starts.chunks(WAVE) {
        let partials: Vec<BlockPart> = wave
            .par_iter()
            .map_init(Vec::new, |buf, &start| {
                let rows = b.min(n - start);
                data.rows_into(start, start + rows, buf);
                let xb: &[f32] = buf;
                let mut dots = vec![0f32; rows * w];
                gemm_nt(xb, &all, d, &mut dots);
                // Per run: labels and distances (run-major), and block
                // partial sums in f32 (at most `b` rows each).
                let mut part = BlockPart {
                    labels: vec![0u32; runs * rows],
                    min_d2: vec![0f32; runs * rows],
                    sums: vec![0f32; w * d],
                    counts: vec![0u64; w],
                };
                for (li, drow) in dots.chunks_exact(w).enumerate() {
                    let x = &xb[li * d..(li + 1) * d];
                    for (r, (drun, cn)) in
                        drow.chunks_exact(k).zip(cnorms.chunks_exact(k)).enumerate()
                    {
                        let mut best = 0;
                        let mut best_v = cn[0] - 2.0 * drun[0];
                        for (j, (&c, &dot)) in cn.iter().zip(drun).enumerate().skip(1) {
                            let v = c - 2.0 * dot;
                            if v < best_v {
                                best_v = v;
                                best = j;
                            }
                        }
                        part.labels[r * rows + li] = best as u32;
                        part.min_d2[r * rows + li] = (data.norms[start + li] + best_v).max(0.0);
                        let cl = r * k + best;
                        part.counts[cl] += 1;
                        add_to_f32(&mut part.sums[cl * d..(cl + 1) * d], x);
                    }
                }
                part
            })
            .collect();
        // Combined in block order, whatever the thread count.
        for part in &partials {
            let rows = part.labels.len() / runs;
            for (r, a) in out.iter_mut().enumerate() {
                a.labels
                    .extend_from_slice(&part.labels[r * rows..(r + 1) * rows]);
                a.min_d2
                    .extend_from_slice(&part.min_d2[r * rows..(r + 1) * rows]);
                for (acc, &v) in a
                    .sums
                    .iter_mut()
                    .zip(&part.sums[r * k * d..(r + 1) * k * d])
                {
                    *acc += f64::from(v);
                }
                for (acc, &v) in a.counts.iter_mut().zip(&part.counts[r * k..(r + 1) * k]) {
                    *acc += v;
                }
            }
        }
    }
    out
}

/// One row block's share of an assignment pass.
struct BlockPart {
    labels: Vec<u32>,
    min_d2: Vec<f32>,
    sums: Vec<f32>,
    counts: Vec<u64>,
}

/// New centroids (cluster means) from an assignment. Empty clusters take the
/// rows farthest from their centroid, which leave their old cluster's sum
/// (scikit-learn's `_relocate_empty_clusters_dense`); a cluster left with no
/// rows keeps its previous centroid.
fn update(data: &CentredRows, a: &mut Assignment, old: &[f32], k: usize) -> Vec<f32> {
    let d = data.d;
    let empty: Vec<usize> = (0..k).filter(|&j| a.counts[j] == 0).collect();
    if !empty.is_empty() {
        let mut order: Vec<usize> = (0..data.n).collect();
        // Farthest first; equal distances by row index, so the choice is fixed.
        order.sort_by(|&i, &j| a.min_d2[j].total_cmp(&a.min_d2[i]).then(i.cmp(&j)));
        for (&new, &far) in empty.iter().zip(&order) {
            let from = a.labels[far] as usize;
            let row_copy = data.row(far);
            let row = row_copy.as_slice();
            for (s, &v) in a.sums[from * d..(from + 1) * d].iter_mut().zip(row) {
                *s -= f64::from(v);
            }
            a.counts[from] -= 1;
            for (s, &v) in a.sums[new * d..(new + 1) * d].iter_mut().zip(row) {
                *s = f64::from(v);
            }
            a.counts[new] = 1;
        }
    }
    let mut c = vec![0f32; k * d];
    for j in 0..k {
        let dst = &mut c[j * d..(j + 1) * d];
        if a.counts[j] == 0 {
            dst.copy_from_slice(&old[j * d..(j + 1) * d]);
        } else {
            let inv = 1.0 / a.counts[j] as f64;
            for (o, &s) in dst.iter_mut().zip(&a.sums[j * d..(j + 1) * d]) {
                *o = (s * inv) as f32;
            }
        }
    }
    c
}

#[cfg(test)]
/// One Lloyd iteration from `centroids`: the assignment it makes and the
/// centroids that follow from it.
fn lloyd_step(data: &CentredRows, centroids: &[f32], k: usize) -> (Vec<u32>, Vec<f32>) {
    let mut a = assign_many(data, &[centroids], k).remove(0);
    let next = update(data, &mut a, centroids, k);
    (a.labels, next)
}

/// Where one run stands during `lloyd_many`.
struct Lloyd {
    centroids: Vec<f32>,
    prev: Option<Vec<u32>>,
    labels: Option<Vec<u32>>,
    n_iter: usize,
    done: bool,
}

/// Lloyd iterations of every run from its `inits` entry until its assignment
/// repeats or it reaches its `max_iter`; all unfinished runs share each pass.
/// The returned labels are always the nearest-centroid assignment of the
/// returned centroids.
fn lloyd_many(data: &CentredRows, inits: Vec<Vec<f32>>, k: usize, max_iter: &[usize]) -> Vec<Run> {
    let mut runs: Vec<Lloyd> = inits
        .into_iter()
        .map(|centroids| Lloyd {
            centroids,
            prev: None,
            labels: None,
            n_iter: 0,
            done: false,
        })
        .collect();
    loop {
        let active: Vec<usize> = (0..runs.len()).filter(|&r| !runs[r].done).collect();
        if active.is_empty() {
            break;
        }
        let cents: Vec<&[f32]> = active
            .iter()
            .map(|&r| runs[r].centroids.as_slice())
            .collect();
        let assigned = assign_many(data, &cents, k);
        for (&r, mut a) in active.iter().zip(assigned) {
            let run = &mut runs[r];
            run.n_iter += 1;
            if run.prev.as_ref() == Some(&a.labels) {
                // `centroids` are already the means of this assignment.
                run.labels = Some(a.labels);
                run.done = true;
                continue;
            }
            run.centroids = update(data, &mut a, &run.centroids, k);
            run.prev = Some(a.labels);
            run.done = run.n_iter >= max_iter.get(r).copied().unwrap_or(1);
        }
    }
    // Runs stopped by max_iter: one more assignment so labels match the centroids.
    let open: Vec<usize> = (0..runs.len())
        .filter(|&r| runs[r].labels.is_none())
        .collect();
    if !open.is_empty() {
        let cents: Vec<&[f32]> = open.iter().map(|&r| runs[r].centroids.as_slice()).collect();
        let assigned = assign_many(data, &cents, k);
        for (&r, a) in open.iter().zip(assigned) {
            runs[r].labels = Some(a.labels);
        }
    }
    let finished: Vec<(Vec<u32>, Vec<f32>, usize)> = runs
        .into_iter()
        .map(|r| (r.labels.unwrap_or_default(), r.centroids, r.n_iter))
        .collect();
    let pairs: Vec<(&[u32], &[f32])> = finished
        .iter()
        .map(|(l, c, _)| (l.as_slice(), c.as_slice()))
        .collect();
    let inertias = inertia_many(data, &pairs);
    finished
        .into_iter()
        .zip(inertias)
        .map(|((labels, centroids, n_iter), inertia)| Run {
            labels,
            centroids,
            inertia,
            n_iter,
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
    fn a_pass_longer_than_one_wave_keeps_each_rows_label_and_sum() {
        // d = 4 gives 1024-row blocks: 17 blocks, more than one wave.
        let n: usize = 17 * 1024 - 100;
        assert!(n.div_ceil(block_rows(4)) > WAVE);
        let x = Array2::from_shape_fn((n, 4), |(i, j)| ((i * 31 + j * 17) % 101) as f32);
        let data = CentredRows::new(x.view()).expect("row-major");
        let mut c = Vec::new();
        data.rows_into(0, 3, &mut c);
        let a = assign_many(&data, &[&c], 3).remove(0);
        assert_eq!(a.labels.len(), n);
        assert_eq!(a.counts.iter().sum::<u64>(), n as u64);
        // Row i's label is its nearest centroid (integer data: the
        // expansion is exact; ties go to the lower id).
        for i in 0..n {
            let d2: Vec<f64> = (0..3)
                .map(|j| sq_dist(&data.row(i), &data.row(j)))
                .collect();
            let best = (0..3).fold(0, |b, j| if d2[j] < d2[b] { j } else { b });
            assert_eq!(a.labels[i] as usize, best, "row {i}");
        }
        // The sums are those of the rows each label names.
        for j in 0..3 {
            for col in 0..4 {
                let vals = (0..n)
                    .filter(|&i| a.labels[i] as usize == j)
                    .map(|i| f64::from(data.row(i)[col]));
                let direct: f64 = vals.clone().sum();
                let scale: f64 = vals.map(f64::abs).sum();
                // Block partials are f32 sums of up to 1024 rows: allow their
                // worst-case rounding (1024 x 2^-24 of the magnitudes), no more.
                let err = (a.sums[j * 4 + col] - direct).abs();
                assert!(err <= 1e-4 * (1.0 + scale), "cluster {j} col {col}: {err}");
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
