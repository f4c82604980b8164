//! The one error of the files gearboxd reads at start and on SIGHUP (the access list, the
//! configuration file): which file, and why it cannot be used. Only the type lives here.

use std::path::{Path, PathBuf};

/// A file that cannot be used; the message names it and says why.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FileError {
    /// The file could not be read.
    #[error("{path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file's content is not valid.
    #[error("{path}: {detail}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong, with its line where known.
        detail: String,
    },
}

impl FileError {
    /// Read `path` whole.
    pub fn read(path: &Path) -> Result<String, FileError> {
        std::fs::read_to_string(path).map_err(|source| FileError::Read {
            path: path.to_owned(),
            source,
        })
    }

    /// `path` holds something invalid.
    pub fn invalid(path: &Path, detail: impl Into<String>) -> FileError {
        FileError::Invalid {
            path: path.to_owned(),
            detail: detail.into(),
        }
    }
}
