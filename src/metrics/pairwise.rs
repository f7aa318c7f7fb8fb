//! Shared kernels for the distance-based metrics (k-means, silhouette):
//! a centred contiguous copy of the rows with their squared norms, the
//! `a · bᵀ` product behind the expansion |x|² - 2 x·y + |y|², and the
//! row-block size that keeps a block of rows in cache.
//!
//! Distances are translation invariant, and the expansion loses precision
//! when |x|² is large next to the distances, so every metric works on rows
//! with the column mean subtracted (as scikit-learn's k-means does).

use multiversion::multiversion;
use ndarray::{ArrayView2, Axis};
use rayon::prelude::*;

/// Bytes of one row block: a block and its products stay in a core's L2.
const BLOCK_BYTES: usize = 512 * 1024;

/// Rows per block for `d`-dimensional f32 rows (16 to 1024).
pub fn block_rows(d: usize) -> usize {
    (BLOCK_BYTES / (4 * d.max(1))).clamp(16, 1024)
}

/// Rows with the column mean subtracted, contiguous (row-major), and their
/// squared norms.
#[derive(Debug, Clone)]
pub struct Centered {
    /// n x d, row-major.
    pub data: Vec<f32>,
    pub n: usize,
    pub d: usize,
    /// The subtracted column mean (add it back to centroids).
    pub mean: Vec<f32>,
    /// Squared norm of each centred row.
    pub norms: Vec<f32>,
}

impl Centered {
    /// Centre all rows of `x`.
    pub fn new(x: ArrayView2<f32>) -> Centered {
        let rows: Vec<usize> = (0..x.nrows()).collect();
        Centered::gather(x, &rows)
    }

    /// Centre the rows `rows` of `x` (in that order), by their own mean.
    pub fn gather(x: ArrayView2<f32>, rows: &[usize]) -> Centered {
        let d = x.ncols();
        let n = rows.len();
        let b = block_rows(d);
        // Column sums in f64: per-block partials, combined in block order.
        let partials: Vec<Vec<f64>> = rows
            .par_chunks(b)
            .map(|chunk| {
                let mut s = vec![0f64; d];
                for &r in chunk {
                    for (acc, &v) in s.iter_mut().zip(x.index_axis(Axis(0), r)) {
                        *acc += f64::from(v);
                    }
                }
                s
            })
            .collect();
        let mut sum = vec![0f64; d];
        for p in &partials {
            for (acc, v) in sum.iter_mut().zip(p) {
                *acc += v;
            }
        }
        let mean: Vec<f32> = sum.iter().map(|s| (s / n.max(1) as f64) as f32).collect();

        let mut data = vec![0f32; n * d];
        let mut norms = vec![0f32; n];
        data.par_chunks_mut(b * d.max(1))
            .zip(norms.par_chunks_mut(b))
            .zip(rows.par_chunks(b))
            .for_each(|((out, out_norms), chunk)| {
                for ((dst, nrm), &r) in out.chunks_exact_mut(d.max(1)).zip(out_norms).zip(chunk) {
                    for ((o, &v), &m) in dst.iter_mut().zip(x.index_axis(Axis(0), r)).zip(&mean) {
                        *o = v - m;
                    }
                    *nrm = sq_norm(dst) as f32;
                }
            });
        Centered {
            data,
            n,
            d,
            mean,
            norms,
        }
    }

    /// Row `i` as a slice.
    pub fn row(&self, i: usize) -> &[f32] {
        &self.data[i * self.d..(i + 1) * self.d]
    }

    /// Rows `start..end` as one contiguous slice.
    pub fn rows(&self, start: usize, end: usize) -> &[f32] {
        &self.data[start * self.d..end * self.d]
    }
}

/// The rows of a matrix with the column mean subtracted, centred on the
/// fly a block at a time instead of copied: the same values (`v - mean` in
/// f32), mean and squared norms as [`Centered::new`] gives, for passes that
/// read the rows a block at a time (k-means), without an n x d copy.
#[derive(Debug, Clone)]
pub struct CentredRows<'a> {
    /// The raw rows, n x d row-major.
    x: &'a [f32],
    pub n: usize,
    pub d: usize,
    /// The subtracted column mean (add it back to centroids).
    pub mean: Vec<f32>,
    /// Squared norm of each centred row.
    pub norms: Vec<f32>,
    /// The largest magnitude of a centred value.
    pub max_abs: f32,
}

impl<'a> CentredRows<'a> {
    /// `x` must be in standard (row-major) layout; `None` otherwise.
    pub fn new(x: ArrayView2<'a, f32>) -> Option<CentredRows<'a>> {
        let (n, d) = x.dim();
        let xs = x.to_slice()?;
        let b = block_rows(d);
        let dd = d.max(1);
        // Column sums as `Centered::gather` makes them (same blocks, same order).
        let partials: Vec<Vec<f64>> = xs
            .par_chunks(b * dd)
            .map(|chunk| {
                let mut s = vec![0f64; d];
                for row in chunk.chunks_exact(dd) {
                    for (acc, &v) in s.iter_mut().zip(row) {
                        *acc += f64::from(v);
                    }
                }
                s
            })
            .collect();
        let mut sum = vec![0f64; d];
        for p in &partials {
            for (acc, v) in sum.iter_mut().zip(p) {
                *acc += v;
            }
        }
        let mean: Vec<f32> = sum.iter().map(|s| (s / n.max(1) as f64) as f32).collect();
        let mut norms = vec![0f32; n];
        let max_abs = norms
            .par_chunks_mut(b)
            .zip(xs.par_chunks(b * dd))
            .map(|(out, chunk)| {
                let mut row = vec![0f32; d];
                let mut top = 0f32;
                for (nrm, raw) in out.iter_mut().zip(chunk.chunks_exact(dd)) {
                    centre_into(raw, &mean, &mut row);
                    *nrm = sq_norm(&row) as f32;
                    top = top.max(max_abs(&row));
                }
                top
            })
            .reduce(|| 0.0, f32::max);
        Some(CentredRows {
            x: xs,
            n,
            d,
            mean,
            norms,
            max_abs,
        })
    }

    /// Centred rows `start..end` into `out` (resized to fit).
    pub fn rows_into(&self, start: usize, end: usize, out: &mut Vec<f32>) {
        let d = self.d;
        out.resize((end - start) * d, 0.0);
        for (dst, raw) in out
            .chunks_exact_mut(d.max(1))
            .zip(self.x[start * d..end * d].chunks_exact(d.max(1)))
        {
            centre_into(raw, &self.mean, dst);
        }
    }

    /// Centred rows `idx` (in that order) into `out` (resized to fit).
    pub fn gather_into(&self, idx: &[usize], out: &mut Vec<f32>) {
        let d = self.d;
        out.resize(idx.len() * d, 0.0);
        for (dst, &i) in out.chunks_exact_mut(d.max(1)).zip(idx) {
            centre_into(&self.x[i * d..(i + 1) * d], &self.mean, dst);
        }
    }

    /// Centred row `i`, appended to `out`.
    pub fn push_row(&self, i: usize, out: &mut Vec<f32>) {
        let raw = &self.x[i * self.d..(i + 1) * self.d];
        let at = out.len();
        out.resize(at + self.d, 0.0);
        centre_into(raw, &self.mean, &mut out[at..]);
    }

    /// Centred row `i`.
    pub fn row(&self, i: usize) -> Vec<f32> {
        let mut v = Vec::with_capacity(self.d);
        self.push_row(i, &mut v);
        v
    }
}

/// `out[j] = raw[j] - mean[j]`.
#[multiversion(targets("x86_64+avx512f", "x86_64+avx2+fma"))]
fn centre_into(raw: &[f32], mean: &[f32], out: &mut [f32]) {
    for ((o, &v), &m) in out.iter_mut().zip(raw).zip(mean) {
        *o = v - m;
    }
}

/// The largest `|v|` of finite values (16 lanes, so it vectorises).
fn max_abs(v: &[f32]) -> f32 {
    let mut lanes = [0f32; 16];
    let mut chunks = v.chunks_exact(16);
    for c in &mut chunks {
        for (l, &x) in lanes.iter_mut().zip(c) {
            *l = l.max(x.abs());
        }
    }
    let tail = chunks.remainder().iter().fold(0f32, |m, &x| m.max(x.abs()));
    lanes.iter().fold(tail, |m, &l| m.max(l))
}

/// `out = a · bᵀ` for row-major `a` (ra x d) and `b` (rb x d); `out` is
/// ra x rb row-major. Single-threaded: callers parallelise over blocks.
///
/// faer's kernel is used rather than matrixmultiply's: for the skinny
/// products of k-means (rb = k, about 10) matrixmultiply pads to its 16-wide
/// tile and repacks `a` on every call, and measured 2-3x slower here; for
/// square blocks the two are on par.
pub fn gemm_nt(a: &[f32], b: &[f32], d: usize, out: &mut [f32]) {
    if d == 0 {
        out.fill(0.0);
        return;
    }
    let ra = a.len() / d;
    let rb = b.len() / d;
    debug_assert_eq!(out.len(), ra * rb);
    if ra == 0 || rb == 0 {
        return;
    }
    let lhs = faer::MatRef::from_row_major_slice(a, ra, d);
    let rhs = faer::MatRef::from_row_major_slice(b, rb, d);
    let dst = faer::MatMut::from_row_major_slice_mut(out, ra, rb);
    faer::linalg::matmul::matmul(
        dst,
        faer::Accum::Replace,
        lhs,
        rhs.transpose(),
        1.0f32,
        faer::Par::Seq,
    );
}

// The element-wise kernels below are compiled twice, for the baseline and
// for AVX2 + FMA, and pick one at run time (the default x86-64 target has no
// SSE4.1 `floor` or 256-bit lanes). Lane-wise sums keep a fixed order, so
// both versions give the same bits.

/// Σ f(v_i) in f64 over 8 independent lanes (so it vectorises), then the
/// lanes and the tail added in a fixed order. Inlined into each caller's
/// target-specific copies, which therefore give the same bits.
#[inline(always)]
pub(crate) fn lane_sum(v: &[f32], f: impl Fn(f32) -> f64) -> f64 {
    let mut lanes = [0f64; 8];
    let mut chunks = v.chunks_exact(8);
    for c in &mut chunks {
        for (l, &x) in lanes.iter_mut().zip(c) {
            *l += f(x);
        }
    }
    let tail: f64 = chunks.remainder().iter().map(|&x| f(x)).sum();
    lanes.iter().sum::<f64>() + tail
}

/// Sum of f32 values in f64, with independent lanes so it vectorises.
#[multiversion(targets("x86_64+avx2+fma"))]
pub fn sum_f64(v: &[f32]) -> f64 {
    lane_sum(v, f64::from)
}

/// Σ a_i b_i in f32 over 16 independent lanes (so that it vectorises),
/// the lanes then added in a fixed order: the same bits on every target,
/// with at most `a.len() + 1` roundings in any term's path.
#[multiversion(targets("x86_64+avx512f", "x86_64+avx2+fma"))]
pub(crate) fn dot_f32(a: &[f32], b: &[f32]) -> f32 {
    debug_assert_eq!(a.len(), b.len());
    let mut lanes = [0f32; 16];
    let body = a.len().min(b.len()) / 16 * 16;
    for (x, y) in a[..body].chunks_exact(16).zip(b[..body].chunks_exact(16)) {
        for l in 0..16 {
            lanes[l] += x[l] * y[l];
        }
    }
    let mut tail = 0f32;
    for (x, y) in a[body..].iter().zip(&b[body..]) {
        tail += x * y;
    }
    lanes.iter().sum::<f32>() + tail
}

/// Squared Euclidean norm in f64.
#[multiversion(targets("x86_64+avx2+fma"))]
pub fn sq_norm(v: &[f32]) -> f64 {
    lane_sum(v, |x| f64::from(x) * f64::from(x))
}

/// `acc[i] += v[i]`, in f64.
#[multiversion(targets("x86_64+avx2+fma"))]
pub fn add_to_f64(acc: &mut [f64], v: &[f32]) {
    for (a, &x) in acc.iter_mut().zip(v) {
        *a += f64::from(x);
    }
}

/// `out[j] = trunc(row[j] * scale)` as a 64-bit integer (fixed point).
#[multiversion(targets("x86_64+avx512f+avx512dq", "x86_64+avx2+fma"))]
pub fn quantise_into(row: &[f32], scale: f64, out: &mut [i64]) {
    for (o, &v) in out.iter_mut().zip(row) {
        *o = (f64::from(v) * scale) as i64;
    }
}

/// `acc[i] += v[i]` (integers: exact, wrapping never reached by callers).
#[multiversion(targets("x86_64+avx512f", "x86_64+avx2+fma"))]
pub fn add_i64(acc: &mut [i64], v: &[i64]) {
    for (a, &x) in acc.iter_mut().zip(v) {
        *a = a.wrapping_add(x);
    }
}

/// `acc[i] -= v[i]` (integers).
#[multiversion(targets("x86_64+avx512f", "x86_64+avx2+fma"))]
pub fn sub_i64(acc: &mut [i64], v: &[i64]) {
    for (a, &x) in acc.iter_mut().zip(v) {
        *a = a.wrapping_sub(x);
    }
}

/// `acc[i] += v[i]`, in f32.
#[multiversion(targets("x86_64+avx2+fma"))]
pub fn add_to_f32(acc: &mut [f32], v: &[f32]) {
    for (a, &x) in acc.iter_mut().zip(v) {
        *a += x;
    }
}

/// Turn a row of dot products `x_i · x_j` into Euclidean distances with
/// `|x_i|² = ni` and `|x_j|² = nj[j]`, clamping rounding below zero.
#[multiversion(targets("x86_64+avx2+fma"))]
pub fn distances_from_dots(row: &mut [f32], ni: f32, nj: &[f32]) {
    for (v, &n) in row.iter_mut().zip(nj) {
        *v = (ni + n - 2.0 * *v).max(0.0).sqrt();
    }
}

/// e^t for t <= 0 (softmax terms after the max is taken out, uniformity's
/// terms), to about 2 ulp where the result is a normal f64 (t >= -708);
/// 0 below, where e^t is under 1e-307 (it vanishes beside the largest
/// term, which is 1). t = k ln 2 + r with |r| <= ln 2 / 2 (k by the
/// round-to-nearest magic-number add, ln 2 split in two so k ln 2 is exact),
/// e^r by its Taylor polynomial to degree 12 (remainder below 2e-16
/// relative), and 2^k put into the exponent bits. Branch-free, so a loop
/// over it vectorises; libm's `exp` does not, and takes a slow path for
/// arguments whose result underflows (the logits of a well-separated probe).
#[inline(always)]
pub(crate) fn exp_nonpositive(t: f64) -> f64 {
    const LOG2E: f64 = std::f64::consts::LOG2_E;
    const LN2_HI: f64 = 0.693_147_180_369_123_8;
    const LN2_LO: f64 = 1.908_214_929_270_587_7e-10;
    // 1.5 * 2^52: adding it rounds to an integer held in the low mantissa bits.
    const MAGIC: f64 = 6_755_399_441_055_744.0;
    const LOWEST: f64 = -708.0;
    let keep = f64::from(u8::from(t >= LOWEST));
    let t = t.clamp(LOWEST, 0.0);
    let shifted = t * LOG2E + MAGIC;
    let k = shifted - MAGIC;
    let r = (t - k * LN2_HI) - k * LN2_LO;
    // Horner, 1/12! .. 1/1!, 1.
    let mut p = 1.0 / 479_001_600.0;
    for c in [
        1.0 / 39_916_800.0,
        1.0 / 3_628_800.0,
        1.0 / 362_880.0,
        1.0 / 40_320.0,
        1.0 / 5_040.0,
        1.0 / 720.0,
        1.0 / 120.0,
        1.0 / 24.0,
        1.0 / 6.0,
        0.5,
        1.0,
        1.0,
    ] {
        p = p * r + c;
    }
    // k is an integer in [-1022, 0]: 2^k has exponent bits k + 1023, and
    // k + 1023 is the low bits of `shifted` + 1023 (two's complement wraps).
    let biased = shifted.to_bits().wrapping_add(1023) << 52;
    p * f64::from_bits(biased) * keep
}

/// An f32's bit pattern as a u32 whose unsigned order is
/// [`f32::total_cmp`]'s (negative values flipped, positive ones with the
/// sign bit set): -0 sorts just below +0. For radix selection (outliers'
/// medians) and for f32 maxima kept in atomics (kNN's shared bounds).
pub(crate) fn order_key(v: f32) -> u32 {
    let b = v.to_bits();
    b ^ ((((b as i32) >> 31) as u32) | 0x8000_0000)
}

/// The f32 whose [`order_key`] is `k`.
pub(crate) fn from_order_key(k: u32) -> f32 {
    f32::from_bits(if k & 0x8000_0000 != 0 {
        k ^ 0x8000_0000
    } else {
        !k
    })
}

/// Squared Euclidean distance in f64 (exact, no expansion).
#[multiversion(targets("x86_64+avx2+fma"))]
pub fn sq_dist(a: &[f32], b: &[f32]) -> f64 {
    let mut lanes = [0f64; 8];
    let mut ca = a.chunks_exact(8);
    let mut cb = b.chunks_exact(8);
    for (x, y) in (&mut ca).zip(&mut cb) {
        for ((l, &p), &q) in lanes.iter_mut().zip(x).zip(y) {
            let t = f64::from(p) - f64::from(q);
            *l += t * t;
        }
    }
    let tail: f64 = ca
        .remainder()
        .iter()
        .zip(cb.remainder())
        .map(|(&p, &q)| {
            let t = f64::from(p) - f64::from(q);
            t * t
        })
        .sum();
    lanes.iter().sum::<f64>() + tail
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    #[test]
    fn centred_rows_have_zero_mean_and_their_norms() {
        // Column means are (2, 10); centred rows (-1, -1), (1, 1).
        let x = array![[1.0f32, 9.0], [3.0, 11.0]];
        let c = Centered::new(x.view());
        assert_eq!(c.mean, vec![2.0, 10.0]);
        assert_eq!(c.data, vec![-1.0, -1.0, 1.0, 1.0]);
        assert_eq!(c.norms, vec![2.0, 2.0]);
    }

    #[test]
    fn centred_rows_on_the_fly_equal_the_centred_copy() {
        // 300 rows of 5 columns: several row blocks (block_rows(5) = 1024
        // would be one, so 3000 rows); every value, the mean and the norms
        // bit for bit.
        let x = ndarray::Array2::from_shape_fn((3000, 5), |(i, j)| {
            ((i * 37 + j * 11) % 101) as f32 * 0.37 + 1e3
        });
        let copy = Centered::new(x.view());
        let lazy = CentredRows::new(x.view()).expect("row-major");
        assert_eq!((lazy.n, lazy.d), (3000, 5));
        assert_eq!(lazy.mean, copy.mean);
        assert_eq!(lazy.norms, copy.norms);
        let mut buf = Vec::new();
        lazy.rows_into(1000, 2100, &mut buf);
        assert_eq!(buf, copy.rows(1000, 2100));
        assert_eq!(lazy.row(2999), copy.row(2999));
        // A transposed view is not row-major.
        assert!(CentredRows::new(x.t()).is_none());
    }

    #[test]
    fn gather_uses_the_chosen_rows_in_order() {
        let x = array![[0.0f32], [4.0], [8.0]];
        let c = Centered::gather(x.view(), &[2, 0]);
        // mean of 8 and 0 is 4
        assert_eq!(c.data, vec![4.0, -4.0]);
    }

    #[test]
    fn exp_nonpositive_matches_libm() {
        let mut worst = 0f64;
        for i in 0..=200_000 {
            let t = -708.0 * f64::from(i) / 200_000.0;
            let rel = (exp_nonpositive(t) - t.exp()).abs() / t.exp();
            worst = worst.max(rel);
        }
        assert!(worst < 1e-15, "largest relative error {worst:e}");
        assert_eq!(exp_nonpositive(0.0), 1.0);
        // Below -708 the result is 0 (libm gives at most 3.3e-308 there).
        assert_eq!(exp_nonpositive(-708.5), 0.0);
        assert_eq!(exp_nonpositive(-1e6), 0.0);
        assert_eq!(exp_nonpositive(f64::NEG_INFINITY), 0.0);
    }

    #[test]
    fn key_order_is_total_cmp_order_and_round_trips() {
        let v = [
            f32::NEG_INFINITY,
            f32::MIN,
            -1e30,
            -1.0,
            -f32::MIN_POSITIVE,
            -1e-45,
            -0.0,
            0.0,
            1e-45,
            1.0,
            1e30,
            f32::MAX,
            f32::INFINITY,
        ];
        for w in v.windows(2) {
            assert!(order_key(w[0]) < order_key(w[1]), "{} < {}", w[0], w[1]);
        }
        for &x in &v {
            assert_eq!(from_order_key(order_key(x)).to_bits(), x.to_bits());
        }
    }

    #[test]
    fn gemm_nt_is_the_matrix_of_dot_products() {
        // a = [[1,2],[3,4],[5,6]], b = [[1,0],[1,1]]
        let a = [1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0];
        let b = [1.0f32, 0.0, 1.0, 1.0];
        let mut out = [0f32; 6];
        gemm_nt(&a, &b, 2, &mut out);
        assert_eq!(out, [1.0, 3.0, 3.0, 7.0, 5.0, 11.0]);
    }

    #[test]
    fn lane_sums_match_plain_sums() {
        let v: Vec<f32> = (0..19).map(|i| i as f32 * 0.5).collect();
        // 0.5 * (0 + ... + 18) = 0.5 * 171
        assert_eq!(sum_f64(&v), 85.5);
        // 0.25 * (0² + ... + 18²) = 0.25 * 2109
        assert_eq!(sq_norm(&v), 527.25);
        assert_eq!(sq_dist(&[1.0, 2.0, 3.0], &[4.0, 6.0, 3.0]), 25.0);
    }
}
