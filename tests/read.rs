//! Reading `.npy` / `.npz` embedding files and `.npy` label files: every
//! dtype and byte order we accept, Fortran order, header versions, archives,
//! and each way a file can be bad (with the right error kind and a message
//! that names the file).

mod common;

use sslwatch::read::{check_complete, read_embeddings, read_labels, Layer, ReadError};
use std::io::{Cursor, Write};
use std::path::{Path, PathBuf};
use tempfile::TempDir;
use zip::write::SimpleFileOptions as FileOptions;
use zip::{CompressionMethod, ZipWriter};

// ---------------------------------------------------------------- helpers

/// A complete `.npy` file: preamble of `version` (1, 2 or 3), the dict text
/// padded to a 64-byte boundary as numpy does, then `data`.
fn npy_v(version: u8, dict: &str, data: &[u8]) -> Vec<u8> {
    let field = if version == 1 { 2 } else { 4 };
    let mut dict = dict.to_string();
    let unpadded = 8 + field + dict.len() + 1;
    dict.push_str(&" ".repeat((64 - unpadded % 64) % 64));
    dict.push('\n');
    let mut out = b"\x93NUMPY".to_vec();
    out.extend_from_slice(&[version, 0]);
    if version == 1 {
        out.extend_from_slice(&(dict.len() as u16).to_le_bytes());
    } else {
        out.extend_from_slice(&(dict.len() as u32).to_le_bytes());
    }
    out.extend_from_slice(dict.as_bytes());
    out.extend_from_slice(data);
    out
}

/// A version 1.0 `.npy` file with the usual numpy dict.
fn npy(descr: &str, shape: &str, data: &[u8]) -> Vec<u8> {
    npy_v(
        1,
        &format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape}, }}"),
        data,
    )
}

fn write(dir: &TempDir, name: &str, bytes: &[u8]) -> PathBuf {
    let path = dir.path().join(name);
    if let Err(e) = std::fs::write(&path, bytes) {
        panic!("cannot write {}: {e}", path.display());
    }
    path
}

fn tmp() -> TempDir {
    match TempDir::new() {
        Ok(d) => d,
        Err(e) => panic!("cannot create a temp dir: {e}"),
    }
}

fn layers(path: &Path) -> Vec<Layer> {
    match read_embeddings(path) {
        Ok(l) => l,
        Err(e) => panic!("{} should read: {e}", path.display()),
    }
}

/// The single layer of a `.npy` file as (name, shape, row-major values).
fn one_layer(path: &Path) -> (String, (usize, usize), Vec<f32>) {
    let mut l = layers(path);
    assert_eq!(l.len(), 1, "an .npy file holds one layer");
    let l = l.remove(0);
    let dim = l.data.dim();
    (l.name, dim, l.data.iter().copied().collect())
}

fn labels(path: &Path) -> Vec<i64> {
    match read_labels(path, 1 << 30) {
        Ok(v) => v,
        Err(e) => panic!("{} should read as labels: {e}", path.display()),
    }
}

#[derive(Debug, PartialEq)]
enum Kind {
    Io,
    NotAFile,
    Incomplete,
    Corrupt,
    Unsupported,
    OverBudget,
}

/// Check an error's kind, that it names `path`, and that its message
/// carries the kind's word; return the message (lowercase).
fn expect_err<T: std::fmt::Debug>(r: Result<T, ReadError>, kind: Kind, path: &Path) -> String {
    let e = match r {
        Ok(v) => panic!("{} should fail with {kind:?}, read {v:?}", path.display()),
        Err(e) => e,
    };
    let got = match e {
        ReadError::Io { .. } => Kind::Io,
        ReadError::NotAFile { .. } => Kind::NotAFile,
        ReadError::Incomplete { .. } => Kind::Incomplete,
        ReadError::Corrupt { .. } => Kind::Corrupt,
        ReadError::Unsupported { .. } => Kind::Unsupported,
        ReadError::OverBudget { .. } => Kind::OverBudget,
    };
    let msg = e.to_string();
    assert_eq!(got, kind, "{msg}");
    assert_eq!(e.path(), path);
    assert_eq!(e.is_incomplete(), kind == Kind::Incomplete);
    assert!(
        msg.contains(&path.display().to_string()),
        "message does not name the file: {msg}"
    );
    let word = match kind {
        Kind::Io => "cannot read",
        Kind::NotAFile => "not a regular file",
        Kind::OverBudget => "memory budget",
        Kind::Incomplete => "incomplete",
        Kind::Corrupt => "corrupt",
        Kind::Unsupported => "unsupported",
    };
    assert!(msg.contains(word), "message lacks '{word}': {msg}");
    msg.to_lowercase()
}

/// The values used by the float round trips: exact in f16, f32 and f64.
/// As an f16 they are, bit for bit: 1.5, -2, 0.25, 3, 1024, -0.5.
const VALUES: [f32; 6] = [1.5, -2.0, 0.25, 3.0, 1024.0, -0.5];
const F16_BITS: [u16; 6] = [0x3E00, 0xC000, 0x3400, 0x4200, 0x6400, 0xB800];

fn f16_bytes(big: bool) -> Vec<u8> {
    F16_BITS
        .iter()
        .flat_map(|b| {
            if big {
                b.to_be_bytes()
            } else {
                b.to_le_bytes()
            }
        })
        .collect()
}

fn f32_bytes(big: bool) -> Vec<u8> {
    VALUES
        .iter()
        .flat_map(|v| {
            if big {
                v.to_be_bytes()
            } else {
                v.to_le_bytes()
            }
        })
        .collect()
}

fn f64_bytes(big: bool) -> Vec<u8> {
    VALUES
        .iter()
        .flat_map(|&v| {
            let v = f64::from(v);
            if big {
                v.to_be_bytes()
            } else {
                v.to_le_bytes()
            }
        })
        .collect()
}

/// A zip archive of `(name, bytes, method)` entries, in that order.
fn zip_bytes(entries: &[(&str, &[u8], CompressionMethod)]) -> Vec<u8> {
    let mut w = ZipWriter::new(Cursor::new(Vec::new()));
    for (name, bytes, method) in entries {
        let opts = FileOptions::default().compression_method(*method);
        if let Err(e) = w.start_file(*name, opts) {
            panic!("zip start_file {name}: {e}");
        }
        if let Err(e) = w.write_all(bytes) {
            panic!("zip write {name}: {e}");
        }
    }
    match w.finish() {
        Ok(c) => c.into_inner(),
        Err(e) => panic!("zip finish: {e}"),
    }
}

// ------------------------------------------------------- float round trips

#[test]
fn every_float_dtype_in_both_byte_orders_reads_as_f32() {
    let dir = tmp();
    let cases: [(&str, Vec<u8>); 8] = [
        ("<f2", f16_bytes(false)),
        (">f2", f16_bytes(true)),
        ("<f4", f32_bytes(false)),
        (">f4", f32_bytes(true)),
        ("<f8", f64_bytes(false)),
        (">f8", f64_bytes(true)),
        // '=' is native order; these tests run on little-endian machines.
        ("=f4", f32_bytes(cfg!(target_endian = "big"))),
        ("=f8", f64_bytes(cfg!(target_endian = "big"))),
    ];
    for (i, (descr, data)) in cases.iter().enumerate() {
        let path = write(&dir, &format!("layer{i}.npy"), &npy(descr, "(2, 3)", data));
        let (name, dim, values) = one_layer(&path);
        assert_eq!(
            name,
            format!("layer{i}"),
            "{descr}: layer is named after the stem"
        );
        assert_eq!(dim, (2, 3), "{descr}");
        assert_eq!(values, VALUES.to_vec(), "{descr}");
        assert_eq!(check_complete(&path).ok(), Some(()), "{descr}");
    }
}

#[test]
fn fortran_order_is_read_into_c_order() {
    let dir = tmp();
    // [[1.5, -2, 0.25], [3, 1024, -0.5]] stored column by column.
    let columns: Vec<u8> = [1.5f32, 3.0, -2.0, 1024.0, 0.25, -0.5]
        .iter()
        .flat_map(|v| v.to_be_bytes())
        .collect();
    let dict = "{'descr': '>f4', 'fortran_order': True, 'shape': (2, 3), }";
    let path = write(&dir, "f.npy", &npy_v(1, dict, &columns));
    let l = layers(&path).remove(0);
    assert!(l.data.is_standard_layout());
    assert_eq!(l.data.dim(), (2, 3));
    assert_eq!(l.data.row(0).to_vec(), vec![1.5, -2.0, 0.25]);
    assert_eq!(l.data.row(1).to_vec(), vec![3.0, 1024.0, -0.5]);
}

#[test]
fn header_versions_2_and_3_and_unusual_dict_layout() {
    let dir = tmp();
    // Keys out of order, odd spacing, no trailing comma, double quotes.
    let dict = "{ \"shape\":(3,2),'fortran_order' :False ,  'descr':'<f4' }";
    for version in [2u8, 3] {
        let path = write(
            &dir,
            &format!("v{version}.npy"),
            &npy_v(version, dict, &f32_bytes(false)),
        );
        let (_, dim, values) = one_layer(&path);
        assert_eq!(dim, (3, 2), "version {version}");
        assert_eq!(values, VALUES.to_vec(), "version {version}");
        assert_eq!(check_complete(&path).ok(), Some(()));
    }
}

#[test]
fn the_lead_writers_output_reads_back() {
    let dir = tmp();
    let m = match ndarray::Array2::from_shape_vec((2, 3), VALUES.to_vec()) {
        Ok(m) => m,
        Err(e) => panic!("{e}"),
    };
    let p32 = write(
        &dir,
        "w32.npy",
        &sslwatch::read::write::npy_bytes_f32(m.view()),
    );
    let p16 = write(
        &dir,
        "w16.npy",
        &sslwatch::read::write::npy_bytes_f16(m.view()),
    );
    assert_eq!(one_layer(&p32).2, VALUES.to_vec());
    assert_eq!(one_layer(&p16).2, VALUES.to_vec());
    let pl = write(
        &dir,
        "l.npy",
        &sslwatch::read::write::npy_bytes_i64(&[3, -1, 7]),
    );
    assert_eq!(labels(&pl), vec![3, -1, 7]);
}

#[test]
fn empty_matrix_reads_with_its_shape() {
    let dir = tmp();
    let path = write(&dir, "e.npy", &npy("<f4", "(0, 5)", &[]));
    let (_, dim, values) = one_layer(&path);
    assert_eq!(dim, (0, 5));
    assert!(values.is_empty());
}

// ------------------------------------------------------------------ npz

#[test]
fn npz_stored_and_deflated_give_one_layer_per_array_in_archive_order() {
    let dir = tmp();
    let a = npy("<f4", "(2, 3)", &f32_bytes(false));
    let b_data: Vec<u8> = [10f64, 20.0].iter().flat_map(|v| v.to_be_bytes()).collect();
    let b = npy(">f8", "(1, 2)", &b_data);
    for method in [CompressionMethod::Stored, CompressionMethod::Deflated] {
        // 'zeta' first: the order is the archive's, not alphabetical.
        let bytes = zip_bytes(&[("zeta.npy", &a, method), ("alpha.npy", &b, method)]);
        let path = write(&dir, "emb.npz", &bytes);
        let l = layers(&path);
        assert_eq!(l.len(), 2, "{method:?}");
        assert_eq!(l[0].name, "zeta");
        assert_eq!(l[0].data.dim(), (2, 3));
        assert_eq!(
            l[0].data.iter().copied().collect::<Vec<_>>(),
            VALUES.to_vec()
        );
        assert_eq!(l[1].name, "alpha");
        assert_eq!(l[1].data.dim(), (1, 2));
        assert_eq!(
            l[1].data.iter().copied().collect::<Vec<_>>(),
            vec![10.0, 20.0]
        );
        assert_eq!(check_complete(&path).ok(), Some(()), "{method:?}");
    }
}

#[test]
fn npz_without_its_end_record_is_incomplete() {
    let dir = tmp();
    let a = npy("<f4", "(2, 3)", &f32_bytes(false));
    let full = zip_bytes(&[("a.npy", &a, CompressionMethod::Deflated)]);
    // Cut off the 22-byte end-of-central-directory record, then cut deeper.
    for cut in [full.len() - 22, full.len() - 1, full.len() / 2, 2, 0] {
        let path = write(&dir, &format!("cut{cut}.npz"), &full[..cut]);
        expect_err(read_embeddings(&path), Kind::Incomplete, &path);
        expect_err(check_complete(&path), Kind::Incomplete, &path);
    }
}

#[test]
fn npz_with_a_damaged_entry_is_corrupt_and_names_the_entry() {
    let dir = tmp();
    let good = npy("<f4", "(1, 2)", &[0u8; 8]);
    let a = npy("<f4", "(2, 3)", &f32_bytes(false));
    let mut bytes = zip_bytes(&[
        ("good.npy", &good, CompressionMethod::Stored),
        ("bad.npy", &a, CompressionMethod::Stored),
    ]);
    // Flip one data byte of the stored 'bad' entry: its CRC no longer matches.
    let needle = 1024f32.to_le_bytes();
    let at = bytes
        .windows(4)
        .position(|w| w == needle)
        .unwrap_or_else(|| panic!("value not found in the archive"));
    bytes[at] ^= 0x01;
    let path = write(&dir, "bad.npz", &bytes);
    let msg = expect_err(read_embeddings(&path), Kind::Corrupt, &path);
    assert!(msg.contains("'bad.npy'"), "{msg}");
}

#[test]
fn npz_entry_longer_or_shorter_than_its_header_is_corrupt() {
    let dir = tmp();
    let mut long = npy("<f4", "(2, 3)", &f32_bytes(false));
    long.extend_from_slice(&[0, 0, 0, 0]);
    let short = npy("<f4", "(2, 4)", &f32_bytes(false));
    for (name, entry) in [("long.npy", long), ("short.npy", short)] {
        let bytes = zip_bytes(&[(name, &entry, CompressionMethod::Deflated)]);
        let path = write(&dir, "x.npz", &bytes);
        let msg = expect_err(read_embeddings(&path), Kind::Corrupt, &path);
        assert!(msg.contains(&format!("'{name}'")), "{msg}");
        // The archive is finished, so the readiness check must not wait on it.
        let msg = expect_err(check_complete(&path), Kind::Corrupt, &path);
        assert!(msg.contains(&format!("'{name}'")), "{msg}");
    }
}

#[test]
fn npz_deflate_bomb_header_is_refused_before_decompressing() {
    let dir = tmp();
    // The header promises 2^20 x 2^10 float32 (4 GiB); the entry holds 24
    // bytes of data, so its declared size contradicts the promise.
    let bomb = npy("<f4", "(1048576, 1024)", &f32_bytes(false));
    let bytes = zip_bytes(&[("bomb.npy", &bomb, CompressionMethod::Deflated)]);
    let path = write(&dir, "bomb.npz", &bytes);
    let msg = expect_err(read_embeddings(&path), Kind::Corrupt, &path);
    assert!(msg.contains("'bomb.npy'"), "{msg}");
}

#[test]
fn empty_npz_is_refused() {
    let dir = tmp();
    let path = write(&dir, "empty.npz", &zip_bytes(&[]));
    let msg = expect_err(read_embeddings(&path), Kind::Unsupported, &path);
    assert!(msg.contains("no arrays"), "{msg}");
    expect_err(check_complete(&path), Kind::Unsupported, &path);
}

#[test]
fn npz_entry_with_an_unsupported_dtype_names_entry_and_dtype() {
    let dir = tmp();
    let c = npy("<c8", "(2, 3)", &[0u8; 48]);
    let bytes = zip_bytes(&[("cplx.npy", &c, CompressionMethod::Stored)]);
    let path = write(&dir, "c.npz", &bytes);
    let msg = expect_err(read_embeddings(&path), Kind::Unsupported, &path);
    assert!(
        msg.contains("'cplx.npy'") && msg.contains("complex64"),
        "{msg}"
    );
}

#[test]
fn a_file_that_is_not_a_zip_is_corrupt_not_incomplete() {
    let dir = tmp();
    let path = write(&dir, "x.npz", &npy("<f4", "(2, 3)", &f32_bytes(false)));
    expect_err(read_embeddings(&path), Kind::Corrupt, &path);
    expect_err(check_complete(&path), Kind::Corrupt, &path);
}

// --------------------------------------------------------------- labels

#[test]
fn labels_of_every_integer_dtype_in_both_byte_orders() {
    let dir = tmp();
    // Expected values -3, 0, 5, 100 (signed) and 250, 0, 5, 100 (unsigned).
    let signed = [-3i64, 0, 5, 100];
    let unsigned = [250u64, 0, 5, 100];
    for big in [false, true] {
        let o = if big { '>' } else { '<' };
        let enc = |bytes: Vec<[u8; 8]>, size: usize| -> Vec<u8> {
            // Take the low `size` bytes of each 8-byte big-endian value.
            bytes
                .iter()
                .flat_map(|b| {
                    let mut low = b[8 - size..].to_vec();
                    if !big {
                        low.reverse();
                    }
                    low
                })
                .collect()
        };
        for size in [1usize, 2, 4, 8] {
            let code = if size == 1 { '|' } else { o };
            let s = enc(signed.iter().map(|v| v.to_be_bytes()).collect(), size);
            let path = write(&dir, "s.npy", &npy(&format!("{code}i{size}"), "(4,)", &s));
            assert_eq!(labels(&path), signed.to_vec(), "{code}i{size}");
            let u = enc(unsigned.iter().map(|v| v.to_be_bytes()).collect(), size);
            let path = write(&dir, "u.npy", &npy(&format!("{code}u{size}"), "(4,)", &u));
            assert_eq!(labels(&path), vec![250, 0, 5, 100], "{code}u{size}");
        }
    }
    // Spot-check one encoding by hand: int16 big-endian -2 is ff fe.
    let path = write(
        &dir,
        "h.npy",
        &npy(">i2", "(2,)", &[0xff, 0xfe, 0x01, 0x00]),
    );
    assert_eq!(labels(&path), vec![-2, 256]);
}

#[test]
fn uint64_label_above_i64_max_is_an_error() {
    let dir = tmp();
    let mut data = 1u64.to_le_bytes().to_vec();
    data.extend_from_slice(&u64::MAX.to_le_bytes());
    let path = write(&dir, "big.npy", &npy("<u8", "(2,)", &data));
    let msg = expect_err(read_labels(&path, 1 << 30), Kind::Unsupported, &path);
    assert!(msg.contains("18446744073709551615"), "{msg}");
}

#[test]
fn float_or_matrix_labels_are_refused() {
    let dir = tmp();
    let path = write(&dir, "f.npy", &npy("<f4", "(6,)", &f32_bytes(false)));
    let msg = expect_err(read_labels(&path, 1 << 30), Kind::Unsupported, &path);
    assert!(msg.contains("float32"), "{msg}");
    let path = write(&dir, "m.npy", &npy("<i8", "(2, 1)", &[0u8; 16]));
    let msg = expect_err(read_labels(&path, 1 << 30), Kind::Unsupported, &path);
    assert!(msg.contains("(2, 1)"), "{msg}");
    let path = write(&dir, "l.npz", &zip_bytes(&[]));
    expect_err(read_labels(&path, 1 << 30), Kind::Unsupported, &path);
}

// ------------------------------------------------------------- bad npy

#[test]
fn bad_magic_is_corrupt() {
    let dir = tmp();
    let mut bytes = npy("<f4", "(2, 3)", &f32_bytes(false));
    bytes[1] = b'X';
    let path = write(&dir, "m.npy", &bytes);
    expect_err(read_embeddings(&path), Kind::Corrupt, &path);
    expect_err(check_complete(&path), Kind::Corrupt, &path);
    let path = write(&dir, "text.npy", b"hello");
    expect_err(check_complete(&path), Kind::Corrupt, &path);
}

#[test]
fn empty_file_and_cut_header_are_incomplete() {
    let dir = tmp();
    let full = npy("<f4", "(2, 3)", &f32_bytes(false));
    // 10-byte preamble + 60-byte dict + newline = 71, padded to 128.
    let header_len = 128;
    assert_eq!(full.len(), header_len + 24);
    for cut in [0, 3, 8, 9, 10, 40, header_len - 1] {
        let path = write(&dir, &format!("h{cut}.npy"), &full[..cut]);
        expect_err(read_embeddings(&path), Kind::Incomplete, &path);
        expect_err(check_complete(&path), Kind::Incomplete, &path);
    }
}

#[test]
fn truncated_data_is_incomplete_with_both_lengths() {
    let dir = tmp();
    let full = npy("<f4", "(2, 3)", &f32_bytes(false));
    let path = write(&dir, "t.npy", &full[..full.len() - 5]);
    let msg = expect_err(read_embeddings(&path), Kind::Incomplete, &path);
    assert!(
        msg.contains("file has 147 bytes, header promises 152"),
        "{msg}"
    );
    expect_err(check_complete(&path), Kind::Incomplete, &path);
    let path = write(&dir, "h.npy", &full[..128]);
    expect_err(read_embeddings(&path), Kind::Incomplete, &path);
}

#[test]
fn extra_bytes_are_corrupt() {
    let dir = tmp();
    let mut bytes = npy("<f4", "(2, 3)", &f32_bytes(false));
    bytes.push(0);
    let path = write(&dir, "x.npy", &bytes);
    let msg = expect_err(read_embeddings(&path), Kind::Corrupt, &path);
    assert!(
        msg.contains("file has 153 bytes, header promises 152"),
        "{msg}"
    );
    expect_err(check_complete(&path), Kind::Corrupt, &path);
}

#[test]
fn rank_1_and_rank_3_embeddings_are_refused_with_their_shape() {
    let dir = tmp();
    let path = write(&dir, "r1.npy", &npy("<f4", "(6,)", &f32_bytes(false)));
    let msg = expect_err(read_embeddings(&path), Kind::Unsupported, &path);
    assert!(msg.contains("(6,)") && msg.contains("rank 1"), "{msg}");
    let path = write(&dir, "r3.npy", &npy("<f4", "(1, 2, 3)", &f32_bytes(false)));
    let msg = expect_err(read_embeddings(&path), Kind::Unsupported, &path);
    assert!(msg.contains("(1, 2, 3)") && msg.contains("rank 3"), "{msg}");
}

#[test]
fn unusable_dtypes_are_refused_by_name() {
    let dir = tmp();
    let cases = [
        ("|O", 8, "object"),
        ("<c8", 8, "complex64"),
        ("<c16", 16, "complex128"),
        ("|b1", 1, "bool"),
        ("|S4", 4, "bytes"),
        ("<U2", 8, "str"),
    ];
    for (descr, size, name) in cases {
        let path = write(&dir, "d.npy", &npy(descr, "(2, 3)", &vec![0u8; 6 * size]));
        let msg = expect_err(read_embeddings(&path), Kind::Unsupported, &path);
        assert!(msg.contains(name), "{descr}: {msg}");
        assert!(msg.contains("float16/32/64"), "{descr}: {msg}");
        expect_err(read_labels(&path, 1 << 30), Kind::Unsupported, &path);
        expect_err(check_complete(&path), Kind::Unsupported, &path);
    }
}

#[test]
fn structured_dtype_is_refused() {
    let dir = tmp();
    let dict = "{'descr': [('x', '<f4'), ('y', '<f4')], 'fortran_order': False, 'shape': (3,), }";
    let path = write(&dir, "s.npy", &npy_v(1, dict, &[0u8; 24]));
    let msg = expect_err(read_embeddings(&path), Kind::Unsupported, &path);
    assert!(msg.contains("structured"), "{msg}");
}

#[test]
fn huge_promised_shape_is_refused_without_allocating() {
    let dir = tmp();
    // 2^62 elements: the byte count overflows u64 for float32.
    let path = write(
        &dir,
        "huge.npy",
        &npy("<f4", "(4611686018427387904, 1)", &[]),
    );
    let msg = expect_err(read_embeddings(&path), Kind::Corrupt, &path);
    assert!(msg.contains("too large"), "{msg}");
    // 2^31 x 2^31 float16 = 2^63 bytes: no overflow, but more than any
    // filesystem here holds, so corrupt rather than "not written yet".
    let path = write(
        &dir,
        "big.npy",
        &npy("<f2", "(2147483648, 2147483648)", &[]),
    );
    let msg = expect_err(read_embeddings(&path), Kind::Corrupt, &path);
    assert!(msg.contains("more than its filesystem holds"), "{msg}");
    // A header whose length field claims 4 GiB is refused, not allocated.
    let mut bytes = b"\x93NUMPY\x02\x00".to_vec();
    bytes.extend_from_slice(&u32::MAX.to_le_bytes());
    bytes.extend_from_slice(b"{'descr': '<f4'");
    let path = write(&dir, "hdr.npy", &bytes);
    expect_err(read_embeddings(&path), Kind::Corrupt, &path);
}

#[test]
fn malformed_headers_are_corrupt() {
    let dir = tmp();
    let cases = [
        "{'descr': '<f4', 'shape': (2, 3), }",
        "{'descr': '<f4', 'fortran_order': 'no', 'shape': (2, 3), }",
        "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), 'extra': 1}",
        "['descr', '<f4']",
        "{'descr': '<f4', 'fortran_order': False, 'shape': (2, -3), }",
    ];
    for (i, dict) in cases.iter().enumerate() {
        let path = write(
            &dir,
            &format!("m{i}.npy"),
            &npy_v(1, dict, &f32_bytes(false)),
        );
        expect_err(read_embeddings(&path), Kind::Corrupt, &path);
    }
}

#[test]
fn unknown_extension_and_missing_file() {
    let dir = tmp();
    let path = write(&dir, "emb.csv", b"1,2,3\n");
    let msg = expect_err(read_embeddings(&path), Kind::Unsupported, &path);
    assert!(msg.contains("unsupported") && msg.contains(".csv"), "{msg}");
    expect_err(check_complete(&path), Kind::Unsupported, &path);
    expect_err(read_labels(&path, 1 << 30), Kind::Unsupported, &path);
    let path = dir.path().join("missing.npy");
    let msg = expect_err(read_embeddings(&path), Kind::Io, &path);
    // The OS error once, not "(os error 2): No such file ... (os error 2)".
    assert_eq!(msg.matches("no such file").count(), 1, "{msg}");
    let e = read_embeddings(&path).unwrap_err();
    assert!(
        std::error::Error::source(&e).is_none(),
        "a chain would print it twice"
    );
}

#[test]
fn a_directory_or_a_fifo_is_refused_by_what_it_is_without_blocking() {
    let dir = tmp();
    let d = dir.path().join("emb.npy");
    std::fs::create_dir(&d).unwrap();
    let msg = expect_err(read_embeddings(&d), Kind::NotAFile, &d);
    assert!(msg.contains("is a directory"), "{msg}");
    let fifo = dir.path().join("pipe.npy");
    let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
    // SAFETY: a valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o644) }, 0);
    // Opening a FIFO for reading blocks until a writer comes: this test
    // would hang on the old code. Run it on a thread with a deadline.
    let (tx, rx) = std::sync::mpsc::channel();
    let f2 = fifo.clone();
    std::thread::spawn(move || {
        let _ = tx.send((
            read_embeddings(&f2).map(|_| ()),
            check_complete(&f2),
            read_labels(&f2, 1 << 20).map(|_| ()),
        ));
    });
    let (a, b, c) = rx
        .recv_timeout(std::time::Duration::from_secs(60))
        .expect("reading a FIFO must not block");
    for r in [a, b, c] {
        let msg = expect_err(r, Kind::NotAFile, &fifo);
        assert!(msg.contains("is a fifo"), "{msg}");
    }
}

#[test]
fn a_header_promising_more_than_the_filesystem_holds_is_corrupt_not_pending() {
    let dir = tmp();
    // shape 2^32 x 1024 float32 in a file of a few hundred bytes.
    let header = "{'descr': '<f4', 'fortran_order': False, 'shape': (4294967296, 1024), }";
    let mut bytes = b"\x93NUMPY\x01\x00".to_vec();
    let pad = 64 - (10 + header.len() + 1) % 64;
    let dict = format!("{header}{}\n", " ".repeat(pad));
    bytes.extend_from_slice(&(dict.len() as u16).to_le_bytes());
    bytes.extend_from_slice(dict.as_bytes());
    bytes.extend_from_slice(&[0u8; 64]);
    let path = write(&dir, "huge.npy", &bytes);
    let msg = expect_err(check_complete(&path), Kind::Corrupt, &path);
    assert!(msg.contains("more than its filesystem holds"), "{msg}");
    // A plausible promise is still only "not ready yet".
    let mut ok =
        sslwatch::read::write::npy_bytes_f32(ndarray::Array2::<f32>::zeros((100, 8)).view());
    ok.truncate(ok.len() - 40);
    let path = write(&dir, "short.npy", &ok);
    expect_err(check_complete(&path), Kind::Incomplete, &path);
}

#[test]
fn labels_over_the_budget_are_refused_before_they_are_read() {
    let dir = tmp();
    let y: Vec<i64> = (0..10_000).collect();
    let path = write(
        &dir,
        "labels.npy",
        &sslwatch::read::write::npy_bytes_i64(&y),
    );
    let msg = expect_err(read_labels(&path, 100_000), Kind::OverBudget, &path);
    assert!(
        msg.contains("10000 labels") && msg.contains("156 kib"),
        "{msg}"
    );
    assert_eq!(
        read_labels(&path, 1 << 20).map(|v| v.len()).ok(),
        Some(10_000)
    );
}

#[test]
fn layers_of_an_archive_are_read_one_at_a_time_from_their_headers() {
    let dir = tmp();
    let a = ndarray::Array2::<f32>::from_shape_fn((3, 2), |(i, j)| (i * 2 + j) as f32);
    let b = ndarray::Array2::<f32>::from_shape_fn((5, 4), |(i, j)| (i + j) as f32);
    let mut z = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    for (name, m) in [("h.npy", &a), ("z.npy", &b)] {
        z.start_file(name, zip::write::SimpleFileOptions::default())
            .unwrap();
        std::io::Write::write_all(&mut z, &sslwatch::read::write::npy_bytes_f32(m.view())).unwrap();
    }
    let path = write(&dir, "e.npz", &z.finish().unwrap().into_inner());
    let mut f = sslwatch::read::EmbeddingFile::open(&path).unwrap();
    let dims: Vec<_> = f
        .arrays()
        .iter()
        .map(|a| (a.name.clone(), a.matrix_dims()))
        .collect();
    assert_eq!(
        dims,
        [
            ("h".to_string(), Some((3, 2))),
            ("z".to_string(), Some((5, 4)))
        ]
    );
    assert_eq!(f.arrays()[1].decoded_bytes(), 80);
    // Out of order, each on its own.
    assert_eq!(f.read_layer(1).unwrap().data, b);
    assert_eq!(f.read_layer(0).unwrap().data, a);
}

// ---------------------------------------------------- numpy cross-check

#[test]
#[ignore = "reference check: needs python3 with numpy; run with `cargo test -- --include-ignored`"]
fn files_written_by_numpy_read_back_with_the_same_values() {
    common::require_reference();
    let dir = tmp();
    let script = r#"
import sys, numpy as np
d = sys.argv[1]
m = np.arange(6).reshape(2, 3) * 0.5          # [[0, .5, 1], [1.5, 2, 2.5]]
np.save(d + '/h.npy', m.astype('<f2'))
np.save(d + '/b.npy', m.astype('>f4'))
np.save(d + '/f.npy', np.asfortranarray(m.astype('<f8')))
np.save(d + '/lab.npy', np.array([3, -1, 7], dtype='>i2'))
np.savez_compressed(d + '/z.npz', first=m.astype('<f4'), second=m.T.astype('<f8'))
np.savez(d + '/s.npz', only=m.astype('<f2'))
"#;
    let out = std::process::Command::new("python3")
        .args(["-c", script])
        .arg(dir.path())
        .output();
    match out {
        Ok(o) if o.status.success() => {}
        Ok(o) => panic!(
            "numpy script failed: {}",
            String::from_utf8_lossy(&o.stderr)
        ),
        Err(e) => panic!("cannot run python3: {e}"),
    }
    let m = vec![0.0f32, 0.5, 1.0, 1.5, 2.0, 2.5];
    let mt = vec![0.0f32, 1.5, 0.5, 2.0, 1.0, 2.5];
    for name in ["h", "b", "f"] {
        let path = dir.path().join(format!("{name}.npy"));
        assert_eq!(check_complete(&path).ok(), Some(()), "{name}");
        let (stem, dim, values) = one_layer(&path);
        assert_eq!((stem.as_str(), dim), (name, (2, 3)));
        assert_eq!(values, m, "{name}");
    }
    assert_eq!(labels(&dir.path().join("lab.npy")), vec![3, -1, 7]);
    let z = dir.path().join("z.npz");
    assert_eq!(check_complete(&z).ok(), Some(()));
    let l = layers(&z);
    let got: Vec<_> = l
        .iter()
        .map(|l| {
            (
                l.name.as_str(),
                l.data.dim(),
                l.data.iter().copied().collect::<Vec<_>>(),
            )
        })
        .collect();
    assert_eq!(
        got,
        vec![("first", (2, 3), m.clone()), ("second", (3, 2), mt)]
    );
    let l = layers(&dir.path().join("s.npz"));
    assert_eq!(l.len(), 1);
    assert_eq!(l[0].name, "only");
    assert_eq!(l[0].data.iter().copied().collect::<Vec<_>>(), m);
}
