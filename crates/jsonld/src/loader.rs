//! The json-ld document loader: core URLs from memory, everything else via the fetcher.

use std::sync::atomic::{AtomicUsize, Ordering};

use json_ld::syntax::Parse;
use json_ld::{Iri, IriBuf, LoadError, RemoteDocument};

use crate::core::is_core_context_url;
use crate::error::JsonLdError;
use crate::fetch::Fetcher;

/// Remote contexts one resolution may load (nested ones included): bounds the work a
/// single request can cause.
const MAX_REMOTE_CONTEXTS: usize = 32;

/// Loader for one resolution.
pub(crate) struct ContextLoader<'f> {
    fetcher: &'f Fetcher,
    loads: AtomicUsize,
}

impl<'f> ContextLoader<'f> {
    pub(crate) fn new(fetcher: &'f Fetcher) -> Self {
        Self {
            fetcher,
            loads: AtomicUsize::new(0),
        }
    }
}

impl json_ld::Loader for ContextLoader<'_> {
    async fn load(&self, url: &Iri) -> Result<RemoteDocument<IriBuf>, LoadError> {
        let target = url.to_owned();
        if is_core_context_url(url.as_str()) {
            // The core is already the initial active context (and is applied again, with
            // precedence, when the tables are built), so here it contributes nothing.
            let (empty, _) =
                json_ld::syntax::Value::parse_str(r#"{"@context": {}}"#).map_err(|e| {
                    LoadError::new(target.clone(), JsonLdError::Internal(e.to_string()))
                })?;
            return Ok(RemoteDocument::new(Some(target), None, empty));
        }
        if self.loads.fetch_add(1, Ordering::Relaxed) >= MAX_REMOTE_CONTEXTS {
            let error = JsonLdError::Invalid(format!(
                "more than {MAX_REMOTE_CONTEXTS} remote contexts to load"
            ));
            return Err(LoadError::new(target, error));
        }
        let fetched = self
            .fetcher
            .get(url.as_str())
            .await
            .map_err(|e| LoadError::new(target.clone(), e))?;
        let base = IriBuf::new(fetched.final_url.clone()).unwrap_or(target);
        Ok(RemoteDocument::new(
            Some(base),
            None,
            fetched.document.clone(),
        ))
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
