//! The json-ld document loaders: for resolution (core URLs from memory, served @contexts
//! from the store, Cached copies, downloads), and an offline one for validation.

use std::sync::atomic::{AtomicI64, AtomicUsize, Ordering};
use std::time::Duration;

use chrono::{DateTime, Utc};
use json_ld::syntax::Parse;
use json_ld::{Iri, IriBuf, LoadError, RemoteDocument};

use crate::core::is_core_context_url;
use crate::error::JsonLdError;
use crate::fetch::Fetcher;
use crate::store::ContextStore;

/// Remote contexts one resolution may load (nested ones included): bounds the work a
/// single request can cause.
const MAX_REMOTE_CONTEXTS: usize = 32;

/// Loader for one resolution.
pub(crate) struct ContextLoader<'r> {
    store: &'r ContextStore,
    fetcher: &'r Fetcher,
    /// Freshness given to downloads whose response does not say (`Cache-Control`).
    default_lifetime: Duration,
    loads: AtomicUsize,
    /// The earliest expiry of the Cached copies this resolution used, in milliseconds
    /// since the epoch (`i64::MAX`: none): the resolution is valid until then.
    expires_ms: AtomicI64,
}

impl<'r> ContextLoader<'r> {
    pub(crate) fn new(
        store: &'r ContextStore,
        fetcher: &'r Fetcher,
        default_lifetime: Duration,
    ) -> Self {
        Self {
            store,
            fetcher,
            default_lifetime,
            loads: AtomicUsize::new(0),
            expires_ms: AtomicI64::new(i64::MAX),
        }
    }

    /// Until when the contexts this loader loaded stay valid (`None`: no expiry).
    pub(crate) fn expires_at(&self) -> Option<DateTime<Utc>> {
        match self.expires_ms.load(Ordering::Relaxed) {
            i64::MAX => None,
            ms => DateTime::from_timestamp_millis(ms),
        }
    }
}

/// The empty context document: what a reference to the core contributes (the core is
/// the initial active context and is applied again, with precedence, afterwards).
fn empty_document(target: &IriBuf) -> Result<RemoteDocument<IriBuf>, LoadError> {
    let (empty, _) = json_ld::syntax::Value::parse_str(r#"{"@context": {}}"#)
        .map_err(|e| LoadError::new(target.clone(), JsonLdError::Internal(e.to_string())))?;
    Ok(RemoteDocument::new(Some(target.clone()), None, empty))
}

impl json_ld::Loader for ContextLoader<'_> {
    async fn load(&self, url: &Iri) -> Result<RemoteDocument<IriBuf>, LoadError> {
        let target = url.to_owned();
        if is_core_context_url(url.as_str()) {
            return empty_document(&target);
        }
        if self.loads.fetch_add(1, Ordering::Relaxed) >= MAX_REMOTE_CONTEXTS {
            let error = JsonLdError::Invalid(format!(
                "more than {MAX_REMOTE_CONTEXTS} remote contexts to load"
            ));
            return Err(LoadError::new(target, error));
        }
        if let Some(served) = self.store.served_for_url(url.as_str()) {
            return Ok(RemoteDocument::new(
                Some(target),
                None,
                served.prepared.clone(),
            ));
        }
        let entry = match self.store.fresh_cached(url.as_str(), Utc::now()) {
            Some(entry) => entry,
            None => {
                let fetched = self
                    .fetcher
                    .fetch(url.as_str())
                    .await
                    .map_err(|e| LoadError::new(target.clone(), e))?;
                let lifetime = fetched.max_age.unwrap_or(self.default_lifetime);
                self.store
                    .insert_cached(url.as_str(), fetched, lifetime, Utc::now())
            }
        };
        self.expires_ms
            .fetch_min(entry.expires_at.timestamp_millis(), Ordering::Relaxed);
        let base = IriBuf::new(entry.final_url.clone()).unwrap_or(target);
        Ok(RemoteDocument::new(
            Some(base),
            None,
            entry.document.clone(),
        ))
    }
}

/// A loader that never fetches: every referenced context is taken as empty. Validates a
/// context's own definitions without making the network a condition of storing it.
pub(crate) struct OfflineLoader;

impl json_ld::Loader for OfflineLoader {
    async fn load(&self, url: &Iri) -> Result<RemoteDocument<IriBuf>, LoadError> {
        empty_document(&url.to_owned())
    }
}

/// Maps a json-ld processing error to ours, recovering our own error from a failed load.
pub(crate) fn processing_error(error: json_ld::context_processing::Error) -> JsonLdError {
    use json_ld::context_processing::Error;
    match error {
        Error::ContextLoadingFailed(load) => match load.cause.downcast::<JsonLdError>() {
            Ok(ours) => *ours,
            Err(other) => JsonLdError::not_available(load.target.as_str(), other.to_string()),
        },
        Error::LoadingDocumentFailed => {
            JsonLdError::Invalid("a context reference is not an absolute URL".to_owned())
        }
        Error::ContextExtractionFailed(e) => {
            JsonLdError::Invalid(format!("a remote context is unusable: {e}"))
        }
        other => JsonLdError::Invalid(lowercase_first(&other.to_string())),
    }
}

fn lowercase_first(s: &str) -> String {
    let mut chars = s.chars();
    match chars.next() {
        Some(first) => first.to_lowercase().chain(chars).collect(),
        None => String::new(),
    }
}
