//! What the broker tells about a stored @context (clauses 5.13.1, 5.13.3.5): its kind and
//! its metadata.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};

use crate::error::JsonLdError;

/// The kinds of stored @contexts (clause 5.13.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum ContextKind {
    /// A copy of a remote @context, downloaded while resolving requests; used as a cache,
    /// never served.
    Cached,
    /// Added by a client with Add @context; served on demand.
    Hosted,
    /// Created by the broker itself for a client request (e.g. a subscription's @context
    /// array that notifications must link to); served on demand.
    ImplicitlyCreated,
}

impl ContextKind {
    /// The name the spec gives the kind.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Cached => "Cached",
            Self::Hosted => "Hosted",
            Self::ImplicitlyCreated => "ImplicitlyCreated",
        }
    }

    /// Whether the broker serves the content of @contexts of this kind (clause 5.13.4.4).
    pub fn is_served(self) -> bool {
        !matches!(self, Self::Cached)
    }
}

impl fmt::Display for ContextKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ContextKind {
    type Err = JsonLdError;

    /// The spec's names, exactly; anything else is `BadRequestData`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "Cached" => Ok(Self::Cached),
            "Hosted" => Ok(Self::Hosted),
            "ImplicitlyCreated" => Ok(Self::ImplicitlyCreated),
            other => Err(JsonLdError::NotAllowed(format!(
                "{other:?} is not a kind of @context: Cached, Hosted or ImplicitlyCreated"
            ))),
        }
    }
}

/// The metadata of one stored @context (clause 5.13.3.5), as of when it was read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContextInfo {
    /// The broker's identifier of the entry (a URI).
    pub local_id: String,
    pub kind: ContextKind,
    /// Where a Cached @context was downloaded from. `None` for the @contexts this broker
    /// serves: their URL depends on the name under which clients reach the broker.
    pub origin: Option<String>,
    /// When this copy was stored (a Cached one: downloaded).
    pub created_at: DateTime<Utc>,
    /// When a Cached copy stops being used (it is then downloaded again).
    pub expires_at: Option<DateTime<Utc>>,
    /// The last time a request's @context used the entry.
    pub last_usage: Option<DateTime<Utc>>,
    /// How many times a request's @context named the entry and found it stored.
    pub number_of_hits: u64,
    /// Free text about the entry, for people.
    pub extra_info: Option<String>,
}

impl ContextInfo {
    /// The URL of the @context: a Cached one's origin, or `{served_at}/{localId}` for the
    /// ones this broker serves, where `served_at` is the absolute URL of the
    /// `/jsonldContexts` resource as the client reached it.
    pub fn url(&self, served_at: &str) -> String {
        match &self.origin {
            Some(origin) => origin.clone(),
            None => format!("{}/{}", served_at.trim_end_matches('/'), self.local_id),
        }
    }
}
