//! Subscriptions and Context Source Registrations, kept in their tenant's space with their
//! counters in place: a create makes its tenant exist (as an entity write does); a save of
//! counters only touches documents that exist.

use std::collections::BTreeMap;

use async_trait::async_trait;
use rigel_model::registration::{ForwardingStatus, Registration};
use rigel_model::subscription::{DeliveryStatus, Subscription};
use rigel_model::Tenant;
use rigel_storage::{RegistrationStore, StorageError, SubscriptionStore};

use crate::{MemoryStore, Space};

/// A kind of document kept per tenant, by id.
trait Document: Clone {
    type Status;
    fn id(&self) -> &str;
    fn set_status(&mut self, status: Self::Status);
    /// What a replacement `self` keeps of the `stored` document it replaces: nothing, but
    /// for registrations their forwarding counts (which change only by adding to them).
    fn keep_from(&mut self, _stored: &mut Self) {}
    /// Where a tenant's documents of this kind are.
    fn of(space: &mut Space) -> &mut BTreeMap<String, Self>;
    fn of_ref(space: &Space) -> &BTreeMap<String, Self>;
}

impl Document for Subscription {
    type Status = DeliveryStatus;
    fn id(&self) -> &str {
        &self.id
    }
    fn set_status(&mut self, status: DeliveryStatus) {
        self.delivery = status;
    }
    fn of(space: &mut Space) -> &mut BTreeMap<String, Self> {
        &mut space.subscriptions
    }
    fn of_ref(space: &Space) -> &BTreeMap<String, Self> {
        &space.subscriptions
    }
}

impl Document for Registration {
    type Status = ForwardingStatus;
    fn id(&self) -> &str {
        &self.id
    }
    fn keep_from(&mut self, stored: &mut Self) {
        self.status = std::mem::take(&mut stored.status);
    }
    fn set_status(&mut self, status: ForwardingStatus) {
        self.status = status;
    }
    fn of(space: &mut Space) -> &mut BTreeMap<String, Self> {
        &mut space.registrations
    }
    fn of_ref(space: &Space) -> &BTreeMap<String, Self> {
        &space.registrations
    }
}

impl MemoryStore {
    fn create_document<D: Document>(&self, tenant: &Tenant, doc: &D) -> Result<bool, StorageError> {
        let mut state = self.write()?;
        let space = state.spaces.entry(tenant.clone()).or_default();
        if D::of_ref(space).contains_key(doc.id()) {
            return Ok(false);
        }
        D::of(space).insert(doc.id().to_owned(), doc.clone());
        space.registered = true;
        Ok(true)
    }

    fn replace_document<D: Document>(
        &self,
        tenant: &Tenant,
        doc: &D,
    ) -> Result<bool, StorageError> {
        let mut state = self.write()?;
        let stored = state
            .spaces
            .get_mut(tenant)
            .and_then(|space| D::of(space).get_mut(doc.id()));
        Ok(match stored {
            Some(stored) => {
                let mut fresh = doc.clone();
                fresh.keep_from(stored);
                *stored = fresh;
                true
            }
            None => false,
        })
    }

    fn delete_document<D: Document>(
        &self,
        tenant: &Tenant,
        id: &str,
    ) -> Result<bool, StorageError> {
        let mut state = self.write()?;
        Ok(state
            .spaces
            .get_mut(tenant)
            .is_some_and(|space| D::of(space).remove(id).is_some()))
    }

    fn all_documents<D: Document>(&self) -> Result<Vec<(Tenant, D)>, StorageError> {
        let state = self.read()?;
        Ok(state
            .spaces
            .iter()
            .flat_map(|(tenant, space)| {
                D::of_ref(space)
                    .values()
                    .map(move |d| (tenant.clone(), d.clone()))
            })
            .collect())
    }

    fn save_statuses<D: Document>(
        &self,
        statuses: Vec<(Tenant, String, D::Status)>,
    ) -> Result<(), StorageError> {
        let mut state = self.write()?;
        for (tenant, id, status) in statuses {
            let stored = state
                .spaces
                .get_mut(&tenant)
                .and_then(|space| D::of(space).get_mut(&id));
            if let Some(stored) = stored {
                stored.set_status(status);
            }
        }
        Ok(())
    }
}

#[async_trait]
impl SubscriptionStore for MemoryStore {
    async fn create_subscription(
        &self,
        tenant: &Tenant,
        subscription: &Subscription,
    ) -> Result<bool, StorageError> {
        self.create_document(tenant, subscription)
    }

    async fn replace_subscription(
        &self,
        tenant: &Tenant,
        subscription: &Subscription,
    ) -> Result<bool, StorageError> {
        self.replace_document(tenant, subscription)
    }

    async fn delete_subscription(&self, tenant: &Tenant, id: &str) -> Result<bool, StorageError> {
        self.delete_document::<Subscription>(tenant, id)
    }

    async fn all_subscriptions(&self) -> Result<Vec<(Tenant, Subscription)>, StorageError> {
        self.all_documents()
    }

    async fn save_delivery_status(
        &self,
        statuses: Vec<(Tenant, String, DeliveryStatus)>,
    ) -> Result<(), StorageError> {
        self.save_statuses::<Subscription>(statuses)
    }
}

#[async_trait]
impl RegistrationStore for MemoryStore {
    async fn create_registration(
        &self,
        tenant: &Tenant,
        registration: &Registration,
    ) -> Result<bool, StorageError> {
        self.create_document(tenant, registration)
    }

    async fn replace_registration(
        &self,
        tenant: &Tenant,
        registration: &Registration,
    ) -> Result<bool, StorageError> {
        self.replace_document(tenant, registration)
    }

    async fn delete_registration(&self, tenant: &Tenant, id: &str) -> Result<bool, StorageError> {
        self.delete_document::<Registration>(tenant, id)
    }

    async fn all_registrations(&self) -> Result<Vec<(Tenant, Registration)>, StorageError> {
        self.all_documents()
    }

    async fn add_forwarding_status(
        &self,
        counts: Vec<(Tenant, String, ForwardingStatus)>,
    ) -> Result<(), StorageError> {
        let mut state = self.write()?;
        for (tenant, id, more) in counts {
            let stored = state
                .spaces
                .get_mut(&tenant)
                .and_then(|space| space.registrations.get_mut(&id));
            if let Some(stored) = stored {
                stored.status.absorb(&more);
            }
        }
        Ok(())
    }
}
