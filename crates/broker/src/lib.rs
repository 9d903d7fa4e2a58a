//! Rigel's use cases: each NGSI-LD operation as a method of [`Broker`], over the storage traits.
//! Knows nothing of HTTP or of concrete backends; every name it sees is a full IRI.

mod attributes;
mod batch;
pub mod discovery;
mod entities;
mod error;
pub mod federation;
mod history;
mod linked_query;
pub mod merge;
pub mod query;
mod registrations;
mod subscriptions;
pub mod temporal;
mod temporal_page;

use std::sync::Arc;

use rigel_model::{Entity, Tenant};
use rigel_storage::{
    ChangeEvent, ChangeListener, EntityStore, Expect, Versioned, WriteOp, WriteOutcome,
};
use rigel_subscriptions::SubscriptionService;

pub use attributes::{AttributeUpdate, EntityMerge, UpdateResult};
pub use batch::{BatchEntityError, BatchResult, UpsertMode};
pub use error::BrokerError;
pub use registrations::Registry;
pub use rigel_model::{Clock, SystemClock};
pub use temporal::{TemporalPage, TemporalQuery};

/// How many times a read-modify-write is retried when another writer got there first.
const MAX_WRITE_ATTEMPTS: usize = 64;

/// Whether the entity has one of `types` (the `type` selector of an operation); no selector
/// matches every entity.
fn has_any_type(entity: &Entity, types: Option<&[String]>) -> bool {
    types.is_none_or(|t| t.iter().any(|t| entity.types.contains(t)))
}

/// The broker: NGSI-LD operations over an entity store.
#[derive(Clone)]
pub struct Broker {
    store: Arc<dyn EntityStore>,
    clock: Arc<dyn Clock>,
    subscriptions: Option<SubscriptionService>,
    registrations: Option<Arc<Registry>>,
    /// How reads reach context sources; `None`: everything is local.
    federation: Option<federation::Federation>,
    changes: Option<Arc<dyn ChangeListener>>,
    /// Whether each change reported to `changes` is first noted in the store's outbox, in
    /// the commit of its write (a store with an outbox).
    outbox: bool,
    /// Whether entity writes are recorded in the history (the temporal API).
    history: bool,
    /// At most this many instances per attribute in one temporal response (6.3.10).
    instance_page: usize,
    /// Sources' answers kept for their registrations' `cacheDuration`.
    source_cache: Arc<federation::SourceCache>,
    /// EntityMaps of distributed queries (5.14).
    entity_maps: Arc<federation::EntityMaps>,
    /// When this broker started (its uptime as a context source, 5.2.40).
    started_at: chrono::DateTime<chrono::Utc>,
    /// How many subscriptions and registrations a tenant may hold.
    quotas: Quotas,
    /// The most memory the entities one query holds at once may take (its page, or every
    /// match it sorts or follows links from); `None`: no bound.
    query_memory: Option<usize>,
    /// The most memory one stored entity may take (by `Entity::footprint`): a write that
    /// would make an entity larger is refused; `None`: no bound.
    entity_memory: Option<usize>,
}

/// Bounds per tenant (0: none).
#[derive(Debug, Clone, Copy, Default)]
pub struct Quotas {
    /// Entity and registration subscriptions together.
    pub subscriptions: usize,
    pub registrations: usize,
}

impl Broker {
    pub fn new(store: Arc<dyn EntityStore>, clock: Arc<dyn Clock>) -> Self {
        Self {
            store,
            clock,
            subscriptions: None,
            registrations: None,
            federation: None,
            changes: None,
            outbox: false,
            history: true,
            instance_page: temporal_page::DEFAULT_INSTANCE_PAGE,
            source_cache: Arc::default(),
            entity_maps: Arc::default(),
            started_at: chrono::Utc::now(),
            quotas: Quotas::default(),
            query_memory: None,
            entity_memory: None,
        }
    }

    /// The broker refusing, with `BadRequestData`, a write that would make an entity take
    /// more than `bytes` of memory (by `Entity::footprint`), so that repeated appends cannot
    /// grow one without bound; 0: no bound.
    pub fn with_entity_memory(mut self, bytes: usize) -> Self {
        self.entity_memory = (bytes > 0).then_some(bytes);
        self
    }

    /// The broker refusing new subscriptions and registrations beyond `quotas` per tenant.
    pub fn with_quotas(mut self, quotas: Quotas) -> Self {
        self.quotas = quotas;
        self
    }

    /// The broker refusing, with `TooManyResults`, a query whose entities would take more
    /// than `bytes` of memory at once (by `Entity::footprint`); 0: no bound.
    pub fn with_query_memory(mut self, bytes: usize) -> Self {
        self.query_memory = (bytes > 0).then_some(bytes);
        self
    }

    /// The broker answering temporal retrievals and queries with at most `n` instances per
    /// attribute at a time (a larger range is paged, 6.3.10).
    pub fn with_instance_page(mut self, n: usize) -> Self {
        self.instance_page = n.max(1);
        self
    }

    /// The broker recording (the default) or not recording entity writes in the history.
    pub fn with_history(mut self, on: bool) -> Self {
        self.history = on;
        self
    }

    /// The broker noting every change its subscriptions hear of in the store's outbox, in
    /// the commit of the write (the store must have one: `Backend::outbox`), so that the
    /// changes of acknowledged writes are still notified after a crash.
    pub fn with_change_outbox(mut self) -> Self {
        self.outbox = true;
        self
    }

    /// Whether entity writes are recorded in the history.
    pub fn keeps_history(&self) -> bool {
        self.history
    }

    /// The broker with subscriptions: every committed change is reported to them.
    pub fn with_subscriptions(mut self, subscriptions: SubscriptionService) -> Self {
        self.changes = Some(Arc::new(subscriptions.clone()));
        self.subscriptions = Some(subscriptions);
        self
    }

    /// The broker with subscriptions that hear of committed changes from the store's feed
    /// (a store several brokers share), not from this broker's writes.
    pub fn with_subscriptions_fed_by_store(mut self, subscriptions: SubscriptionService) -> Self {
        self.changes = None;
        self.subscriptions = Some(subscriptions);
        self
    }

    /// The broker reporting every committed change to `listener` (instead of subscriptions).
    pub fn with_change_listener(mut self, listener: Arc<dyn ChangeListener>) -> Self {
        self.changes = Some(listener);
        self
    }

    pub fn store(&self) -> &Arc<dyn EntityStore> {
        &self.store
    }

    /// The broker's current time (its injectable clock).
    pub fn now(&self) -> chrono::DateTime<chrono::Utc> {
        self.clock.now()
    }

    /// Reads an entity for an operation on it: `ResourceNotFound` when absent, or when the
    /// tenant does not exist (`NonexistentTenant`).
    async fn load(&self, tenant: &Tenant, id: &str) -> Result<Versioned<Entity>, BrokerError> {
        match self.store.get(tenant, id).await? {
            Some(found) => Ok(found),
            None => Err(self.missing(tenant, id).await),
        }
    }

    /// The error for an entity that is not there.
    async fn missing(&self, tenant: &Tenant, id: &str) -> BrokerError {
        match self.store.tenant_exists(tenant).await {
            Ok(false) => BrokerError::NonexistentTenant(tenant.to_string()),
            Err(e) => e.into(),
            Ok(true) => BrokerError::EntityNotFound(id.to_owned()),
        }
    }

    /// Read-modify-write of one entity with optimistic concurrency: `change` computes the new
    /// state (or `None` to delete) from the current one; retried on conflicting writes.
    async fn modify<T>(
        &self,
        tenant: &Tenant,
        id: &str,
        types: Option<&[String]>,
        mut change: impl FnMut(Entity) -> Result<(Option<Entity>, T), BrokerError>,
    ) -> Result<T, BrokerError> {
        for _ in 0..MAX_WRITE_ATTEMPTS {
            let current = self.load(tenant, id).await?;
            if !has_any_type(&current.value, types) {
                return Err(BrokerError::EntityNotFound(id.to_owned()));
            }
            let previous = self
                .wants_previous(tenant)
                .then(|| Arc::new(current.value.clone()));
            let (next, result) = change(current.value)?;
            let expect = Expect::Version(current.version);
            let op = match next {
                Some(entity) => WriteOp::Put { entity, expect },
                None => WriteOp::Delete {
                    id: id.to_owned(),
                    expect,
                },
            };
            if self.commit_one(tenant, op, previous).await? {
                return Ok(result);
            }
        }
        Err(BrokerError::Contended(id.to_owned()))
    }

    /// Commits one write; `false` when its expectation did not hold. `previous` is the state
    /// it replaces, for change reporting.
    async fn commit_one(
        &self,
        tenant: &Tenant,
        op: WriteOp,
        previous: Option<Arc<Entity>>,
    ) -> Result<bool, BrokerError> {
        let outcomes = self.commit(tenant, vec![op], vec![previous]).await?;
        Ok(matches!(
            outcomes.first(),
            Some(WriteOutcome::Applied { .. })
        ))
    }

    /// Refuses the writes when one would store an entity larger than the entity bound.
    fn check_entity_memory(&self, ops: &[WriteOp]) -> Result<(), BrokerError> {
        let Some(limit) = self.entity_memory else {
            return Ok(());
        };
        for op in ops {
            if let WriteOp::Put { entity, .. } = op {
                let bytes = entity.footprint();
                if bytes > limit {
                    return Err(BrokerError::EntityTooLarge {
                        id: entity.id.clone(),
                        bytes,
                        limit,
                    });
                }
            }
        }
        Ok(())
    }

    /// Whether writers must pass the state each write replaces to [`Self::commit`]: for the
    /// history or for an interested change listener.
    fn wants_previous(&self, tenant: &Tenant) -> bool {
        self.history || self.observer(tenant).is_some()
    }

    /// The listener to report changes of this tenant to, if it is interested.
    fn observer(&self, tenant: &Tenant) -> Option<&Arc<dyn ChangeListener>> {
        self.changes.as_ref().filter(|l| l.wants(tenant))
    }

    /// Every write goes through here: commits (with what each write adds to the history, and
    /// with the change noted in the outbox when there is one, in the same commit), then
    /// reports each applied write as a change (before the write is acknowledged, so no
    /// acknowledged change escapes subscriptions). `previous[i]` is the state write `i`
    /// replaces (needed when [`Self::wants_previous`]).
    async fn commit(
        &self,
        tenant: &Tenant,
        ops: Vec<WriteOp>,
        previous: Vec<Option<Arc<Entity>>>,
    ) -> Result<Vec<WriteOutcome>, BrokerError> {
        self.check_entity_memory(&ops)?;
        let Some(observer) = self.observer(tenant) else {
            let (outcomes, _) = self
                .commit_with_records(tenant, ops, &previous, &[])
                .await?;
            return Ok(outcomes);
        };
        let at = self.clock.now();
        let events: Vec<Option<ChangeEvent>> = ops
            .iter()
            .enumerate()
            .map(|(i, op)| {
                let previous = previous.get(i).cloned().flatten();
                let (id, current) = match op {
                    WriteOp::Put { entity, .. } => {
                        (entity.id.clone(), Some(Arc::new(entity.clone())))
                    }
                    WriteOp::Delete { id, .. } => (id.clone(), None),
                    WriteOp::Record { .. } | WriteOp::Note { .. } => return None,
                };
                (current.is_some() || previous.is_some()).then(|| ChangeEvent {
                    tenant: tenant.clone(),
                    id,
                    previous,
                    current,
                    at,
                    seq: None,
                })
            })
            .collect();
        // Only changes some subscription may want are noted: writes to other types pay
        // nothing for the outbox.
        let mut notes: Vec<Option<ChangeEvent>> = if self.outbox {
            events
                .iter()
                .map(|e| e.as_ref().filter(|e| observer.may_want(e)).cloned())
                .collect()
        } else {
            Vec::new()
        };
        if notes.iter().all(Option::is_none) {
            notes.clear();
        }
        let (outcomes, seqs) = self
            .commit_with_records(tenant, ops, &previous, &notes)
            .await?;
        let events: Vec<ChangeEvent> = events
            .into_iter()
            .zip(&outcomes)
            .zip(seqs)
            .filter(|((_, outcome), _)| matches!(outcome, WriteOutcome::Applied { .. }))
            .filter_map(|((event, _), seq)| {
                event.map(|mut e| {
                    e.seq = seq;
                    e
                })
            })
            .collect();
        if !events.is_empty() {
            observer.changed(events);
        }
        Ok(outcomes)
    }

    /// Commits `ops`, each followed by its history record when the history is kept and by
    /// its note `notes[i]` when given; the outcomes are those of `ops` alone, with the
    /// outbox sequence number of each applied note.
    async fn commit_with_records(
        &self,
        tenant: &Tenant,
        ops: Vec<WriteOp>,
        previous: &[Option<Arc<Entity>>],
        notes: &[Option<ChangeEvent>],
    ) -> Result<(Vec<WriteOutcome>, Vec<Option<u64>>), BrokerError> {
        if !self.history && notes.is_empty() {
            let outcomes = self.store.commit(tenant, ops).await?;
            let seqs = vec![None; outcomes.len()];
            return Ok((outcomes, seqs));
        }
        let now = self.clock.now();
        let mut mine = Vec::with_capacity(ops.len());
        let mut noted = Vec::with_capacity(ops.len());
        let mut all = Vec::with_capacity(ops.len() * 3);
        for (i, op) in ops.into_iter().enumerate() {
            let before = previous.get(i).and_then(Option::as_deref);
            let record = self
                .history
                .then(|| history::record(&op, before, now))
                .flatten();
            mine.push(all.len());
            all.push(op);
            if let Some(change) = record {
                all.push(WriteOp::Record {
                    change,
                    with_previous: true,
                });
            }
            match notes.get(i).cloned().flatten() {
                Some(event) => {
                    noted.push(Some(all.len()));
                    all.push(WriteOp::Note { event });
                }
                None => noted.push(None),
            }
        }
        let outcomes = self.store.commit(tenant, all).await?;
        let seqs = noted
            .into_iter()
            .map(|at| match at.and_then(|i| outcomes.get(i)) {
                Some(WriteOutcome::Applied { version }) => Some(*version),
                _ => None,
            })
            .collect();
        let outcomes = mine
            .into_iter()
            .map(|i| outcomes.get(i).copied().unwrap_or(WriteOutcome::Conflict))
            .collect();
        Ok((outcomes, seqs))
    }
}

#[cfg(test)]
mod batch_tests;
#[cfg(test)]
mod history_tests;
#[cfg(test)]
mod merge_tests;
#[cfg(test)]
mod query_tests;
#[cfg(test)]
mod registration_tests;
#[cfg(test)]
mod subscription_tests;
