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
    /// answers the subscriptions this process now holds.
    async fn hold(
        &self,
        wanted: &[SubscriptionKey],
    ) -> Result<HashSet<SubscriptionKey>, StorageError>;
}
