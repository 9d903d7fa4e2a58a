//! The crate's error type and its mapping to the NGSI-LD error vocabulary.

use rigel_model::ErrorKind;

/// Why an @context could not be resolved.
///
/// The split follows clause 5.5.6: a remote @context that cannot be *retrieved* is
/// `LdContextNotAvailable`; an @context that was obtained but is *invalid* is
/// `BadRequestData`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JsonLdError {
    /// A remote @context could not be retrieved: unreachable host, connection refused,
    /// non-2xx status, timeout, too many redirects, body over the size cap, or a body
    /// that is not JSON at all (an HTML error page is a failed retrieval, not a context).
    #[error("the JSON-LD @context at {url} is not available: {reason}")]
    NotAvailable { url: String, reason: String },

    /// The @context (inline, or fetched from a URL) is not a valid JSON-LD context:
    /// wrong JSON type, no `@context` member in a fetched document, an invalid term
    /// definition, an invalid IRI mapping, a relative context URL, ...
    #[error("invalid JSON-LD @context: {0}")]
    Invalid(String),

    /// A fault of the broker itself (e.g. the HTTP client could not be built).
    #[error("JSON-LD @context processing failed: {0}")]
    Internal(String),
}

impl JsonLdError {
    /// The NGSI-LD error type this error is reported as.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Self::NotAvailable { .. } => ErrorKind::LdContextNotAvailable,
            Self::Invalid(_) => ErrorKind::BadRequestData,
            Self::Internal(_) => ErrorKind::InternalError,
        }
    }

    pub(crate) fn not_available(url: &str, reason: impl Into<String>) -> Self {
        Self::NotAvailable {
            url: url.to_owned(),
            reason: reason.into(),
        }
    }
}
