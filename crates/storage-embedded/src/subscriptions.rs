//! Durable subscriptions: the `subscriptions` and `subscription_status` tables, written as
//! documents with a status row (`documents`).

use async_trait::async_trait;
use rigel_model::subscription::{DeliveryStatus, Subscription};
use rigel_model::Tenant;
use rigel_storage::{StorageError, SubscriptionStore};

use crate::documents::Document;
use crate::layout::{SUBSCRIPTIONS, SUBSCRIPTION_STATUS};
use crate::EmbeddedStore;

impl Document for Subscription {
    type Status = DeliveryStatus;
    const DOCUMENTS: redb::TableDefinition<'static, &'static [u8], &'static [u8]> = SUBSCRIPTIONS;
    const STATUSES: redb::TableDefinition<'static, &'static [u8], &'static [u8]> =
        SUBSCRIPTION_STATUS;
    const KIND: &'static str = "subscription";
    const REPLACE_KEEPS_STATUS: bool = false;

    fn id(&self) -> &str {
        &self.id
    }

    fn status(&self) -> &DeliveryStatus {
        &self.delivery
    }

    fn set_status(&mut self, status: DeliveryStatus) {
        self.delivery = status;
    }
}

#[async_trait]
impl SubscriptionStore for EmbeddedStore {
    async fn create_subscription(
        &self,
        tenant: &Tenant,
        subscription: &Subscription,
    ) -> Result<bool, StorageError> {
        self.put_document(tenant, subscription, false).await
    }

    async fn replace_subscription(
        &self,
        tenant: &Tenant,
        subscription: &Subscription,
    ) -> Result<bool, StorageError> {
        self.put_document(tenant, subscription, true).await
    }

    async fn delete_subscription(&self, tenant: &Tenant, id: &str) -> Result<bool, StorageError> {
        self.delete_document::<Subscription>(tenant, id).await
    }

    async fn all_subscriptions(&self) -> Result<Vec<(Tenant, Subscription)>, StorageError> {
        self.all_documents().await
    }

    async fn save_delivery_status(
        &self,
        statuses: Vec<(Tenant, String, DeliveryStatus)>,
    ) -> Result<(), StorageError> {
        self.save_statuses::<Subscription>(statuses).await
    }
}

#[cfg(test)]
mod tests;
