//! Durable Context Source Registrations: the `registrations` and `registration_status`
//! tables, written as documents with a status row (`documents`).

use async_trait::async_trait;
use rigel_model::registration::{ForwardingStatus, Registration};
use rigel_model::Tenant;
use rigel_storage::{RegistrationStore, StorageError};

use crate::documents::Document;
use crate::layout::{REGISTRATIONS, REGISTRATION_STATUS};
use crate::EmbeddedStore;

impl Document for Registration {
    type Status = ForwardingStatus;
    const DOCUMENTS: redb::TableDefinition<'static, &'static [u8], &'static [u8]> = REGISTRATIONS;
    const STATUSES: redb::TableDefinition<'static, &'static [u8], &'static [u8]> =
        REGISTRATION_STATUS;
    const KIND: &'static str = "registration";

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

    async fn save_forwarding_status(
        &self,
        statuses: Vec<(Tenant, String, ForwardingStatus)>,
    ) -> Result<(), StorageError> {
        self.save_statuses::<Registration>(statuses).await
    }
}
