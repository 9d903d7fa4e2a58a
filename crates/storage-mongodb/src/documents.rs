//! Subscriptions and Context Source Registrations, one document each in their tenant's
//! database, `{_id: id, rev: revision, body: JSON}`: a create enters its tenant in the
//! catalog first (as an entity write makes it exist); a save of statuses only touches
//! documents that exist.
//!
//! Every write gives the document a higher revision (from the store's hybrid clock, above
//! the one it replaces) and notes it in [`Written`], so that the change feed can tell a
//! document's change that this process has already applied, or that a later local write
//! has overtaken, from one it has yet to take in.

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

fn encode<D: Kept>(kept: &D, rev: u64) -> Result<Document, StorageError> {
    let body = serde_json::to_string(kept)
        .map_err(|e| StorageError::Corrupt(format!("document not serializable: {e}")))?;
    Ok(doc! {"_id": kept.id(), "rev": crate::commit::signed(rev), "body": body})
}

/// The revision of a stored document (0 for one written before revisions).
pub(crate) fn revision(document: &Document) -> u64 {
    document.get_i64("rev").map_or(0, i64::unsigned_abs)
}

/// The latest revision this process wrote of each subscription and registration (a delete
/// counts with the revision it removed), until the feed reports that write.
#[derive(Debug, Default)]
pub(crate) struct Written(
    std::sync::Mutex<std::collections::HashMap<(String, Tenant, String), u64>>,
);

impl Written {
    fn note(&self, collection: &str, tenant: &Tenant, id: &str, rev: u64) {
        let mut written = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let entry = written
            .entry((collection.to_owned(), tenant.clone(), id.to_owned()))
            .or_default();
        *entry = (*entry).max(rev);
    }

    /// Forgets a revision noted for a write that did not happen.
    fn forget(&self, collection: &str, tenant: &Tenant, id: &str, rev: u64) {
        let mut written = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let key = (collection.to_owned(), tenant.clone(), id.to_owned());
        if written.get(&key) == Some(&rev) {
            written.remove(&key);
        }
    }

    /// Whether the feed should report a change of revision `rev`: not when this process
    /// made it (it applied it already) or has written a later revision since (the change is
    /// stale here).
    pub(crate) fn is_news(&self, collection: &str, tenant: &Tenant, id: &str, rev: u64) -> bool {
        let mut written = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let key = (collection.to_owned(), tenant.clone(), id.to_owned());
        match written.get(&key).copied() {
            Some(mine) if rev == mine => {
                written.remove(&key);
                false
            }
            Some(mine) => rev > mine,
            None => true,
        }
    }
}

/// Which brokers the change feed reports a rewrite to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Feed {
    /// The others: this one applied the change already ([`Written`]).
    OthersOnly,
    /// Every broker, the writer included.
    Everyone,
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
            leases::take(
                &self.leases(),
                &self.clock,
                &self.holder,
                tenant,
                kept.id(),
                &position,
            )
            .await?;
        }
        let rev = self.versions.next(0);
        self.written.note(D::COLLECTION, tenant, kept.id(), rev);
        match self
            .collection(tenant, D::COLLECTION)
            .insert_one(encode(kept, rev)?)
            .await
        {
            Ok(_) => Ok(true),
            Err(e) => {
                self.written.forget(D::COLLECTION, tenant, kept.id(), rev);
                if is_duplicate_key(&e) {
                    Ok(false)
                } else {
                    Err(storage_error(e))
                }
            }
        }
    }

    /// Writes `kept` over the stored document at a higher revision, unless `keep` says the
    /// stored one wins; retried when another write came in between. `false` when there is
    /// none.
    async fn rewrite<D: Kept>(
        &self,
        tenant: &Tenant,
        id: &str,
        feed: Feed,
        mut change: impl FnMut(D) -> Option<D>,
    ) -> Result<bool, StorageError> {
        let collection = self.collection(tenant, D::COLLECTION);
        loop {
            let Some(stored) = collection
                .find_one(doc! {"_id": id})
                .await
                .map_err(storage_error)?
            else {
                return Ok(false);
            };
            let current = revision(&stored);
            let Some(fresh) = change(decode(&stored)?) else {
                return Ok(true);
            };
            let rev = self.versions.next(current);
            if feed == Feed::OthersOnly {
                self.written.note(D::COLLECTION, tenant, id, rev);
            }
            let replaced = collection
                .replace_one(
                    doc! {"_id": id, "rev": stored.get("rev").cloned().unwrap_or(mongodb::bson::Bson::Null)},
                    encode(&fresh, rev)?,
                )
                .await
                .map_err(storage_error)?;
            if replaced.matched_count == 1 {
                return Ok(true);
            }
        }
    }

    async fn replace_kept<D: Kept + Clone>(
        &self,
        tenant: &Tenant,
        kept: &D,
    ) -> Result<bool, StorageError> {
        self.rewrite::<D>(tenant, kept.id(), Feed::OthersOnly, |_| Some(kept.clone()))
            .await
    }

    async fn delete_kept<D: Kept>(&self, tenant: &Tenant, id: &str) -> Result<bool, StorageError> {
        let collection = self.collection(tenant, D::COLLECTION);
        let Some(stored) = collection
            .find_one(doc! {"_id": id})
            .await
            .map_err(storage_error)?
        else {
            return Ok(false);
        };
        self.written
            .note(D::COLLECTION, tenant, id, revision(&stored));
        let deleted = collection
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

    /// Sets the status of each document that still exists.
    async fn save_statuses<D: Kept>(
        &self,
        statuses: Vec<(Tenant, String, D::Status)>,
    ) -> Result<(), StorageError>
    where
        D::Status: Clone,
    {
        for (tenant, id, status) in statuses {
            self.rewrite::<D>(&tenant, &id, Feed::OthersOnly, |mut kept| {
                kept.set_status(status.clone());
                Some(kept)
            })
            .await?;
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
        self.rewrite::<Registration>(tenant, &registration.id, Feed::OthersOnly, |stored| {
            let mut fresh = registration.clone();
            fresh.status = stored.status;
            Some(fresh)
        })
        .await
    }

    async fn delete_registration(&self, tenant: &Tenant, id: &str) -> Result<bool, StorageError> {
        self.delete_kept::<Registration>(tenant, id).await
    }

    async fn all_registrations(&self) -> Result<Vec<(Tenant, Registration)>, StorageError> {
        self.all_kept().await
    }

    async fn add_forwarding_status(
        &self,
        counts: Vec<(Tenant, String, ForwardingStatus)>,
    ) -> Result<(), StorageError> {
        // `rewrite` replaces a document only at the revision it read, so two brokers adding
        // at once both count. The feed reports the sum to this broker too: its registry
        // holds only what it counted itself.
        for (tenant, id, more) in counts {
            self.rewrite::<Registration>(&tenant, &id, Feed::Everyone, |mut kept| {
                kept.status.absorb(&more);
                Some(kept)
            })
            .await?;
        }
        Ok(())
    }
}
