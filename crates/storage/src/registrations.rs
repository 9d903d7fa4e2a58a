//! Registration storage: the durable copy of every Context Source Registration and of its
//! forwarding status. The broker serves registrations from memory; the store is what
//! survives a restart.

use async_trait::async_trait;
use rigel_model::registration::{ForwardingStatus, Registration};
use rigel_model::Tenant;

use crate::StorageError;

/// Durable Context Source Registrations, per tenant.
#[async_trait]
pub trait RegistrationStore: Send + Sync + 'static {
    /// Stores a new registration; `false` (and nothing written) when the tenant already has
    /// one with this id. Makes the tenant exist. Durable when it returns.
    async fn create_registration(
        &self,
        tenant: &Tenant,
        registration: &Registration,
    ) -> Result<bool, StorageError>;

    /// Replaces a stored registration, keeping its stored forwarding status (which only
    /// [`RegistrationStore::add_forwarding_status`] changes, so that a broker replacing a
    /// registration neither undoes nor counts twice what brokers added); `false` when there
    /// is none with this id. Durable when it returns.
    async fn replace_registration(
        &self,
        tenant: &Tenant,
        registration: &Registration,
    ) -> Result<bool, StorageError>;

    /// Deletes a registration; `false` when there was none. Durable when it returns.
    async fn delete_registration(&self, tenant: &Tenant, id: &str) -> Result<bool, StorageError>;

    /// Every stored registration of every tenant, with its last saved forwarding status.
    async fn all_registrations(&self) -> Result<Vec<(Tenant, Registration)>, StorageError>;

    /// Adds forwarding counts to the stored status of several registrations
    /// ([`ForwardingStatus::absorb`]: counts add up, times take the later), atomically per
    /// registration, so that brokers sharing the store and forwarding under the same
    /// registration lose none of each other's counts. Counts for registrations that no
    /// longer exist are skipped.
    async fn add_forwarding_status(
        &self,
        counts: Vec<(Tenant, String, ForwardingStatus)>,
    ) -> Result<(), StorageError>;
}
