//! Subscriptions (clauses 5.8 and 5.11.x notification behaviour): matching committed changes
//! against subscriptions, building notifications and delivering them over HTTP and MQTT, with
//! a bounded queue and a delivery worker per subscription and durable delivery counters.

mod change;
mod compile;
mod csource;
mod deleted;
pub mod deliver;
mod drain;
mod join;
mod notification;
mod receipts;
mod registry;
mod replicas;
mod service;
mod worker;

#[cfg(test)]
mod tests;

use rigel_model::subscription::{RecordingTerms, Subscription, SubscriptionKind};
use rigel_model::{ErrorKind, TermMap};
use rigel_query::QueryError;
use rigel_storage::StorageError;

pub use compile::Compiled;
pub use csource::{RegistrationMatcher, RegistrationSource, TriggerReason};
pub use drain::{DeliveryReport, QueueDepth};
pub use service::{NotifyGate, ServiceOptions, SubscriptionService};

/// Errors of subscription management.
#[derive(Debug, thiserror::Error)]
pub enum SubscriptionError {
    #[error("a subscription with id {0} already exists")]
    AlreadyExists(String),
    #[error("subscription {0} not found")]
    NotFound(String),
    #[error("{0}")]
    Invalid(#[from] QueryError),
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// The outbound policy does not let the broker notify the endpoint.
    #[error("the notification endpoint {0}")]
    Endpoint(String),
}

impl SubscriptionError {
    pub fn kind(&self) -> ErrorKind {
        match self {
            Self::AlreadyExists(_) => ErrorKind::AlreadyExists,
            Self::NotFound(_) => ErrorKind::ResourceNotFound,
            Self::Invalid(e) => e.kind(),
            Self::Storage(e) => e.kind(),
            Self::Endpoint(_) => ErrorKind::BadRequestData,
        }
    }
}

/// Checks the subscription's query texts (q, geoQ, scopeQ, type selections, id patterns)
/// with the request's @context and freezes every term expansion they and the notification's
/// `pick`/`omit` use into `sub.terms`, so the subscription compiles the same way later.
/// Terms already frozen (an update of an existing subscription) keep their expansion.
pub fn freeze_terms(sub: &mut Subscription, terms: &dyn TermMap) -> Result<(), QueryError> {
    let layered = Layered {
        frozen: &sub.terms,
        request: terms,
    };
    let recording = RecordingTerms::new(&layered);
    match sub.kind {
        SubscriptionKind::Entities => drop(Compiled::compile(sub, &recording)?),
        SubscriptionKind::Registrations => drop(RegistrationMatcher::compile(sub, &recording)?),
    }
    for name in sub
        .notification
        .pick
        .iter()
        .chain(sub.notification.omit.iter())
        .flatten()
    {
        recording.expand(name);
    }
    let recorded = recording.into_recorded();
    sub.terms.extend(recorded);
    Ok(())
}

/// Frozen expansions first, then the request's @context.
struct Layered<'a> {
    frozen: &'a std::collections::BTreeMap<String, String>,
    request: &'a dyn TermMap,
}

impl TermMap for Layered<'_> {
    fn expand<'a>(&'a self, term: &'a str) -> std::borrow::Cow<'a, str> {
        match self.frozen.get(term) {
            Some(iri) => std::borrow::Cow::Borrowed(iri),
            None => self.request.expand(term),
        }
    }

    fn compact<'a>(&'a self, iri: &'a str) -> std::borrow::Cow<'a, str> {
        self.request.compact(iri)
    }
}
