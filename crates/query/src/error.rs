//! The query crate's error type: syntax, semantic and complexity errors in the spec's vocabulary.

use std::fmt;

use rigel_model::ErrorKind;

/// Which query language an error is about, named as the request parameter that carries it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Language {
    /// `q` (clause 4.9).
    Q,
    /// `type` (clause 4.17).
    EntityType,
    /// `scopeQ` (clause 4.19).
    Scope,
    /// `georel` / `geometry` / `coordinates` (clause 4.10).
    Geo,
    /// `orderBy` (clause 4.23).
    OrderBy,
    /// `idPattern`.
    IdPattern,
    /// `aggrMethods` (clause 4.5.19).
    AggrMethods,
    /// `aggrPeriodDuration` (clause 4.5.19).
    AggrPeriod,
}

impl fmt::Display for Language {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Q => "q",
            Self::EntityType => "type",
            Self::Scope => "scopeQ",
            Self::Geo => "geoQ",
            Self::OrderBy => "orderBy",
            Self::IdPattern => "idPattern",
            Self::AggrMethods => "aggrMethods",
            Self::AggrPeriod => "aggrPeriodDuration",
        })
    }
}

/// A query that cannot be run. Positions are character offsets (0-based) in the input.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QueryError {
    /// The text does not follow the language's grammar.
    #[error("invalid {language}: {message} at position {position} (found {found})")]
    Syntax {
        language: Language,
        position: usize,
        /// The offending token as written, or `end of input`.
        found: String,
        message: String,
    },
    /// The text is well formed but means nothing valid (a bad geometry, a bad regex, ...).
    #[error("invalid {language}: {message}")]
    Invalid { language: Language, message: String },
    /// The query exceeds a bound that protects the broker (length, nesting, terms, regex size).
    #[error("{language} is too complex: {message}")]
    TooComplex { language: Language, message: String },
    /// Well formed, but a use of it the broker does not run (yet), said rather than ignored.
    #[error("{language}: {message}")]
    Unsupported { language: Language, message: String },
}

impl QueryError {
    /// The error kind of clause 5.5.2: `BadRequestData`, or `TooComplexQuery` for queries
    /// over the broker's bounds.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Self::Syntax { .. } | Self::Invalid { .. } => ErrorKind::BadRequestData,
            Self::TooComplex { .. } => ErrorKind::TooComplexQuery,
            Self::Unsupported { .. } => ErrorKind::OperationNotSupported,
        }
    }

    /// The language the error is about.
    pub fn language(&self) -> Language {
        match self {
            Self::Syntax { language, .. }
            | Self::Invalid { language, .. }
            | Self::TooComplex { language, .. }
            | Self::Unsupported { language, .. } => *language,
        }
    }

    /// The character offset of a syntax error.
    pub fn position(&self) -> Option<usize> {
        match self {
            Self::Syntax { position, .. } => Some(*position),
            _ => None,
        }
    }

    /// A use the broker does not support, answered `OperationNotSupported`.
    pub fn unsupported(language: Language, message: impl Into<String>) -> Self {
        Self::Unsupported {
            language,
            message: message.into(),
        }
    }

    pub(crate) fn invalid(language: Language, message: impl Into<String>) -> Self {
        Self::Invalid {
            language,
            message: message.into(),
        }
    }

    pub(crate) fn too_complex(language: Language, message: impl Into<String>) -> Self {
        Self::TooComplex {
            language,
            message: message.into(),
        }
    }
}
