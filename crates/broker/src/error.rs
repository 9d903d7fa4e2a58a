//! The broker's error type, in the spec's vocabulary through `kind()`.

use rigel_model::{ErrorKind, ModelError};
use rigel_storage::StorageError;
use rigel_subscriptions::SubscriptionError;

#[derive(Debug, thiserror::Error)]
pub enum BrokerError {
    #[error(transparent)]
    Model(#[from] ModelError),
    #[error(transparent)]
    Storage(#[from] StorageError),
    #[error("entity {0} already exists")]
    AlreadyExists(String),
    #[error("entity {0} not found")]
    EntityNotFound(String),
    #[error("attribute {attribute} not found in entity {entity}")]
    AttributeNotFound { entity: String, attribute: String },
    #[error("tenant {0} does not exist")]
    NonexistentTenant(String),
    #[error("entity {0} is being modified by too many concurrent writers, try again")]
    Contended(String),
    #[error("{0}")]
    TooManyResults(String),
    #[error(transparent)]
    Subscription(#[from] SubscriptionError),
    #[error("subscriptions are not available in this deployment")]
    SubscriptionsUnavailable,
    #[error("context source registration {0} not found")]
    RegistrationNotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error("context source registrations are not available in this deployment")]
    RegistrationsUnavailable,
    /// A write that already passed through this broker (its `Via` names it): a loop
    /// (6.3.17: 508 Loop Detected; no error type of the spec names it).
    #[error("the request already passed through this broker ({0}): a registration loop")]
    LoopDetected(String),
    /// The tenant holds as many subscriptions or registrations as the broker allows (403; no
    /// error type of the spec names it).
    #[error("{0}")]
    OverQuota(String),
    /// The write would make the entity larger than the broker stores (`--max-entity-bytes`).
    #[error("entity {id} would take about {bytes} bytes, more than the {limit} this broker stores per entity (--max-entity-bytes); remove attributes or instances first")]
    EntityTooLarge {
        id: String,
        bytes: usize,
        limit: usize,
    },
}

impl BrokerError {
    pub fn kind(&self) -> ErrorKind {
        match self {
            Self::Model(e) => e.kind(),
            Self::Storage(e) => e.kind(),
            Self::AlreadyExists(_) => ErrorKind::AlreadyExists,
            Self::EntityNotFound(_) | Self::AttributeNotFound { .. } => ErrorKind::ResourceNotFound,
            Self::NonexistentTenant(_) => ErrorKind::NonexistentTenant,
            Self::Contended(_) => ErrorKind::Conflict,
            Self::TooManyResults(_) => ErrorKind::TooManyResults,
            Self::Subscription(e) => e.kind(),
            Self::SubscriptionsUnavailable | Self::RegistrationsUnavailable => {
                ErrorKind::OperationNotSupported
            }
            Self::RegistrationNotFound(_) => ErrorKind::ResourceNotFound,
            Self::Conflict(_) | Self::LoopDetected(_) => ErrorKind::Conflict,
            Self::OverQuota(_) => ErrorKind::OperationNotSupported,
            Self::EntityTooLarge { .. } => ErrorKind::BadRequestData,
        }
    }

    /// The detail for the client.
    pub fn detail(&self) -> String {
        match self {
            Self::Model(e) => e.detail.clone(),
            other => other.to_string(),
        }
    }
}
