//! The load generator's error type.

use thiserror::Error;

#[derive(Debug, Error)]
pub enum BenchError {
    #[error("invalid --url {url:?}: {reason}")]
    Url { url: String, reason: String },
    #[error("invalid {what} {value:?}: {reason}")]
    Argument {
        what: &'static str,
        value: String,
        reason: String,
    },
    #[error("{context}: {message}")]
    Http { context: String, message: String },
    #[error("cannot read /proc for pid {pid}: {reason}")]
    Proc { pid: u32, reason: String },
}
