//! Errors of the trainer, typed where they are made.

use std::path::PathBuf;

/// Everything that can stop a training run.
#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    /// Settings that cannot work together (checked before anything runs).
    #[error("{0}")]
    Config(String),
    /// A data file or directory that is missing, short or malformed.
    #[error("{}: {problem}", path.display())]
    Data { path: PathBuf, problem: String },
    /// Reading or writing a file of the run failed.
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A checkpoint or `run.json` that cannot be used to resume.
    #[error("{}: {problem}", path.display())]
    Resume { path: PathBuf, problem: String },
    /// An error raised by libtorch.
    #[error("libtorch: {0}")]
    Torch(#[from] tch::TchError),
}

impl TrainError {
    pub(crate) fn data(path: impl Into<PathBuf>, problem: impl Into<String>) -> Self {
        TrainError::Data {
            path: path.into(),
            problem: problem.into(),
        }
    }

    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        TrainError::Io {
            path: path.into(),
            source,
        }
    }

    pub(crate) fn resume(path: impl Into<PathBuf>, problem: impl Into<String>) -> Self {
        TrainError::Resume {
            path: path.into(),
            problem: problem.into(),
        }
    }

    /// True for problems with what the user gave (settings, data, run
    /// directory), which the binary reports with exit code 2.
    pub fn is_bad_input(&self) -> bool {
        !matches!(self, TrainError::Torch(_) | TrainError::Io { .. })
    }
}
