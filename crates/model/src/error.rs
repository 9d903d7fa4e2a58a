//! The NGSI-LD error vocabulary (clause 5.5.2) and the model crate's own error type.

use std::fmt;

/// The error types of clause 5.5.2. Only `http-api` maps them to HTTP statuses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    AlreadyExists,
    BadRequestData,
    Conflict,
    InternalError,
    InvalidRequest,
    LdContextNotAvailable,
    NoMultiTenantSupport,
    NonexistentTenant,
    OperationNotSupported,
    ResourceNotFound,
    TooComplexQuery,
    TooManyResults,
}

impl ErrorKind {
    /// The short name used in the error type URI.
    pub fn name(self) -> &'static str {
        match self {
            Self::AlreadyExists => "AlreadyExists",
            Self::BadRequestData => "BadRequestData",
            Self::Conflict => "Conflict",
            Self::InternalError => "InternalError",
            Self::InvalidRequest => "InvalidRequest",
            Self::LdContextNotAvailable => "LdContextNotAvailable",
            Self::NoMultiTenantSupport => "NoMultiTenantSupport",
            Self::NonexistentTenant => "NonexistentTenant",
            Self::OperationNotSupported => "OperationNotSupported",
            Self::ResourceNotFound => "ResourceNotFound",
            Self::TooComplexQuery => "TooComplexQuery",
            Self::TooManyResults => "TooManyResults",
        }
    }

    /// The full error type URI, e.g. `https://uri.etsi.org/ngsi-ld/errors/BadRequestData`.
    pub fn type_uri(self) -> String {
        format!("https://uri.etsi.org/ngsi-ld/errors/{}", self.name())
    }

    /// A short human-readable title for ProblemDetails.
    pub fn title(self) -> &'static str {
        match self {
            Self::AlreadyExists => "Already exists",
            Self::BadRequestData => "Bad request data",
            Self::Conflict => "Conflict",
            Self::InternalError => "Internal error",
            Self::InvalidRequest => "Invalid request",
            Self::LdContextNotAvailable => "JSON-LD @context not available",
            Self::NoMultiTenantSupport => "No multi-tenant support",
            Self::NonexistentTenant => "Nonexistent tenant",
            Self::OperationNotSupported => "Operation not supported",
            Self::ResourceNotFound => "Resource not found",
            Self::TooComplexQuery => "Too complex query",
            Self::TooManyResults => "Too many results",
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A rejection in the spec's vocabulary: an error kind plus a detail for the client.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{kind}: {detail}")]
pub struct ModelError {
    pub kind: ErrorKind,
    pub detail: String,
}

impl ModelError {
    pub fn new(kind: ErrorKind, detail: impl Into<String>) -> Self {
        Self {
            kind,
            detail: detail.into(),
        }
    }

    pub fn bad_data(detail: impl Into<String>) -> Self {
        Self::new(ErrorKind::BadRequestData, detail)
    }

    pub fn invalid_request(detail: impl Into<String>) -> Self {
        Self::new(ErrorKind::InvalidRequest, detail)
    }

    pub fn not_found(detail: impl Into<String>) -> Self {
        Self::new(ErrorKind::ResourceNotFound, detail)
    }

    pub fn kind(&self) -> ErrorKind {
        self.kind
    }
}
