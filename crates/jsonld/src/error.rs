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

    /// A payload to store is not a JSON object with an `@context` member (clause 5.13.2.3):
    /// the request itself is malformed.
    #[error("{0}")]
    NotAContextDocument(String),

    /// No stored @context has this identifier (clauses 5.13.4.4, 5.13.5.4).
    #[error("no stored @context is identified by {0}")]
    UnknownContext(String),

    /// The content of a Cached @context is not served (clause 5.13.4.4).
    #[error("{0}")]
    NotServed(String),

    /// A request about a stored @context that the entry does not allow: an unknown kind,
    /// deleting the core @context, reloading an @context that is not Cached (5.13.5.4).
    #[error("{0}")]
    NotAllowed(String),

    /// The directory of stored @contexts could not be read or written.
    #[error("@context storage failed: {0}")]
    Storage(String),
}

impl JsonLdError {
    /// The NGSI-LD error type this error is reported as.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Self::NotAvailable { .. } => ErrorKind::LdContextNotAvailable,
            Self::Invalid(_) => ErrorKind::BadRequestData,
            Self::Internal(_) | Self::Storage(_) => ErrorKind::InternalError,
            Self::NotAContextDocument(_) => ErrorKind::InvalidRequest,
            Self::UnknownContext(_) => ErrorKind::ResourceNotFound,
            Self::NotServed(_) => ErrorKind::OperationNotSupported,
            Self::NotAllowed(_) => ErrorKind::BadRequestData,
        }
    }

    pub(crate) fn not_available(url: &str, reason: impl Into<String>) -> Self {
        Self::NotAvailable {
            url: url.to_owned(),
            reason: reason.into(),
        }
    }
}
