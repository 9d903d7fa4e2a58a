//! Subscriptions and Context Source Registrations, one document each in their tenant's
//! database, `{_id: id, body: JSON}`: a create enters its tenant in the catalog first (as an
//! entity write makes it exist); a save of statuses only touches documents that exist.

use async_trait::async_trait;
use futures::TryStreamExt;
use mongodb::bson::{doc, Document};
use rigel_model::registration::{ForwardingStatus, Registration};
use rigel_model::subscription::{DeliveryStatus, Subscription};
use rigel_model::Tenant;
use rigel_storage::{RegistrationStore, StorageError, SubscriptionStore};
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::error::{is_duplicate_key, storage_error};
use crate::{layout, leases, MongoStore};

/// A kind of document kept per tenant, by id.
trait Kept: Serialize + DeserializeOwned {
    type Status;
    const COLLECTION: &'static str;
    /// Whether the creating process takes the document's lease (it delivers it).
    const LEASED: bool;
    fn id(&self) -> &str;
    fn set_status(&mut self, status: Self::Status);
}

impl Kept for Subscription {
    type Status = DeliveryStatus;
    const COLLECTION: &'static str = layout::SUBSCRIPTIONS;
    const LEASED: bool = true;
    fn id(&self) -> &str {
        &self.id
    }
    fn set_status(&mut self, status: DeliveryStatus) {
        self.delivery = status;
    }
}

impl Kept for Registration {
    type Status = ForwardingStatus;
    const COLLECTION: &'static str = layout::REGISTRATIONS;
    const LEASED: bool = false;
    fn id(&self) -> &str {
        &self.id
    }
    fn set_status(&mut self, status: ForwardingStatus) {
        self.status = status;
    }
}

fn encode<D: Kept>(kept: &D) -> Result<Document, StorageError> {
    let body = serde_json::to_string(kept)
        .map_err(|e| StorageError::Corrupt(format!("document not serializable: {e}")))?;
    Ok(doc! {"_id": kept.id(), "body": body})
}

fn decode<D: Kept>(document: &Document) -> Result<D, StorageError> {
    let body = document
        .get_str("body")
        .map_err(|_| StorageError::Corrupt("stored document without a body".into()))?;
    serde_json::from_str(body)
        .map_err(|e| StorageError::Corrupt(format!("stored document unreadable: {e}")))
}

impl MongoStore {
    async fn create_kept<D: Kept>(&self, tenant: &Tenant, kept: &D) -> Result<bool, StorageError> {
        self.prepare(tenant).await?;
        self.register(tenant).await?;
        if D::LEASED {
            // Before the document exists, so that no other process takes it first.
            let position = self.position.lock().map(|p| p.clone()).unwrap_or_default();
            leases::take(&self.leases(), &self.holder, tenant, kept.id(), &position).await?;
        }
        match self
            .collection(tenant, D::COLLECTION)
            .insert_one(encode(kept)?)
            .await
        {
            Ok(_) => Ok(true),
            Err(e) if is_duplicate_key(&e) => Ok(false),
            Err(e) => Err(storage_error(e)),
        }
    }

    async fn replace_kept<D: Kept>(&self, tenant: &Tenant, kept: &D) -> Result<bool, StorageError> {
        let replaced = self
            .collection(tenant, D::COLLECTION)
            .replace_one(doc! {"_id": kept.id()}, encode(kept)?)
            .await
            .map_err(storage_error)?;
        Ok(replaced.matched_count == 1)
    }

    async fn delete_kept<D: Kept>(&self, tenant: &Tenant, id: &str) -> Result<bool, StorageError> {
        let deleted = self
            .collection(tenant, D::COLLECTION)
            .delete_one(doc! {"_id": id})
            .await
            .map_err(storage_error)?;
        Ok(deleted.deleted_count == 1)
    }

    async fn all_kept<D: Kept>(&self) -> Result<Vec<(Tenant, D)>, StorageError> {
        let mut all = Vec::new();
        for tenant in self.all_tenants().await? {
            let mut cursor = self
                .collection(&tenant, D::COLLECTION)
                .find(doc! {})
                .sort(doc! {"_id": 1})
                .await
                .map_err(storage_error)?;
            while let Some(document) = cursor.try_next().await.map_err(storage_error)? {
                all.push((tenant.clone(), decode(&document)?));
            }
        }
        Ok(all)
    }

    /// Reads each document, sets its status and writes it back if it is still the one read
    /// (a concurrent replacement wins over a status save).
    async fn save_statuses<D: Kept>(
        &self,
        statuses: Vec<(Tenant, String, D::Status)>,
    ) -> Result<(), StorageError> {
        for (tenant, id, status) in statuses {
            let collection = self.collection(&tenant, D::COLLECTION);
            let Some(stored) = collection
                .find_one(doc! {"_id": &id})
                .await
                .map_err(storage_error)?
            else {
                continue;
            };
            let body = stored.get_str("body").unwrap_or_default().to_owned();
            let mut kept: D = decode(&stored)?;
            kept.set_status(status);
            collection
                .replace_one(doc! {"_id": &id, "body": body}, encode(&kept)?)
                .await
                .map_err(storage_error)?;
        }
        Ok(())
    }
}

#[async_trait]
impl SubscriptionStore for MongoStore {
    async fn create_subscription(
        &self,
        tenant: &Tenant,
        subscription: &Subscription,
    ) -> Result<bool, StorageError> {
        self.create_kept(tenant, subscription).await
    }

    async fn replace_subscription(
        &self,
        tenant: &Tenant,
        subscription: &Subscription,
    ) -> Result<bool, StorageError> {
        self.replace_kept(tenant, subscription).await
    }

    async fn delete_subscription(&self, tenant: &Tenant, id: &str) -> Result<bool, StorageError> {
        self.delete_kept::<Subscription>(tenant, id).await
    }

    async fn all_subscriptions(&self) -> Result<Vec<(Tenant, Subscription)>, StorageError> {
        self.all_kept().await
    }

    async fn save_delivery_status(
        &self,
        statuses: Vec<(Tenant, String, DeliveryStatus)>,
    ) -> Result<(), StorageError> {
        self.save_statuses::<Subscription>(statuses).await
    }
}

#[async_trait]
impl RegistrationStore for MongoStore {
    async fn create_registration(
        &self,
        tenant: &Tenant,
        registration: &Registration,
    ) -> Result<bool, StorageError> {
        self.create_kept(tenant, registration).await
    }

    async fn replace_registration(
        &self,
        tenant: &Tenant,
        registration: &Registration,
    ) -> Result<bool, StorageError> {
        self.replace_kept(tenant, registration).await
    }

    async fn delete_registration(&self, tenant: &Tenant, id: &str) -> Result<bool, StorageError> {
        self.delete_kept::<Registration>(tenant, id).await
    }

    async fn all_registrations(&self) -> Result<Vec<(Tenant, Registration)>, StorageError> {
        self.all_kept().await
    }

    async fn save_forwarding_status(
        &self,
        statuses: Vec<(Tenant, String, ForwardingStatus)>,
    ) -> Result<(), StorageError> {
        self.save_statuses::<Registration>(statuses).await
    }
}
