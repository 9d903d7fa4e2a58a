//! The subscription service: the registry of live subscriptions, their durable copies, the
//! routing of committed changes to per-subscription queues, and the delivery counters'
//! periodic save.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock, RwLock};
use std::time::Duration;

use rigel_jsonld::ContextResolver;
use rigel_model::subscription::{
    DeliveryStatus, Subscription, SubscriptionKind, SubscriptionStatus,
};
use rigel_model::{Clock, Tenant};
use rigel_storage::{ChangeEvent, ChangeListener, EntityStore, StorageError, SubscriptionStore};
use tokio::sync::{mpsc, Notify};

use crate::change::{classify, fires, subject};
use crate::compile::Compiled;
use crate::csource::{self, RegistrationSource};
use crate::deliver::{Deliverer, DeliveryError};
use crate::notification::{Pending, RenderCache};
use crate::registry::{oldest_first, Entry, Shared, TenantIndex};
use crate::{worker, SubscriptionError};

/// Tuning of notification delivery.
#[derive(Debug, Clone)]
pub struct ServiceOptions {
    /// Changes queued per subscription before further ones are counted as lost.
    pub queue_capacity: usize,
    /// Delivery timeout when the endpoint sets none.
    pub delivery_timeout: Duration,
    /// Queued changes sent together in one notification when a receiver falls behind.
    pub max_entities_per_notification: usize,
    /// How often changed delivery counters are saved.
    pub status_save_interval: Duration,
    /// Most entities in one periodic notification.
    pub periodic_limit: usize,
    /// The broker's outbound client for HTTP notifications; `None`: one of the service's
    /// own, with the default policy.
    pub egress: Option<rigel_egress::Egress>,
    /// Whether a subscription's notifications may still go out (its creator's rights);
    /// `None`: always.
    pub gate: Option<Arc<dyn NotifyGate>>,
}

/// Says whether a subscription may notify: a notification carries entity data, so its
/// creator must still be allowed to read the subscription's tenant.
pub trait NotifyGate: Send + Sync + std::fmt::Debug {
    /// `Err(reason)` when the notification must not be sent.
    fn may_notify(&self, subscription: &Subscription, tenant: &Tenant) -> Result<(), String>;
}

impl Default for ServiceOptions {
    fn default() -> Self {
        Self {
            queue_capacity: 10_000,
            delivery_timeout: Duration::from_secs(10),
            max_entities_per_notification: 100,
            status_save_interval: Duration::from_secs(1),
            periodic_limit: 1_000,
            egress: None,
            gate: None,
        }
    }
}

/// State shared by the service handle and the delivery workers.
pub(crate) struct Inner {
    pub(crate) entities: Arc<dyn EntityStore>,
    pub(crate) store: Arc<dyn SubscriptionStore>,
    pub(crate) resolver: ContextResolver,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) deliverer: Deliverer,
    pub(crate) options: ServiceOptions,
    registry: RwLock<Registry>,
    /// Context Source Registration Subscriptions (clause 5.11), apart from the entity ones.
    pub(crate) csource: RwLock<csource::Registry>,
    /// Where registration subscriptions read the registrations (set once, before start).
    pub(crate) registrations: OnceLock<Arc<dyn RegistrationSource>>,
    dirty: Mutex<HashSet<(Tenant, String)>>,
    /// The entity subscriptions this process delivers when it shares its database with
    /// others (the leases it holds); `None`: all of them.
    pub(crate) held: RwLock<Option<HashSet<(Tenant, String)>>>,
    pub(crate) runtime: DeliveryRuntime,
    stop: Notify,
    /// Notifications sent, failed and changes lost since the start, and changes queued.
    pub(crate) totals: DeliveryTotals,
    /// Signalled whenever the last queued change has been dealt with.
    pub(crate) settled: Notify,
    /// Changes of the store's outbox dealt with.
    pub(crate) receipts: Arc<crate::receipts::Receipts>,
}

/// Counters over every subscription since the service started (for metrics: unlike the
/// per-subscription counters, they never go down when a subscription is deleted).
#[derive(Default)]
pub(crate) struct DeliveryTotals {
    pub(crate) sent: AtomicU64,
    pub(crate) failed: AtomicU64,
    pub(crate) lost: AtomicU64,
    /// Changes queued for some subscription and not yet dealt with.
    pub(crate) pending: AtomicUsize,
}

/// The threads notification workers run on: their own multi-threaded runtime, so rendering
/// and sending use every core instead of the thread that started the server.
pub(crate) struct DeliveryRuntime(Option<tokio::runtime::Runtime>);

impl DeliveryRuntime {
    fn new() -> std::io::Result<Self> {
        let threads = std::thread::available_parallelism().map_or(2, usize::from);
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads)
            .thread_name("rigel-notify")
            .enable_all()
            .build()
            .map(|rt| Self(Some(rt)))
    }

    pub(crate) fn spawn<F>(&self, task: F)
    where
        F: std::future::Future<Output = ()> + Send + 'static,
    {
        if let Some(rt) = &self.0 {
            rt.spawn(task);
        }
    }
}

impl Drop for DeliveryRuntime {
    /// Dropping a runtime blocks, which is not allowed inside another runtime: let its
    /// threads wind down in the background.
    fn drop(&mut self) {
        if let Some(rt) = self.0.take() {
            rt.shutdown_background();
        }
    }
}

type Registry = HashMap<Tenant, TenantIndex>;

impl Inner {
    fn registry(&self) -> std::sync::RwLockReadGuard<'_, Registry> {
        self.registry.read().unwrap_or_else(|p| p.into_inner())
    }

    fn registry_mut(&self) -> std::sync::RwLockWriteGuard<'_, Registry> {
        self.registry.write().unwrap_or_else(|p| p.into_inner())
    }

    /// A worker dealt with `n` changes of its queue (notified, or skipped by throttling).
    pub(crate) fn settle(&self, shared: &Shared, n: usize) {
        shared.queued.fetch_sub(n, Ordering::AcqRel);
        if self.totals.pending.fetch_sub(n, Ordering::AcqRel) == n {
            self.settled.notify_waiters();
        }
    }

    /// Counts `n` changes that will never be notified on the subscription and in the totals;
    /// the subscription's lost count afterwards.
    pub(crate) fn count_lost(&self, shared: &Shared, n: u64) -> u64 {
        self.totals.lost.fetch_add(n, Ordering::Relaxed);
        let lost = {
            let mut delivery = shared.delivery.lock().unwrap_or_else(|p| p.into_inner());
            delivery.lost += n;
            delivery.lost
        };
        self.mark_dirty(shared);
        lost
    }

    /// Every live subscription of either kind.
    pub(crate) fn registry_snapshot(&self) -> Vec<Arc<Shared>> {
        let mut all: Vec<Arc<Shared>> = self
            .registry()
            .values()
            .flat_map(|index| index.by_id.values().map(|e| e.shared.clone()))
            .collect();
        all.extend(
            self.csource_registry()
                .values()
                .flat_map(|subs| subs.values().map(|e| e.shared.clone())),
        );
        all
    }

    /// The delivery counters of one live subscription of either kind.
    fn delivery_of(&self, tenant: &Tenant, id: &str) -> Option<DeliveryStatus> {
        if let Some(entry) = self.registry().get(tenant).and_then(|i| i.by_id.get(id)) {
            return Some(entry.shared.delivery());
        }
        let csource = self.csource_registry();
        csource
            .get(tenant)
            .and_then(|subs| subs.get(id))
            .map(|e| e.shared.delivery())
    }

    /// Queues one item for a subscription's worker, counted as pending first (so the
    /// worker never settles more than was counted); a full queue drops it, counted as lost
    /// and logged at every power of two; a closed one (a retired worker) drops it silently.
    pub(crate) fn offer<T>(&self, shared: &Shared, queue: &mpsc::Sender<T>, item: T) {
        shared.queued.fetch_add(1, Ordering::AcqRel);
        self.totals.pending.fetch_add(1, Ordering::AcqRel);
        if let Err(e) = queue.try_send(item) {
            self.settle(shared, 1);
            if matches!(e, mpsc::error::TrySendError::Closed(_)) {
                return;
            }
            let lost = self.count_lost(shared, 1);
            if lost.is_power_of_two() {
                tracing::warn!(
                    subscription = %shared.config.id,
                    lost,
                    "the subscription's notification queue is full; notifications are being dropped"
                );
            }
        }
    }

    pub(crate) fn mark_dirty(&self, shared: &Shared) {
        self.dirty
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert((shared.tenant.clone(), shared.config.id.clone()));
    }
}

/// Subscriptions: create, read, update, delete, and notification of matching changes.
#[derive(Clone)]
pub struct SubscriptionService {
    inner: Arc<Inner>,
}

impl SubscriptionService {
    /// A service with its own delivery threads (one per core).
    pub fn new(
        entities: Arc<dyn EntityStore>,
        store: Arc<dyn SubscriptionStore>,
        resolver: ContextResolver,
        clock: Arc<dyn Clock>,
        options: ServiceOptions,
    ) -> Result<Self, DeliveryError> {
        let runtime = DeliveryRuntime::new()
            .map_err(|e| DeliveryError::BadEndpoint(format!("no delivery threads: {e}")))?;
        Ok(Self {
            inner: Arc::new(Inner {
                entities,
                store,
                resolver,
                clock,
                deliverer: Deliverer::new(options.delivery_timeout, options.egress.clone())?,
                options,
                registry: RwLock::new(HashMap::new()),
                csource: RwLock::new(HashMap::new()),
                registrations: OnceLock::new(),
                dirty: Mutex::new(HashSet::new()),
                held: RwLock::new(None),
                runtime,
                stop: Notify::new(),
                totals: DeliveryTotals::default(),
                settled: Notify::new(),
                receipts: Arc::default(),
            }),
        })
    }

    /// Loads the stored subscriptions and starts their workers and the counter saver.
    /// Returns how many subscriptions were loaded.
    pub async fn start(&self) -> Result<usize, StorageError> {
        let stored = self.inner.store.all_subscriptions().await?;
        let mut loaded = 0;
        for (tenant, sub) in stored {
            if sub.kind == SubscriptionKind::Registrations {
                loaded += usize::from(self.load_csource(&tenant, sub));
                continue;
            }
            match Compiled::compile(&sub, &sub.frozen_terms()) {
                Ok(compiled) => {
                    self.register(&tenant, sub, compiled);
                    loaded += 1;
                }
                Err(e) => tracing::error!(
                    subscription = %sub.id,
                    "a stored subscription no longer compiles and is not active: {e}"
                ),
            }
        }
        let inner = self.inner.clone();
        self.inner.runtime.spawn(save_counters(inner));
        Ok(loaded)
    }

    /// Stops the counter saver after a last save.
    pub async fn shutdown(&self) {
        self.inner.stop.notify_one();
        save_dirty(&self.inner).await;
    }

    /// Adds a subscription of either kind: durable before it returns, notifying from then on.
    pub async fn create(
        &self,
        tenant: &Tenant,
        sub: Subscription,
    ) -> Result<(), SubscriptionError> {
        if sub.kind == SubscriptionKind::Registrations {
            return self.create_csource(tenant, sub).await;
        }
        let compiled = Compiled::compile(&sub, &sub.frozen_terms())?;
        if self.entry(tenant, &sub.id).is_some()
            || !self.inner.store.create_subscription(tenant, &sub).await?
        {
            return Err(SubscriptionError::AlreadyExists(sub.id));
        }
        self.created_here(tenant, &sub.id);
        self.register(tenant, sub, compiled);
        Ok(())
    }

    /// Whether the outbound policy lets the broker notify `uri` (its scheme and the addresses
    /// its host resolves to now); an `Endpoint` error naming the rule when it does not.
    pub async fn admit_endpoint(&self, uri: &str) -> Result<(), SubscriptionError> {
        self.inner
            .deliverer
            .admit(uri)
            .await
            .map_err(|e| SubscriptionError::Endpoint(format!("{uri}: {e}")))
    }

    /// Replaces a subscription of either kind (an update); its delivery counters carry over.
    pub async fn replace(
        &self,
        tenant: &Tenant,
        mut sub: Subscription,
    ) -> Result<(), SubscriptionError> {
        if sub.kind == SubscriptionKind::Registrations {
            return self.replace_csource(tenant, sub).await;
        }
        let compiled = Compiled::compile(&sub, &sub.frozen_terms())?;
        let Some(current) = self.entry(tenant, &sub.id) else {
            return Err(SubscriptionError::NotFound(sub.id));
        };
        sub.delivery = current.shared.delivery();
        if !self.inner.store.replace_subscription(tenant, &sub).await? {
            return Err(SubscriptionError::NotFound(sub.id));
        }
        self.unregister(tenant, &sub.id);
        self.register(tenant, sub, compiled);
        Ok(())
    }

    /// Deletes an entity subscription; `false` when there was none.
    pub async fn delete(&self, tenant: &Tenant, id: &str) -> Result<bool, SubscriptionError> {
        if self.entry(tenant, id).is_none() {
            return Ok(false);
        }
        let deleted = self.inner.store.delete_subscription(tenant, id).await?;
        self.unregister(tenant, id);
        Ok(deleted)
    }

    /// One entity subscription with its current counters.
    pub fn get(&self, tenant: &Tenant, id: &str) -> Option<Subscription> {
        self.entry(tenant, id).map(|e| e.shared.snapshot())
    }

    /// Every entity subscription of a tenant, oldest first (ties in id order).
    pub fn list(&self, tenant: &Tenant) -> Vec<Subscription> {
        let registry = self.inner.registry();
        oldest_first(
            registry
                .get(tenant)
                .map(|index| index.by_id.values().map(|e| e.shared.snapshot()).collect())
                .unwrap_or_default(),
        )
    }

    /// How many entity subscriptions the tenant holds.
    pub fn count(&self, tenant: &Tenant) -> usize {
        let registry = self.inner.registry();
        registry.get(tenant).map_or(0, |index| index.by_id.len())
    }

    /// Whether any subscription of the tenant could be notified (so writers know whether
    /// building change events is worth it).
    pub fn watches(&self, tenant: &Tenant) -> bool {
        let registry = self.inner.registry();
        registry.get(tenant).is_some_and(|index| !index.is_empty())
    }

    pub(crate) fn inner(&self) -> &Inner {
        &self.inner
    }

    pub(crate) fn inner_arc(&self) -> Arc<Inner> {
        self.inner.clone()
    }

    pub(crate) fn entry(&self, tenant: &Tenant, id: &str) -> Option<Arc<Entry>> {
        let registry = self.inner.registry();
        registry.get(tenant)?.by_id.get(id).cloned()
    }

    pub(crate) fn register(&self, tenant: &Tenant, sub: Subscription, compiled: Compiled) {
        let (tx, rx) = mpsc::channel(self.inner.options.queue_capacity.max(1));
        let shared = Shared::new(tenant, sub, compiled);
        self.inner
            .runtime
            .spawn(worker::run(self.inner.clone(), shared.clone(), rx));
        let entry = Arc::new(Entry { shared, queue: tx });
        let mut registry = self.inner.registry_mut();
        registry.entry(tenant.clone()).or_default().insert(entry);
    }

    pub(crate) fn unregister(&self, tenant: &Tenant, id: &str) {
        let mut registry = self.inner.registry_mut();
        if let Some(index) = registry.get_mut(tenant) {
            if let Some(entry) = index.remove(id) {
                entry.shared.retired.store(true, Ordering::Relaxed);
            }
            if index.is_empty() {
                registry.remove(tenant);
            }
        }
    }
}

impl ChangeListener for SubscriptionService {
    fn wants(&self, tenant: &Tenant) -> bool {
        self.watches(tenant)
    }

    fn changed(&self, events: Vec<ChangeEvent>) {
        self.route(events, None);
    }

    /// Whether a subscription of the tenant selects the entity's types or watches one of
    /// the attributes the change touches (the candidates `route` would test).
    fn may_want(&self, event: &ChangeEvent) -> bool {
        let registry = self.inner.registry();
        let (Some(index), Some(entity)) = (registry.get(&event.tenant), subject(event)) else {
            return false;
        };
        let touched = event
            .previous
            .iter()
            .chain(event.current.iter())
            .flat_map(|e| e.attributes.keys());
        !index.candidates(entity.types.iter(), touched).is_empty()
    }
}

impl SubscriptionService {
    /// The sequence numbers of the outbox changes dealt with since the last call, for the
    /// store to forget.
    pub fn outbox_done(&self) -> Vec<u64> {
        self.inner.receipts.take()
    }

    /// Offers each change to the subscriptions it fires (only to `only`, when given).
    pub(crate) fn route(&self, events: Vec<ChangeEvent>, only: Option<&(Tenant, String)>) {
        let registry = self.inner.registry();
        let now = self.inner.clock.now();
        for event in events {
            // Dropped at the end of this iteration unless queued copies hold it.
            let receipt = event.seq.map(|seq| self.inner.receipts.issue(seq));
            if only.is_some_and(|(tenant, _)| *tenant != event.tenant) {
                continue;
            }
            let Some(index) = registry.get(&event.tenant) else {
                continue;
            };
            let Some(entity) = subject(&event) else {
                continue;
            };
            let touched = event
                .previous
                .iter()
                .chain(event.current.iter())
                .flat_map(|e| e.attributes.keys());
            let candidates = index.candidates(entity.types.iter(), touched);
            if candidates.is_empty() {
                continue;
            }
            let change = Arc::new(classify(&event));
            let cache = Arc::new(RenderCache::default());
            let mut event_arc = None;
            for entry in candidates {
                let shared = &entry.shared;
                let config = &shared.config;
                if config.time_interval.is_some()
                    || only.is_some_and(|(_, id)| *id != config.id)
                    || !self.inner.holds(&event.tenant, &config.id)
                    || config.status(now) != SubscriptionStatus::Active
                    || !fires(config, &shared.compiled, &change)
                    || !shared.compiled.matches(entity)
                {
                    continue;
                }
                let event = event_arc
                    .get_or_insert_with(|| Arc::new(event.clone()))
                    .clone();
                let pending = Pending {
                    event,
                    change: change.clone(),
                    cache: cache.clone(),
                    receipt: receipt.clone(),
                };
                self.inner.offer(shared, &entry.queue, pending);
            }
        }
    }
}

/// Saves changed delivery counters every `status_save_interval` until stopped.
async fn save_counters(inner: Arc<Inner>) {
    loop {
        tokio::select! {
            _ = tokio::time::sleep(inner.options.status_save_interval) => save_dirty(&inner).await,
            _ = inner.stop.notified() => return,
        }
    }
}

async fn save_dirty(inner: &Inner) {
    let dirty: Vec<(Tenant, String)> = {
        let mut dirty = inner.dirty.lock().unwrap_or_else(|p| p.into_inner());
        dirty.drain().collect()
    };
    if dirty.is_empty() {
        return;
    }
    let statuses = dirty
        .into_iter()
        .filter_map(|(tenant, id)| {
            let delivery = inner.delivery_of(&tenant, &id)?;
            Some((tenant, id, delivery))
        })
        .collect::<Vec<_>>();
    if let Err(e) = inner.store.save_delivery_status(statuses).await {
        tracing::error!("saving subscription delivery counters failed: {e}");
    }
}
