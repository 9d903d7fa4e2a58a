//! Durable subscriptions: the `subscriptions` and `subscription_status` tables (see the
//! `layout` module for how the two rows of a subscription relate).
//!
//! Subscription writes are rare (an API call, or a periodic flush of delivery counters), so
//! each runs as its own `Durability::Immediate` transaction on tokio's blocking pool instead
//! of going through the entity writer's queue. redb allows one write transaction at a time:
//! `begin_write` waits while the writer thread commits a batch, which is fine on a blocking
//! thread, and neither side ever waits for the other while holding the write lock, so they
//! cannot deadlock. After [`EmbeddedStore::close`] these writes fail with `Closed`, like
//! entity commits; one already running holds its own handle to the database and finishes.

use std::sync::Arc;

use async_trait::async_trait;
use redb::{Durability, ReadableDatabase, ReadableTable, WriteTransaction};
use rigel_model::subscription::{DeliveryStatus, Subscription};
use rigel_model::Tenant;
use rigel_storage::{StorageError, SubscriptionStore};

use crate::error::db_err;
use crate::layout::{self, SUBSCRIPTIONS, SUBSCRIPTION_STATUS, TENANTS};
use crate::EmbeddedStore;

/// A subscription encoded on the caller's task, ready for a write transaction.
struct Rows {
    key: Vec<u8>,
    tenant_name: Option<String>,
    document: Vec<u8>,
    status: Vec<u8>,
}

impl Rows {
    fn encode(tenant: &Tenant, subscription: &Subscription) -> Result<Self, StorageError> {
        let document = serde_json::to_vec(subscription).map_err(|e| {
            StorageError::Corrupt(format!(
                "subscription {} cannot be encoded: {e}",
                subscription.id
            ))
        })?;
        Ok(Self {
            key: key(tenant, &subscription.id),
            tenant_name: tenant.name().map(str::to_owned),
            document,
            status: encode_status(&subscription.id, &subscription.delivery)?,
        })
    }
}

fn key(tenant: &Tenant, id: &str) -> Vec<u8> {
    layout::subscription_key(&layout::tenant_prefix(tenant), id)
}

fn encode_status(id: &str, status: &DeliveryStatus) -> Result<Vec<u8>, StorageError> {
    serde_json::to_vec(status).map_err(|e| {
        StorageError::Corrupt(format!(
            "delivery status of subscription {id} cannot be encoded: {e}"
        ))
    })
}

impl EmbeddedStore {
    /// Runs `write` in one durable write transaction on the blocking pool. `write` says
    /// whether it changed anything: if not, the transaction is aborted (no sync to pay).
    async fn write_subscriptions<T, F>(&self, write: F) -> Result<T, StorageError>
    where
        T: Send + 'static,
        F: FnOnce(&WriteTransaction) -> Result<(T, bool), StorageError> + Send + 'static,
    {
        if !self.writer.is_open() {
            return Err(StorageError::Closed);
        }
        let db = Arc::clone(&self.db);
        tokio::task::spawn_blocking(move || {
            let mut txn = db.begin_write().map_err(db_err)?;
            txn.set_durability(Durability::Immediate).map_err(db_err)?;
            let (answer, changed) = write(&txn)?;
            if changed {
                txn.commit().map_err(db_err)?;
            } else {
                txn.abort().map_err(db_err)?;
            }
            Ok(answer)
        })
        .await
        .map_err(|_| StorageError::Closed)?
    }
}

/// Writes both rows of a subscription when its document's presence is `must_exist`.
fn put_rows(txn: &WriteTransaction, rows: &Rows, must_exist: bool) -> Result<bool, StorageError> {
    let mut documents = txn.open_table(SUBSCRIPTIONS).map_err(db_err)?;
    let exists = documents
        .get(rows.key.as_slice())
        .map_err(db_err)?
        .is_some();
    if exists != must_exist {
        return Ok(false);
    }
    documents
        .insert(rows.key.as_slice(), rows.document.as_slice())
        .map_err(db_err)?;
    let mut statuses = txn.open_table(SUBSCRIPTION_STATUS).map_err(db_err)?;
    statuses
        .insert(rows.key.as_slice(), rows.status.as_slice())
        .map_err(db_err)?;
    if let Some(name) = rows.tenant_name.as_deref() {
        let mut tenants = txn.open_table(TENANTS).map_err(db_err)?;
        tenants.insert(name, ()).map_err(db_err)?;
    }
    Ok(true)
}

fn delete_rows(txn: &WriteTransaction, key: &[u8]) -> Result<bool, StorageError> {
    let mut documents = txn.open_table(SUBSCRIPTIONS).map_err(db_err)?;
    let removed = documents.remove(key).map_err(db_err)?.is_some();
    let mut statuses = txn.open_table(SUBSCRIPTION_STATUS).map_err(db_err)?;
    statuses.remove(key).map_err(db_err)?;
    Ok(removed)
}

/// Writes the status rows whose subscription exists; whether any was written.
fn save_statuses(
    txn: &WriteTransaction,
    rows: &[(Vec<u8>, Vec<u8>)],
) -> Result<bool, StorageError> {
    let documents = txn.open_table(SUBSCRIPTIONS).map_err(db_err)?;
    let mut statuses = txn.open_table(SUBSCRIPTION_STATUS).map_err(db_err)?;
    let mut written = false;
    for (key, status) in rows {
        if documents.get(key.as_slice()).map_err(db_err)?.is_some() {
            statuses
                .insert(key.as_slice(), status.as_slice())
                .map_err(db_err)?;
            written = true;
        }
    }
    Ok(written)
}

/// Every subscription with its saved counters laid over its `delivery`, in one snapshot.
fn read_all(db: &redb::Database) -> Result<Vec<(Tenant, Subscription)>, StorageError> {
    let txn = db.begin_read().map_err(db_err)?;
    let documents = txn.open_table(SUBSCRIPTIONS).map_err(db_err)?;
    let statuses = txn.open_table(SUBSCRIPTION_STATUS).map_err(db_err)?;
    let mut all = Vec::new();
    for entry in documents.iter().map_err(db_err)? {
        let (key, document) = entry.map_err(db_err)?;
        let (tenant, id) = layout::split_subscription_key(key.value())?;
        let mut subscription: Subscription = serde_json::from_slice(document.value())
            .map_err(|e| StorageError::Corrupt(format!("stored subscription {id}: {e}")))?;
        if subscription.id != id {
            return Err(StorageError::Corrupt(format!(
                "subscription stored under {id} has the id {}",
                subscription.id
            )));
        }
        if let Some(status) = statuses.get(key.value()).map_err(db_err)? {
            subscription.delivery = serde_json::from_slice(status.value()).map_err(|e| {
                StorageError::Corrupt(format!("stored delivery status of {id}: {e}"))
            })?;
        }
        all.push((tenant, subscription));
    }
    Ok(all)
}

#[async_trait]
impl SubscriptionStore for EmbeddedStore {
    async fn create_subscription(
        &self,
        tenant: &Tenant,
        subscription: &Subscription,
    ) -> Result<bool, StorageError> {
        let rows = Rows::encode(tenant, subscription)?;
        self.write_subscriptions(move |txn| {
            let created = put_rows(txn, &rows, false)?;
            Ok((created, created))
        })
        .await
    }

    async fn replace_subscription(
        &self,
        tenant: &Tenant,
        subscription: &Subscription,
    ) -> Result<bool, StorageError> {
        let rows = Rows::encode(tenant, subscription)?;
        self.write_subscriptions(move |txn| {
            let replaced = put_rows(txn, &rows, true)?;
            Ok((replaced, replaced))
        })
        .await
    }

    async fn delete_subscription(&self, tenant: &Tenant, id: &str) -> Result<bool, StorageError> {
        let key = key(tenant, id);
        self.write_subscriptions(move |txn| {
            let deleted = delete_rows(txn, &key)?;
            Ok((deleted, deleted))
        })
        .await
    }

    async fn all_subscriptions(&self) -> Result<Vec<(Tenant, Subscription)>, StorageError> {
        self.read(read_all).await
    }

    async fn save_delivery_status(
        &self,
        statuses: Vec<(Tenant, String, DeliveryStatus)>,
    ) -> Result<(), StorageError> {
        if statuses.is_empty() {
            return Ok(());
        }
        let rows = statuses
            .iter()
            .map(|(tenant, id, status)| Ok((key(tenant, id), encode_status(id, status)?)))
            .collect::<Result<Vec<_>, StorageError>>()?;
        self.write_subscriptions(move |txn| Ok(((), save_statuses(txn, &rows)?)))
            .await
    }
}

#[cfg(test)]
mod tests;
