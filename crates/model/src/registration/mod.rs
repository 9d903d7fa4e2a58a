//! The Context Source Registration (clause 5.2.9) as the broker keeps it: names expanded to
//! IRIs, members the client wrote kept as written where they are rendered back as written,
//! and the forwarding status.
//!
//! Parsing and validation are in `parse`, rendering in `render`, the operation names and
//! groups of clause 4.20 in `operations`. Matching registrations against requests (clause
//! 5.12) belongs to the query crate; storing them to the storage contract.

pub mod operations;
pub mod parse;
pub mod render;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

pub use crate::subscription::KeyValuePair;

/// One entity selector of a registration (clause 5.2.8): an id wins over an id pattern.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EntityInfo {
    pub id: Option<String>,
    pub id_pattern: Option<String>,
    /// Expanded type IRIs; at least one.
    pub types: Vec<String>,
    /// Whether `type` was written as an array (it reads back the same way).
    pub type_list: bool,
}

/// What a registration says its source holds (clause 5.2.10): at least one member.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct RegistrationInfo {
    pub entities: Option<Vec<EntityInfo>>,
    /// Expanded IRIs.
    pub property_names: Option<Vec<String>>,
    /// Expanded IRIs.
    pub relationship_names: Option<Vec<String>>,
}

/// A time interval (clause 5.2.11); no end is an open interval. The instants are kept as
/// written too, which is how they read back.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TimeInterval {
    pub start_at: DateTime<Utc>,
    pub end_at: Option<DateTime<Utc>>,
    pub start_text: String,
    pub end_text: Option<String>,
}

/// How requests are shared between the broker and the source (clause 4.3.6.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum Mode {
    #[default]
    Inclusive,
    Exclusive,
    Redirect,
    Auxiliary,
}

impl Mode {
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Inclusive => "inclusive",
            Mode::Exclusive => "exclusive",
            Mode::Redirect => "redirect",
            Mode::Auxiliary => "auxiliary",
        }
    }

    pub fn parse(s: &str) -> Option<Mode> {
        [
            Mode::Inclusive,
            Mode::Exclusive,
            Mode::Redirect,
            Mode::Auxiliary,
        ]
        .into_iter()
        .find(|m| m.as_str() == s)
    }
}

/// How the broker may call the source (clause 5.2.34).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ManagementInfo {
    pub local_only: Option<bool>,
    /// Milliseconds before a forwarded request counts as failed.
    pub timeout: Option<f64>,
    /// Milliseconds after a failure during which the source is not called.
    pub cooldown: Option<f64>,
    /// An ISO 8601 duration, as written.
    pub cache_duration: Option<String>,
}

/// The outcome of forwarding to the source (Table 5.2.9-2): read-only members.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ForwardingStatus {
    pub times_sent: u64,
    pub times_failed: u64,
    pub last_success: Option<DateTime<Utc>>,
    pub last_failure: Option<DateTime<Utc>>,
}

impl ForwardingStatus {
    /// Adds what `more` counted (forwarded by another broker, or since the last save): the
    /// counts add up, the times are the later of the two.
    pub fn absorb(&mut self, more: &ForwardingStatus) {
        self.times_sent = self.times_sent.saturating_add(more.times_sent);
        self.times_failed = self.times_failed.saturating_add(more.times_failed);
        self.last_success = self.last_success.max(more.last_success);
        self.last_failure = self.last_failure.max(more.last_failure);
    }
}

/// A Context Source Registration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Registration {
    pub id: String,
    pub registration_name: Option<String>,
    pub description: Option<String>,
    pub information: Vec<RegistrationInfo>,
    /// The tenant to use at the source (not the one the registration lives in).
    pub tenant: Option<String>,
    pub observation_interval: Option<TimeInterval>,
    pub management_interval: Option<TimeInterval>,
    /// GeoJSON geometries, as written.
    pub location: Option<Value>,
    pub observation_space: Option<Value>,
    pub operation_space: Option<Value>,
    pub expires_at: Option<DateTime<Utc>>,
    /// `expiresAt` as written, which is how it reads back.
    pub expires_at_text: Option<String>,
    pub endpoint: String,
    pub context_source_info: Option<Vec<KeyValuePair>>,
    pub context_source_alias: Option<String>,
    /// A string or an array of strings, as written.
    pub scope: Option<Value>,
    /// `None`: not written (the default, inclusive).
    pub mode: Option<Mode>,
    /// Operation and group names as written (clause 4.20); `None`: not written.
    pub operations: Option<Vec<String>>,
    pub refresh_rate: Option<String>,
    pub management: Option<ManagementInfo>,
    /// `@none` stands for the default instance.
    pub dataset_id: Option<Vec<String>>,
    /// Other members (Context Source Properties), by expanded name, values as written.
    pub properties: BTreeMap<String, Value>,
    pub created_at: DateTime<Utc>,
    pub modified_at: DateTime<Utc>,
    pub status: ForwardingStatus,
}

impl Registration {
    /// The mode, the default when not written.
    pub fn mode(&self) -> Mode {
        self.mode.unwrap_or_default()
    }

    /// The operations the source accepts, groups expanded: the default when not written
    /// (`federationOps`; `retrieveOps` for an auxiliary registration, which may only serve
    /// retrievals).
    pub fn operation_set(&self) -> std::collections::BTreeSet<operations::Operation> {
        match &self.operations {
            Some(names) => operations::expand(names),
            None if self.mode() == Mode::Auxiliary => operations::expand(&["retrieveOps"]),
            None => operations::expand(&["federationOps"]),
        }
    }

    /// Whether the registration has expired at `now`.
    pub fn expired(&self, now: DateTime<Utc>) -> bool {
        self.expires_at.is_some_and(|at| at <= now)
    }
}
