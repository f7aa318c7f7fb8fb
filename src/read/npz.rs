//! `.npz` archives: a zip of `.npy` files, stored or deflated, as written by
//! `np.savez` and `np.savez_compressed`.
//!
//! A zip is only readable once its end-of-central-directory record (EOCD)
//! is written, last; without one the archive is still being written.

use super::dtype::Want;
use super::npy::{self, Plan};
use super::Fail;
use ndarray::Array2;
use std::fs::File;
use std::io::{BufReader, Read, Seek, SeekFrom};
use zip::result::ZipError;
use zip::{CompressionMethod, ZipArchive};

/// Deflate cannot expand data by more than about 1032:1, so an entry that
/// declares more than this many bytes per compressed byte is lying.
const MAX_DEFLATE_RATIO: u64 = 1032;

/// Fixed part of the EOCD record; a comment of up to 65535 bytes follows.
const EOCD_LEN: u64 = 22;

/// Arrays one archive may hold. Each becomes a layer with its own results,
/// cache records and screen rows; an archive of thousands of arrays is
/// refused rather than flooding every view.
pub const MAX_ARRAYS: usize = 512;

/// An open archive whose entries' headers have all been checked.
pub(crate) struct Archive {
    zip: ZipArchive<BufReader<File>>,
    /// Each entry's array name (without `.npy`) and checked plan.
    pub entries: Vec<(String, Plan)>,
}

/// Open the archive and check each entry's header against its declared
/// size, reading no data. Errors for an entry name it; the caller adds the
/// archive's path.
pub(crate) fn open(file: File, want: Want, rank: Option<usize>) -> Result<Archive, Fail> {
    let mut reader = BufReader::new(file);
    let file_len = reader.seek(SeekFrom::End(0)).map_err(Fail::Io)?;
    check_zip_ends(&mut reader, file_len)?;
    let mut zip = ZipArchive::new(reader).map_err(zip_fail)?;
    if zip.is_empty() {
        return Err(Fail::Unsupported("archive holds no arrays".into()));
    }
    if zip.len() > MAX_ARRAYS {
        return Err(Fail::Unsupported(format!(
            "archive holds {} arrays, more than the {MAX_ARRAYS} accepted",
            zip.len()
        )));
    }
    let mut entries: Vec<(String, Plan)> = Vec::with_capacity(zip.len());
    let mut names = std::collections::HashSet::new();
    for i in 0..zip.len() {
        // The raw view needs no decompressor, so it can name the entry even
        // when its compression method is one we cannot read.
        let entry_name = zip
            .by_index_raw(i)
            .and_then(|raw| raw.name().map(|n| n.to_string()))
            .map_err(zip_fail)?;
        let mut entry = zip
            .by_index(i)
            .map_err(|e| zip_fail(e).in_entry(&entry_name))?;
        let in_entry = |f: Fail| f.in_entry(&entry_name);
        let Some(name) = entry_name.strip_suffix(".npy") else {
            return Err(in_entry(Fail::Unsupported("not an .npy array".into())));
        };
        if !names.insert(name.to_string()) {
            return Err(in_entry(Fail::Corrupt("array name appears twice".into())));
        }
        let size = entry.size();
        let packed = entry.compressed_size();
        let plausible = match entry.compression() {
            CompressionMethod::Stored => size == packed,
            _ => size <= packed.saturating_mul(MAX_DEFLATE_RATIO).saturating_add(64),
        };
        if packed > file_len || !plausible {
            return Err(in_entry(Fail::Corrupt(format!(
                "declares {size} bytes from {packed} compressed bytes in a {file_len}-byte archive"
            ))));
        }
        let plan = npy::plan(&mut entry, size, want, rank).map_err(in_entry)?;
        entries.push((name.to_string(), plan));
    }
    Ok(Archive { zip, entries })
}

impl Archive {
    /// Decode entry `index` (checked by [`open`]) into a matrix, then make
    /// sure its stream ends there, which is also when the zip crate checks
    /// the CRC.
    pub(crate) fn read_matrix(&mut self, index: usize) -> Result<(Array2<f32>, i32), Fail> {
        let Some((name, plan)) = self.entries.get(index) else {
            return Err(Fail::Corrupt(format!("internal: no entry {index}")));
        };
        let in_entry = |f: Fail| f.in_entry(&format!("{name}.npy"));
        let mut entry = self
            .zip
            .by_index(index)
            .map_err(|e| in_entry(zip_fail(e)))?;
        let size = entry.size();
        // Skip the header again (it was checked when the archive was opened).
        npy::plan(&mut entry, size, Want::Float, Some(2)).map_err(in_entry)?;
        let m = npy::decode_matrix(&mut entry, plan).map_err(in_entry)?;
        let mut probe = [0u8; 1];
        match entry.read(&mut probe).map_err(|e| in_entry(Fail::Io(e)))? {
            0 => Ok(m),
            _ => Err(in_entry(Fail::Corrupt(
                "more data than its header promises".into(),
            ))),
        }
    }
}

/// The archive's first bytes must be a zip signature and its last bytes an
/// EOCD record; a missing EOCD means "still being written".
fn check_zip_ends<R: Read + Seek>(r: &mut R, file_len: u64) -> Result<(), Fail> {
    const LOCAL: &[u8; 4] = b"PK\x03\x04";
    const EOCD: &[u8; 4] = b"PK\x05\x06";
    let mut start = Vec::with_capacity(4);
    r.seek(SeekFrom::Start(0)).map_err(Fail::Io)?;
    r.by_ref()
        .take(4)
        .read_to_end(&mut start)
        .map_err(Fail::Io)?;
    let is_prefix = |sig: &[u8; 4]| start[..] == sig[..start.len()];
    if !is_prefix(LOCAL) && !is_prefix(EOCD) {
        return Err(Fail::Corrupt(format!(
            "not a zip archive (starts with {start:02x?})"
        )));
    }
    let tail_len = file_len.min(EOCD_LEN + u64::from(u16::MAX));
    let mut tail = Vec::with_capacity(tail_len as usize);
    r.seek(SeekFrom::Start(file_len - tail_len))
        .map_err(Fail::Io)?;
    r.by_ref()
        .take(tail_len)
        .read_to_end(&mut tail)
        .map_err(Fail::Io)?;
    // A real EOCD is followed by exactly its comment and nothing else.
    let found = (0..tail.len().saturating_sub(EOCD_LEN as usize - 1))
        .rev()
        .any(|p| {
            tail[p..p + 4] == EOCD[..]
                && p + EOCD_LEN as usize
                    + usize::from(u16::from_le_bytes([tail[p + 20], tail[p + 21]]))
                    == tail.len()
        });
    if found {
        Ok(())
    } else {
        Err(Fail::Incomplete(format!(
            "archive has {file_len} bytes and no end-of-central-directory record yet"
        )))
    }
}

/// Map a zip crate error. The EOCD is there, so running out of bytes
/// while following the directory means the directory is wrong.
fn zip_fail(e: ZipError) -> Fail {
    match e {
        ZipError::Io(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
            Fail::Corrupt(format!("zip directory points past the end: {e}"))
        }
        ZipError::Io(e) => Fail::Io(e),
        ZipError::UnsupportedArchive(what) => Fail::Unsupported(format!("zip: {what}")),
        other => Fail::Corrupt(format!("zip: {other}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::read::write::npy_bytes_f32;
    use std::io::{Cursor, Write};

    /// `[[1, 2, 3], [4, 5, 6]]` as a float32 `.npy` (128-byte header).
    fn small_npy() -> Vec<u8> {
        let m = ndarray::arr2(&[[1f32, 2., 3.], [4., 5., 6.]]);
        npy_bytes_f32(m.view())
    }

    fn zip_of(entries: &[(&str, &[u8])], method: CompressionMethod, comment: &str) -> Vec<u8> {
        let mut z = zip::ZipWriter::new(Cursor::new(Vec::new()));
        z.set_comment(comment).expect("a short comment");
        for (name, bytes) in entries {
            z.start_file(
                *name,
                zip::write::SimpleFileOptions::default().compression_method(method),
            )
            .unwrap();
            z.write_all(bytes).unwrap();
        }
        z.finish().unwrap().into_inner()
    }

    /// One checked entry and, when read, its values.
    struct Entry {
        name: String,
        plan: Plan,
        data: Option<Vec<f32>>,
    }

    /// Open `bytes` (written to a temporary file) and, when `read_data`,
    /// read every entry.
    fn run(bytes: &[u8], read_data: bool) -> Result<Vec<Entry>, Fail> {
        let mut f = tempfile::tempfile().unwrap();
        f.write_all(bytes).unwrap();
        let mut a = open(f, Want::Float, Some(2))?;
        let mut out = Vec::new();
        for i in 0..a.entries.len() {
            let data = if read_data {
                Some(a.read_matrix(i)?.0.into_raw_vec_and_offset().0)
            } else {
                None
            };
            let (name, plan) = a.entries[i].clone();
            out.push(Entry { name, plan, data });
        }
        Ok(out)
    }

    fn corrupt(r: Result<Vec<Entry>, Fail>) -> String {
        match r {
            Err(Fail::Corrupt(d)) => d,
            Err(e) => panic!("expected Corrupt, got {e:?}"),
            Ok(_) => panic!("expected Corrupt, got Ok"),
        }
    }

    #[test]
    fn reads_stored_and_deflated_entries() {
        let npy = small_npy();
        for method in [CompressionMethod::Stored, CompressionMethod::Deflated] {
            let got = run(&zip_of(&[("a.npy", &npy)], method, ""), true).unwrap();
            assert_eq!(got.len(), 1);
            assert_eq!(got[0].name, "a");
            assert_eq!(got[0].plan.shape, vec![2, 3]);
            assert_eq!(
                got[0].data.as_deref(),
                Some(&[1f32, 2., 3., 4., 5., 6.][..])
            );
        }
    }

    #[test]
    fn end_record_is_found_behind_a_comment_and_missing_when_cut() {
        let bytes = zip_of(
            &[("a.npy", &small_npy())],
            CompressionMethod::Stored,
            "hello",
        );
        assert!(run(&bytes, false).is_ok());
        // Cutting into the comment leaves an EOCD whose length no longer fits.
        for cut in [1, 5, 22 + 5] {
            match run(&bytes[..bytes.len() - cut], false) {
                Err(Fail::Incomplete(d)) => assert!(d.contains("end-of-central-directory"), "{d}"),
                Err(e) => panic!("cut {cut}: expected Incomplete, got {e:?}"),
                Ok(_) => panic!("cut {cut}: expected Incomplete, got Ok"),
            }
        }
    }

    #[test]
    fn header_check_does_not_read_the_data_but_the_reader_checks_the_crc() {
        let mut bytes = zip_of(&[("a.npy", &small_npy())], CompressionMethod::Stored, "");
        // Flip a byte of the float data (128 bytes after the npy magic).
        let magic = bytes.windows(6).position(|w| w == MAGIC_NPY).unwrap();
        bytes[magic + 128 + 1] ^= 0xff;
        assert!(run(&bytes, false).is_ok());
        let d = corrupt(run(&bytes, true));
        assert!(d.contains("entry 'a.npy'") && d.contains("checksum"), "{d}");
    }

    const MAGIC_NPY: &[u8] = b"\x93NUMPY";

    #[test]
    fn inflating_past_the_promise_is_cut_off_at_the_promise() {
        // The entry really holds a megabyte of zeros after the promised data,
        // but the central directory claims only the promised 152 bytes.
        let mut npy = small_npy();
        npy.resize(npy.len() + (1 << 20), 0);
        let mut bytes = zip_of(&[("a.npy", &npy)], CompressionMethod::Deflated, "");
        let cd = bytes.windows(4).rposition(|w| w == b"PK\x01\x02").unwrap();
        bytes[cd + 24..cd + 28].copy_from_slice(&152u32.to_le_bytes());
        // zip (since 2.x) stops the inflater at the declared size itself;
        // `read_matrix`'s own one-byte probe is the second line of defence.
        let d = corrupt(run(&bytes, true));
        assert!(
            d.contains("entry 'a.npy'") && d.contains("larger than its declared uncompressed size"),
            "{d}"
        );
    }

    #[test]
    fn a_declared_size_beyond_what_deflate_can_produce_is_refused() {
        let npy = small_npy();
        let mut bytes = zip_of(&[("a.npy", &npy)], CompressionMethod::Deflated, "");
        let cd = bytes.windows(4).rposition(|w| w == b"PK\x01\x02").unwrap();
        bytes[cd + 24..cd + 28].copy_from_slice(&u32::MAX.to_le_bytes());
        let d = corrupt(run(&bytes, false));
        assert!(d.contains("4294967295 bytes from"), "{d}");
    }

    #[test]
    fn an_archive_of_too_many_arrays_is_refused_before_reading_them() {
        let npy = small_npy();
        let names: Vec<String> = (0..=MAX_ARRAYS).map(|i| format!("a{i}.npy")).collect();
        let entries: Vec<(&str, &[u8])> = names.iter().map(|n| (n.as_str(), &npy[..])).collect();
        let bytes = zip_of(&entries, CompressionMethod::Stored, "");
        match run(&bytes, false) {
            Err(Fail::Unsupported(d)) => assert!(d.contains("513 arrays"), "{d}"),
            Err(e) => panic!("expected Unsupported, got {e:?}"),
            Ok(_) => panic!("expected Unsupported, got Ok"),
        }
        let bytes = zip_of(&entries[..MAX_ARRAYS], CompressionMethod::Stored, "");
        assert_eq!(run(&bytes, false).map(|e| e.len()).ok(), Some(MAX_ARRAYS));
    }

    #[test]
    fn entries_that_are_not_npy_are_refused_by_name() {
        let bytes = zip_of(&[("notes.txt", b"hi")], CompressionMethod::Stored, "");
        match run(&bytes, true) {
            Err(Fail::Unsupported(d)) => assert!(d.contains("entry 'notes.txt'"), "{d}"),
            Err(e) => panic!("expected Unsupported, got {e:?}"),
            Ok(_) => panic!("expected Unsupported, got Ok"),
        }
    }
}
