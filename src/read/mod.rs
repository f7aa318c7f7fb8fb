//! Safe reading of embedding (`.npy`, `.npz`) and label (`.npy`) files.
//!
//! Every check (magic, header, dtype, order, rank, length) happens before any
//! allocation sized by the file's header, so a hostile or half-written file
//! can never make us allocate more than the file holds.

pub mod write;

use ndarray::Array2;
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
    Err(ReadError::Unsupported {
        path: path.to_path_buf(),
        detail: "reader not built yet".into(),
    })
}

/// Read a label vector: `.npy` of any integer dtype, shape (N,).
pub fn read_labels(path: &Path) -> Result<Vec<i64>, ReadError> {
    Err(ReadError::Unsupported {
        path: path.to_path_buf(),
        detail: "reader not built yet".into(),
    })
}

/// Cheap readiness check used by the watcher: parse the header(s) and
/// compare the promised length with the file's length, without reading the
/// data. `Ok(())` means complete and well-formed as far as headers go.
pub fn check_complete(path: &Path) -> Result<(), ReadError> {
    Err(ReadError::Unsupported {
        path: path.to_path_buf(),
        detail: "reader not built yet".into(),
    })
}
