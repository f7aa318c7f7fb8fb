//! Keeping the metric arithmetic inside f32's range.
//!
//! The distance kernels (k-means, silhouette, the kNN entropy search) work
//! on f32 squared norms and dot products: at |x| around 1e18 a 512-wide
//! squared norm overflows f32, and at f32 subnormals (|x| < 1.2e-38) the
//! squares flush to zero, and both give silent nonsense (one cluster, a null
//! silhouette). Every metric except the k-means inertia and the Gaussian and
//! kNN entropies is unchanged when the data is multiplied by a constant, and
//! multiplying by a power of two is exact in binary floating point (short of
//! overflow and underflow), so `compute_layer` measures a copy scaled by
//! 2^-shift, whose largest |value| is in [1, 2), whenever the data's largest
//! |value| is outside [2^-SAFE, 2^SAFE); inside that range nothing is copied
//! and every kernel is exact under the scaling anyway. The scale-dependent
//! outputs are moved back to the true units in f64 ([`mul_pow2`]).

use ndarray::{Array2, ArrayView2, Axis};
use rayon::prelude::*;

/// Data whose largest |value| is in [2^-SAFE, 2^SAFE) is measured as it is.
/// With |x| < 2^32, a centred squared norm is below 4 d 2^64, far from f32's
/// 2^128 for any realistic d; with |x| >= 2^-32 the expansion's rounding
/// (2^-24 of the squared norms) stays well above f32's normal range.
pub const SAFE_EXPONENT: i32 = 32;

/// Bits of |v| at or above this are Inf or NaN.
const NONFINITE_BITS: u32 = 0x7f80_0000;

/// One pass over the rows: which are finite, and the largest |value| among them.
#[derive(Debug, Clone)]
pub struct Scan {
    pub finite: Vec<bool>,
    pub nonfinite: usize,
    /// Largest |value| of the finite rows (0 when they are all zero).
    pub max_abs: f32,
}

/// Scan `x` once (in parallel over rows). A row is finite when no value is
/// NaN or Inf; `max_abs` only looks at finite rows.
pub fn scan(x: ArrayView2<f32>) -> Scan {
    // |v| as bits: integer max vectorises, and NaN/Inf compare above every
    // finite value, so one number per row says both things.
    let row_max: Vec<u32> = x
        .axis_iter(Axis(0))
        .into_par_iter()
        .map(|row| match row.as_slice() {
            Some(s) => max_abs_bits(s),
            None => row.iter().fold(0, |m, v| m.max(v.to_bits() & 0x7fff_ffff)),
        })
        .collect();
    let finite: Vec<bool> = row_max.iter().map(|&b| b < NONFINITE_BITS).collect();
    let nonfinite = finite.iter().filter(|f| !**f).count();
    let max_bits = row_max
        .iter()
        .filter(|&&b| b < NONFINITE_BITS)
        .fold(0, |m, &b| m.max(b));
    Scan {
        finite,
        nonfinite,
        max_abs: f32::from_bits(max_bits),
    }
}

fn max_abs_bits(row: &[f32]) -> u32 {
    let mut lanes = [0u32; 8];
    let mut chunks = row.chunks_exact(8);
    for c in &mut chunks {
        for (l, v) in lanes.iter_mut().zip(c) {
            *l = (*l).max(v.to_bits() & 0x7fff_ffff);
        }
    }
    let tail = chunks
        .remainder()
        .iter()
        .fold(0, |m, v| m.max(v.to_bits() & 0x7fff_ffff));
    lanes.iter().fold(tail, |m, &l| m.max(l))
}

/// The exponent e with 2^e <= `max_abs` < 2^(e+1) (subnormals included).
/// `max_abs` must be finite and positive.
pub fn exponent(max_abs: f32) -> i32 {
    // Every f32, subnormals too, is a normal f64: read its exponent field.
    let bits = f64::from(max_abs).to_bits();
    ((bits >> 52) & 0x7ff) as i32 - 1023
}

/// The power of two to divide by so the arithmetic stays in range: 0 inside
/// the safe range, else the exponent of `max_abs` (which then lands in [1, 2)).
pub fn shift_for(max_abs: f32) -> i32 {
    let e = exponent(max_abs);
    if (-SAFE_EXPONENT..SAFE_EXPONENT).contains(&e) {
        0
    } else {
        e
    }
}

/// A contiguous copy of rows `rows` of `x`, each value multiplied by
/// 2^-`shift` (exact in f64, rounded once to f32), and how many rows had a
/// non-zero value before and none after (values below 2^-149 of the scale
/// flush to zero).
pub fn scaled_rows(x: ArrayView2<f32>, rows: &[usize], shift: i32) -> (Array2<f32>, usize) {
    let d = x.ncols();
    let factor = mul_pow2(1.0, -i64::from(shift));
    let mut out = Array2::<f32>::zeros((rows.len(), d));
    let flushed = out
        .axis_iter_mut(Axis(0))
        .into_par_iter()
        .zip(rows.par_iter())
        .map(|(mut dst, &r)| {
            let src = x.index_axis(Axis(0), r);
            let mut before = false;
            let mut after = false;
            for (o, &v) in dst.iter_mut().zip(src.iter()) {
                let s = if shift == 0 {
                    v
                } else {
                    (f64::from(v) * factor) as f32
                };
                before |= v != 0.0;
                after |= s != 0.0;
                *o = s;
            }
            usize::from(before && !after)
        })
        .sum();
    (out, flushed)
}

/// `v * 2^e` in f64 for any `e` (steps that each stay in range), so a value
/// whose result is representable is found even when 2^e alone is not.
pub fn mul_pow2(mut v: f64, mut e: i64) -> f64 {
    const STEP: i64 = 1000;
    while e > STEP {
        v *= 2f64.powi(STEP as i32);
        e -= STEP;
        if !v.is_finite() || v == 0.0 {
            return v;
        }
    }
    while e < -STEP {
        v *= 2f64.powi(-STEP as i32);
        e += STEP;
        if v == 0.0 {
            return v;
        }
    }
    v * 2f64.powi(e as i32)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    #[test]
    fn scan_finds_nonfinite_rows_and_the_largest_finite_value() {
        let x = array![
            [1.0f32, -3.5],
            [f32::NAN, 0.0],
            [2.0, f32::NEG_INFINITY],
            [0.25, 0.0]
        ];
        let s = scan(x.view());
        assert_eq!(s.finite, vec![true, false, false, true]);
        assert_eq!(s.nonfinite, 2);
        assert_eq!(s.max_abs, 3.5);
        // Column-major input takes the strided path.
        let t = x.t();
        let s = scan(t);
        assert_eq!(s.finite, vec![false, false]);
        let ok = array![[1.0f32, -9.0], [4.0, 2.0]];
        assert_eq!(scan(ok.t()).max_abs, 9.0);
    }

    #[test]
    fn exponents_of_normals_and_subnormals() {
        assert_eq!(exponent(1.0), 0);
        assert_eq!(exponent(1.999), 0);
        assert_eq!(exponent(3.0e38), 127);
        assert_eq!(exponent(0.5), -1);
        // The smallest subnormal is 2^-149.
        assert_eq!(exponent(f32::from_bits(1)), -149);
        assert_eq!(shift_for(1e9), 0);
        assert_eq!(shift_for(2f32.powi(32)), 32);
        assert_eq!(shift_for(2f32.powi(-32)), 0);
        assert_eq!(shift_for(2f32.powi(-33)), -33);
    }

    #[test]
    fn scaled_rows_are_exact_and_count_flushed_rows() {
        let x = array![[3.0e38f32, -1.5e38], [1.0e-30, 0.0], [0.0, 0.0], [4.0, 8.0]];
        let (y, flushed) = scaled_rows(x.view(), &[0, 1, 2, 3], 127);
        // 3e38 / 2^127 and -1.5e38 / 2^127, exactly.
        assert_eq!(y[[0, 0]], (f64::from(3.0e38f32) / 2f64.powi(127)) as f32);
        assert_eq!(y[[0, 1]], (f64::from(-1.5e38f32) / 2f64.powi(127)) as f32);
        assert_eq!(y[[3, 1]], 8.0 * 2f32.powi(-127));
        // Row 1 (1e-30 / 2^127 < 2^-149) becomes zero; row 2 was zero already.
        assert_eq!(flushed, 1);
        let (z, none) = scaled_rows(x.view(), &[3, 0], 0);
        assert_eq!(z.row(0).to_vec(), vec![4.0, 8.0]);
        assert_eq!(none, 0);
    }

    #[test]
    fn mul_pow2_reaches_past_the_f64_exponent_range() {
        assert_eq!(mul_pow2(3.0, 4), 48.0);
        assert_eq!(mul_pow2(2f64.powi(-1000), 1500), 2f64.powi(500));
        assert_eq!(mul_pow2(2f64.powi(1000), -1500), 2f64.powi(-500));
        assert!(mul_pow2(1.0, 1100).is_infinite());
        assert_eq!(mul_pow2(1.0, -1100), 0.0);
    }
}
