//! Writing `.npy` files (used by the demo, the trainer and the tests).
//!
//! Files are written to a temporary name beside the target and renamed, so a
//! reader never sees a half-written file under the final name.

use ndarray::ArrayView2;
use std::io::Write;
use std::path::{Path, PathBuf};

/// Build a version 1.0 `.npy` header for `descr` and `shape`, padded so the
/// data starts on a 64-byte boundary.
fn header(descr: &str, shape: &[usize]) -> Vec<u8> {
    let shape_txt = match shape {
        [n] => format!("({n},)"),
        _ => format!(
            "({})",
            shape
                .iter()
                .map(|d| d.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    };
    let mut dict =
        format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape_txt}, }}");
    // magic(6) + version(2) + len(2) + dict + '\n' must be a multiple of 64.
    let unpadded = 10 + dict.len() + 1;
    let pad = (64 - unpadded % 64) % 64;
    dict.extend(std::iter::repeat_n(' ', pad));
    dict.push('\n');
    let mut out = Vec::with_capacity(10 + dict.len());
    out.extend_from_slice(b"\x93NUMPY\x01\x00");
    out.extend_from_slice(&(dict.len() as u16).to_le_bytes());
    out.extend_from_slice(dict.as_bytes());
    out
}

/// `.npy` bytes of a little-endian float32 matrix.
pub fn npy_bytes_f32(data: ArrayView2<f32>) -> Vec<u8> {
    let (n, d) = data.dim();
    let mut out = header("<f4", &[n, d]);
    out.reserve(n * d * 4);
    for v in data.iter() {
        out.extend_from_slice(&v.to_le_bytes());
    }
    out
}

/// `.npy` bytes of a little-endian float16 matrix (values rounded from f32).
pub fn npy_bytes_f16(data: ArrayView2<f32>) -> Vec<u8> {
    let (n, d) = data.dim();
    let mut out = header("<f2", &[n, d]);
    out.reserve(n * d * 2);
    for v in data.iter() {
        out.extend_from_slice(&half::f16::from_f32(*v).to_le_bytes());
    }
    out
}

/// `.npy` bytes of a little-endian int64 vector.
pub fn npy_bytes_i64(data: &[i64]) -> Vec<u8> {
    let mut out = header("<i8", &[data.len()]);
    out.reserve(data.len() * 8);
    for v in data {
        out.extend_from_slice(&v.to_le_bytes());
    }
    out
}

/// Write `bytes` to `path` through a temporary sibling (`.NAME.tmp`) and a
/// rename, creating parent directories as needed.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    let tmp = temp_sibling(path);
    {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, path)
}

fn temp_sibling(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    path.with_file_name(format!(".{name}.tmp"))
}
