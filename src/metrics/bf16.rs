//! bf16 products for screening: rows rounded to bfloat16 and multiplied
//! with AVX512-BF16's `vdpbf16ps` (two bf16 products added into each f32
//! lane per instruction: twice the multiply-adds of an f32 FMA on the cores
//! that have it), each row's rounding error kept beside it, so that a caller
//! knows how far a bf16 product can be from the f32 one and can recompute
//! exactly whatever lies within that distance of mattering.
//!
//! For rows x and y of norm at most 1 with rounded x' and y'
//! (|x - x'| = e_x and |y - y'| = e_y, Euclidean norms),
//! |x.y - x'.y'| <= e_x + e_y + e_x e_y by Cauchy-Schwarz; adding the
//! products in f32 adds at most [`sum_slack`].

#[cfg(target_arch = "x86_64")]
use std::arch::x86_64::*;

/// Columns per packed panel: three 16-lane vectors.
pub const PANEL: usize = 48;

/// Rows of a tile (three accumulators each: 24 of the 32 vector registers).
const TILE_ROWS: usize = 8;

/// Whether this processor has AVX512-BF16 (and so the fast [`product`]).
pub fn available() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("avx512f")
            && std::arch::is_x86_feature_detected!("avx512bf16")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// Words (bf16 pairs) per row of `d` columns; a rounded row is `2 * words`
/// bf16 values, an odd last column paired with 0.
pub fn words(d: usize) -> usize {
    d.div_ceil(2)
}

/// Bound on the f32 rounding of a `d`-term dot product of vectors of norm
/// at most 1 (|error| <= d 2^-24 sum |x_i y_i| <= d 2^-24), for the bf16
/// product and for the f32 dot product it is compared with, plus the
/// rounding of the rows' scaling to norm 1 and of the rounding errors' own
/// sums; values flushed to 0 as subnormals (below 2^-126) add less than
/// `d` 2^-126.
pub fn sum_slack(d: usize) -> f32 {
    ((2 * d + 8) as f64 * 2f64.powi(-24) * 1.05 + 1e-30) as f32
}

/// `v` to bf16 bits, rounded to nearest, ties to even (finite `v`).
#[inline(always)]
fn to_bf16(v: f32) -> u16 {
    let b = v.to_bits();
    (b.wrapping_add(0x7fff + ((b >> 16) & 1)) >> 16) as u16
}

#[inline(always)]
fn from_bf16(h: u16) -> f32 {
    f32::from_bits(u32::from(h) << 16)
}

/// `row * scale` rounded to bf16 into `out` (`2 * words(row.len())` values,
/// the padding 0); returns the Euclidean norm of the rounding error (an
/// upper bound: the f32 sum of squares is inflated by its own rounding).
#[multiversion::multiversion(targets("x86_64+avx512f+avx512bw", "x86_64+avx2+fma"))]
pub fn round_row(row: &[f32], scale: f32, out: &mut [u16]) -> f32 {
    debug_assert_eq!(out.len(), 2 * words(row.len()));
    let mut lanes = [0f32; 16];
    let body = row.len() / 16 * 16;
    for (src, dst) in row[..body].chunks_exact(16).zip(out.chunks_exact_mut(16)) {
        for l in 0..16 {
            let a = src[l] * scale;
            let h = to_bf16(a);
            dst[l] = h;
            // Nearby floats: the difference is exact.
            let e = a - from_bf16(h);
            lanes[l] += e * e;
        }
    }
    let mut tail = 0f32;
    for (i, o) in out[body..].iter_mut().enumerate() {
        let a = row.get(body + i).map_or(0.0, |&v| v * scale);
        *o = to_bf16(a);
        let e = a - from_bf16(*o);
        tail += e * e;
    }
    let sum: f64 = lanes.iter().map(|&v| f64::from(v)).sum::<f64>() + f64::from(tail);
    // The f32 sums err by at most len 2^-24 of themselves.
    (sum * (1.0 + row.len() as f64 * 2f64.powi(-24))).sqrt() as f32 * 1.0001
}

/// The rows of `x` (`d` values each) rounded by [`round_row`] (unscaled)
/// into `out`, their rounding errors into `err`.
pub fn round_rows(x: &[f32], d: usize, out: &mut Vec<u16>, err: &mut Vec<f32>) {
    let w2 = 2 * words(d);
    let n = x.len().checked_div(d).unwrap_or(0);
    out.clear();
    out.resize(n * w2, 0);
    err.clear();
    if d == 0 {
        return;
    }
    for (row, o) in x.chunks_exact(d).zip(out.chunks_exact_mut(w2)) {
        err.push(round_row(row, 1.0, o));
    }
}

/// The bf16 rows `rows` (`2 * words` values each) packed into panels of
/// [`PANEL`] rows, word-major within a panel (`out[p * PANEL + c]` holds
/// values 2p and 2p + 1 of the panel's row c, the even one in the low
/// half, as `vdpbf16ps` pairs them), the last panel padded with zero rows.
pub fn pack_panels(rows: &[u16], words: usize, out: &mut Vec<u32>) {
    let n = if words == 0 {
        0
    } else {
        rows.len() / (2 * words)
    };
    out.clear();
    out.resize(n.div_ceil(PANEL) * PANEL * words, 0);
    if words == 0 {
        return;
    }
    for (c, row) in rows.chunks_exact(2 * words).enumerate() {
        let panel = &mut out[(c / PANEL) * PANEL * words..][..PANEL * words];
        for (p, pair) in row.chunks_exact(2).enumerate() {
            panel[p * PANEL + c % PANEL] = u32::from(pair[0]) | (u32::from(pair[1]) << 16);
        }
    }
}

/// `out[r * n + c] = a_r . b_c`, f32 sums of the bf16 products, for the
/// bf16 rows `a` (`2 * words` values each) and the `n` rows packed in
/// `panels` by [`pack_panels`]. With AVX512-BF16 by `vdpbf16ps` tiles,
/// without it by a plain loop (the same products, for the tests of the
/// callers on any machine).
pub fn product(a: &[u16], words: usize, panels: &[u32], n: usize, out: &mut [f32]) {
    let m = if words == 0 { 0 } else { a.len() / (2 * words) };
    assert!(out.len() == m * n && panels.len() >= n.div_ceil(PANEL) * PANEL * words);
    if words == 0 {
        out.fill(0.0);
        return;
    }
    #[cfg(target_arch = "x86_64")]
    if available() {
        product_simd(a, words, panels, n, out);
        return;
    }
    product_plain(a, words, panels, n, out);
}

fn product_plain(a: &[u16], words: usize, panels: &[u32], n: usize, out: &mut [f32]) {
    for (row, o) in a
        .chunks_exact(2 * words)
        .zip(out.chunks_exact_mut(n.max(1)))
    {
        for (c, v) in o.iter_mut().enumerate() {
            let panel = &panels[(c / PANEL) * PANEL * words..][..PANEL * words];
            let mut acc = 0f32;
            for (p, pair) in row.chunks_exact(2).enumerate() {
                let w = panel[p * PANEL + c % PANEL];
                acc += from_bf16(pair[0]) * from_bf16(w as u16);
                acc += from_bf16(pair[1]) * from_bf16((w >> 16) as u16);
            }
            *v = acc;
        }
    }
}

#[cfg(target_arch = "x86_64")]
fn product_simd(a: &[u16], words: usize, panels: &[u32], n: usize, out: &mut [f32]) {
    let m = a.len() / (2 * words);
    let panel_len = PANEL * words;
    for (pi, panel) in panels
        .chunks_exact(panel_len)
        .take(n.div_ceil(PANEL))
        .enumerate()
    {
        let c0 = pi * PANEL;
        let cols = PANEL.min(n - c0);
        for r0 in (0..m).step_by(TILE_ROWS) {
            let rows = TILE_ROWS.min(m - r0);
            let a = &a[r0 * 2 * words..(r0 + rows) * 2 * words];
            let out = &mut out[r0 * n + c0..];
            // SAFETY: `product` checked the features. `tile::<R>` reads R
            // rows of `2 * words` values of `a` (R = rows here) and
            // PANEL x words words of `panel`, and writes `cols` floats of
            // R rows at stride n from `out`'s start: row r0 + R - 1, column
            // c0 + cols - 1 is inside the m x n `out`.
            unsafe {
                match rows {
                    8 => tile::<8>(a, panel, words, out, n, cols),
                    7 => tile::<7>(a, panel, words, out, n, cols),
                    6 => tile::<6>(a, panel, words, out, n, cols),
                    5 => tile::<5>(a, panel, words, out, n, cols),
                    4 => tile::<4>(a, panel, words, out, n, cols),
                    3 => tile::<3>(a, panel, words, out, n, cols),
                    2 => tile::<2>(a, panel, words, out, n, cols),
                    _ => tile::<1>(a, panel, words, out, n, cols),
                }
            }
        }
    }
}

/// One `R` x [`PANEL`] tile of [`product`]: `R` rows of `a`, each word
/// broadcast, against a panel's three vectors of 16 rows per word.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bf16")]
unsafe fn tile<const R: usize>(
    a: &[u16],
    panel: &[u32],
    words: usize,
    out: &mut [f32],
    ldo: usize,
    cols: usize,
) {
    assert!(a.len() >= R * 2 * words && panel.len() >= PANEL * words);
    assert!(cols <= PANEL && out.len() >= (R - 1) * ldo + cols);
    let mut acc = [[_mm512_setzero_ps(); 3]; R];
    let ap = a.as_ptr().cast::<u32>();
    let bp = panel.as_ptr();
    for p in 0..words {
        // SAFETY (the loop): p < words, so word p * PANEL + 47 of the panel
        // and word r * words + p of `a` (r < R) are inside the slices
        // asserted above; `a`'s words are read unaligned.
        let b = bp.add(p * PANEL);
        let b0: __m512bh = std::mem::transmute(_mm512_loadu_si512(b.cast()));
        let b1: __m512bh = std::mem::transmute(_mm512_loadu_si512(b.add(16).cast()));
        let b2: __m512bh = std::mem::transmute(_mm512_loadu_si512(b.add(32).cast()));
        for (r, acc) in acc.iter_mut().enumerate() {
            let w = ap.add(r * words + p).read_unaligned();
            let av: __m512bh = std::mem::transmute(_mm512_set1_epi32(w as i32));
            acc[0] = _mm512_dpbf16_ps(acc[0], av, b0);
            acc[1] = _mm512_dpbf16_ps(acc[1], av, b1);
            acc[2] = _mm512_dpbf16_ps(acc[2], av, b2);
        }
    }
    let op = out.as_mut_ptr();
    for (r, acc) in acc.iter().enumerate() {
        for (v, &s) in acc.iter().enumerate() {
            let c0 = v * 16;
            if c0 >= cols {
                break;
            }
            let live = (cols - c0).min(16);
            let mask: u16 = if live == 16 {
                u16::MAX
            } else {
                (1u16 << live) - 1
            };
            // SAFETY: columns c0..c0 + live <= cols of row r < R, inside
            // `out` (asserted above).
            _mm512_mask_storeu_ps(op.add(r * ldo + c0), mask, s);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    fn rows(n: usize, d: usize, seed: u64) -> Vec<f32> {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        (0..n * d).map(|_| rng.gen::<f32>() - 0.5).collect()
    }

    fn rounded(x: &[f32], d: usize) -> (Vec<u16>, Vec<f32>) {
        let (mut out, mut err) = (Vec::new(), Vec::new());
        round_rows(x, d, &mut out, &mut err);
        (out, err)
    }

    #[test]
    fn rounding_is_to_nearest_even_and_its_error_is_bounded_from_above() {
        // 1 + 2^-8 lies halfway between 1 and 1 + 2^-7: to even, 1.
        assert_eq!(to_bf16(1.0 + 2f32.powi(-8)), 0x3f80);
        // 1 + 3 * 2^-8 lies halfway between 1 + 2^-7 and 1 + 2^-6: to 1 + 2^-6.
        assert_eq!(to_bf16(1.0 + 3.0 * 2f32.powi(-8)), 0x3f82);
        assert_eq!(to_bf16(-2.0), 0xc000);
        assert_eq!(from_bf16(0x3f80), 1.0);
        for d in [1, 5, 16, 33, 67] {
            let x = rows(7, d, d as u64);
            let (r, err) = rounded(&x, d);
            for (i, row) in x.chunks_exact(d).enumerate() {
                let r = &r[i * 2 * words(d)..];
                let e2: f64 = row
                    .iter()
                    .zip(r)
                    .map(|(&v, &h)| (f64::from(v) - f64::from(from_bf16(h))).powi(2))
                    .sum();
                let e = e2.sqrt();
                assert!(f64::from(err[i]) >= e && f64::from(err[i]) <= e * 1.001 + 1e-12);
                // Half an ulp of 8 significant bits, relative.
                let norm = row
                    .iter()
                    .map(|&v| f64::from(v).powi(2))
                    .sum::<f64>()
                    .sqrt();
                assert!(e <= norm * 2f64.powi(-8));
                // The padding of an odd row is 0.
                if d % 2 == 1 {
                    assert_eq!(r[d], 0);
                }
            }
        }
    }

    /// f64 dot products of the rounded rows.
    fn exact_products(a: &[u16], b: &[u16], words: usize) -> Vec<f64> {
        let f = |h: &u16| f64::from(from_bf16(*h));
        let mut out = Vec::new();
        for ra in a.chunks_exact(2 * words) {
            for rb in b.chunks_exact(2 * words) {
                out.push(ra.iter().zip(rb).map(|(x, y)| f(x) * f(y)).sum());
            }
        }
        out
    }

    fn check_product(m: usize, n: usize, d: usize, plain: bool) {
        let w = words(d);
        let (a, _) = rounded(&rows(m, d, 1), d);
        let (b, _) = rounded(&rows(n, d, 2), d);
        let mut panels = Vec::new();
        pack_panels(&b, w, &mut panels);
        let mut got = vec![f32::NAN; m * n];
        if plain {
            product_plain(&a, w, &panels, n, &mut got);
        } else {
            product(&a, w, &panels, n, &mut got);
        }
        let want = exact_products(&a, &b, w);
        for (i, (&g, &e)) in got.iter().zip(&want).enumerate() {
            // Rows of values in [-0.5, 0.5): sum |x_i y_i| <= d / 4.
            let bound = (2 * d) as f64 * 2f64.powi(-24) * d as f64 / 4.0;
            assert!(
                (f64::from(g) - e).abs() <= bound,
                "{m}x{n}x{d} ({}, {}): {g} vs {e}",
                i / n,
                i % n
            );
        }
    }

    #[test]
    fn plain_products_are_the_f32_sums_of_the_bf16_products() {
        for (m, n, d) in [(1, 1, 1), (3, 50, 7), (9, 97, 64), (17, 48, 33)] {
            check_product(m, n, d, true);
        }
    }

    /// The `vdpbf16ps` tiles against the same bound, over shapes that cut
    /// tiles and panels short; listed as ignored where the processor has no
    /// AVX512-BF16 (the build script looks), so that it never passes
    /// without running.
    #[test]
    #[cfg_attr(not(sslwatch_host_bf16), ignore = "this processor has no AVX512-BF16")]
    fn tiles_compute_the_products_on_avx512_bf16() {
        if !available() {
            // Only with --include-ignored, built on another machine.
            eprintln!("not run: this processor has no AVX512-BF16");
            return;
        }
        for (m, n, d) in [
            (1, 1, 2),
            (8, 48, 64),
            (9, 49, 65),
            (23, 130, 512),
            (5, 3, 2048),
        ] {
            check_product(m, n, d, false);
        }
    }

    #[test]
    fn packing_puts_pairs_of_a_row_in_one_word_per_panel_column() {
        // Two rows of three columns: words (v0, v1) and (v2, 0).
        let rows: Vec<u16> = vec![1, 2, 3, 0, 4, 5, 6, 0];
        let mut out = Vec::new();
        pack_panels(&rows, 2, &mut out);
        assert_eq!(out.len(), PANEL * 2);
        assert_eq!(out[0], 1 | (2 << 16));
        assert_eq!(out[1], 4 | (5 << 16));
        assert_eq!(out[PANEL], 3);
        assert_eq!(out[PANEL + 1], 6);
        assert!(out[2..PANEL].iter().all(|&w| w == 0));
    }
}
