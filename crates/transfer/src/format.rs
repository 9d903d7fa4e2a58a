//! The export format: NDJSON, one JSON document per line. The first line is a [`Header`];
//! every other line is a [`Record`] naming its tenant. Entities, subscriptions and
//! registrations are written as the typed model serializes them (the form the MongoDB
//! backend stores them in), so that an export keeps everything a store holds: system
//! timestamps, datasetIds, frozen @context terms, delivery counters.

use chrono::{DateTime, Utc};
use rigel_model::registration::Registration;
use rigel_model::subscription::Subscription;
use rigel_model::{Attribute, Entity, Tenant};
use rigel_storage::{HistoryHeader, NewInstance};
use serde::{Deserialize, Serialize};

/// The `format` of the header line.
pub const FORMAT: &str = "rigel-export";
/// The version of the record layout this build writes and reads.
pub const VERSION: u32 = 1;
/// The most attribute instances one history record carries.
pub const HISTORY_CHUNK: usize = 500;

/// The first line of an export.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Header {
    pub format: String,
    pub version: u32,
    pub exported_at: DateTime<Utc>,
    /// What the records were read from (a store kind, a redacted URL).
    pub source: String,
}

impl Header {
    pub fn new(source: impl Into<String>, exported_at: DateTime<Utc>) -> Self {
        Header {
            format: FORMAT.to_owned(),
            version: VERSION,
            exported_at,
            source: source.into(),
        }
    }
}

/// One line after the header.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "camelCase")]
#[allow(clippy::large_enum_variant)]
pub enum Record {
    Entity {
        tenant: Tenant,
        entity: Entity,
    },
    /// Part of an entity's history: its header and up to [`HISTORY_CHUNK`] instances.
    History {
        tenant: Tenant,
        history: HistoryChunk,
    },
    Subscription {
        tenant: Tenant,
        subscription: Subscription,
    },
    Registration {
        tenant: Tenant,
        registration: Registration,
    },
}

impl Record {
    pub fn tenant(&self) -> &Tenant {
        match self {
            Record::Entity { tenant, .. }
            | Record::History { tenant, .. }
            | Record::Subscription { tenant, .. }
            | Record::Registration { tenant, .. } => tenant,
        }
    }
}

/// A header and some instances of one entity's history.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HistoryChunk {
    pub id: String,
    pub types: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<Vec<String>>,
    pub created_at: DateTime<Utc>,
    pub modified_at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deleted_at: Option<DateTime<Utc>>,
    pub instances: Vec<HistoryInstance>,
}

/// One recorded attribute instance. Its instance id is not kept: the importing store
/// assigns its own.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HistoryInstance {
    pub attribute: String,
    pub value: Attribute,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deleted_at: Option<DateTime<Utc>>,
}

impl HistoryChunk {
    /// A chunk of `header` with no instances yet.
    pub fn of(header: &HistoryHeader) -> Self {
        HistoryChunk {
            id: header.id.clone(),
            types: header.types.clone(),
            scope: header.scope.clone(),
            created_at: header.created_at,
            modified_at: header.modified_at,
            deleted_at: header.deleted_at,
            instances: Vec::new(),
        }
    }

    pub fn header(&self) -> HistoryHeader {
        HistoryHeader {
            id: self.id.clone(),
            types: self.types.clone(),
            scope: self.scope.clone(),
            created_at: self.created_at,
            modified_at: self.modified_at,
            deleted_at: self.deleted_at,
        }
    }

    pub fn new_instances(&self) -> Vec<NewInstance> {
        self.instances
            .iter()
            .map(|i| NewInstance {
                attribute: i.attribute.clone(),
                value: i.value.clone(),
                deleted_at: i.deleted_at,
            })
            .collect()
    }
}
