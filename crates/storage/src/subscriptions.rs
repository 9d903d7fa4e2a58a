//! Subscription storage: the durable copy of every subscription and of its delivery counters.
//! The broker serves subscriptions from memory; the store is what survives a restart.

use async_trait::async_trait;
use rigel_model::subscription::{DeliveryStatus, Subscription};
use rigel_model::Tenant;

use crate::StorageError;

/// Durable subscriptions, per tenant.
#[async_trait]
pub trait SubscriptionStore: Send + Sync + 'static {
    /// Stores a new subscription; `false` (and nothing written) when the tenant already has
    /// one with this id. Durable when it returns.
    async fn create_subscription(
        &self,
        tenant: &Tenant,
        subscription: &Subscription,
    ) -> Result<bool, StorageError>;

    /// Replaces a stored subscription (its delivery counters included); `false` when there
    /// is none with this id. Durable when it returns.
    async fn replace_subscription(
        &self,
        tenant: &Tenant,
        subscription: &Subscription,
    ) -> Result<bool, StorageError>;

    /// Deletes a subscription; `false` when there was none. Durable when it returns.
    async fn delete_subscription(&self, tenant: &Tenant, id: &str) -> Result<bool, StorageError>;

    /// Every stored subscription of every tenant, with its last saved delivery counters.
    async fn all_subscriptions(&self) -> Result<Vec<(Tenant, Subscription)>, StorageError>;

    /// Saves the delivery counters of several subscriptions in one commit; counters of
    /// subscriptions that no longer exist are skipped.
    async fn save_delivery_status(
        &self,
        statuses: Vec<(Tenant, String, DeliveryStatus)>,
    ) -> Result<(), StorageError>;
}
