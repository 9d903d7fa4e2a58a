//! Storage traits: what the broker needs from any backend (embedded, PostgreSQL, ...).
//!
//! Writes use optimistic concurrency: every stored entity carries a version, and a write
//! states what it expects to find (absent, a version). The broker reads, computes the new
//! entity and writes with the version it read; on `Conflict` it re-reads and retries.
//! A write is acknowledged only when it is durable.

use std::sync::Arc;

use async_trait::async_trait;
use rigel_model::{Entity, ErrorKind, Tenant};
use rigel_query::{EntityQuery, OrderBy};

mod changes;
mod history;
mod observe;
mod outbox;
pub mod plan;
mod registrations;
mod shared;
mod subscriptions;
#[cfg(feature = "testkit")]
pub mod testkit;

pub use changes::{ChangeEvent, ChangeListener};
pub use history::{
    filed_micros, instance_id, select_instances, trimmed, DatasetSelector, EntityHistory,
    EntitySamples, FiledInstance, HistoryChange, HistoryHeader, HistoryQuery, Instance,
    NewInstance, Sample, TimeProperty, TimeRange, INSTANCE_ID_PREFIX,
};
pub use observe::{BackendCounters, BackendHealth, StoreObserver};
pub use outbox::Outbox;
pub use registrations::RegistrationStore;
pub use shared::{FeedSink, Held, SharedBackend, SharedContexts, SubscriptionKey};
pub use subscriptions::SubscriptionStore;

/// A stored entity with the version it was read at.
#[derive(Debug, Clone, PartialEq)]
pub struct Versioned<T> {
    pub version: u64,
    pub value: T,
}

/// What a write expects to find in the store before it applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expect {
    /// The entity must not exist (create).
    Absent,
    /// The entity must exist at exactly this version.
    Version(u64),
    /// No precondition.
    Any,
}

/// One write in a commit. Writes in one commit are applied in order, each checked on its
/// own; they share one durable sync. Ops live briefly in small vectors, so the size gap
/// between variants does not matter.
#[derive(Debug, Clone, PartialEq)]
#[allow(clippy::large_enum_variant)]
pub enum WriteOp {
    Put {
        entity: Entity,
        expect: Expect,
    },
    Delete {
        id: String,
        expect: Expect,
    },
    /// A change to the history of an entity. With `with_previous`, it applies only if the op
    /// just before it in the commit applied (the entity write it records), and is a
    /// `Conflict` otherwise. A change that finds nothing to act on (no history to forget, no
    /// such attribute or instance) is a `Conflict` too, and writes nothing.
    Record {
        change: HistoryChange,
        with_previous: bool,
    },
    /// Notes a change in the backend's outbox ([`Outbox`]) in the same durable commit as
    /// the write it records: the nearest `Put` or `Delete` before it (history records in
    /// between aside). Applied only when that write applied, with the note's sequence
    /// number as its version; a `Conflict` otherwise. A backend without an outbox applies
    /// it as nothing (version 0).
    Note {
        event: ChangeEvent,
    },
}

/// The outcome of one write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteOutcome {
    /// Applied; the entity's new version (0 for a delete).
    Applied { version: u64 },
    /// The expectation did not hold; nothing was written for this op.
    Conflict,
}

/// Where a selection draws its candidate entities from; candidates come in id order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// Every entity of the tenant.
    All,
    /// The entities whose id starts with this prefix (the literal prefix of an id pattern).
    IdPrefix(String),
    /// The entities with these ids (any order, duplicates allowed; absent ones are skipped).
    Ids(Vec<String>),
    /// The entities having at least one of these (expanded) types, each entity once.
    Types(Vec<String>),
}

/// Whether q's linked-entity terms (`rel{attr}`) are evaluated or taken to match.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Links {
    /// Without the linked entities at hand such terms do not match.
    #[default]
    Evaluate,
    /// Such terms are taken to match: a superset of the matches, from which a caller
    /// that fetches the linked entities keeps the real ones.
    Assume,
}

/// A declarative query over the store: the entities `query` selects, in id order (or in
/// `order`), with an id after `after` (id order only); `offset` of them skipped, at most
/// `limit` returned. A backend picks its candidates from whatever index serves the query
/// and evaluates the whole query on them.
#[derive(Debug, Clone)]
pub struct Selection {
    pub query: Arc<EntityQuery>,
    pub links: Links,
    /// The order of the result; `None` is id order. A backend that cannot read the order
    /// from an index sorts every match, and fails with [`StorageError::TooManyToSort`]
    /// beyond [`plan::MAX_SORTED_MATCHES`].
    pub order: Option<Arc<OrderBy>>,
    /// Only ids strictly greater than this (keyset paging in id order: resumes after the
    /// last id seen, unaffected by writes before it). Not combined with `order`.
    pub after: Option<String>,
    pub offset: usize,
    pub limit: usize,
    /// Also count every match (which visits every candidate, not just the first page).
    pub count: bool,
    /// The most memory the entities a backend holds for this selection may take at once,
    /// by [`Entity::footprint`]: the page, or every match when it sorts them. Beyond it the
    /// selection fails with [`StorageError::TooLarge`] (clause 4.12). `None`: no bound.
    pub max_bytes: Option<usize>,
}

impl Selection {
    /// The first `limit` matches of `query` in id order.
    pub fn new(query: Arc<EntityQuery>, limit: usize) -> Self {
        Self {
            query,
            links: Links::Evaluate,
            order: None,
            after: None,
            offset: 0,
            limit,
            count: false,
            max_bytes: None,
        }
    }

    /// Whether an entity is one of the selection's matches (order and paging aside).
    pub fn matches(&self, entity: &Entity) -> bool {
        match self.links {
            Links::Evaluate => self.query.matches(entity),
            Links::Assume => self.query.matches_assuming_links(entity),
        }
    }
}

/// What [`EntityStore::visit`] calls for every entity a query selects.
pub type Visitor = Box<dyn FnMut(&Entity) + Send>;

/// The result of a [`Selection`].
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Selected {
    /// The page of matches, in id order. Shared: a backend may hand out the entities it keeps
    /// in memory without copying them.
    pub entities: Vec<Versioned<Arc<Entity>>>,
    /// The number of matches in all, when the selection asked for a count.
    pub total: Option<usize>,
}

/// Errors of the storage layer.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("storage I/O failed: {0}")]
    Io(String),
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    #[error("the store is shutting down")]
    Closed,
    #[error("more than {0} entities match an ordered selection")]
    TooManyToSort(usize),
    /// The entities a selection would hold take more than this many bytes of memory.
    #[error("the matching entities take more than {0} bytes of memory")]
    TooLarge(usize),
    /// The backend cannot be reached or did not answer in time; the request may succeed
    /// when retried later (a server database that is down, failing over or overloaded).
    #[error("the database is unavailable: {0}")]
    Unavailable(String),
}

impl StorageError {
    /// Whether a later retry of the same request may succeed.
    pub fn is_retryable(&self) -> bool {
        matches!(self, Self::Unavailable(_))
    }

    pub fn kind(&self) -> ErrorKind {
        match self {
            Self::TooManyToSort(_) | Self::TooLarge(_) => ErrorKind::TooManyResults,
            _ => ErrorKind::InternalError,
        }
    }
}

/// Entity storage, per tenant.
#[async_trait]
pub trait EntityStore: Send + Sync + 'static {
    /// Reads one entity by id.
    async fn get(
        &self,
        tenant: &Tenant,
        id: &str,
    ) -> Result<Option<Versioned<Entity>>, StorageError>;

    /// Applies the writes in order and returns one outcome per write, after every applied
    /// write is durable. Concurrent commits may be grouped into one sync.
    async fn commit(
        &self,
        tenant: &Tenant,
        ops: Vec<WriteOp>,
    ) -> Result<Vec<WriteOutcome>, StorageError>;

    /// Whether the tenant has ever been written to. The default tenant always exists.
    async fn tenant_exists(&self, tenant: &Tenant) -> Result<bool, StorageError>;

    /// Every tenant that exists: the default tenant first, then the named ones by name.
    async fn tenants(&self) -> Result<Vec<Tenant>, StorageError>;

    /// Ids of the entities of a tenant having one of the given (expanded) types, in id order,
    /// starting after `after`, at most `limit`. The basis of type-driven queries.
    async fn ids_by_type(
        &self,
        tenant: &Tenant,
        type_iri: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<String>, StorageError>;

    /// Reads several entities at once, one result per requested id, in request order.
    /// Backends override this to read them all in one snapshot.
    async fn get_many(
        &self,
        tenant: &Tenant,
        ids: &[String],
    ) -> Result<Vec<Option<Versioned<Entity>>>, StorageError> {
        let mut found = Vec::with_capacity(ids.len());
        for id in ids {
            found.push(self.get(tenant, id).await?);
        }
        Ok(found)
    }

    /// Runs a selection: the query is evaluated next to the data, and only the requested
    /// page leaves the backend.
    async fn select(&self, tenant: &Tenant, selection: Selection)
        -> Result<Selected, StorageError>;

    /// Calls `visitor` with every entity `query` selects, in id order, inside the backend's
    /// read, and returns how many there were: what discovery reads without holding the
    /// entities.
    async fn visit(
        &self,
        tenant: &Tenant,
        query: Arc<EntityQuery>,
        visitor: Visitor,
    ) -> Result<usize, StorageError>;

    /// The distinct entity types in use in a tenant, in IRI order.
    async fn types_in_use(&self, tenant: &Tenant) -> Result<Vec<String>, StorageError>;

    /// The header of an entity's history, if it has one.
    async fn history_header(
        &self,
        tenant: &Tenant,
        id: &str,
    ) -> Result<Option<HistoryHeader>, StorageError>;

    /// An entity's history as the query selects it; `None` when it has none.
    async fn history(
        &self,
        tenant: &Tenant,
        id: &str,
        query: &HistoryQuery,
    ) -> Result<Option<EntityHistory>, StorageError>;

    /// An entity's history as the query selects it, reduced to samples (deletions left
    /// out): what an aggregation reads. Backends override it to decode only that.
    async fn history_samples(
        &self,
        tenant: &Tenant,
        id: &str,
        query: &HistoryQuery,
    ) -> Result<Option<EntitySamples>, StorageError> {
        Ok(self
            .history(tenant, id, query)
            .await?
            .map(|h| EntitySamples::from_history(h, query.property)))
    }

    /// The headers of the entities having a history, drawn from `source`, in id order after
    /// `after`, at most `limit`.
    async fn history_headers(
        &self,
        tenant: &Tenant,
        source: &Source,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<HistoryHeader>, StorageError>;
}

/// What the server needs of a backend besides its data: readiness, counters and an orderly
/// close. The server holds its backend as a [`Store`], never as a concrete type.
#[async_trait]
pub trait Backend: Send + Sync + 'static {
    /// Whether the backend serves reads and writes (readiness).
    fn health(&self) -> BackendHealth;

    /// The backend's counters (for metrics).
    fn counters(&self) -> BackendCounters {
        BackendCounters::default()
    }

    /// Stops taking writes and finishes those in flight; later commits fail with
    /// [`StorageError::Closed`].
    async fn close(&self) -> Result<(), StorageError>;

    /// The backend's feed and leases when several processes may share it (a server
    /// database); `None` for a backend only one process uses, whose changes reach
    /// subscriptions straight from the writer.
    fn shared(&self) -> Option<&dyn SharedBackend> {
        None
    }

    /// The backend's outbox of changes not yet notified, when it keeps one (a backend one
    /// process uses, whose queued notifications must survive a crash); `None` otherwise.
    fn outbox(&self) -> Option<&dyn Outbox> {
        None
    }

    /// Where served @contexts are shared by the processes using this backend; `None` for a
    /// backend one process uses (they stay in its data directory).
    fn shared_contexts(&self) -> Option<&dyn SharedContexts> {
        None
    }
}

/// A complete backend: entities with their history, subscriptions, registrations, and what
/// the server needs to run it.
pub trait Store: EntityStore + SubscriptionStore + RegistrationStore + Backend {}

impl<T: EntityStore + SubscriptionStore + RegistrationStore + Backend> Store for T {}
