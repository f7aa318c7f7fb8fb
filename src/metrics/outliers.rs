//! Outlier embeddings: rows far from the coordinate-wise median, in robust
//! z-scores of their distance (the paper's open question 3: early outliers
//! that lower the entropy).
//!
//! With m the coordinate-wise median row and d_i = |x_i - m| (Euclidean, in
//! f64), z_i = (d_i - median(d)) / (1.4826 MAD) with MAD = median(|d_i -
//! median(d)|); row i is an outlier when z_i > 5. Medians of an even count
//! are the mean of the two middle values (numpy's `median`), computed in f64.
//!
//! MAD = 0 happens when more than half of the rows lie at exactly the median
//! distance (a collapsed embedding, many duplicate rows). The formula is then
//! read as numpy computes it: z_i = +inf for every row farther than the
//! median distance, so exactly those rows are outliers (infinitely many
//! spreads away from a majority that has none), and no row is one when no
//! row is farther. Every step is O(N D) (medians by selection).

use super::pairwise::{from_order_key, order_key};
use ndarray::{Array2, ArrayView2, Axis};
use rayon::prelude::*;

/// A row is an outlier when its robust z-score exceeds this.
pub const OUTLIER_Z: f64 = 5.0;

/// MAD to standard deviation for normal data (1 / Phi^-1(3/4)).
pub const MAD_SCALE: f64 = 1.4826;

/// Outlier indices kept (highest z first).
pub const OUTLIER_IDX_KEEP: usize = 20;

/// Columns gathered per pass over the rows (64 f32 = four cache lines of
/// each row; 64 x 50,000 u32 keys is 12.8 MB per worker). Wider blocks
/// (128, 256) were no faster at 50,000 x 2,048.
const COLUMN_BLOCK: usize = 64;

/// The outliers of one matrix.
#[derive(Debug, Clone, PartialEq)]
pub struct Outliers {
    /// Outliers / rows.
    pub frac: f64,
    /// The outliers' row indices (into the matrix given), highest z first
    /// (farthest first; ties by index), at most [`OUTLIER_IDX_KEEP`].
    pub idx: Vec<u32>,
    /// Per row: is it an outlier.
    pub mask: Vec<bool>,
    /// Number of outliers.
    pub count: usize,
}

impl Outliers {
    /// `idx` as rows of the file the matrix came from, when the matrix holds
    /// only the rows where `kept` is true (in order), as `compute_layer`
    /// keeps the finite rows. An index with no such row is left out.
    pub fn file_rows(&self, kept: &[bool]) -> Vec<u32> {
        let file: Vec<u32> = (0..kept.len() as u32)
            .filter(|&i| kept[i as usize])
            .collect();
        self.idx
            .iter()
            .filter_map(|&i| file.get(i as usize).copied())
            .collect()
    }
}

/// The outliers of the rows of `x`. `None` for an empty matrix or
/// non-finite values (the caller drops non-finite rows first).
pub fn outliers(x: ArrayView2<f32>) -> Option<Outliers> {
    let (n, d) = x.dim();
    if n == 0 || d == 0 {
        return None;
    }
    let m = median_row(x);
    let dist = distances(x, &m);
    if dist.iter().any(|v| !v.is_finite()) {
        return None;
    }
    let med = median(&mut dist.clone());
    let mad = median(&mut dist.iter().map(|v| (v - med).abs()).collect::<Vec<_>>());
    let spread = MAD_SCALE * mad;
    let mask: Vec<bool> = dist
        .iter()
        .map(|&v| {
            if spread > 0.0 {
                (v - med) / spread > OUTLIER_Z
            } else {
                // (v - med) / 0 is +inf exactly when v > med.
                v > med
            }
        })
        .collect();
    let mut out: Vec<u32> = (0..n as u32).filter(|&i| mask[i as usize]).collect();
    let count = out.len();
    // z is increasing in d (spread > 0), or +inf for all of them: farthest first.
    out.sort_unstable_by(|&a, &b| {
        dist[b as usize]
            .total_cmp(&dist[a as usize])
            .then(a.cmp(&b))
    });
    out.truncate(OUTLIER_IDX_KEEP);
    Some(Outliers {
        frac: count as f64 / n as f64,
        idx: out,
        mask,
        count,
    })
}

/// Rows whose distances are summed side by side in [`distances`].
const GROUP: usize = 4;

/// Each row's Euclidean distance to `m` (f64), its squared terms added in
/// column order from 0, as a plain per-row sum adds them (the same bits).
/// [`GROUP`] rows at a time, one accumulator each, so that the rows'
/// additions overlap instead of waiting on one chain.
fn distances(x: ArrayView2<f32>, m: &[f64]) -> Vec<f64> {
    let one = |r: ndarray::ArrayView1<f32>| {
        r.iter()
            .zip(m)
            .map(|(&v, &c)| (f64::from(v) - c).powi(2))
            .sum::<f64>()
            .sqrt()
    };
    let d = m.len();
    let (Some(flat), true) = (x.as_slice(), d > 0) else {
        return x.axis_iter(Axis(0)).into_par_iter().map(one).collect();
    };
    let mut dist = vec![0f64; x.nrows()];
    dist.par_chunks_mut(GROUP)
        .zip(flat.par_chunks(GROUP * d))
        .with_min_len(64)
        .for_each(|(out, rows)| {
            if out.len() < GROUP {
                for (o, r) in out.iter_mut().zip(rows.chunks_exact(d)) {
                    *o = one(ndarray::ArrayView1::from(r));
                }
                return;
            }
            let r: [&[f32]; GROUP] = std::array::from_fn(|k| &rows[k * d..(k + 1) * d]);
            let mut acc = [0f64; GROUP];
            for (j, &c) in m.iter().enumerate() {
                for (a, row) in acc.iter_mut().zip(&r) {
                    let t = f64::from(row[j]) - c;
                    *a += t * t;
                }
            }
            for (o, a) in out.iter_mut().zip(acc) {
                *o = a.sqrt();
            }
        });
    dist
}

/// The rows of `x` that are not outliers, for `entropy_inliers`; `None`
/// when there are no outliers (the caller reuses the full entropy) or the
/// mask does not have one entry per row.
pub fn inlier_rows(x: ArrayView2<f32>, o: &Outliers) -> Option<Array2<f32>> {
    if o.count == 0 || o.mask.len() != x.nrows() {
        return None;
    }
    let keep: Vec<usize> = (0..x.nrows()).filter(|&i| !o.mask[i]).collect();
    Some(x.select(Axis(0), &keep))
}

/// The coordinate-wise median row, in f64: columns transposed
/// [`COLUMN_BLOCK`] at a time into one reused buffer per worker (one pass
/// over the rows per block), each column's median by an exact radix
/// selection on order-preserving keys of the f32 bit patterns.
pub fn median_row(x: ArrayView2<f32>) -> Vec<f64> {
    let (n, d) = x.dim();
    let starts: Vec<usize> = (0..d).step_by(COLUMN_BLOCK).collect();
    let parts: Vec<Vec<f64>> = starts
        .par_iter()
        .map_init(
            || (vec![0u32; COLUMN_BLOCK * n], vec![0u32; RADIX]),
            |(buf, hist), &c0| {
                let w = COLUMN_BLOCK.min(d - c0);
                let cols = &mut buf[..w * n];
                transpose_keys(x, c0, w, cols);
                cols.chunks_exact_mut(n.max(1))
                    .map(|c| median_keys(c, hist))
                    .collect()
            },
        )
        .collect();
    parts.concat()
}

/// Rows of one tile of [`transpose_keys`]: one cache line ([`LINE`]
/// values) of each of `TILE_ROWS` rows at a time, so that as many rows'
/// misses are in flight at once (strided rows defeat the prefetchers).
const TILE_ROWS: usize = 16;

/// f32 values in a cache line.
const LINE: usize = 16;

/// Columns `c0..c0 + w` of `x` into `out` column-major (`out[c n + i]` is
/// row i of column c0 + c), as [`order_key`]s.
fn transpose_keys(x: ArrayView2<f32>, c0: usize, w: usize, out: &mut [u32]) {
    let n = x.nrows();
    let mut i0 = 0;
    if n >= TILE_ROWS && w.is_multiple_of(LINE) && x.row(0).as_slice().is_some() {
        let mut blk = [[0u32; TILE_ROWS]; LINE];
        while i0 + TILE_ROWS <= n {
            let rows: [&[f32]; TILE_ROWS] = std::array::from_fn(|r| {
                let row = x.row(i0 + r);
                let row = row.to_slice().expect("contiguous rows");
                &row[c0..c0 + w]
            });
            for cc in (0..w).step_by(LINE) {
                for (r, row) in rows.iter().enumerate() {
                    let line: &[f32; LINE] = row[cc..cc + LINE].try_into().expect("line");
                    for (b, &v) in blk.iter_mut().zip(line) {
                        b[r] = order_key(v);
                    }
                }
                for (c, b) in blk.iter().enumerate() {
                    let at = (cc + c) * n + i0;
                    out[at..at + TILE_ROWS].copy_from_slice(b);
                }
            }
            i0 += TILE_ROWS;
        }
    }
    // The rows left over, and blocks of another width or layout.
    for i in i0..n {
        let row = x.row(i);
        for (c, &v) in row.slice(ndarray::s![c0..c0 + w]).iter().enumerate() {
            out[c * n + i] = order_key(v);
        }
    }
}

/// Buckets of one radix digit (the widest of [`DIGITS`]).
const RADIX: usize = 1 << 11;

/// The digits of a key, most significant first: (shift, bits).
const DIGITS: [(u32, u32); 3] = [(21, 11), (10, 11), (0, 10)];

/// Candidates few enough to finish with `select_nth_unstable`.
const SMALL: usize = 256;

/// [`median`] of the f32 values whose keys are `keys` (reordered), in f64;
/// NaN when empty. `hist` is scratch of [`RADIX`] counts.
fn median_keys(keys: &mut [u32], hist: &mut [u32]) -> f64 {
    let n = keys.len();
    if n == 0 {
        return f64::NAN;
    }
    let (lo, hi) = select_keys(keys, n / 2, n.is_multiple_of(2), hist);
    let hi = f64::from(from_order_key(hi));
    if n % 2 == 1 {
        return hi;
    }
    0.5 * (f64::from(from_order_key(lo)) + hi)
}

/// The keys at ranks `k - 1` and `k` (0-based, ascending) of `keys`; the
/// first is `k`'s when `want_lo` is false (then `k` may be 0). Exact: per
/// digit, a histogram of the candidates finds the bucket holding rank `k`,
/// the candidates shrink to that bucket (in place, at the front of
/// `keys`), and the few left finish by selection. Rank `k - 1` lies in the
/// same bucket unless `k` is the bucket's first, when it is the largest
/// key of the buckets below (one more pass, rare).
fn select_keys(keys: &mut [u32], k: usize, want_lo: bool, hist: &mut [u32]) -> (u32, u32) {
    debug_assert!(k < keys.len() && (k > 0 || !want_lo));
    let mut len = keys.len();
    let mut k = k;
    let mut lo: Option<u32> = None;
    let mut want_lo = want_lo;
    for &(shift, bits) in &DIGITS {
        if len <= SMALL {
            break;
        }
        let mask = (1u32 << bits) - 1;
        let digit = |v: u32| ((v >> shift) & mask) as usize;
        let hist = &mut hist[..1 << bits];
        hist.fill(0);
        for &v in &keys[..len] {
            hist[digit(v)] += 1;
        }
        let (mut b, mut below) = (0usize, 0usize);
        while below + hist[b] as usize <= k {
            below += hist[b] as usize;
            b += 1;
        }
        if want_lo && k == below {
            // below >= 1 here: k >= 1 on entry, and k was the first of its
            // bucket at no earlier digit (else lo would be known).
            lo = keys[..len].iter().copied().filter(|&v| digit(v) < b).max();
            want_lo = false;
        }
        if hist[b] as usize != len {
            let mut m = 0;
            for i in 0..len {
                let v = keys[i];
                keys[m] = v;
                m += usize::from(digit(v) == b);
            }
            len = m;
        }
        k -= below;
    }
    let (left, &mut hi, _) = keys[..len].select_nth_unstable(k);
    let lo = match lo {
        Some(v) => v,
        None if want_lo => left.iter().copied().max().expect("k >= 1 keys below"),
        None => hi,
    };
    (lo, hi)
}

/// numpy's median (the mean of the two middle values of an even count),
/// reordering `v`; NaN when empty.
pub fn median(v: &mut [f64]) -> f64 {
    let n = v.len();
    if n == 0 {
        return f64::NAN;
    }
    let (left, &mut hi, _) = v.select_nth_unstable_by(n / 2, f64::total_cmp);
    if n % 2 == 1 {
        return hi;
    }
    // The largest of the lower half is the other middle value.
    let lo = left.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    0.5 * (lo + hi)
}

/// Extra heap (bytes) of [`outliers`] plus [`inlier_rows`] on an `n` x `d`
/// matrix with `threads` rayon threads: per running column block its
/// buffer of `n` u32 keys per column and a histogram, the median row, the distances (and the two copies
/// the medians reorder), the mask and the sorted ids, then the inlier copy
/// (at most all rows; `compute_layer`'s histogram entropy skips the
/// outliers in place instead, the other estimators take the copy).
pub fn working_set_bytes(n: usize, d: usize, threads: usize) -> u64 {
    let (nf, df) = (n as f64, d as f64);
    let blocks = threads.max(1).min(d.div_ceil(COLUMN_BLOCK).max(1)) as f64;
    let medians = blocks * (COLUMN_BLOCK as f64 * nf * 4.0 + RADIX as f64 * 4.0) + df * 8.0 * 2.0;
    let rest = 3.0 * nf * 8.0 + nf + nf * 4.0;
    let inliers = nf * 8.0 + nf * df * 4.0;
    (medians + rest + inliers).ceil() as u64
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    #[test]
    fn median_of_odd_and_even_counts() {
        assert_eq!(median(&mut [3.0, 1.0, 2.0]), 2.0);
        // Even: mean of 2 and 3.
        assert_eq!(median(&mut [4.0, 1.0, 3.0, 2.0]), 2.5);
        assert!(median(&mut []).is_nan());
    }

    /// numpy's median by a full sort in `total_cmp` order (the order the
    /// keys follow), in f64.
    fn sorted_median(v: &[f32]) -> f64 {
        let mut s = v.to_vec();
        s.sort_by(f32::total_cmp);
        let n = s.len();
        if n % 2 == 1 {
            f64::from(s[n / 2])
        } else {
            0.5 * (f64::from(s[n / 2 - 1]) + f64::from(s[n / 2]))
        }
    }

    #[test]
    fn radix_median_equals_the_sorted_median_on_awkward_columns() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
        let mut cases: Vec<Vec<f32>> = vec![
            vec![0.0],
            vec![-0.0, 0.0],
            vec![0.0, -0.0, -0.0],
            vec![-0.0; 1001],
            vec![2.5; 1000],
            vec![-3.0; 777],
            vec![f32::MAX, f32::MIN, f32::MAX, -f32::MAX],
        ];
        // Sizes around SMALL and a few digits' worth, odd and even.
        for &n in &[
            2usize, 3, 255, 256, 257, 258, 1000, 1001, 4096, 50_001, 50_000,
        ] {
            // Gaussian-ish, all negative, heavy duplicates, zeros of both
            // signs, huge magnitudes, and one narrow bucket (the median the
            // first of its bucket, so rank k - 1 lies in a bucket below).
            cases.push((0..n).map(|_| rng.gen_range(-1.0f32..1.0)).collect());
            cases.push((0..n).map(|_| -rng.gen_range(1.0f32..1e6)).collect());
            cases.push((0..n).map(|_| rng.gen_range(-3i32..3) as f32).collect());
            cases.push(
                (0..n)
                    .map(|i| {
                        if i % 3 == 0 {
                            -0.0
                        } else if i % 3 == 1 {
                            0.0
                        } else {
                            rng.gen_range(-1.0f32..1.0)
                        }
                    })
                    .collect(),
            );
            cases.push((0..n).map(|_| if rng.gen_bool(0.5) { 3e38 } else { -3e38 } * rng.gen_range(0.5f32..1.0)).collect());
            cases.push(
                (0..n)
                    .map(|i| {
                        if i < n / 2 {
                            -1e6 - i as f32
                        } else {
                            1.0 + (i % 7) as f32 * 1e-7
                        }
                    })
                    .collect(),
            );
            cases.push(
                (0..n)
                    .map(|i| if 2 * i < n { 5.0 } else { 5.000_001 })
                    .collect(),
            );
        }
        let mut hist = vec![0u32; RADIX];
        for (i, c) in cases.iter().enumerate() {
            let mut keys: Vec<u32> = c.iter().map(|&v| order_key(v)).collect();
            let got = median_keys(&mut keys, &mut hist);
            let want = sorted_median(c);
            assert_eq!(
                got.to_bits(),
                want.to_bits(),
                "case {i} (n = {}): {got} vs {want}",
                c.len()
            );
        }
        // The median row takes the same path: a matrix of some of them.
        let n = 1001;
        let cols: Vec<&Vec<f32>> = cases.iter().filter(|c| c.len() == n).collect();
        let x = Array2::from_shape_fn((n, cols.len()), |(i, j)| cols[j][i]);
        let m = median_row(x.view());
        for (j, c) in cols.iter().enumerate() {
            assert_eq!(m[j].to_bits(), sorted_median(c).to_bits(), "column {j}");
        }
    }

    #[test]
    fn distances_are_the_plain_per_row_sums_bit_for_bit() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
        // 10 rows (two groups and a short one) of 37 columns, and a
        // non-contiguous view (the fallback).
        let x = Array2::from_shape_fn((10, 37), |_| rng.gen_range(-10.0f32..10.0));
        let m: Vec<f64> = (0..37).map(|_| rng.gen_range(-1.0..1.0)).collect();
        let plain = |x: ArrayView2<f32>, m: &[f64]| -> Vec<u64> {
            x.rows()
                .into_iter()
                .map(|r| {
                    let mut s = 0f64;
                    for (&v, &c) in r.iter().zip(m) {
                        s += (f64::from(v) - c).powi(2);
                    }
                    s.sqrt().to_bits()
                })
                .collect()
        };
        let bits = |v: Vec<f64>| v.into_iter().map(f64::to_bits).collect::<Vec<_>>();
        assert_eq!(bits(distances(x.view(), &m)), plain(x.view(), &m));
        let t = x.t();
        let m10 = &m[..10];
        assert_eq!(bits(distances(t, m10)), plain(t, m10));
    }

    #[test]
    fn median_row_is_per_coordinate() {
        // Column 0: 1, 5, 3 -> 3; column 1: 10, -2, 7 -> 7 (not a row of x).
        let x = array![[1.0f32, 10.0], [5.0, -2.0], [3.0, 7.0]];
        assert_eq!(median_row(x.view()), vec![3.0, 7.0]);
    }

    #[test]
    fn median_row_spans_column_blocks_and_averages_even_counts() {
        // 4 rows x 130 columns (3 column blocks): column j holds j, 3j, -j
        // and 0.5 + j: sorted -j, 0 or j..., the middle two average.
        // For j >= 1: sorted -j, j, j + 0.5, 3j -> (j + j + 0.5) / 2 = j + 0.25.
        // For j = 0: 0, 0, 0, 0.5 -> 0.
        let x = ndarray::Array2::from_shape_fn((4, 130), |(i, j)| {
            let j = j as f32;
            [j, 3.0 * j, -j, 0.5 + j][i]
        });
        let m = median_row(x.view());
        assert_eq!(m[0], 0.0);
        for (j, &v) in m.iter().enumerate().skip(1) {
            assert_eq!(v, j as f64 + 0.25, "column {j}");
        }
    }

    #[test]
    fn one_far_row_is_the_outlier() {
        // Rows 0..=9 on a line: (i, 0) for i = 0..9, and row 10 at (100, 0).
        // Median row: column 0 median of 0..9, 100 = 5; column 1: 0.
        // d = |i - 5| = 5,4,3,2,1,0,1,2,3,4 and 95; sorted:
        // 0,1,1,2,2,3,3,4,4,5,95 -> median(d) = 3.
        // |d - 3| = 2,1,0,1,2,3,2,1,0,1,92; sorted 0,0,1,1,1,1,2,2,2,3,92
        // -> MAD = 1, 1.4826 MAD = 1.4826. z of row 10 = 92 / 1.4826 = 62;
        // the next largest, row 0: (5 - 3) / 1.4826 = 1.35.
        let mut x = Array2::<f32>::zeros((11, 2));
        for i in 0..10 {
            x[(i, 0)] = i as f32;
        }
        x[(10, 0)] = 100.0;
        let o = outliers(x.view()).expect("outliers");
        assert_eq!(o.idx, vec![10]);
        assert_eq!(o.count, 1);
        assert!((o.frac - 1.0 / 11.0).abs() < 1e-15);
        assert!(o.mask[10] && o.mask.iter().filter(|&&m| m).count() == 1);
    }

    #[test]
    fn threshold_is_strictly_above_five() {
        // One column x = 1, 1, 1, 0, 2, t (t > 2): sorted 0,1,1,1,2,t, so
        // the median row is 1 and d = 0, 0, 0, 1, 1, t - 1; median(d) =
        // (0 + 1) / 2 = 0.5 (even count), |d - 0.5| = 0.5 x5 and t - 1.5,
        // MAD = 0.5, 1.4826 MAD = 0.7413. Row 5 is an outlier iff
        // (t - 1.5) / 0.7413 > 5, i.e. t > 5.2065.
        let with = |t: f32| array![[1.0f32], [1.0], [1.0], [0.0], [2.0], [t]];
        let o = outliers(with(5.3).view()).expect("outliers");
        assert_eq!(o.idx, vec![5]);
        let o = outliers(with(5.1).view()).expect("outliers");
        assert_eq!(o.count, 0);
        assert!(o.idx.is_empty());
    }

    #[test]
    fn mad_zero_flags_exactly_the_rows_beyond_the_median_distance() {
        // 5 identical rows and 2 others: median row (0, 0), d = 0 x5, 1, 2:
        // median(d) = 0, MAD = median(0 x5, 1, 2) = 0. Rows farther than 0
        // (indices 5 and 6) are outliers, the farther one first.
        let x = array![
            [0.0f32, 0.0],
            [0.0, 0.0],
            [0.0, 0.0],
            [0.0, 0.0],
            [0.0, 0.0],
            [1.0, 0.0],
            [0.0, 2.0]
        ];
        let o = outliers(x.view()).expect("outliers");
        assert_eq!(o.idx, vec![6, 5]);
        assert_eq!(o.count, 2);
        // All rows identical: MAD = 0 and no row is farther: none.
        let same = Array2::<f32>::ones((4, 3));
        assert_eq!(outliers(same.view()).expect("outliers").count, 0);
    }

    #[test]
    fn idx_keeps_the_twenty_farthest() {
        // 100 rows at distance 0..1 of the origin (a tight core) and 30
        // planted rows at 1000 + i: all 30 are outliers, idx holds the 20
        // farthest (the last planted first).
        let mut x = Array2::<f32>::zeros((130, 1));
        for i in 0..100 {
            x[(i, 0)] = (i as f32) * 0.01;
        }
        for i in 0..30 {
            x[(100 + i, 0)] = 1000.0 + i as f32;
        }
        let o = outliers(x.view()).expect("outliers");
        assert_eq!(o.count, 30);
        assert_eq!(o.idx, (110..130).rev().collect::<Vec<u32>>());
    }

    #[test]
    fn inlier_rows_drop_the_outliers() {
        let mut x = Array2::<f32>::zeros((11, 2));
        for i in 0..10 {
            x[(i, 0)] = i as f32;
        }
        x[(10, 0)] = 100.0;
        let o = outliers(x.view()).expect("outliers");
        let inl = inlier_rows(x.view(), &o).expect("some outliers");
        assert_eq!(inl.nrows(), 10);
        assert_eq!(
            inl.column(0).to_vec(),
            (0..10).map(|i| i as f32).collect::<Vec<_>>()
        );
        // No outliers: None, the full entropy applies.
        let none = outliers(x.slice(ndarray::s![..10, ..])).expect("outliers");
        assert!(inlier_rows(x.slice(ndarray::s![..10, ..]), &none).is_none());
    }

    #[test]
    fn file_rows_map_back_over_dropped_rows() {
        // Matrix rows 0, 1, 2 were file rows 0, 2, 3 (file row 1 dropped).
        let o = Outliers {
            frac: 1.0 / 3.0,
            idx: vec![2, 0],
            mask: vec![true, false, true],
            count: 2,
        };
        assert_eq!(o.file_rows(&[true, false, true, true]), vec![3, 0]);
    }

    #[test]
    fn working_set_counts_the_inlier_copy_and_the_column_blocks() {
        // At least the inlier copy (n d f32) and one block of 16 f64 columns.
        let w = working_set_bytes(10_000, 512, 2);
        assert!(w >= 10_000 * 512 * 4 + 16 * 10_000 * 8);
        assert!(working_set_bytes(10_000, 512, 4) > w);
    }

    #[test]
    fn degenerate_inputs_are_none() {
        assert!(outliers(Array2::<f32>::zeros((0, 2)).view()).is_none());
        assert!(outliers(array![[f32::INFINITY, 0.0], [0.0, 0.0]].view()).is_none());
    }
}
