//! The error type shared by every kernel; the Python layer maps each variant to
//! its own exception class.
use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OpsError {
    /// Bad parameters or an image shape a kernel cannot take (Python `ValueError`).
    InvalidArgument(String),
    /// Corrupt, truncated or unsupported encoded image (Python `ImageDecodeError`).
    Decode(String),
    /// Declared dimensions above the caller's pixel limit (Python `ImageTooLargeError`).
    TooLarge(String),
}

pub type Result<T> = std::result::Result<T, OpsError>;

impl OpsError {
    pub fn invalid(message: impl Into<String>) -> Self {
        OpsError::InvalidArgument(message.into())
    }
}

impl fmt::Display for OpsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OpsError::InvalidArgument(m) | OpsError::Decode(m) | OpsError::TooLarge(m) => {
                f.write_str(m)
            }
        }
    }
}

impl std::error::Error for OpsError {}
