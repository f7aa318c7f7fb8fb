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
        return Err(Fail::Incomplete(format!(
            "file has {total} bytes, header promises {promised}"
        )));
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

/// Turn the data bytes of a rank-2 float plan into a C-order (N, D) matrix.
pub(crate) fn to_matrix(plan: &Plan, bytes: &[u8]) -> Result<Array2<f32>, Fail> {
    let (n, d) = match plan.shape[..] {
        [n, d] => (to_usize(n)?, to_usize(d)?),
        _ => return Err(Fail::Corrupt("internal: matrix plan is not rank 2".into())),
    };
    let values = floats(bytes, plan.dtype);
    let bad = |e: ndarray::ShapeError| Fail::Corrupt(format!("internal: {e}"));
    if plan.fortran_order {
        // Column-major on disk: read it as (D, N) and transpose into C order.
        let t = Array2::from_shape_vec((d, n), values).map_err(bad)?;
        Ok(t.reversed_axes().as_standard_layout().into_owned())
    } else {
        Array2::from_shape_vec((n, d), values).map_err(bad)
    }
}

fn to_usize(n: u64) -> Result<usize, Fail> {
    usize::try_from(n).map_err(|_| Fail::Corrupt(format!("dimension {n} is too large")))
}

/// Convert float bytes of any supported width and byte order to f32.
fn floats(bytes: &[u8], dtype: Dtype) -> Vec<f32> {
    let big = dtype.endian == Endian::Big;
    match dtype.size {
        2 => bytes
            .chunks_exact(2)
            .map(|c| {
                let b = [c[0], c[1]];
                let bits = if big {
                    u16::from_be_bytes(b)
                } else {
                    u16::from_le_bytes(b)
                };
                half::f16::from_bits(bits).to_f32()
            })
            .collect(),
        4 if big => bytes
            .chunks_exact(4)
            .map(|c| f32::from_be_bytes([c[0], c[1], c[2], c[3]]))
            .collect(),
        4 => bytes
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect(),
        _ => bytes
            .chunks_exact(8)
            .map(|c| {
                let b = [c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]];
                (if big {
                    f64::from_be_bytes(b)
                } else {
                    f64::from_le_bytes(b)
                }) as f32
            })
            .collect(),
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
        let m = to_matrix(&plan, &bytes).ok();
        assert_eq!(
            m.map(|m| (m.is_standard_layout(), m.into_raw_vec_and_offset().0)),
            Some((true, vec![1., 2., 3., 4., 5., 6.]))
        );
    }

    #[test]
    fn shape_text_matches_python() {
        assert_eq!(shape_text(&[3]), "(3,)");
        assert_eq!(shape_text(&[3, 4, 5]), "(3, 4, 5)");
        assert_eq!(shape_text(&[]), "()");
    }
}
