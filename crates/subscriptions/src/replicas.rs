//! Several broker processes over one shared database (ADR 0006): a subscription another
//! process created, replaced or deleted joins or leaves this one's registry as the store's
//! feed reports it, with the delivery counters its deliverer saved; and, once leases are in
//! force, this process notifies only the subscriptions it holds the lease of, entity and
//! registration subscriptions alike.

use std::collections::HashSet;

use rigel_model::subscription::{DeliveryStatus, Subscription, SubscriptionKind};
use rigel_model::Tenant;
use rigel_storage::SubscriptionKey;

use crate::compile::Compiled;
use crate::service::Inner;
use crate::SubscriptionService;

/// The subscription without its counters: what decides whether a stored copy is a new
/// configuration or only saved counters.
fn configuration(sub: &Subscription) -> Subscription {
    Subscription {
        delivery: DeliveryStatus::default(),
        ..sub.clone()
    }
}

impl Inner {
    /// Whether this process notifies the entity subscription: always, until leases are in
    /// force; then only when it holds the lease.
    pub(crate) fn holds(&self, tenant: &Tenant, id: &str) -> bool {
        let held = self.held.read().unwrap_or_else(|p| p.into_inner());
        held.as_ref()
            .is_none_or(|held| held.contains(&(tenant.clone(), id.to_owned())))
    }
}

impl SubscriptionService {
    /// Notifies from now on only the entity subscriptions in `held` (the leases this process
    /// holds); changes offered before stay queued.
    pub fn hold_only(&self, held: HashSet<SubscriptionKey>) {
        *self.inner().held.write().unwrap_or_else(|p| p.into_inner()) = Some(held);
    }

    /// Marks one subscription as held (one this process just created and leased).
    fn hold_one(&self, tenant: &Tenant, id: &str) {
        let mut held = self.inner().held.write().unwrap_or_else(|p| p.into_inner());
        if let Some(held) = held.as_mut() {
            held.insert((tenant.clone(), id.to_owned()));
        }
    }

    /// Whether the entity subscription has nothing queued (everything offered to it so far
    /// is notified or given up on).
    pub fn is_settled(&self, tenant: &Tenant, id: &str) -> bool {
        let shared = self
            .entry(tenant, id)
            .map(|e| e.shared.clone())
            .or_else(|| self.csource_shared(tenant, id));
        shared.is_none_or(|s| s.queued.load(std::sync::atomic::Ordering::Acquire) == 0)
    }

    /// Changes replayed for one subscription this process took over from another.
    pub fn replayed(
        &self,
        events: Vec<rigel_storage::ChangeEvent>,
        subscription: &SubscriptionKey,
    ) {
        self.route(events, Some(subscription));
    }

    /// Every subscription this process knows, of either kind: what it wants leases on.
    pub fn keys(&self) -> Vec<SubscriptionKey> {
        self.inner()
            .registry_snapshot()
            .into_iter()
            .map(|shared| (shared.tenant.clone(), shared.config.id.clone()))
            .collect()
    }

    /// Takes in a subscription as stored, after a change the feed reported (made by any
    /// process, this one included): a new one joins the registry, a new configuration
    /// replaces the live one, saved counters replace those of a subscription this process
    /// does not deliver, and a deleted one leaves.
    pub fn stored_changed(&self, tenant: &Tenant, id: &str, stored: Option<Subscription>) {
        let Some(sub) = stored else {
            self.unregister(tenant, id);
            self.forget_csource(tenant, id);
            return;
        };
        let live = self
            .entry(tenant, id)
            .map(|e| e.shared.clone())
            .or_else(|| self.csource_shared(tenant, id));
        if let Some(live) = live {
            if configuration(&live.config) == configuration(&sub) {
                if !self.inner().holds(tenant, id) {
                    *live.delivery.lock().unwrap_or_else(|p| p.into_inner()) = sub.delivery;
                }
                return;
            }
        }
        if sub.kind == SubscriptionKind::Registrations {
            self.forget_csource(tenant, id);
            self.load_csource(tenant, sub);
            return;
        }
        match Compiled::compile(&sub, &sub.frozen_terms()) {
            Ok(compiled) => {
                self.unregister(tenant, id);
                self.register(tenant, sub, compiled);
            }
            Err(e) => {
                tracing::error!(subscription = %id, "a subscription stored by another broker does not compile here: {e}")
            }
        }
    }

    /// After this process created a subscription (and its store leased it here).
    pub(crate) fn created_here(&self, tenant: &Tenant, id: &str) {
        self.hold_one(tenant, id);
    }
}
