//! Documents kept beside the entities with a status row of their own: subscriptions with
//! their delivery counters, Context Source Registrations with their forwarding status. Each
//! is a JSON document keyed (tenant, id) in one table and its status in another (see
//! `layout`), so that saving counters never rewrites the document.
//!
//! These writes are rare (an API call, or a periodic flush of counters), so each runs as its
//! own `Durability::Immediate` transaction on tokio's blocking pool instead of going through
//! the entity writer's queue. redb allows one write transaction at a time: `begin_write`
//! waits while the writer thread commits a batch, which is fine on a blocking thread, and
//! neither side ever waits for the other while holding the write lock, so they cannot
//! deadlock. After [`EmbeddedStore::close`] these writes fail with `Closed`, like entity
//! commits; one already running holds its own handle to the database and finishes.

use redb::{Durability, ReadableDatabase, ReadableTable, TableDefinition, WriteTransaction};
use rigel_model::Tenant;
use rigel_storage::StorageError;
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::error::{db_err, LATCHED};
use crate::layout::{self, TENANTS};
use crate::EmbeddedStore;

type Table = TableDefinition<'static, &'static [u8], &'static [u8]>;

/// A kind of document and where it is kept.
pub(crate) trait Document: Serialize + DeserializeOwned + Send + Sync + 'static {
    type Status: Serialize + DeserializeOwned + Send + Sync + 'static;
    /// (tenant, id) -> the document's JSON.
    const DOCUMENTS: Table;
    /// (tenant, id) -> the status's JSON.
    const STATUSES: Table;
    /// What the document is, for error messages.
    const KIND: &'static str;
    /// Whether a replacement keeps the stored status row (registrations: their forwarding
    /// counts change only by adding to them).
    const REPLACE_KEEPS_STATUS: bool;

    fn id(&self) -> &str;
    fn status(&self) -> &Self::Status;
    fn set_status(&mut self, status: Self::Status);
}

/// A document encoded on the caller's task, ready for a write transaction.
pub(crate) struct Rows {
    key: Vec<u8>,
    tenant_name: Option<String>,
    document: Vec<u8>,
    status: Vec<u8>,
}

impl Rows {
    pub(crate) fn encode<D: Document>(tenant: &Tenant, doc: &D) -> Result<Self, StorageError> {
        let document = serde_json::to_vec(doc).map_err(|e| {
            StorageError::Corrupt(format!("{} {} cannot be encoded: {e}", D::KIND, doc.id()))
        })?;
        Ok(Self {
            key: key(tenant, doc.id()),
            tenant_name: tenant.name().map(str::to_owned),
            document,
            status: encode_status::<D>(doc.id(), doc.status())?,
        })
    }
}

pub(crate) fn key(tenant: &Tenant, id: &str) -> Vec<u8> {
    layout::subscription_key(&layout::tenant_prefix(tenant), id)
}

/// A status row as stored.
pub(crate) fn decode_status<D: Document>(id: &str, row: &[u8]) -> Result<D::Status, StorageError> {
    serde_json::from_slice(row)
        .map_err(|e| StorageError::Corrupt(format!("stored status of {} {id}: {e}", D::KIND)))
}

pub(crate) fn encode_status<D: Document>(
    id: &str,
    status: &D::Status,
) -> Result<Vec<u8>, StorageError> {
    serde_json::to_vec(status).map_err(|e| {
        StorageError::Corrupt(format!("status of {} {id} cannot be encoded: {e}", D::KIND))
    })
}

impl EmbeddedStore {
    /// Runs `write` in one durable write transaction on the blocking pool. `write` says
    /// whether it changed anything: if not, the transaction is aborted (no sync to pay).
    pub(crate) async fn write_documents<T, F>(&self, write: F) -> Result<T, StorageError>
    where
        T: Send + 'static,
        F: FnOnce(&WriteTransaction) -> Result<(T, bool), StorageError> + Send + 'static,
    {
        if !self.writer.is_open() {
            return Err(StorageError::Closed);
        }
        let db = self.db.get()?;
        let written = tokio::task::spawn_blocking(move || {
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
        .map_err(|_| StorageError::Closed)?;
        match written {
            Err(StorageError::Io(reason)) => self.recover_after(reason).await,
            Err(StorageError::Unavailable(reason)) if reason == LATCHED => {
                self.recover_after(reason).await
            }
            other => other,
        }
    }

    /// After a failed document write: redb fails everything after an I/O error until it is
    /// opened again, which the writer does, woken by an empty job.
    async fn recover_after<T>(&self, reason: String) -> Result<T, StorageError> {
        self.refused.report(reason.clone());
        let _ = self.writer.submit(crate::writer::Job::empty()).await;
        Err(StorageError::Unavailable(reason))
    }

    /// Stores a new document or replaces one (`must_exist`); whether it did.
    pub(crate) async fn put_document<D: Document>(
        &self,
        tenant: &Tenant,
        doc: &D,
        must_exist: bool,
    ) -> Result<bool, StorageError> {
        let rows = Rows::encode(tenant, doc)?;
        self.write_documents(move |txn| {
            let written = put_rows::<D>(txn, &rows, must_exist)?;
            Ok((written, written))
        })
        .await
    }

    /// Deletes a document and its status; whether there was one.
    pub(crate) async fn delete_document<D: Document>(
        &self,
        tenant: &Tenant,
        id: &str,
    ) -> Result<bool, StorageError> {
        let key = key(tenant, id);
        self.write_documents(move |txn| {
            let deleted = delete_rows::<D>(txn, &key)?;
            Ok((deleted, deleted))
        })
        .await
    }

    /// Saves the statuses of documents that exist, in one commit.
    pub(crate) async fn save_statuses<D: Document>(
        &self,
        statuses: Vec<(Tenant, String, D::Status)>,
    ) -> Result<(), StorageError> {
        if statuses.is_empty() {
            return Ok(());
        }
        let rows = statuses
            .iter()
            .map(|(tenant, id, status)| Ok((key(tenant, id), encode_status::<D>(id, status)?)))
            .collect::<Result<Vec<_>, StorageError>>()?;
        self.write_documents(move |txn| Ok(((), save_status_rows::<D>(txn, &rows)?)))
            .await
    }

    /// Every document of every tenant with its saved status, in one snapshot.
    pub(crate) async fn all_documents<D: Document>(
        &self,
    ) -> Result<Vec<(Tenant, D)>, StorageError> {
        self.read(read_all::<D>).await
    }
}

/// Writes both rows of a document when its presence is `must_exist`.
fn put_rows<D: Document>(
    txn: &WriteTransaction,
    rows: &Rows,
    must_exist: bool,
) -> Result<bool, StorageError> {
    let mut documents = txn.open_table(D::DOCUMENTS).map_err(db_err)?;
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
    if !(must_exist && D::REPLACE_KEEPS_STATUS) {
        let mut statuses = txn.open_table(D::STATUSES).map_err(db_err)?;
        statuses
            .insert(rows.key.as_slice(), rows.status.as_slice())
            .map_err(db_err)?;
    }
    if let Some(name) = rows.tenant_name.as_deref() {
        let mut tenants = txn.open_table(TENANTS).map_err(db_err)?;
        tenants.insert(name, ()).map_err(db_err)?;
    }
    Ok(true)
}

fn delete_rows<D: Document>(txn: &WriteTransaction, key: &[u8]) -> Result<bool, StorageError> {
    let mut documents = txn.open_table(D::DOCUMENTS).map_err(db_err)?;
    let removed = documents.remove(key).map_err(db_err)?.is_some();
    let mut statuses = txn.open_table(D::STATUSES).map_err(db_err)?;
    statuses.remove(key).map_err(db_err)?;
    Ok(removed)
}

/// Writes the status rows whose document exists; whether any was written.
fn save_status_rows<D: Document>(
    txn: &WriteTransaction,
    rows: &[(Vec<u8>, Vec<u8>)],
) -> Result<bool, StorageError> {
    let documents = txn.open_table(D::DOCUMENTS).map_err(db_err)?;
    let mut statuses = txn.open_table(D::STATUSES).map_err(db_err)?;
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

/// Every document with its saved status laid over it, in one snapshot.
fn read_all<D: Document>(db: &redb::Database) -> Result<Vec<(Tenant, D)>, StorageError> {
    let txn = db.begin_read().map_err(db_err)?;
    let documents = txn.open_table(D::DOCUMENTS).map_err(db_err)?;
    let statuses = txn.open_table(D::STATUSES).map_err(db_err)?;
    let mut all = Vec::new();
    for entry in documents.iter().map_err(db_err)? {
        let (key, document) = entry.map_err(db_err)?;
        let (tenant, id) = layout::split_subscription_key(key.value())?;
        let mut doc: D = serde_json::from_slice(document.value())
            .map_err(|e| StorageError::Corrupt(format!("stored {} {id}: {e}", D::KIND)))?;
        if doc.id() != id {
            return Err(StorageError::Corrupt(format!(
                "{} stored under {id} has the id {}",
                D::KIND,
                doc.id()
            )));
        }
        if let Some(status) = statuses.get(key.value()).map_err(db_err)? {
            doc.set_status(decode_status::<D>(&id, status.value())?);
        }
        all.push((tenant, doc));
    }
    Ok(all)
}
