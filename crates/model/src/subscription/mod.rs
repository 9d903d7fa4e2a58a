//! The Subscription (clause 5.2.12) as the broker keeps it: names expanded to IRIs, query
//! texts kept as written with the term expansions they need, and the delivery status.
//!
//! Query languages (q, scopeQ, type expressions, geoQ) are checked and compiled by the
//! `query` crate; the model keeps their source text so a subscription reads back as written,
//! and `terms` freezes every term expansion they used at creation, so a stored subscription
//! compiles the same way after a restart without its @context being reachable.

pub mod parse;
#[cfg(test)]
mod registration_tests;
pub mod render;
#[cfg(test)]
mod tests;

use std::borrow::Cow;
use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::codec::render::Format;
use crate::TermMap;

/// One `entities` member (clause 5.2.33).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SubscribedEntities {
    pub id: Option<String>,
    pub id_pattern: Option<String>,
    /// The type selection as written (a term, an IRI or a type expression, clause 4.17).
    pub type_selection: String,
}

/// The reference geometry of a subscription's geoQ (clause 5.2.13), as written.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SubscriptionGeoQuery {
    pub geometry: String,
    /// A JSON array, or the same as a string (clause 4.7.1).
    pub coordinates: Value,
    pub georel: String,
    /// The expanded GeoProperty IRI; `None` means `location`.
    pub geoproperty: Option<String>,
}

/// What kind of change triggers a notification (clause 5.2.12 `notificationTrigger`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Trigger {
    EntityCreated,
    EntityUpdated,
    EntityDeleted,
    AttributeCreated,
    AttributeUpdated,
    AttributeDeleted,
}

impl Trigger {
    pub const ALL: [Trigger; 6] = [
        Trigger::EntityCreated,
        Trigger::EntityUpdated,
        Trigger::EntityDeleted,
        Trigger::AttributeCreated,
        Trigger::AttributeUpdated,
        Trigger::AttributeDeleted,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Trigger::EntityCreated => "entityCreated",
            Trigger::EntityUpdated => "entityUpdated",
            Trigger::EntityDeleted => "entityDeleted",
            Trigger::AttributeCreated => "attributeCreated",
            Trigger::AttributeUpdated => "attributeUpdated",
            Trigger::AttributeDeleted => "attributeDeleted",
        }
    }

    pub fn from_name(name: &str) -> Option<Trigger> {
        Trigger::ALL.into_iter().find(|t| t.name() == name)
    }
}

/// The media type of notification bodies (clause 5.2.15 `accept`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum NotificationMedia {
    #[default]
    Json,
    JsonLd,
    GeoJson,
}

impl NotificationMedia {
    pub fn mime(self) -> &'static str {
        match self {
            NotificationMedia::Json => "application/json",
            NotificationMedia::JsonLd => "application/ld+json",
            NotificationMedia::GeoJson => "application/geo+json",
        }
    }
}

/// A `{key, value}` pair of `receiverInfo` / `notifierInfo` (clause 5.2.22).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyValuePair {
    pub key: String,
    pub value: String,
}

/// Where and how notifications are delivered (clause 5.2.15).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Endpoint {
    /// `http://`, `https://`, `mqtt://` or `mqtts://`.
    pub uri: String,
    pub accept: NotificationMedia,
    /// Milliseconds before a delivery counts as failed.
    pub timeout_ms: Option<f64>,
    /// Milliseconds after a failure during which nothing is sent.
    pub cooldown_ms: Option<f64>,
    pub receiver_info: Vec<KeyValuePair>,
    pub notifier_info: Vec<KeyValuePair>,
}

/// Linked entity retrieval in notifications (clause 4.5.23).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Join {
    Flat,
    Inline,
}

/// How notifications are built (clause 5.2.14).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NotificationParams {
    /// Expanded attribute IRIs to include; `None` means all.
    pub attributes: Option<Vec<String>>,
    /// Entity members to keep / remove, as written (clause 4.21).
    pub pick: Option<Vec<String>>,
    pub omit: Option<Vec<String>>,
    pub format: Format,
    pub sys_attrs: bool,
    pub show_changes: bool,
    pub join: Option<Join>,
    pub join_level: Option<u32>,
    pub endpoint: Endpoint,
}

/// The outcome of the last delivery attempt (clause 5.2.14 `status`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum DeliveryOutcome {
    Ok,
    Failed,
}

/// The delivery counters of a subscription: read-only members the broker maintains.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DeliveryStatus {
    pub times_sent: u64,
    pub times_failed: u64,
    pub last_notification: Option<DateTime<Utc>>,
    pub last_success: Option<DateTime<Utc>>,
    pub last_failure: Option<DateTime<Utc>>,
    pub outcome: Option<DeliveryOutcome>,
    /// Notifications dropped because the subscription's queue was full (never silent:
    /// reported on the subscription and logged).
    pub lost: u64,
}

/// The status members of a subscription (clause 5.2.12 Table 5.2.12-2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SubscriptionStatus {
    Active,
    Paused,
    Expired,
}

impl SubscriptionStatus {
    pub fn name(self) -> &'static str {
        match self {
            SubscriptionStatus::Active => "active",
            SubscriptionStatus::Paused => "paused",
            SubscriptionStatus::Expired => "expired",
        }
    }
}

/// What a subscription is notified of: changes of entities (clause 5.8) or of Context
/// Source Registrations (clause 5.11).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum SubscriptionKind {
    #[default]
    Entities,
    Registrations,
}

/// The temporal query of a Context Source Registration Subscription (`temporalQ`, clause
/// 5.2.21), with its instants kept as written too, which is how they read back.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SubscriptionTemporalQuery {
    /// `before`, `after` or `between`.
    pub timerel: String,
    pub time_at: DateTime<Utc>,
    pub time_at_text: String,
    pub end_time_at: Option<DateTime<Utc>>,
    pub end_time_at_text: Option<String>,
    /// `observedAt`, `createdAt`, `modifiedAt` or `deletedAt`; `None`: not written
    /// (`observedAt`).
    pub timeproperty: Option<String>,
}

/// A context subscription, or a Context Source Registration Subscription.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Subscription {
    pub id: String,
    /// Entity subscription or registration subscription (stored before this member
    /// existed: entities).
    #[serde(default)]
    pub kind: SubscriptionKind,
    pub subscription_name: Option<String>,
    pub description: Option<String>,
    /// Empty when only `watchedAttributes` select.
    pub entities: Vec<SubscribedEntities>,
    /// Expanded IRIs; `None` watches every attribute.
    pub watched_attributes: Option<Vec<String>>,
    /// `None` is the default: attributeCreated and attributeUpdated.
    pub notification_trigger: Option<Vec<Trigger>>,
    pub q: Option<String>,
    pub geo_q: Option<SubscriptionGeoQuery>,
    pub scope_q: Option<String>,
    pub lang: Option<String>,
    /// `@none` stands for the default instance.
    pub dataset_id: Option<Vec<String>>,
    pub expand_values: Option<String>,
    pub json_keys: Option<String>,
    pub csf: Option<String>,
    pub local_only: Option<bool>,
    pub split_entities: Option<bool>,
    pub ngsild_conformance: Option<String>,
    pub expires_at: Option<DateTime<Utc>>,
    pub is_active: bool,
    /// Seconds.
    pub throttling: Option<f64>,
    /// Seconds; a periodic subscription.
    pub time_interval: Option<f64>,
    /// Registration subscriptions only: the temporal query registrations must meet.
    #[serde(default)]
    pub temporal_q: Option<SubscriptionTemporalQuery>,
    /// The @context URL notifications are compacted with.
    pub jsonld_context: String,
    /// Whether the client wrote `jsonldContext` (else it is the request's @context).
    #[serde(default)]
    pub jsonld_context_written: bool,
    /// Every term expansion the subscription's texts used, frozen at creation.
    pub terms: BTreeMap<String, String>,
    pub notification: NotificationParams,
    pub created_at: DateTime<Utc>,
    pub modified_at: DateTime<Utc>,
    pub delivery: DeliveryStatus,
    /// Who created the subscription, when the broker authenticates callers: notifications
    /// carry only what they may still read. Not part of the NGSI-LD representation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<Owner>,
}

/// The authenticated creator of a subscription: the token's subject and the roles it held.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Owner {
    pub subject: String,
    pub roles: Vec<String>,
}

/// The triggers a subscription without `notificationTrigger` has.
pub const DEFAULT_TRIGGERS: [Trigger; 2] = [Trigger::AttributeCreated, Trigger::AttributeUpdated];

impl Subscription {
    /// The subscription's status at `now` (clause 5.8.1.4): expired once `expiresAt` is past,
    /// else paused while inactive, else active.
    pub fn status(&self, now: DateTime<Utc>) -> SubscriptionStatus {
        match self.expires_at {
            Some(at) if at <= now => SubscriptionStatus::Expired,
            _ if !self.is_active => SubscriptionStatus::Paused,
            _ => SubscriptionStatus::Active,
        }
    }

    /// Whether the subscription fires on `trigger` (`entityUpdated` stands for the three
    /// attribute triggers).
    pub fn fires_on(&self, trigger: Trigger) -> bool {
        let triggers = self
            .notification_trigger
            .as_deref()
            .unwrap_or(&DEFAULT_TRIGGERS);
        triggers.contains(&trigger)
            || (matches!(
                trigger,
                Trigger::AttributeCreated | Trigger::AttributeUpdated | Trigger::AttributeDeleted
            ) && triggers.contains(&Trigger::EntityUpdated))
    }

    /// The frozen term expansions as a [`TermMap`] (for compiling the subscription's texts).
    pub fn frozen_terms(&self) -> FrozenTerms<'_> {
        FrozenTerms(&self.terms)
    }
}

/// Term expansions recorded at creation; a term not recorded expands to itself.
pub struct FrozenTerms<'a>(pub &'a BTreeMap<String, String>);

impl TermMap for FrozenTerms<'_> {
    fn expand<'a>(&'a self, term: &'a str) -> Cow<'a, str> {
        match self.0.get(term) {
            Some(iri) => Cow::Borrowed(iri),
            None => Cow::Borrowed(term),
        }
    }

    fn compact<'a>(&'a self, iri: &'a str) -> Cow<'a, str> {
        Cow::Borrowed(iri)
    }
}

/// A [`TermMap`] that records every expansion it makes, to freeze them in a subscription.
pub struct RecordingTerms<'t> {
    inner: &'t dyn TermMap,
    seen: std::sync::Mutex<BTreeMap<String, String>>,
}

impl<'t> RecordingTerms<'t> {
    pub fn new(inner: &'t dyn TermMap) -> Self {
        Self {
            inner,
            seen: std::sync::Mutex::new(BTreeMap::new()),
        }
    }

    /// The expansions made so far.
    pub fn into_recorded(self) -> BTreeMap<String, String> {
        self.seen.into_inner().unwrap_or_else(|p| p.into_inner())
    }
}

impl TermMap for RecordingTerms<'_> {
    fn expand<'a>(&'a self, term: &'a str) -> Cow<'a, str> {
        let iri = self.inner.expand(term).into_owned();
        if iri != term {
            let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
            seen.insert(term.to_owned(), iri.clone());
        }
        Cow::Owned(iri)
    }

    fn compact<'a>(&'a self, iri: &'a str) -> Cow<'a, str> {
        self.inner.compact(iri)
    }
}
