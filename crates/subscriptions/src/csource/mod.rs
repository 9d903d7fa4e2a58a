//! Context Source Registration Subscriptions (clause 5.11): kept apart from entity
//! subscriptions but stored, counted and delivered by the same machinery.
//!
//! A registration change (made by the broker's registry) is matched against every
//! registration subscription of its tenant, before and after: a registration that starts to
//! match is notified as `newlyMatching`, one that still matches as `updated`, one that
//! stops matching or is deleted as `noLongerMatching` (clause 5.3.3). A new subscription, and
//! one just updated (5.11.3.4), is notified of every registration that matches then, as
//! `newlyMatching`; a change notification goes out only when it carries a registration. A
//! periodic subscription (`timeInterval`) is notified of the registrations that match at
//! creation and every interval after, even none, and not of single changes.

mod matcher;
#[cfg(test)]
mod tests;
mod worker;

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::Ordering;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use rigel_model::registration::Registration;
use rigel_model::subscription::{Subscription, SubscriptionStatus};
use rigel_model::Tenant;
use tokio::sync::mpsc;

pub use matcher::RegistrationMatcher;

use crate::compile::Compiled;
use crate::registry::{oldest_first, Shared};
use crate::service::{Inner, SubscriptionService};
use crate::SubscriptionError;

/// Where registration subscriptions read the registrations of a tenant: the broker's
/// registry.
pub trait RegistrationSource: Send + Sync + 'static {
    /// The tenant's registrations that have not expired at `now`.
    fn registrations(&self, tenant: &Tenant, now: DateTime<Utc>) -> Vec<Registration>;
}

/// Why registrations are notified (clause 5.3.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TriggerReason {
    NewlyMatching,
    Updated,
    NoLongerMatching,
}

impl TriggerReason {
    pub fn name(self) -> &'static str {
        match self {
            TriggerReason::NewlyMatching => "newlyMatching",
            TriggerReason::Updated => "updated",
            TriggerReason::NoLongerMatching => "noLongerMatching",
        }
    }
}

/// One notification to send: the registrations as notified, and why.
pub(crate) struct Job {
    reason: TriggerReason,
    registrations: Vec<Registration>,
}

/// A live registration subscription.
pub(crate) struct Entry {
    pub(crate) shared: Arc<Shared>,
    matcher: Arc<RegistrationMatcher>,
    queue: mpsc::Sender<Job>,
}

/// The registration subscriptions of every tenant, by id.
pub(crate) type Registry = HashMap<Tenant, BTreeMap<String, Arc<Entry>>>;

impl Inner {
    pub(crate) fn csource_registry(&self) -> std::sync::RwLockReadGuard<'_, Registry> {
        self.csource.read().unwrap_or_else(|p| p.into_inner())
    }

    fn csource_registry_mut(&self) -> std::sync::RwLockWriteGuard<'_, Registry> {
        self.csource.write().unwrap_or_else(|p| p.into_inner())
    }

    /// Queues a notification on the subscription.
    fn enqueue(&self, entry: &Entry, job: Job) {
        self.offer(&entry.shared, &entry.queue, job);
    }
}

fn compile(sub: &Subscription) -> Result<(Compiled, RegistrationMatcher), SubscriptionError> {
    let terms = sub.frozen_terms();
    Ok((
        Compiled::compile(sub, &terms)?,
        RegistrationMatcher::compile(sub, &terms)?,
    ))
}

impl SubscriptionService {
    /// Where registration subscriptions read the registrations; set once, before
    /// [`SubscriptionService::start`]. Without it they only hear of changes.
    pub fn set_registration_source(&self, source: Arc<dyn RegistrationSource>) {
        if self.inner().registrations.set(source).is_err() {
            tracing::warn!("the registration source was already set");
        }
    }

    /// A stored registration subscription, live again after a restart (without the
    /// notification of a new one); `false` when it no longer compiles.
    pub(crate) fn load_csource(&self, tenant: &Tenant, sub: Subscription) -> bool {
        match compile(&sub) {
            Ok((compiled, matcher)) => {
                self.register_csource(tenant, sub, compiled, matcher, false);
                true
            }
            Err(e) => {
                tracing::error!(subscription = %sub.id, "a stored registration subscription no longer compiles and is not active: {e}");
                false
            }
        }
    }

    pub(crate) async fn create_csource(
        &self,
        tenant: &Tenant,
        sub: Subscription,
    ) -> Result<(), SubscriptionError> {
        let (compiled, matcher) = compile(&sub)?;
        if self.entry(tenant, &sub.id).is_some()
            || self.csource_entry(tenant, &sub.id).is_some()
            || !self.inner().store.create_subscription(tenant, &sub).await?
        {
            return Err(SubscriptionError::AlreadyExists(sub.id));
        }
        self.created_here(tenant, &sub.id);
        self.register_csource(tenant, sub, compiled, matcher, true);
        Ok(())
    }

    pub(crate) async fn replace_csource(
        &self,
        tenant: &Tenant,
        mut sub: Subscription,
    ) -> Result<(), SubscriptionError> {
        let (compiled, matcher) = compile(&sub)?;
        let Some(current) = self.csource_entry(tenant, &sub.id) else {
            return Err(SubscriptionError::NotFound(sub.id));
        };
        sub.delivery = current.shared.delivery();
        if !self
            .inner()
            .store
            .replace_subscription(tenant, &sub)
            .await?
        {
            return Err(SubscriptionError::NotFound(sub.id));
        }
        self.unregister_csource(tenant, &sub.id);
        self.register_csource(tenant, sub, compiled, matcher, true);
        Ok(())
    }

    /// Deletes a registration subscription; `false` when there was none.
    pub async fn delete_csource(
        &self,
        tenant: &Tenant,
        id: &str,
    ) -> Result<bool, SubscriptionError> {
        if self.csource_entry(tenant, id).is_none() {
            return Ok(false);
        }
        let deleted = self.inner().store.delete_subscription(tenant, id).await?;
        self.unregister_csource(tenant, id);
        Ok(deleted)
    }

    /// One registration subscription with its current counters.
    pub fn get_csource(&self, tenant: &Tenant, id: &str) -> Option<Subscription> {
        self.csource_entry(tenant, id).map(|e| e.shared.snapshot())
    }

    /// Every registration subscription of a tenant, oldest first (ties in id order).
    pub fn list_csource(&self, tenant: &Tenant) -> Vec<Subscription> {
        oldest_first(
            self.inner()
                .csource_registry()
                .get(tenant)
                .map(|subs| subs.values().map(|e| e.shared.snapshot()).collect())
                .unwrap_or_default(),
        )
    }

    /// A registration of `tenant` was created (`before` is `None`), updated, or deleted
    /// (`after` is `None`): notifies the registration subscriptions it matched or matches.
    /// With several processes sharing the store, only the registration subscriptions this
    /// process holds the lease of are notified here.
    pub fn registration_changed(
        &self,
        tenant: &Tenant,
        before: Option<&Registration>,
        after: Option<&Registration>,
    ) {
        self.notify_registration_change(tenant, before, after, None);
    }

    /// A registration change replayed for one registration subscription this process took
    /// over from another (which may not have notified it).
    pub fn registration_replayed(
        &self,
        before: Option<&Registration>,
        after: Option<&Registration>,
        subscription: &(Tenant, String),
    ) {
        self.notify_registration_change(&subscription.0, before, after, Some(&subscription.1));
    }

    fn notify_registration_change(
        &self,
        tenant: &Tenant,
        before: Option<&Registration>,
        after: Option<&Registration>,
        only: Option<&str>,
    ) {
        let inner = self.inner();
        let entries: Vec<Arc<Entry>> = match inner.csource_registry().get(tenant) {
            Some(subs) => subs.values().cloned().collect(),
            None => return,
        };
        let now = inner.clock.now();
        for entry in entries {
            let config = &entry.shared.config;
            if config.time_interval.is_some()
                || config.status(now) != SubscriptionStatus::Active
                || only.is_some_and(|id| id != config.id)
                || !inner.holds(tenant, &config.id)
            {
                continue;
            }
            let was = before.and_then(|r| entry.matcher.filter(r));
            let is = after.and_then(|r| entry.matcher.filter(r));
            let (reason, registration) = match (was, is) {
                (Some(_), Some(is)) => (TriggerReason::Updated, is),
                (None, Some(is)) => (TriggerReason::NewlyMatching, is),
                (Some(was), None) => (TriggerReason::NoLongerMatching, was),
                (None, None) => continue,
            };
            let job = Job {
                reason,
                registrations: vec![registration],
            };
            inner.enqueue(&entry, job);
        }
    }

    fn csource_entry(&self, tenant: &Tenant, id: &str) -> Option<Arc<Entry>> {
        self.inner()
            .csource_registry()
            .get(tenant)?
            .get(id)
            .cloned()
    }

    /// Makes the subscription live; a new or updated one (`fresh`) is notified of the
    /// registrations that match now.
    fn register_csource(
        &self,
        tenant: &Tenant,
        sub: Subscription,
        compiled: Compiled,
        matcher: RegistrationMatcher,
        fresh: bool,
    ) {
        let inner = self.inner_arc();
        let (tx, rx) = mpsc::channel(inner.options.queue_capacity.max(1));
        let periodic = sub.time_interval.is_some();
        let shared = Shared::new(tenant, sub, compiled);
        let matcher = Arc::new(matcher);
        let entry = Arc::new(Entry {
            shared: shared.clone(),
            matcher: matcher.clone(),
            queue: tx,
        });
        if fresh && !periodic {
            let now = inner.clock.now();
            let registrations = worker::current_matches(&inner, &shared, &matcher, now);
            if !registrations.is_empty() {
                let job = Job {
                    reason: TriggerReason::NewlyMatching,
                    registrations,
                };
                inner.enqueue(&entry, job);
            }
        }
        inner.runtime.spawn(worker::run(
            inner.clone(),
            shared.clone(),
            matcher,
            rx,
            fresh,
        ));
        let id = shared.config.id.clone();
        inner
            .csource_registry_mut()
            .entry(tenant.clone())
            .or_default()
            .insert(id, entry);
    }

    /// The shared state of a live registration subscription.
    pub(crate) fn csource_shared(&self, tenant: &Tenant, id: &str) -> Option<Arc<Shared>> {
        self.csource_entry(tenant, id).map(|e| e.shared.clone())
    }

    /// Drops a registration subscription from the registry (deleted by another process).
    pub(crate) fn forget_csource(&self, tenant: &Tenant, id: &str) {
        self.unregister_csource(tenant, id);
    }

    fn unregister_csource(&self, tenant: &Tenant, id: &str) {
        let inner = self.inner();
        let mut registry = inner.csource_registry_mut();
        if let Some(subs) = registry.get_mut(tenant) {
            if let Some(entry) = subs.remove(id) {
                entry.shared.retired.store(true, Ordering::Relaxed);
            }
            if subs.is_empty() {
                registry.remove(tenant);
            }
        }
    }
}
