//! A store several brokers share (MongoDB): its feed brings every committed change, from
//! whichever broker, to this broker's subscriptions, and the subscriptions and registrations
//! other brokers change into its registries; leases, renewed every two seconds, decide which
//! subscriptions this broker delivers, and a subscription taken over from a broker that
//! stopped renewing it first gets the changes that broker left undelivered (ADR 0006).

use std::sync::Arc;
use std::time::Duration;

use rigel_broker::Registry;
use rigel_model::registration::Registration;
use rigel_model::subscription::Subscription;
use rigel_model::Tenant;
use rigel_storage::{ChangeEvent, ChangeListener, FeedSink, Store, SubscriptionKey};
use rigel_subscriptions::SubscriptionService;

/// How often this broker renews its leases and takes lapsed ones.
const RENEW_EVERY: Duration = Duration::from_secs(2);

/// Where the store's feed goes.
pub(crate) struct Feed {
    pub subscriptions: SubscriptionService,
    pub registry: Arc<Registry>,
    /// Served @contexts other brokers add or delete.
    pub contexts: rigel_jsonld::ContextResolver,
}

impl FeedSink for Feed {
    fn entities_changed(&self, events: Vec<ChangeEvent>) {
        self.subscriptions.changed(events);
    }

    fn subscription_changed(&self, tenant: Tenant, id: String, stored: Option<Subscription>) {
        self.subscriptions.stored_changed(&tenant, &id, stored);
    }

    /// Another broker changed a registration: this one's registration subscriptions it holds
    /// the lease of are notified (that broker notified those it holds). Forwarding counts
    /// added by any broker, this one included, only update the registry: they are not a
    /// change a subscription hears of.
    fn registration_changed(&self, tenant: Tenant, id: String, stored: Option<Registration>) {
        let before = self.registry.stored_changed(&tenant, &id, stored.clone());
        if !counts_only(before.as_ref(), stored.as_ref()) {
            self.subscriptions
                .registration_changed(&tenant, before.as_ref(), stored.as_ref());
        }
    }

    fn registration_replayed(
        &self,
        before: Option<Registration>,
        after: Option<Registration>,
        subscription: &SubscriptionKey,
    ) {
        if !counts_only(before.as_ref(), after.as_ref()) {
            self.subscriptions
                .registration_replayed(before.as_ref(), after.as_ref(), subscription);
        }
    }

    fn entities_replayed(&self, events: Vec<ChangeEvent>, subscription: &SubscriptionKey) {
        self.subscriptions.replayed(events, subscription);
    }

    fn context_changed(&self, local_id: String, record: Option<serde_json::Value>) {
        self.contexts.shelved(&local_id, record);
    }
}

/// Whether a registration changed only in its forwarding counts.
fn counts_only(before: Option<&Registration>, after: Option<&Registration>) -> bool {
    match (before, after) {
        (Some(before), Some(after)) => {
            let mut same = before.clone();
            same.status.clone_from(&after.status);
            &same == after
        }
        _ => false,
    }
}

/// Renews and takes leases once; when the store cannot be asked, this broker delivers
/// nothing until it can (its leases lapse, and another broker may take them).
pub(crate) async fn hold_once(store: &Arc<dyn Store>, subscriptions: &SubscriptionService) {
    let Some(shared) = store.shared() else {
        return;
    };
    let settled = |(tenant, id): &SubscriptionKey| subscriptions.is_settled(tenant, id);
    // A subscription created here while the leases are renewed is not among the keys the
    // renewal started from, and the renewal releases its fresh lease: renew again with it
    // before deciding what this broker holds, or it would go undelivered until the next
    // renewal, its changes meanwhile never replayed.
    let mut wanted = subscriptions.keys();
    let mut renewed = shared.hold(&wanted, &settled).await;
    for _ in 0..3 {
        let now_wanted = subscriptions.keys();
        let Ok(held) = &renewed else { break };
        if now_wanted.iter().all(|k| wanted.contains(k)) {
            break;
        }
        // What the first renewal took over stays to be replayed.
        let taken_over = held.taken_over.clone();
        wanted = now_wanted;
        renewed = shared.hold(&wanted, &settled).await.map(|mut again| {
            again.taken_over.extend(taken_over);
            again
        });
    }
    match renewed {
        Ok(held) => {
            subscriptions.hold_only(held.keys);
            if !held.taken_over.is_empty() {
                tracing::info!(
                    subscriptions = held.taken_over.len(),
                    "took over subscriptions from a broker that stopped renewing them"
                );
                shared.catch_up(held.taken_over);
            }
        }
        Err(e) => {
            tracing::warn!("subscription leases not renewed, delivering none for now: {e}");
            subscriptions.hold_only(Default::default());
        }
    }
}

/// Keeps the leases up to date for as long as the server runs.
pub(crate) async fn hold_leases(store: Arc<dyn Store>, subscriptions: SubscriptionService) {
    loop {
        tokio::time::sleep(RENEW_EVERY).await;
        hold_once(&store, &subscriptions).await;
    }
}
