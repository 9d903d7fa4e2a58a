//! An in-memory backend of the storage contract: every tenant's entities, type index,
//! history, subscriptions and registrations in ordered maps behind one lock.
//!
//! * Commits take the write lock for the whole commit, so each is atomic and commits are
//!   serial; reads take the read lock and see one consistent state. Nothing awaits while
//!   holding the lock, so the async methods never block the runtime for long.
//! * "Durable when it returns" holds trivially: nothing survives the process.
//! * Layout: tenant, then id (`BTreeMap`s), so selections come in id order and the default
//!   tenant lists first; a type index per tenant; a store-wide version counter, so a version
//!   is never reused, not even by an entity deleted and created again.
//! * Semantics follow the embedded store (`rigel-storage-embedded`) where the contract leaves
//!   room: candidate sources, paging and counting in `select`, history filing and reads in
//!   `history`.

mod apply;
mod history;
mod select;
mod subscriptions;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};

use async_trait::async_trait;
use rigel_model::registration::Registration;
use rigel_model::subscription::Subscription;
use rigel_model::{Entity, Tenant};
use rigel_query::EntityQuery;
use rigel_storage::{
    Backend, BackendHealth, EntityHistory, EntityStore, HistoryHeader, HistoryQuery, Selected,
    Selection, Source, StorageError, Versioned, Visitor, WriteOp, WriteOutcome,
};

use crate::history::History;

/// The in-memory store. Share it as `Arc<MemoryStore>`; it starts empty.
#[derive(Debug, Default)]
pub struct MemoryStore {
    state: RwLock<State>,
}

/// Everything the store holds.
#[derive(Debug, Default)]
struct State {
    /// Keyed by tenant (the default tenant first, then the named ones by name). A named
    /// tenant may have a space before it exists (see [`Space::registered`]).
    spaces: BTreeMap<Tenant, Space>,
    /// The last version handed out, store-wide.
    last_version: u64,
}

/// One tenant's data.
#[derive(Debug, Default)]
struct Space {
    /// Whether the tenant exists: set by its first applied entity or history write, or by its
    /// first subscription, and never cleared.
    registered: bool,
    entities: BTreeMap<String, Versioned<Arc<Entity>>>,
    /// Type IRI -> the ids of the entities having it; a type with no entity has no entry.
    types: BTreeMap<String, BTreeSet<String>>,
    history: History,
    subscriptions: BTreeMap<String, Subscription>,
    registrations: BTreeMap<String, Registration>,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// The state for reading. A commit that panicked under the lock (a bug) may have left
    /// its writes half applied, so a poisoned store answers every later call with `Corrupt`.
    fn read(&self) -> Result<RwLockReadGuard<'_, State>, StorageError> {
        self.state.read().map_err(|_| poisoned())
    }

    fn write(&self) -> Result<RwLockWriteGuard<'_, State>, StorageError> {
        self.state.write().map_err(|_| poisoned())
    }

    /// Runs `f` on the tenant's space, or answers `absent` when the tenant holds nothing.
    fn with_space<T>(
        &self,
        tenant: &Tenant,
        absent: T,
        f: impl FnOnce(&Space) -> T,
    ) -> Result<T, StorageError> {
        Ok(match self.read()?.spaces.get(tenant) {
            Some(space) => f(space),
            None => absent,
        })
    }
}

fn poisoned() -> StorageError {
    StorageError::Corrupt("a commit panicked while applying; the memory store is unusable".into())
}

/// Always ready: there is no database to lose; closing leaves the data where it is.
#[async_trait]
impl Backend for MemoryStore {
    fn health(&self) -> BackendHealth {
        BackendHealth::Ready
    }

    async fn close(&self) -> Result<(), StorageError> {
        Ok(())
    }
}

#[async_trait]
impl EntityStore for MemoryStore {
    async fn get(
        &self,
        tenant: &Tenant,
        id: &str,
    ) -> Result<Option<Versioned<Entity>>, StorageError> {
        self.with_space(tenant, None, |space| space.owned(id))
    }

    async fn commit(
        &self,
        tenant: &Tenant,
        ops: Vec<WriteOp>,
    ) -> Result<Vec<WriteOutcome>, StorageError> {
        if ops.is_empty() {
            return Ok(Vec::new());
        }
        Ok(apply::commit(&mut *self.write()?, tenant, ops))
    }

    async fn tenant_exists(&self, tenant: &Tenant) -> Result<bool, StorageError> {
        if tenant.is_default() {
            return Ok(true);
        }
        self.with_space(tenant, false, |space| space.registered)
    }

    async fn tenants(&self) -> Result<Vec<Tenant>, StorageError> {
        let state = self.read()?;
        let named = state
            .spaces
            .iter()
            .filter(|(tenant, space)| !tenant.is_default() && space.registered)
            .map(|(tenant, _)| tenant.clone());
        Ok(std::iter::once(Tenant::default_tenant())
            .chain(named)
            .collect())
    }

    async fn ids_by_type(
        &self,
        tenant: &Tenant,
        type_iri: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<String>, StorageError> {
        self.with_space(tenant, Vec::new(), |space| {
            let Some(ids) = space.types.get(type_iri) else {
                return Vec::new();
            };
            select::ids_after(ids, after).take(limit).cloned().collect()
        })
    }

    async fn get_many(
        &self,
        tenant: &Tenant,
        ids: &[String],
    ) -> Result<Vec<Option<Versioned<Entity>>>, StorageError> {
        self.with_space(tenant, vec![None; ids.len()], |space| {
            ids.iter().map(|id| space.owned(id)).collect()
        })
    }

    async fn select(
        &self,
        tenant: &Tenant,
        selection: Selection,
    ) -> Result<Selected, StorageError> {
        let empty = Selected {
            entities: Vec::new(),
            total: selection.count.then_some(0),
        };
        match self.read()?.spaces.get(tenant) {
            Some(space) => select::select(space, selection),
            None => Ok(empty),
        }
    }

    async fn visit(
        &self,
        tenant: &Tenant,
        query: Arc<EntityQuery>,
        visitor: Visitor,
    ) -> Result<usize, StorageError> {
        self.with_space(tenant, 0, |space| select::visit(space, &query, visitor))
    }

    async fn types_in_use(&self, tenant: &Tenant) -> Result<Vec<String>, StorageError> {
        self.with_space(tenant, Vec::new(), |space| {
            space.types.keys().cloned().collect()
        })
    }

    async fn history_header(
        &self,
        tenant: &Tenant,
        id: &str,
    ) -> Result<Option<HistoryHeader>, StorageError> {
        self.with_space(tenant, None, |space| space.history_header(id))
    }

    async fn history(
        &self,
        tenant: &Tenant,
        id: &str,
        query: &HistoryQuery,
    ) -> Result<Option<EntityHistory>, StorageError> {
        self.with_space(tenant, None, |space| {
            let attributes = space.history.read(id, query)?;
            Some(EntityHistory {
                header: space.history_header(id)?,
                attributes,
            })
        })
    }

    async fn history_headers(
        &self,
        tenant: &Tenant,
        source: &Source,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<HistoryHeader>, StorageError> {
        self.with_space(tenant, Vec::new(), |space| {
            space
                .history
                .headers(source, after)
                .take(limit)
                .map(|header| space.live(header.clone()))
                .collect()
        })
    }
}

impl Space {
    /// An owned copy of a stored entity.
    fn owned(&self, id: &str) -> Option<Versioned<Entity>> {
        self.entities.get(id).map(|v| Versioned {
            version: v.version,
            value: Entity::clone(&v.value),
        })
    }

    /// The header of an entity's history as readers see it.
    fn history_header(&self, id: &str) -> Option<HistoryHeader> {
        self.history.header(id).cloned().map(|h| self.live(h))
    }

    /// `header` with the live entity's `modifiedAt` when that is later, as the embedded
    /// store reads it (a write of the entity without a history record still shows).
    fn live(&self, mut header: HistoryHeader) -> HistoryHeader {
        if header.deleted_at.is_none() {
            if let Some(entity) = self.entities.get(&header.id) {
                header.modified_at = header.modified_at.max(entity.value.modified_at);
            }
        }
        header
    }
}
