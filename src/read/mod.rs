//! Safe reading of embedding (`.npy`, `.npz`) and label (`.npy`) files.
//!
//! Every check (magic, header, dtype, order, rank, length) happens before any
//! allocation sized by the file's header, so a hostile or half-written file
//! can never make us allocate more than the file holds.

mod dtype;
mod header;
mod npy;
mod npz;
pub mod write;

use dtype::Want;
use ndarray::Array2;
use npy::Plan;
use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};

/// Why a file could not be read. Every variant names the file.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// The operating system refused (missing file, permission, ...).
    #[error("{}: cannot read: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// Shorter than its header promises: probably still being written.
    /// The watcher treats this as "not ready yet", never as an error.
    #[error("{}: incomplete: {detail}", path.display())]
    Incomplete { path: PathBuf, detail: String },
    /// Malformed: bad magic, bad header, longer than promised, ...
    #[error("{}: corrupt: {detail}", path.display())]
    Corrupt { path: PathBuf, detail: String },
    /// Well-formed but not something we can use (dtype, rank, order, ...).
    #[error("{}: unsupported: {detail}", path.display())]
    Unsupported { path: PathBuf, detail: String },
}

impl ReadError {
    /// True when the file is only shorter than promised (retry later).
    pub fn is_incomplete(&self) -> bool {
        matches!(self, ReadError::Incomplete { .. })
    }

    /// The file this error is about.
    pub fn path(&self) -> &Path {
        match self {
            ReadError::Io { path, .. }
            | ReadError::Incomplete { path, .. }
            | ReadError::Corrupt { path, .. }
            | ReadError::Unsupported { path, .. } => path,
        }
    }
}

/// One embedding matrix: N rows (samples) x D columns, converted to f32.
#[derive(Debug, Clone)]
pub struct Layer {
    /// File stem for `.npy`, array name for `.npz` (without `.npy`).
    pub name: String,
    pub data: Array2<f32>,
}

/// Read every layer of an embedding file (`.npy`: one layer named after the
/// file stem; `.npz`: one layer per array, in archive order).
pub fn read_embeddings(path: &Path) -> Result<Vec<Layer>, ReadError> {
    let at = |f: Fail| f.at(path);
    match Format::of(path).map_err(at)? {
        Format::Npy => {
            let (mut file, plan) = open_npy(path, Want::Float, Some(2))?;
            let bytes = read_data(&mut file, plan.data_len).map_err(at)?;
            let data = npy::to_matrix(&plan, &bytes).map_err(at)?;
            let name = path
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default();
            Ok(vec![Layer { name, data }])
        }
        Format::Npz => {
            let file = open(path)?;
            let entries = npz::entries(file, Want::Float, Some(2), true).map_err(at)?;
            entries
                .into_iter()
                .map(|e| {
                    let bytes = e.data.unwrap_or_default();
                    let data = npy::to_matrix(&e.plan, &bytes)
                        .map_err(|f| f.in_entry(&format!("{}.npy", e.name)).at(path))?;
                    Ok(Layer { name: e.name, data })
                })
                .collect()
        }
    }
}

/// Read a label vector: `.npy` of any integer dtype, shape (N,).
pub fn read_labels(path: &Path) -> Result<Vec<i64>, ReadError> {
    let at = |f: Fail| f.at(path);
    match Format::of(path).map_err(at)? {
        Format::Npy => {
            let (mut file, plan) = open_npy(path, Want::Int, Some(1))?;
            let bytes = read_data(&mut file, plan.data_len).map_err(at)?;
            npy::integers(&bytes, plan.dtype).map_err(at)
        }
        Format::Npz => Err(at(Fail::Unsupported(
            "labels must be a single .npy file, not an .npz archive".into(),
        ))),
    }
}

/// Cheap readiness check used by the watcher: parse the header(s) and
/// compare the promised length with the file's length, without reading the
/// data. `Ok(())` means complete and well-formed as far as headers go.
///
/// Any float or integer dtype and any rank pass here (the check does not
/// know whether the file holds embeddings or labels); the readers apply
/// their stricter rules when the file is read.
pub fn check_complete(path: &Path) -> Result<(), ReadError> {
    match Format::of(path).map_err(|f| f.at(path))? {
        Format::Npy => open_npy(path, Want::Number, None).map(|_| ()),
        Format::Npz => npz::entries(open(path)?, Want::Number, None, false)
            .map(|_| ())
            .map_err(|f| f.at(path)),
    }
}

/// File kinds, by extension (case-insensitive).
enum Format {
    Npy,
    Npz,
}

impl Format {
    fn of(path: &Path) -> Result<Format, Fail> {
        let ext = path
            .extension()
            .map(|e| e.to_string_lossy().to_ascii_lowercase());
        match ext.as_deref() {
            Some("npy") => Ok(Format::Npy),
            Some("npz") => Ok(Format::Npz),
            Some(other) => Err(Fail::Unsupported(format!(
                "unknown extension '.{other}' (expected .npy or .npz)"
            ))),
            None => Err(Fail::Unsupported(
                "no file extension (expected .npy or .npz)".into(),
            )),
        }
    }
}

fn open(path: &Path) -> Result<File, ReadError> {
    File::open(path).map_err(|source| ReadError::Io {
        path: path.to_path_buf(),
        source,
    })
}

/// Open an `.npy` file and validate its header against its length; the
/// file is left positioned at the start of the data.
fn open_npy(path: &Path, want: Want, rank: Option<usize>) -> Result<(File, Plan), ReadError> {
    let at = |f: Fail| f.at(path);
    let mut file = open(path)?;
    let len = file.metadata().map_err(Fail::Io).map_err(at)?.len();
    let plan = npy::plan(&mut file, len, want, rank).map_err(at)?;
    Ok((file, plan))
}

/// Read the already-validated `len` data bytes in one go. A file that
/// shrank since its length was taken is reported as incomplete.
fn read_data(file: &mut File, len: usize) -> Result<Vec<u8>, Fail> {
    let mut bytes = vec![0u8; len];
    file.read_exact(&mut bytes).map_err(|e| match e.kind() {
        std::io::ErrorKind::UnexpectedEof => {
            Fail::Incomplete(format!("file shrank while reading its {len} data bytes"))
        }
        _ => Fail::Io(e),
    })?;
    Ok(bytes)
}

/// A problem found while reading, before we attach the file's path.
#[derive(Debug)]
pub(crate) enum Fail {
    Io(std::io::Error),
    Incomplete(String),
    Corrupt(String),
    Unsupported(String),
}

impl Fail {
    fn at(self, path: &Path) -> ReadError {
        let path = path.to_path_buf();
        match self {
            Fail::Io(source) => ReadError::Io { path, source },
            Fail::Incomplete(detail) => ReadError::Incomplete { path, detail },
            Fail::Corrupt(detail) => ReadError::Corrupt { path, detail },
            Fail::Unsupported(detail) => ReadError::Unsupported { path, detail },
        }
    }

    /// The same problem inside an archive entry. The archive is finished
    /// (its directory is written), so an entry shorter than promised, or a
    /// stream that fails to decompress, is corrupt rather than incomplete.
    pub(crate) fn in_entry(self, entry: &str) -> Fail {
        match self {
            Fail::Io(e) => Fail::Corrupt(format!("entry '{entry}': {e}")),
            Fail::Incomplete(d) | Fail::Corrupt(d) => {
                Fail::Corrupt(format!("entry '{entry}': {d}"))
            }
            Fail::Unsupported(d) => Fail::Unsupported(format!("entry '{entry}': {d}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_must_be_npy_and_extensions_are_case_insensitive() {
        let dir = tempfile::TempDir::new().unwrap();
        let npz = dir.path().join("y.npz");
        match read_labels(&npz) {
            Err(ReadError::Unsupported { path, detail }) => {
                assert_eq!(path, npz);
                assert!(detail.contains(".npz"), "{detail}");
            }
            other => panic!("expected Unsupported, got {other:?}"),
        }
        let upper = dir.path().join("Y.NPY");
        write::write_atomic(&upper, &write::npy_bytes_i64(&[2, -5])).unwrap();
        assert_eq!(read_labels(&upper).ok(), Some(vec![2, -5]));
    }

    #[test]
    fn an_error_inside_an_archive_entry_names_the_entry_and_never_waits() {
        let f = Fail::Incomplete("file has 3 bytes, header promises 9".into()).in_entry("a.npy");
        let e = f.at(Path::new("/runs/x/e.npz"));
        assert!(!e.is_incomplete());
        assert_eq!(
            e.to_string(),
            "/runs/x/e.npz: corrupt: entry 'a.npy': file has 3 bytes, header promises 9"
        );
    }
}
