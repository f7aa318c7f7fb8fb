//! Mean silhouette coefficient, exactly as scikit-learn's `silhouette_score`.
//!
//! s(i) = (b - a) / max(a, b), with a the mean distance from row i to the
//! other rows of its cluster and b the smallest mean distance to another
//! cluster; a row alone in its cluster scores 0 (as does a = b = 0).
//!
//! Rows are sorted by label, so every block of rows covers a contiguous range
//! of clusters, and distances are computed block by block with the GEMM
//! expansion (never the n x n matrix). The usual path visits each pair of
//! rows once (blocks I <= J) and adds each distance to both rows' per-cluster
//! sums. Those sums are accumulated in 64-bit fixed point: integer addition
//! is exact and order-free, so the result does not depend on which thread
//! finishes first, with a resolution (2^-61 of the largest possible sum) far
//! finer than f64 rounding of the same sums. When the per-row per-cluster
//! table would be too large (very many clusters), a streaming path computes
//! each row's distances to all rows in label order and keeps three numbers
//! per row instead.

use super::pairwise::{add_to_f64, distances_from_dots, gemm_nt, sum_f64, Centered};
use ndarray::ArrayView2;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use std::sync::Mutex;

/// Rows up to which the silhouette is exact by default; above it, a seeded
/// sample of this many rows (scikit-learn's `sample_size`). A 10,000-row
/// sample of 20,000 rows measured a mean |error| of 8e-5 (README,
/// `bench_sampling`) at a quarter of the exact cost of a 20,000-row sample.
pub const SILHOUETTE_EXACT: usize = 10_000;

/// Rows per block of the pairwise distance computation.
pub(crate) const BLOCK: usize = 256;

/// Largest per-row per-cluster table (bytes) of the symmetric path.
pub(crate) const TABLE_BYTES: usize = 32 << 20;

/// Mean silhouette of `labels` over the rows of `x` (Euclidean). Exact over
/// all rows when n <= `sample`, else over a seeded uniform sample of `sample`
/// rows. `None` when fewer than 2 clusters (or every row its own cluster).
/// `None` also when `labels` does not have one entry per row.
pub fn silhouette_score(
    x: ArrayView2<f32>,
    labels: &[u32],
    sample: usize,
    seed: u64,
) -> Option<f64> {
    silhouette_with(x, labels, sample, seed, TABLE_BYTES)
}

fn silhouette_with(
    x: ArrayView2<f32>,
    labels: &[u32],
    sample: usize,
    seed: u64,
    table_bytes: usize,
) -> Option<f64> {
    let Grouped {
        rows,
        cluster,
        ranges,
    } = Grouped::sample(labels, x.nrows(), sample, seed)?;
    let (m, n_clusters) = (rows.len(), ranges.len());
    let data = Centered::gather(x, &rows);
    let s: Vec<f64> = if m.saturating_mul(n_clusters).saturating_mul(8) <= table_bytes {
        symmetric(&data, &cluster, &ranges)
    } else {
        streaming(&data, &cluster, &ranges)
    };
    Some(s.iter().sum::<f64>() / m as f64)
}

/// The rows a silhouette is computed on (all of them, or a seeded sample
/// of `sample`), sorted by cluster so that each cluster is one contiguous
/// range; the CPU and the device kernels take the same rows in this order.
pub(crate) struct Grouped {
    /// Row indices, by (cluster, index).
    pub(crate) rows: Vec<usize>,
    /// Each sorted row's cluster, an index into `ranges`.
    pub(crate) cluster: Vec<u32>,
    /// Each cluster's `start..end` in `rows`.
    pub(crate) ranges: Vec<(usize, usize)>,
}

impl Grouped {
    /// `None` when `labels` does not have one entry per row, or the
    /// silhouette is undefined (fewer than 2 clusters, or every row its
    /// own cluster).
    pub(crate) fn sample(labels: &[u32], n: usize, sample: usize, seed: u64) -> Option<Grouped> {
        if labels.len() != n {
            return None;
        }
        let mut rows: Vec<usize> = if n <= sample {
            (0..n).collect()
        } else {
            let mut rng = ChaCha8Rng::seed_from_u64(seed);
            rand::seq::index::sample(&mut rng, n, sample).into_vec()
        };
        rows.sort_unstable_by_key(|&i| (labels[i], i));
        let mut ranges: Vec<(usize, usize)> = Vec::new();
        let mut cluster = Vec::with_capacity(rows.len());
        for (pos, &r) in rows.iter().enumerate() {
            if pos == 0 || labels[r] != labels[rows[pos - 1]] {
                ranges.push((pos, pos));
            }
            if let Some(last) = ranges.last_mut() {
                last.1 = pos + 1;
            }
            cluster.push((ranges.len() - 1) as u32);
        }
        if ranges.len() < 2 || ranges.len() + 1 > rows.len() {
            return None;
        }
        Some(Grouped {
            rows,
            cluster,
            ranges,
        })
    }
}

/// Euclidean distances between rows `i0..i1` and `j0..j1` into `out`
/// (row-major); the distance of a row to itself is exactly 0.
fn distance_block(
    data: &Centered,
    (i0, i1): (usize, usize),
    (j0, j1): (usize, usize),
    out: &mut [f32],
) {
    let w = j1 - j0;
    gemm_nt(data.rows(i0, i1), data.rows(j0, j1), data.d, out);
    for (li, row) in out.chunks_exact_mut(w).enumerate() {
        distances_from_dots(row, data.norms[i0 + li], &data.norms[j0..j1]);
        let i = i0 + li;
        if (j0..j1).contains(&i) {
            row[i - j0] = 0.0;
        }
    }
}

/// The silhouette of one row from its per-cluster distance sums.
pub(crate) fn row_silhouette(
    own: usize,
    sums: impl Iterator<Item = f64>,
    ranges: &[(usize, usize)],
) -> f64 {
    let own_size = ranges[own].1 - ranges[own].0;
    if own_size < 2 {
        return 0.0;
    }
    let mut a = 0.0;
    let mut b = f64::INFINITY;
    for (c, (sum, &(s, e))) in sums.zip(ranges).enumerate() {
        if c == own {
            a = sum / (own_size - 1) as f64;
        } else {
            b = b.min(sum / (e - s) as f64);
        }
    }
    finish(a, b)
}

fn finish(a: f64, b: f64) -> f64 {
    let denom = a.max(b);
    if denom > 0.0 {
        (b - a) / denom
    } else {
        0.0
    }
}

fn blocks(m: usize) -> Vec<(usize, usize)> {
    (0..m.div_ceil(BLOCK))
        .map(|b| (b * BLOCK, ((b + 1) * BLOCK).min(m)))
        .collect()
}

/// Each pair of row blocks once; sums into a fixed-point per-row per-cluster table.
fn symmetric(data: &Centered, cluster: &[u32], ranges: &[(usize, usize)]) -> Vec<f64> {
    let m = data.n;
    let nc = ranges.len();
    let blocks = blocks(m);
    // Every distance is at most 2 max|x|, every sum at most m times that:
    // pick the scale so the largest possible sum stays below 2^61.
    let max_norm = data.norms.iter().fold(0f32, |a, &b| a.max(b));
    let bound = 2.1 * f64::from(max_norm).sqrt() * m as f64;
    let scale = if bound > 0.0 {
        2f64.powi(61 - bound.log2().ceil() as i32)
    } else {
        1.0
    };
    let table: Vec<Mutex<Vec<i64>>> = blocks
        .iter()
        .map(|&(s, e)| Mutex::new(vec![0i64; (e - s) * nc]))
        .collect();
    let pairs: Vec<(usize, usize)> = (0..blocks.len())
        .flat_map(|i| (i..blocks.len()).map(move |j| (i, j)))
        .collect();

    let fixed = |v: f64| (v * scale).round() as i64;

    // One distance buffer per worker (bounded memory, see `workers`).
    super::workers::run(pairs.len(), Vec::new, |dist: &mut Vec<f32>, task| {
        let (bi, bj) = pairs[task];
        let (i0, i1) = blocks[bi];
        let (j0, j1) = blocks[bj];
        let w = j1 - j0;
        dist.resize((i1 - i0) * w, 0.0);
        distance_block(data, (i0, i1), (j0, j1), dist);

        // Row sums: rows of I against the clusters present in J.
        let (jc0, jc1) = (cluster[j0] as usize, cluster[j1 - 1] as usize);
        let mut row_part = Vec::with_capacity((i1 - i0) * (jc1 - jc0 + 1));
        for row in dist.chunks_exact(w) {
            for &(s, e) in &ranges[jc0..=jc1] {
                row_part.push(sum_f64(&row[s.max(j0) - j0..e.min(j1) - j0]));
            }
        }
        // Column sums (I < J only): rows of J against the clusters present in I.
        let (ic0, ic1) = (cluster[i0] as usize, cluster[i1 - 1] as usize);
        let col_part = (bi != bj).then(|| {
            let mut part = vec![0f64; (ic1 - ic0 + 1) * w];
            for (li, row) in dist.chunks_exact(w).enumerate() {
                let c = cluster[i0 + li] as usize - ic0;
                add_to_f64(&mut part[c * w..(c + 1) * w], row);
            }
            part
        });

        {
            let mut t = table[bi].lock().unwrap_or_else(|e| e.into_inner());
            let per_row = jc1 - jc0 + 1;
            for (li, part) in row_part.chunks_exact(per_row).enumerate() {
                for (dc, &v) in part.iter().enumerate() {
                    t[li * nc + jc0 + dc] += fixed(v);
                }
            }
        }
        if let Some(part) = col_part {
            let mut t = table[bj].lock().unwrap_or_else(|e| e.into_inner());
            for (dc, sums) in part.chunks_exact(w).enumerate() {
                for (lj, &v) in sums.iter().enumerate() {
                    t[lj * nc + ic0 + dc] += fixed(v);
                }
            }
        }
    });

    let mut s = Vec::with_capacity(m);
    for (blk, t) in table.into_iter().enumerate() {
        let t = t.into_inner().unwrap_or_else(|e| e.into_inner());
        let start = blocks[blk].0;
        for (li, sums) in t.chunks_exact(nc).enumerate() {
            let own = cluster[start + li] as usize;
            s.push(row_silhouette(
                own,
                sums.iter().map(|&q| q as f64 / scale),
                ranges,
            ));
        }
    }
    s
}

/// Each row block against all rows, in label order, keeping per row only the
/// running sum of the current cluster, a, and the best b so far.
fn streaming(data: &Centered, cluster: &[u32], ranges: &[(usize, usize)]) -> Vec<f64> {
    let m = data.n;
    let blocks = blocks(m);
    // Each worker keeps one distance buffer and its blocks' results.
    let done = super::workers::run(
        blocks.len(),
        || (Vec::new(), Vec::new()),
        |(dist, out): &mut (Vec<f32>, Vec<(usize, Vec<f64>)>), task| {
            let (i0, i1) = blocks[task];
            let h = i1 - i0;
            let mut a = vec![0f64; h];
            let mut b = vec![f64::INFINITY; h];
            let mut run = vec![0f64; h];
            for &(j0, j1) in &blocks {
                let w = j1 - j0;
                dist.resize(h * w, 0.0);
                distance_block(data, (i0, i1), (j0, j1), dist);
                let (jc0, jc1) = (cluster[j0] as usize, cluster[j1 - 1] as usize);
                for (c, &(s, e)) in ranges.iter().enumerate().take(jc1 + 1).skip(jc0) {
                    let (lo, hi) = (s.max(j0) - j0, e.min(j1) - j0);
                    for (li, row) in dist.chunks_exact(w).enumerate() {
                        run[li] += sum_f64(&row[lo..hi]);
                        if e <= j1 {
                            // Cluster c is complete for these rows.
                            let own = cluster[i0 + li] as usize;
                            if c == own {
                                a[li] = run[li] / (e - s - 1).max(1) as f64;
                            } else {
                                b[li] = b[li].min(run[li] / (e - s) as f64);
                            }
                            run[li] = 0.0;
                        }
                    }
                }
            }
            let s_rows = (0..h)
                .map(|li| {
                    let (s, e) = ranges[cluster[i0 + li] as usize];
                    if e - s < 2 {
                        0.0
                    } else {
                        finish(a[li], b[li])
                    }
                })
                .collect();
            out.push((task, s_rows));
        },
    );
    let mut per_block: Vec<(usize, Vec<f64>)> = done.into_iter().flat_map(|(_, out)| out).collect();
    per_block.sort_unstable_by_key(|(task, _)| *task);
    per_block.into_iter().flat_map(|(_, s)| s).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{array, Array2};
    use proptest::prelude::*;

    /// Points on a line: 0, 1 (cluster 0), 5, 7 (cluster 1), 20 (cluster 2).
    fn line() -> (Array2<f32>, Vec<u32>) {
        (
            array![[0.0f32], [1.0], [5.0], [7.0], [20.0]],
            vec![0, 0, 1, 1, 2],
        )
    }

    #[test]
    fn hand_computed_line() {
        // Row 0 (x=0): a = 1; to cluster 1: (5+7)/2 = 6; to cluster 2: 20;
        //   b = 6, s = (6-1)/6 = 5/6.
        // Row 1 (x=1): a = 1; cluster 1: (4+6)/2 = 5; cluster 2: 19;
        //   b = 5, s = 4/5.
        // Row 2 (x=5): a = 2; cluster 0: (5+4)/2 = 4.5; cluster 2: 15;
        //   b = 4.5, s = 2.5/4.5 = 5/9.
        // Row 3 (x=7): a = 2; cluster 0: (7+6)/2 = 6.5; cluster 2: 13;
        //   b = 6.5, s = 4.5/6.5 = 9/13.
        // Row 4 (x=20): singleton, s = 0.
        // Mean = (5/6 + 4/5 + 5/9 + 9/13 + 0) / 5.
        let (x, labels) = line();
        let want = (5.0 / 6.0 + 4.0 / 5.0 + 5.0 / 9.0 + 9.0 / 13.0) / 5.0;
        let got = silhouette_score(x.view(), &labels, 100, 0).expect("defined");
        assert!((got - want).abs() < 1e-6, "{got} vs {want}");
        let streamed = silhouette_with(x.view(), &labels, 100, 0, 0).expect("defined");
        assert!((streamed - want).abs() < 1e-6, "{streamed} vs {want}");
    }

    #[test]
    fn label_values_need_not_be_contiguous() {
        // Same partition as `hand_computed_line`, other ids, other row order.
        let (x, _) = line();
        let labels = vec![9, 9, 4, 4, 70];
        let a = silhouette_score(x.view(), &labels, 100, 0).expect("defined");
        let (_, l) = line();
        let b = silhouette_score(x.view(), &l, 100, 0).expect("defined");
        assert_eq!(a, b);
    }

    #[test]
    fn undefined_for_one_cluster_or_all_singletons() {
        let (x, _) = line();
        assert_eq!(silhouette_score(x.view(), &[3; 5], 100, 0), None);
        assert_eq!(silhouette_score(x.view(), &[0, 1, 2, 3, 4], 100, 0), None);
        // 4 clusters over 5 rows is defined.
        assert!(silhouette_score(x.view(), &[0, 0, 1, 2, 3], 100, 0).is_some());
        // Label length mismatch.
        assert_eq!(silhouette_score(x.view(), &[0, 1], 100, 0), None);
    }

    #[test]
    fn identical_rows_score_zero_not_nan() {
        // All distances 0: a = b = 0, which scikit-learn maps to 0.
        let x = Array2::<f32>::zeros((4, 2));
        assert_eq!(silhouette_score(x.view(), &[0, 0, 1, 1], 100, 0), Some(0.0));
    }

    #[test]
    fn sampling_is_seeded() {
        let x = Array2::from_shape_fn((300, 3), |(i, j)| ((i * 13 + j * 7) % 23) as f32);
        let labels: Vec<u32> = (0..300).map(|i| (i % 4) as u32).collect();
        let a = silhouette_score(x.view(), &labels, 100, 5);
        let b = silhouette_score(x.view(), &labels, 100, 5);
        assert_eq!(a, b);
        let c = silhouette_score(x.view(), &labels, 100, 6);
        assert_ne!(a, c);
    }

    fn case() -> impl Strategy<Value = (Array2<f32>, Vec<u32>)> {
        (2usize..600, 1usize..5, 2u32..7).prop_flat_map(|(n, d, k)| {
            (
                proptest::collection::vec(-10.0f32..10.0, n * d),
                proptest::collection::vec(0..k, n),
            )
                .prop_map(move |(v, l)| (Array2::from_shape_vec((n, d), v).expect("n*d values"), l))
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(40))]

        #[test]
        fn silhouette_is_within_minus_one_and_one((x, labels) in case()) {
            if let Some(s) = silhouette_score(x.view(), &labels, 10_000, 0) {
                prop_assert!((-1.0..=1.0).contains(&s), "{}", s);
            }
        }

        /// The symmetric and streaming paths agree, and match a direct
        /// O(n²) computation in f64.
        #[test]
        fn both_paths_match_the_definition((x, labels) in case()) {
            let sym = silhouette_with(x.view(), &labels, 10_000, 0, usize::MAX);
            let st = silhouette_with(x.view(), &labels, 10_000, 0, 0);
            let direct = naive(&x, &labels);
            prop_assert_eq!(sym.is_some(), direct.is_some());
            if let (Some(a), Some(b), Some(c)) = (sym, st, direct) {
                prop_assert!((a - c).abs() < 1e-5, "symmetric {} direct {}", a, c);
                prop_assert!((b - c).abs() < 1e-5, "streaming {} direct {}", b, c);
            }
        }
    }

    /// Textbook silhouette in f64, straight from the definition.
    fn naive(x: &Array2<f32>, labels: &[u32]) -> Option<f64> {
        let n = x.nrows();
        let mut ids: Vec<u32> = labels.to_vec();
        ids.sort_unstable();
        ids.dedup();
        if ids.len() < 2 || ids.len() > n - 1 {
            return None;
        }
        let dist = |i: usize, j: usize| -> f64 {
            x.row(i)
                .iter()
                .zip(x.row(j))
                .map(|(&p, &q)| (f64::from(p) - f64::from(q)).powi(2))
                .sum::<f64>()
                .sqrt()
        };
        let mut total = 0.0;
        for i in 0..n {
            let mut sums = vec![0.0; ids.len()];
            let mut counts = vec![0usize; ids.len()];
            for (j, lj) in labels.iter().enumerate() {
                let c = ids.binary_search(lj).unwrap_or(0);
                counts[c] += 1;
                if j != i {
                    sums[c] += dist(i, j);
                }
            }
            let own = ids.binary_search(&labels[i]).unwrap_or(0);
            if counts[own] < 2 {
                continue;
            }
            let a = sums[own] / (counts[own] - 1) as f64;
            let b = (0..ids.len())
                .filter(|&c| c != own)
                .map(|c| sums[c] / counts[c] as f64)
                .fold(f64::INFINITY, f64::min);
            total += finish(a, b);
        }
        Some(total / n as f64)
    }
}
