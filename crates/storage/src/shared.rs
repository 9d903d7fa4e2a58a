//! What a backend that several broker processes share (replicas over one database) offers
//! them: a feed of every committed change, whichever process committed it, and leases by
//! which exactly one process at a time delivers each subscription.

use std::collections::HashSet;
use std::sync::Arc;

use async_trait::async_trait;
use rigel_model::registration::Registration;
use rigel_model::subscription::Subscription;
use rigel_model::Tenant;

use crate::{ChangeEvent, StorageError};

/// Receives what the feed reports. Calls come from the backend's feed task, in commit order,
/// and must not block.
pub trait FeedSink: Send + Sync + 'static {
    /// Entity changes committed by any process, those of one commit together.
    fn entities_changed(&self, events: Vec<ChangeEvent>);
    /// A stored subscription was created or replaced (`Some`) or deleted (`None`).
    fn subscription_changed(&self, tenant: Tenant, id: String, stored: Option<Subscription>);
    /// A stored registration was created or replaced (`Some`) or deleted (`None`).
    fn registration_changed(&self, tenant: Tenant, id: String, stored: Option<Registration>);
    /// Entity changes replayed for one subscription only: those its previous deliverer may
    /// not have notified when this process took it over.
    fn entities_replayed(&self, events: Vec<ChangeEvent>, subscription: &SubscriptionKey);
    /// A registration change replayed for one registration subscription only (its state
    /// before and after), one its previous deliverer may not have notified.
    fn registration_replayed(
        &self,
        _before: Option<Registration>,
        _after: Option<Registration>,
        _subscription: &SubscriptionKey,
    ) {
    }
    /// A shared @context record was stored (`Some`) or removed (`None`), by any process.
    fn context_changed(&self, _local_id: String, _record: Option<serde_json::Value>) {}
}

/// Served @contexts (Hosted, ImplicitlyCreated) kept in a backend several processes share,
/// as opaque JSON records keyed by their local id.
#[async_trait]
pub trait SharedContexts: Send + Sync + 'static {
    /// Every record, with its local id.
    async fn all_contexts(&self) -> Result<Vec<(String, serde_json::Value)>, StorageError>;
    /// Stores (or replaces) a record; durable when it returns.
    async fn put_context(
        &self,
        local_id: &str,
        record: &serde_json::Value,
    ) -> Result<(), StorageError>;
    /// Removes a record; removing a missing one succeeds. Durable when it returns.
    async fn delete_context(&self, local_id: &str) -> Result<(), StorageError>;
}

/// The leases a process holds after [`SharedBackend::hold`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Held {
    /// Every subscription this process now holds.
    pub keys: HashSet<SubscriptionKey>,
    /// Those it has just taken from another process, whose changes since that process last
    /// settled them [`SharedBackend::catch_up`] replays.
    pub taken_over: Vec<SubscriptionKey>,
}

/// A subscription as a lease names it.
pub type SubscriptionKey = (Tenant, String);

/// A backend shared by several processes.
#[async_trait]
pub trait SharedBackend: Send + Sync + 'static {
    /// Reports every change committed from now on to `sink`, until the backend closes; an
    /// interrupted feed (the database away) resumes where it stopped.
    fn follow(&self, sink: Arc<dyn FeedSink>);

    /// Renews this process's leases on the `wanted` subscriptions it holds, takes those
    /// whose lease has lapsed or that nobody holds, releases the ones no longer wanted, and
    /// answers the subscriptions this process now holds. `settled` tells which held
    /// subscriptions have nothing queued: for those the lease records that every change
    /// the feed has reported so far is dealt with, the point from which a process taking
    /// the subscription over replays.
    async fn hold(
        &self,
        wanted: &[SubscriptionKey],
        settled: &(dyn for<'k> Fn(&'k SubscriptionKey) -> bool + Send + Sync),
    ) -> Result<Held, StorageError>;

    /// For each subscription just taken over, replays to the sink's `entities_replayed` the
    /// changes from the point its previous holder recorded up to those the feed has
    /// reported here (call it once the subscriptions count as held, so that nothing falls
    /// between the replay and the feed; a change may be notified twice, none is skipped).
    fn catch_up(&self, taken_over: Vec<SubscriptionKey>);
}
