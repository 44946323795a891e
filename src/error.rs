//! One error type for the library, so the binary can turn any failure into one line for the user and
//! a documented exit code, and so a failing input can be told apart from a failing configuration: the
//! first costs that input only, the second stops the run before any work is done.

use std::path::{Path, PathBuf};

/// Exit code when every input was processed (warnings allowed).
pub const EXIT_OK: i32 = 0;
/// Exit code when at least one input could not be processed; the others still were.
pub const EXIT_INPUT_FAILED: i32 = 1;
/// Exit code for bad usage or configuration: nothing was processed.
pub const EXIT_USAGE: i32 = 2;

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An option value that cannot work (`--size 0x0`, `--every 0`, an unknown placeholder, ...).
    #[error("{option}: {message}")]
    Usage { option: String, message: String },

    /// The output folder cannot be created or written, or already holds a dataset.
    #[error("{}: {message}", path.display())]
    Output { path: PathBuf, message: String },

    /// One input (a video file) could not be read or decoded at all.
    #[error("{}: {message}", path.display())]
    Input { path: PathBuf, message: String },

    /// A file system operation failed on a path the tool owns (a frame, a record file).
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// The ONNX Runtime library cannot be found or loaded.
    #[error("{message}")]
    Runtime { message: String },

    /// A model file that cannot be used (missing, not ONNX, not an image model, inference failed).
    #[error("{}: {message}", path.display())]
    Model { path: PathBuf, message: String },

    /// Encoding a picture failed (out of memory, or an image of zero size that validation missed).
    #[error("{context}: {message}")]
    Image { context: String, message: String },
}

impl Error {
    pub fn usage(option: impl Into<String>, message: impl Into<String>) -> Self {
        Error::Usage {
            option: option.into(),
            message: message.into(),
        }
    }

    pub fn output(path: impl AsRef<Path>, message: impl Into<String>) -> Self {
        Error::Output {
            path: path.as_ref().to_path_buf(),
            message: message.into(),
        }
    }

    pub fn input(path: impl AsRef<Path>, message: impl Into<String>) -> Self {
        Error::Input {
            path: path.as_ref().to_path_buf(),
            message: message.into(),
        }
    }

    pub fn io(path: impl AsRef<Path>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.as_ref().to_path_buf(),
            source,
        }
    }

    /// The process exit code this error stands for when it ends a run.
    pub fn exit_code(&self) -> i32 {
        match self {
            Error::Usage { .. }
            | Error::Output { .. }
            | Error::Runtime { .. }
            | Error::Model { .. } => EXIT_USAGE,
            Error::Input { .. } | Error::Io { .. } | Error::Image { .. } => EXIT_INPUT_FAILED,
        }
    }
}
