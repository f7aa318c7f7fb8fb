//! From a parsed header to validated sizes, and from raw bytes to values.
//!
//! Used for plain `.npy` files and for the arrays inside an `.npz`: the only
//! difference is where the bytes come from and what "total length" means.

use super::dtype::{Dtype, Endian, Kind, Want};
use super::header::{self, Header};
use super::Fail;
use ndarray::Array2;
use std::io::Read;

/// A header checked against its stream's length: what to read and how.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Plan {
    pub dtype: Dtype,
    pub fortran_order: bool,
    pub shape: Vec<u64>,
    /// Bytes of data after the header (validated against the stream length).
    pub data_len: usize,
}

/// Read the header from a stream of `total` bytes and check, in order: the
/// dtype against `want`, the rank (when `rank` is given), that the data size
/// does not overflow, and that header + data is exactly `total` bytes.
/// Nothing sized by the header is allocated.
pub(crate) fn plan<R: Read>(
    r: &mut R,
    total: u64,
    want: Want,
    rank: Option<usize>,
) -> Result<Plan, Fail> {
    let h = header::read_header(r, total)?;
    let dtype = Dtype::from_descr(&h.descr, want)?;
    if let Some(rank) = rank {
        if h.shape.len() != rank {
            let expected = if rank == 1 { "(N,)" } else { "(N, D)" };
            return Err(Fail::Unsupported(format!(
                "shape {} has rank {}; expected rank {rank}, shape {expected}",
                shape_text(&h.shape),
                h.shape.len()
            )));
        }
    }
    let data_len = data_len(&h, dtype)?;
    let promised = h
        .len
        .checked_add(data_len)
        .ok_or_else(|| too_large(&h, dtype))?;
    if total < promised {
        return Err(Fail::Short {
            have: total,
            promised,
        });
    }
    if total > promised {
        return Err(Fail::Corrupt(format!(
            "file has {total} bytes, header promises {promised} ({} extra)",
            total - promised
        )));
    }
    let data_len = usize::try_from(data_len).map_err(|_| too_large(&h, dtype))?;
    Ok(Plan {
        dtype,
        fortran_order: h.fortran_order,
        shape: h.shape,
        data_len,
    })
}

/// Product of the shape times the item size, refusing overflow.
fn data_len(h: &Header, dtype: Dtype) -> Result<u64, Fail> {
    h.shape
        .iter()
        .try_fold(dtype.size as u64, |acc, &d| acc.checked_mul(d))
        .ok_or_else(|| too_large(h, dtype))
}

fn too_large(h: &Header, dtype: Dtype) -> Fail {
    Fail::Corrupt(format!(
        "shape {} of {} is too large to address",
        shape_text(&h.shape),
        dtype.name()
    ))
}

/// A shape as Python prints it: `(3,)`, `(3, 4)`.
pub(crate) fn shape_text(shape: &[u64]) -> String {
    match shape {
        [n] => format!("({n},)"),
        _ => format!(
            "({})",
            shape
                .iter()
                .map(u64::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

/// Bytes read and converted at a time: the only buffer besides the matrix.
const CHUNK: usize = 1 << 20;

/// A float64 file whose largest finite |value| leaves this range (in
/// powers of two) is divided by a power of two before it becomes float32,
/// which holds about 2^-126..2^128.
const F32_SAFE_LOG2: i32 = 100;

/// Read the `plan.data_len` data bytes of a rank-2 float plan from `r` and
/// decode them into a C-order (N, D) float32 matrix, in chunks: the matrix
/// is the only allocation sized by the file. Fortran order is transposed
/// while reading. Returns the matrix and `log2_scale`: the stored values
/// equal the matrix times 2^log2_scale. It is 0 except for float64 data
/// beyond float32's range (e.g. 1e300 or 1e-300), which is rescaled by a
/// power of two (exact) instead of overflowing to inf or flushing to 0.
pub(crate) fn decode_matrix<R: Read>(r: &mut R, plan: &Plan) -> Result<(Array2<f32>, i32), Fail> {
    let (n, d) = match plan.shape[..] {
        [n, d] => (to_usize(n)?, to_usize(d)?),
        _ => return Err(Fail::Corrupt("internal: matrix plan is not rank 2".into())),
    };
    let total = n
        .checked_mul(d)
        .ok_or_else(|| Fail::Corrupt(format!("shape ({n}, {d}) is too large")))?;
    let size = plan.dtype.size;
    let mut out = vec![0f32; total];
    let mut buf = vec![0u8; CHUNK - CHUNK % size];
    let mut scale = Rescale::default();
    let mut done = 0usize;
    while done < total {
        let count = (total - done).min(buf.len() / size);
        let bytes = &mut buf[..count * size];
        r.read_exact(bytes).map_err(|e| match e.kind() {
            std::io::ErrorKind::UnexpectedEof => Fail::Incomplete(format!(
                "file shrank while reading its {} data bytes",
                plan.data_len
            )),
            _ => Fail::Io(e),
        })?;
        if size == 8 {
            scale.adjust(f64_max_abs(bytes, plan.dtype.endian), &mut out, done);
        }
        let at = |k: usize| {
            let i = done + k;
            if plan.fortran_order {
                // Element i of a column-major (N, D) stream is (i % N, i / N).
                (i % n) * d + i / n
            } else {
                i
            }
        };
        convert(bytes, plan.dtype, scale.factor(), |k, v| out[at(k)] = v);
        done += count;
    }
    let m =
        Array2::from_shape_vec((n, d), out).map_err(|e| Fail::Corrupt(format!("internal: {e}")))?;
    Ok((m, scale.log2))
}

/// The power of two a float64 stream is divided by, chosen as it is read.
#[derive(Default)]
struct Rescale {
    log2: i32,
    /// Largest finite |value| seen so far.
    max: f64,
}

impl Rescale {
    fn factor(&self) -> f64 {
        (-f64::from(self.log2)).exp2()
    }

    /// Account for a chunk whose largest finite |value| is `chunk_max`; when
    /// the values seen so far no longer fit float32 at the current scale,
    /// pick a new one and rescale the `filled` values already converted.
    fn adjust(&mut self, chunk_max: f64, out: &mut [f32], filled: usize) {
        if chunk_max <= self.max {
            return;
        }
        self.max = chunk_max;
        let e = ilogb(self.max);
        if (e - self.log2).abs() <= F32_SAFE_LOG2 {
            return;
        }
        let new = if e.abs() <= F32_SAFE_LOG2 { 0 } else { e };
        let ratio = f64::from(self.log2 - new).exp2();
        for v in &mut out[..filled] {
            *v = (f64::from(*v) * ratio) as f32;
        }
        self.log2 = new;
    }
}

/// floor(log2(|v|)) of a positive finite value (subnormals included).
fn ilogb(v: f64) -> i32 {
    if v <= 0.0 || !v.is_finite() {
        return 0;
    }
    let bits = v.to_bits();
    let exp = ((bits >> 52) & 0x7ff) as i32;
    if exp == 0 {
        // Subnormal: 2^-1074 times the mantissa.
        -1074 + (63 - (bits & ((1 << 52) - 1)).leading_zeros() as i32)
    } else {
        exp - 1023
    }
}

fn f64_max_abs(bytes: &[u8], endian: Endian) -> f64 {
    bytes
        .chunks_exact(8)
        .map(|c| f64_of(c, endian).abs())
        .filter(|v| v.is_finite())
        .fold(0.0, f64::max)
}

fn f64_of(c: &[u8], endian: Endian) -> f64 {
    let b = [c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]];
    match endian {
        Endian::Big => f64::from_be_bytes(b),
        Endian::Little => f64::from_le_bytes(b),
    }
}

fn to_usize(n: u64) -> Result<usize, Fail> {
    usize::try_from(n).map_err(|_| Fail::Corrupt(format!("dimension {n} is too large")))
}

/// Convert float bytes of any supported width and byte order to f32,
/// calling `put(k, value)` for the k-th value. float64 values are first
/// multiplied by `factor` (a power of two).
fn convert(bytes: &[u8], dtype: Dtype, factor: f64, mut put: impl FnMut(usize, f32)) {
    let big = dtype.endian == Endian::Big;
    match dtype.size {
        2 => {
            for (k, c) in bytes.chunks_exact(2).enumerate() {
                let b = [c[0], c[1]];
                let bits = if big {
                    u16::from_be_bytes(b)
                } else {
                    u16::from_le_bytes(b)
                };
                put(k, half::f16::from_bits(bits).to_f32());
            }
        }
        4 => {
            for (k, c) in bytes.chunks_exact(4).enumerate() {
                let b = [c[0], c[1], c[2], c[3]];
                put(
                    k,
                    if big {
                        f32::from_be_bytes(b)
                    } else {
                        f32::from_le_bytes(b)
                    },
                );
            }
        }
        _ => {
            for (k, c) in bytes.chunks_exact(8).enumerate() {
                put(k, (f64_of(c, dtype.endian) * factor) as f32);
            }
        }
    }
}

/// Convert integer bytes of any supported width, sign and byte order to
/// i64; a uint64 above `i64::MAX` is refused with its index.
pub(crate) fn integers(bytes: &[u8], dtype: Dtype) -> Result<Vec<i64>, Fail> {
    let size = dtype.size;
    let signed = dtype.kind == Kind::Int;
    let mut out = Vec::with_capacity(bytes.len() / size.max(1));
    for (i, c) in bytes.chunks_exact(size).enumerate() {
        // Widen to 8 bytes, big-endian, sign-extending signed values.
        let mut b = [0u8; 8];
        for (k, &byte) in c.iter().enumerate() {
            let at = if dtype.endian == Endian::Big {
                k
            } else {
                size - 1 - k
            };
            b[8 - size + at] = byte;
        }
        if signed && b[8 - size] & 0x80 != 0 {
            b[..8 - size].fill(0xff);
        }
        let v = if signed {
            i64::from_be_bytes(b)
        } else {
            let u = u64::from_be_bytes(b);
            i64::try_from(u).map_err(|_| {
                Fail::Unsupported(format!("label {u} at index {i} does not fit in int64"))
            })?
        };
        out.push(v);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dtype(kind: Kind, size: usize, endian: Endian) -> Dtype {
        Dtype { kind, size, endian }
    }

    #[test]
    fn integers_sign_extend_in_both_byte_orders() {
        let le = dtype(Kind::Int, 2, Endian::Little);
        let be = dtype(Kind::Int, 2, Endian::Big);
        assert_eq!(
            integers(&[0xfe, 0xff, 0x05, 0x01], le).ok(),
            Some(vec![-2, 261])
        );
        assert_eq!(
            integers(&[0xff, 0xfe, 0x01, 0x05], be).ok(),
            Some(vec![-2, 261])
        );
        let u1 = dtype(Kind::Uint, 1, Endian::Little);
        assert_eq!(integers(&[0xff, 0x00], u1).ok(), Some(vec![255, 0]));
    }

    #[test]
    fn uint64_above_i64_max_is_refused() {
        let u8le = dtype(Kind::Uint, 8, Endian::Little);
        let mut bytes = 7u64.to_le_bytes().to_vec();
        bytes.extend_from_slice(&(1u64 << 63).to_le_bytes());
        match integers(&bytes, u8le) {
            Err(Fail::Unsupported(d)) => assert!(d.contains("index 1"), "{d}"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn fortran_order_is_transposed_into_c_order() {
        // Matrix [[1, 2, 3], [4, 5, 6]] stored column by column.
        let bytes: Vec<u8> = [1f32, 4., 2., 5., 3., 6.]
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect();
        let plan = Plan {
            dtype: dtype(Kind::Float, 4, Endian::Little),
            fortran_order: true,
            shape: vec![2, 3],
            data_len: bytes.len(),
        };
        let m = decode_matrix(&mut &bytes[..], &plan).ok();
        assert_eq!(
            m.map(|(m, s)| (m.is_standard_layout(), m.into_raw_vec_and_offset().0, s)),
            Some((true, vec![1., 2., 3., 4., 5., 6.], 0))
        );
    }

    fn f64_plan(values: &[f64], shape: [u64; 2]) -> (Plan, Vec<u8>) {
        let bytes: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        let plan = Plan {
            dtype: dtype(Kind::Float, 8, Endian::Little),
            fortran_order: false,
            shape: shape.to_vec(),
            data_len: bytes.len(),
        };
        (plan, bytes)
    }

    #[test]
    fn float64_beyond_float32_range_is_rescaled_by_a_power_of_two() {
        let values = [1e300, -2e300, 3e299, 0.0, f64::INFINITY, 5e300];
        let (plan, bytes) = f64_plan(&values, [3, 2]);
        let (m, log2) = decode_matrix(&mut &bytes[..], &plan).unwrap();
        assert!(log2 > 900, "{log2}");
        let back: Vec<f64> = m
            .iter()
            .map(|&v| f64::from(v) * f64::from(log2).exp2())
            .collect();
        for (b, v) in back.iter().zip(values) {
            if v.is_finite() {
                assert!((b - v).abs() <= v.abs() * 1e-6, "{b} vs {v}");
            } else {
                assert!(b.is_infinite());
            }
        }
        // Tiny values are lifted instead of flushed to zero.
        let (plan, bytes) = f64_plan(&[1e-300, 2e-300, -3e-300, 4e-300], [2, 2]);
        let (m, log2) = decode_matrix(&mut &bytes[..], &plan).unwrap();
        assert!(
            log2 < -900 && m.iter().all(|v| v.is_normal()),
            "{log2} {m:?}"
        );
        // Ordinary float64 data is not rescaled.
        let (plan, bytes) = f64_plan(&[1.5, -2.0, 1e30, 1e-30], [2, 2]);
        let (m, log2) = decode_matrix(&mut &bytes[..], &plan).unwrap();
        assert_eq!((log2, m[[0, 0]], m[[0, 1]]), (0, 1.5, -2.0));
    }

    #[test]
    fn a_rescale_midway_applies_to_values_already_converted() {
        // More values than one chunk holds, the huge ones at the end.
        let per_chunk = CHUNK / 8;
        // Tiny values first (rescaled up), then one 2^110 times larger: the
        // scale moves, and the tiny values, rescaled again, stay normal.
        let big = 1e-200 * 110f64.exp2();
        let mut values = vec![1e-200f64; per_chunk + 8];
        values[per_chunk + 7] = big;
        let (plan, bytes) = f64_plan(&values, [values.len() as u64 / 8, 8]);
        let (m, log2) = decode_matrix(&mut &bytes[..], &plan).unwrap();
        let scale = f64::from(log2).exp2();
        assert!((f64::from(m[[0, 0]]) * scale / 1e-200 - 1.0).abs() < 1e-6);
        let last = m.iter().last().copied().unwrap();
        assert!((f64::from(last) * scale / big - 1.0).abs() < 1e-6);
    }

    #[test]
    fn ilogb_matches_frexp() {
        assert_eq!(ilogb(1.0), 0);
        assert_eq!(ilogb(3.9), 1);
        assert_eq!(ilogb(0.25), -2);
        assert_eq!(ilogb(f64::MIN_POSITIVE), -1022);
        assert_eq!(ilogb(f64::from_bits(1)), -1074);
    }

    #[test]
    fn shape_text_matches_python() {
        assert_eq!(shape_text(&[3]), "(3,)");
        assert_eq!(shape_text(&[3, 4, 5]), "(3, 4, 5)");
        assert_eq!(shape_text(&[]), "()");
    }
}
