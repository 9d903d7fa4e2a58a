//! Subscriptions kept in their tenant's space, delivery counters in place: a create makes
//! its tenant exist (as an entity write does); a save of counters only touches
//! subscriptions that exist.

use async_trait::async_trait;
use rigel_model::subscription::{DeliveryStatus, Subscription};
use rigel_model::Tenant;
use rigel_storage::{StorageError, SubscriptionStore};

use crate::MemoryStore;

#[async_trait]
impl SubscriptionStore for MemoryStore {
    async fn create_subscription(
        &self,
        tenant: &Tenant,
        subscription: &Subscription,
    ) -> Result<bool, StorageError> {
        let mut state = self.write()?;
        let space = state.spaces.entry(tenant.clone()).or_default();
        if space.subscriptions.contains_key(&subscription.id) {
            return Ok(false);
        }
        space
            .subscriptions
            .insert(subscription.id.clone(), subscription.clone());
        space.registered = true;
        Ok(true)
    }

    async fn replace_subscription(
        &self,
        tenant: &Tenant,
        subscription: &Subscription,
    ) -> Result<bool, StorageError> {
        let mut state = self.write()?;
        let stored = state
            .spaces
            .get_mut(tenant)
            .and_then(|space| space.subscriptions.get_mut(&subscription.id));
        Ok(match stored {
            Some(stored) => {
                stored.clone_from(subscription);
                true
            }
            None => false,
        })
    }

    async fn delete_subscription(&self, tenant: &Tenant, id: &str) -> Result<bool, StorageError> {
        let mut state = self.write()?;
        Ok(state
            .spaces
            .get_mut(tenant)
            .is_some_and(|space| space.subscriptions.remove(id).is_some()))
    }

    async fn all_subscriptions(&self) -> Result<Vec<(Tenant, Subscription)>, StorageError> {
        let state = self.read()?;
        Ok(state
            .spaces
            .iter()
            .flat_map(|(tenant, space)| {
                space
                    .subscriptions
                    .values()
                    .map(move |s| (tenant.clone(), s.clone()))
            })
            .collect())
    }

    async fn save_delivery_status(
        &self,
        statuses: Vec<(Tenant, String, DeliveryStatus)>,
    ) -> Result<(), StorageError> {
        let mut state = self.write()?;
        for (tenant, id, status) in statuses {
            let stored = state
                .spaces
                .get_mut(&tenant)
                .and_then(|space| space.subscriptions.get_mut(&id));
            if let Some(stored) = stored {
                stored.delivery = status;
            }
        }
        Ok(())
    }
}
