//! Durable Context Source Registrations: the `registrations` and `registration_status`
//! tables, written as documents with a status row (`documents`).

use async_trait::async_trait;
use redb::ReadableTable;
use rigel_model::registration::{ForwardingStatus, Registration};
use rigel_model::Tenant;
use rigel_storage::{RegistrationStore, StorageError};

use crate::documents::{self, Document};
use crate::error::db_err;
use crate::layout::{REGISTRATIONS, REGISTRATION_STATUS};
use crate::EmbeddedStore;

impl Document for Registration {
    type Status = ForwardingStatus;
    const DOCUMENTS: redb::TableDefinition<'static, &'static [u8], &'static [u8]> = REGISTRATIONS;
    const STATUSES: redb::TableDefinition<'static, &'static [u8], &'static [u8]> =
        REGISTRATION_STATUS;
    const KIND: &'static str = "registration";
    const REPLACE_KEEPS_STATUS: bool = true;

    fn id(&self) -> &str {
        &self.id
    }

    fn status(&self) -> &ForwardingStatus {
        &self.status
    }

    fn set_status(&mut self, status: ForwardingStatus) {
        self.status = status;
    }
}

#[async_trait]
impl RegistrationStore for EmbeddedStore {
    async fn create_registration(
        &self,
        tenant: &Tenant,
        registration: &Registration,
    ) -> Result<bool, StorageError> {
        self.put_document(tenant, registration, false).await
    }

    async fn replace_registration(
        &self,
        tenant: &Tenant,
        registration: &Registration,
    ) -> Result<bool, StorageError> {
        self.put_document(tenant, registration, true).await
    }

    async fn delete_registration(&self, tenant: &Tenant, id: &str) -> Result<bool, StorageError> {
        self.delete_document::<Registration>(tenant, id).await
    }

    async fn all_registrations(&self) -> Result<Vec<(Tenant, Registration)>, StorageError> {
        self.all_documents().await
    }

    async fn add_forwarding_status(
        &self,
        counts: Vec<(Tenant, String, ForwardingStatus)>,
    ) -> Result<(), StorageError> {
        if counts.is_empty() {
            return Ok(());
        }
        let counts: Vec<(Vec<u8>, String, ForwardingStatus)> = counts
            .into_iter()
            .map(|(tenant, id, more)| (documents::key(&tenant, &id), id, more))
            .collect();
        self.write_documents(move |txn| Ok(((), add_counts(txn, &counts)?)))
            .await
    }
}

/// Adds each registration's counts to its status row, in `txn`; whether any was written.
fn add_counts(
    txn: &redb::WriteTransaction,
    counts: &[(Vec<u8>, String, ForwardingStatus)],
) -> Result<bool, StorageError> {
    let registrations = txn.open_table(REGISTRATIONS).map_err(db_err)?;
    let mut statuses = txn.open_table(REGISTRATION_STATUS).map_err(db_err)?;
    let mut written = false;
    for (key, id, more) in counts {
        if registrations.get(key.as_slice()).map_err(db_err)?.is_none() {
            continue;
        }
        let mut status = match statuses.get(key.as_slice()).map_err(db_err)? {
            Some(row) => documents::decode_status::<Registration>(id, row.value())?,
            None => ForwardingStatus::default(),
        };
        status.absorb(more);
        let row = documents::encode_status::<Registration>(id, &status)?;
        statuses
            .insert(key.as_slice(), row.as_slice())
            .map_err(db_err)?;
        written = true;
    }
    Ok(written)
}
