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

pub use npz::MAX_ARRAYS;

/// Why a file could not be read. Every variant names the file.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// The operating system refused (missing file, permission, ...). The
    /// OS error is part of the message and deliberately not a `source`, so
    /// an error chain never prints it twice.
    #[error("{}: cannot read: {error}", path.display())]
    Io {
        path: PathBuf,
        error: std::io::Error,
    },
    /// Not a regular file (a directory, FIFO, device or socket): never
    /// opened for reading, so it cannot block.
    #[error("{}: is {what}, not a regular file", path.display())]
    NotAFile { path: PathBuf, what: &'static str },
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
    /// Reading it would take more memory than the budget allows.
    #[error("{}: {detail}", path.display())]
    OverBudget { path: PathBuf, detail: String },
}

impl ReadError {
    /// True when the file is only shorter than promised (retry later).
    pub fn is_incomplete(&self) -> bool {
        matches!(self, ReadError::Incomplete { .. })
    }

    /// True when the file is not there (any more).
    pub fn is_not_found(&self) -> bool {
        matches!(self, ReadError::Io { error, .. } if error.kind() == std::io::ErrorKind::NotFound)
    }

    /// The file this error is about.
    pub fn path(&self) -> &Path {
        match self {
            ReadError::Io { path, .. }
            | ReadError::NotAFile { path, .. }
            | ReadError::Incomplete { path, .. }
            | ReadError::Corrupt { path, .. }
            | ReadError::Unsupported { path, .. }
            | ReadError::OverBudget { path, .. } => path,
        }
    }
}

/// One embedding matrix: N rows (samples) x D columns, converted to f32.
#[derive(Debug, Clone)]
pub struct Layer {
    /// File stem for `.npy`, array name for `.npz` (without `.npy`).
    pub name: String,
    pub data: Array2<f32>,
    /// The stored values equal `data * 2^log2_scale`: 0 except for float64
    /// files whose values lie beyond float32's range (see
    /// [`crate::metrics::compute_layer_prescaled`]).
    pub log2_scale: i32,
}

/// What a header says about one array, before any of its data is read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArrayInfo {
    /// Array name (`.npz`) or file stem (`.npy`).
    pub name: String,
    pub shape: Vec<u64>,
    /// Bytes per stored value.
    pub item_size: usize,
}

impl ArrayInfo {
    /// Rows and columns of a rank-2 array.
    pub fn matrix_dims(&self) -> Option<(usize, usize)> {
        match self.shape[..] {
            [n, d] => Some((usize::try_from(n).ok()?, usize::try_from(d).ok()?)),
            _ => None,
        }
    }

    /// Bytes of the float32 matrix this array decodes into.
    pub fn decoded_bytes(&self) -> u64 {
        self.shape
            .iter()
            .try_fold(4u64, |acc, &d| acc.checked_mul(d))
            .unwrap_or(u64::MAX)
    }
}

/// An embedding file whose headers have been checked (`.npy`: one layer
/// named after the file stem; `.npz`: one layer per array, in archive
/// order), read one layer at a time so a file of several layers never
/// holds more than one decoded matrix.
pub struct EmbeddingFile {
    path: PathBuf,
    arrays: Vec<ArrayInfo>,
    source: Source,
}

enum Source {
    Npy { file: File, plan: Plan },
    Npz(npz::Archive),
}

impl EmbeddingFile {
    /// Open `path` and check every header against the file's length. Reads
    /// no data and allocates nothing sized by the file.
    pub fn open(path: &Path) -> Result<EmbeddingFile, ReadError> {
        regular(path)?;
        let container = Container::of_path(path)?;
        let (arrays, source) = container.open_headers(path, Want::Float, Some(2))?;
        Ok(EmbeddingFile {
            path: path.to_path_buf(),
            arrays,
            source,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The file's arrays, as their headers describe them.
    pub fn arrays(&self) -> &[ArrayInfo] {
        &self.arrays
    }

    /// Read and decode array `index` (its only allocation is the matrix).
    pub fn read_layer(&mut self, index: usize) -> Result<Layer, ReadError> {
        let path = self.path.clone();
        let at = |f: Fail| f.at(&path);
        let name = match self.arrays.get(index) {
            Some(a) => a.name.clone(),
            None => return Err(at(Fail::Corrupt(format!("internal: no array {index}")))),
        };
        let (data, log2_scale) = match &mut self.source {
            Source::Npy { file, plan } => {
                // Only one layer; the file is positioned at its data.
                if index != 0 {
                    return Err(at(Fail::Corrupt(format!("internal: no array {index}"))));
                }
                npy::decode_matrix(file, plan).map_err(at)?
            }
            Source::Npz(archive) => archive.read_matrix(index).map_err(at)?,
        };
        Ok(Layer {
            name,
            data,
            log2_scale,
        })
    }
}

/// Read every layer of an embedding file at once. Convenient for small
/// files; the engine and `sslwatch metrics` use [`EmbeddingFile`] to check
/// each layer against the memory budget and hold one at a time.
pub fn read_embeddings(path: &Path) -> Result<Vec<Layer>, ReadError> {
    let mut file = EmbeddingFile::open(path)?;
    (0..file.arrays().len())
        .map(|i| file.read_layer(i))
        .collect()
}

/// Read a label vector: `.npy` of any integer dtype, shape (N,), refusing
/// one whose int64 copy would need more than `max_bytes`.
pub fn read_labels(path: &Path, max_bytes: u64) -> Result<Vec<i64>, ReadError> {
    regular(path)?;
    let at = |f: Fail| f.at(path);
    match Container::of_path(path)? {
        Container::Npy => {
            let (mut file, plan) = open_npy(path, Want::Int, Some(1))?;
            let need = plan.shape.first().map_or(0, |n| n.saturating_mul(8));
            let raw = plan.data_len as u64;
            if need.saturating_add(raw) > max_bytes {
                return Err(ReadError::OverBudget {
                    path: path.to_path_buf(),
                    detail: format!(
                        "{} labels need {}, over the memory budget of {} (--max-memory)",
                        plan.shape.first().copied().unwrap_or(0),
                        crate::memory::human_bytes(need.saturating_add(raw)),
                        crate::memory::human_bytes(max_bytes)
                    ),
                });
            }
            let bytes = read_data(&mut file, plan.data_len).map_err(at)?;
            npy::integers(&bytes, plan.dtype).map_err(at)
        }
        Container::Npz => Err(at(Fail::Unsupported(
            "labels must be a single .npy file, not an .npz archive".into(),
        ))),
    }
}

/// Cheap readiness check used by the watcher: parse the header(s) and
/// compare the promised length with the file's length, without reading the
/// data. Returns what the headers describe. The format is decided by the
/// extension (case-insensitive); see [`Container::probe`].
pub fn probe(path: &Path) -> Result<Vec<ArrayInfo>, ReadError> {
    regular(path)?;
    Container::of_path(path)?.headers(path)
}

/// [`probe`], keeping only whether the file is complete.
pub fn check_complete(path: &Path) -> Result<(), ReadError> {
    probe(path).map(|_| ())
}

/// The file formats sslwatch reads, and the one place that knows them:
/// which names are which format, what arrays (layers) a file holds and in
/// what order, and whether a file is as long as its headers promise.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Container {
    /// One array, named by the file stem.
    Npy,
    /// A zip of `.npy` arrays, in archive order, each named by its entry.
    Npz,
}

impl Container {
    /// The format a milestone file's name says, with the name's stem
    /// (`20.npz` -> `("20", Npz)`); `None` for any other name. Matched as
    /// writers spell it (`np.save` and `np.savez` write lowercase
    /// extensions), where [`Container::of_path`], for a file the user
    /// names, ignores case.
    pub fn of_name(name: &str) -> Option<(&str, Container)> {
        if let Some(stem) = name.strip_suffix(".npy") {
            Some((stem, Container::Npy))
        } else {
            name.strip_suffix(".npz").map(|stem| (stem, Container::Npz))
        }
    }

    /// The format of a file by its extension (case-insensitive).
    pub fn of_path(path: &Path) -> Result<Container, ReadError> {
        let ext = path
            .extension()
            .map(|e| e.to_string_lossy().to_ascii_lowercase());
        let fail = match ext.as_deref() {
            Some("npy") => return Ok(Container::Npy),
            Some("npz") => return Ok(Container::Npz),
            Some(other) => Fail::Unsupported(format!(
                "unknown extension '.{other}' (expected .npy or .npz)"
            )),
            None => Fail::Unsupported("no file extension (expected .npy or .npz)".into()),
        };
        Err(fail.at(path))
    }

    /// The readiness check: every header parsed and its promised length
    /// compared with the file's, reading no data. A file shorter than
    /// promised is [`ReadError::Incomplete`] ("not ready yet"). Returns the
    /// arrays the headers describe, in file order.
    ///
    /// Any float or integer dtype and any rank pass here (the check does not
    /// know whether the file holds embeddings or labels); the readers apply
    /// their stricter rules when the file is read.
    pub fn probe(self, path: &Path) -> Result<Vec<ArrayInfo>, ReadError> {
        regular(path)?;
        self.headers(path)
    }

    /// [`Container::probe`] once the caller has checked the file type.
    fn headers(self, path: &Path) -> Result<Vec<ArrayInfo>, ReadError> {
        self.open_headers(path, Want::Number, None)
            .map(|(arrays, _)| arrays)
    }

    /// Open `path` as this format and check every header against the
    /// file's length, leaving the source ready to decode.
    fn open_headers(
        self,
        path: &Path,
        want: Want,
        rank: Option<usize>,
    ) -> Result<(Vec<ArrayInfo>, Source), ReadError> {
        match self {
            Container::Npy => {
                let (file, plan) = open_npy(path, want, rank)?;
                let name = path
                    .file_stem()
                    .map(|s| s.to_string_lossy().into_owned())
                    .unwrap_or_default();
                let info = ArrayInfo {
                    name,
                    shape: plan.shape.clone(),
                    item_size: plan.dtype.size,
                };
                Ok((vec![info], Source::Npy { file, plan }))
            }
            Container::Npz => {
                let archive = npz::open(open(path)?, want, rank).map_err(|f| f.at(path))?;
                let arrays = archive
                    .entries
                    .iter()
                    .map(|(name, plan)| ArrayInfo {
                        name: name.clone(),
                        shape: plan.shape.clone(),
                        item_size: plan.dtype.size,
                    })
                    .collect();
                Ok((arrays, Source::Npz(archive)))
            }
        }
    }
}

/// What a path is, before its name is looked at: "is a directory" says
/// more than "no file extension".
fn regular(path: &Path) -> Result<(), ReadError> {
    match std::fs::metadata(path) {
        Ok(m) if !m.is_file() => Err(ReadError::NotAFile {
            path: path.to_path_buf(),
            what: file_kind(m.file_type()),
        }),
        _ => Ok(()),
    }
}

/// Open a regular file for reading without ever blocking: a FIFO or a
/// device is refused by its type before it is opened (and opened with
/// O_NONBLOCK in case it was swapped in between, then refused by fstat).
fn open(path: &Path) -> Result<File, ReadError> {
    let io = |error| ReadError::Io {
        path: path.to_path_buf(),
        error,
    };
    let not_a_file = |t: std::fs::FileType| ReadError::NotAFile {
        path: path.to_path_buf(),
        what: file_kind(t),
    };
    let meta = std::fs::metadata(path).map_err(io)?;
    if !meta.is_file() {
        return Err(not_a_file(meta.file_type()));
    }
    let mut options = std::fs::OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::custom_flags(&mut options, libc::O_NONBLOCK);
    let file = options.open(path).map_err(io)?;
    let meta = file.metadata().map_err(io)?;
    if !meta.is_file() {
        return Err(not_a_file(meta.file_type()));
    }
    Ok(file)
}

/// "a directory", "a FIFO", ... for a file type that is not a regular file.
fn file_kind(t: std::fs::FileType) -> &'static str {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if t.is_fifo() {
            return "a FIFO";
        }
        if t.is_char_device() {
            return "a character device";
        }
        if t.is_block_device() {
            return "a block device";
        }
        if t.is_socket() {
            return "a socket";
        }
    }
    if t.is_dir() {
        "a directory"
    } else {
        "not a regular file"
    }
}

/// Open an `.npy` file and validate its header against its length; the
/// file is left positioned at the start of the data. A header promising
/// more than the file's filesystem could ever hold is corrupt, not
/// "still being written".
fn open_npy(path: &Path, want: Want, rank: Option<usize>) -> Result<(File, Plan), ReadError> {
    let at = |f: Fail| f.at(path);
    let mut file = open(path)?;
    let len = file.metadata().map_err(Fail::Io).map_err(at)?.len();
    let plan = match npy::plan(&mut file, len, want, rank) {
        Err(Fail::Short { have, promised }) => {
            return Err(at(match filesystem_capacity(path) {
                Some(cap) if promised > cap => Fail::Corrupt(format!(
                    "header promises {promised} bytes, more than its filesystem holds ({cap} bytes)"
                )),
                _ => Fail::Incomplete(format!("file has {have} bytes, header promises {promised}")),
            }))
        }
        other => other.map_err(at)?,
    };
    Ok((file, plan))
}

/// Total bytes of the filesystem holding `path`, when the OS says.
fn filesystem_capacity(path: &Path) -> Option<u64> {
    #[cfg(unix)]
    {
        use std::os::unix::ffi::OsStrExt;
        let c = std::ffi::CString::new(path.as_os_str().as_bytes()).ok()?;
        // SAFETY: `c` is a valid NUL-terminated path and `buf` a writable statvfs.
        let mut buf: libc::statvfs = unsafe { std::mem::zeroed() };
        if unsafe { libc::statvfs(c.as_ptr(), &mut buf) } != 0 {
            return None;
        }
        #[allow(clippy::unnecessary_cast)]
        let (blocks, size) = (buf.f_blocks as u64, buf.f_frsize as u64);
        blocks.checked_mul(size).filter(|&c| c > 0)
    }
    #[cfg(not(unix))]
    {
        let _ = path;
        None
    }
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
    /// The stream holds `have` bytes and its header promises `promised`.
    Short {
        have: u64,
        promised: u64,
    },
    Incomplete(String),
    Corrupt(String),
    Unsupported(String),
}

impl Fail {
    fn at(self, path: &Path) -> ReadError {
        let path = path.to_path_buf();
        match self {
            Fail::Io(error) => ReadError::Io { path, error },
            Fail::Short { have, promised } => ReadError::Incomplete {
                path,
                detail: format!("file has {have} bytes, header promises {promised}"),
            },
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
            Fail::Short { have, promised } => Fail::Corrupt(format!(
                "entry '{entry}': has {have} bytes, header promises {promised}"
            )),
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
        match read_labels(&npz, 1 << 20) {
            Err(ReadError::Unsupported { path, detail }) => {
                assert_eq!(path, npz);
                assert!(detail.contains(".npz"), "{detail}");
            }
            other => panic!("expected Unsupported, got {other:?}"),
        }
        let upper = dir.path().join("Y.NPY");
        write::write_atomic(&upper, &write::npy_bytes_i64(&[2, -5])).unwrap();
        assert_eq!(read_labels(&upper, 1 << 20).ok(), Some(vec![2, -5]));
    }

    #[test]
    fn milestone_names_match_as_written_and_user_paths_ignore_case() {
        assert_eq!(Container::of_name("20.npz"), Some(("20", Container::Npz)));
        assert_eq!(Container::of_name("h.npy"), Some(("h", Container::Npy)));
        assert_eq!(Container::of_name("20.NPZ"), None);
        assert_eq!(Container::of_name("notes.txt"), None);
        assert_eq!(Container::of_name("npy"), None);
        assert_eq!(
            Container::of_path(Path::new("a/Y.NPY")).ok(),
            Some(Container::Npy)
        );
        assert_eq!(
            Container::of_path(Path::new("e.Npz")).ok(),
            Some(Container::Npz)
        );
        let e = Container::of_path(Path::new("/r/x.txt")).unwrap_err();
        assert_eq!(
            e.to_string(),
            "/r/x.txt: unsupported: unknown extension '.txt' (expected .npy or .npz)"
        );
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
