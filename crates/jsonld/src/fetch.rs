//! Fetching remote @context documents over HTTP, with limits, and caching them per URL.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use json_ld::syntax::{Parse, TryFromJson};
use reqwest::header::{ACCEPT, CONTENT_LENGTH};
use serde_json::Value;

use crate::core::core_context;
use crate::error::JsonLdError;
use crate::sanitize::strip_scoped_contexts;

/// A fetched remote context document, validated and ready for json-ld.
#[derive(Debug)]
pub(crate) struct RemoteContextDocument {
    /// The URL the document was finally served from (after redirects): the base URL for
    /// relative context references inside it.
    pub(crate) final_url: String,
    /// The document (`{"@context": ...}`) with scoped contexts removed.
    pub(crate) document: json_ld::syntax::Value,
}

/// HTTP client plus a bounded per-URL cache of fetched documents.
pub(crate) struct Fetcher {
    client: reqwest::Client,
    timeout: Duration,
    max_bytes: usize,
    capacity: usize,
    documents: Mutex<HashMap<String, Arc<RemoteContextDocument>>>,
}

impl Fetcher {
    pub(crate) fn new(
        timeout: Duration,
        max_bytes: usize,
        max_redirects: usize,
        capacity: usize,
    ) -> Result<Self, JsonLdError> {
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout)
            .redirect(reqwest::redirect::Policy::limited(max_redirects))
            .user_agent(concat!("rigel/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| JsonLdError::Internal(format!("cannot build the HTTP client: {e}")))?;
        Ok(Self {
            client,
            timeout,
            max_bytes,
            capacity,
            documents: Mutex::new(HashMap::new()),
        })
    }

    /// The document at `url`, from the cache or fetched (and then cached).
    pub(crate) async fn get(&self, url: &str) -> Result<Arc<RemoteContextDocument>, JsonLdError> {
        if let Some(document) = self.lock().get(url) {
            return Ok(Arc::clone(document));
        }
        let document = Arc::new(self.fetch(url).await?);
        let mut documents = self.lock();
        if documents.len() >= self.capacity {
            evict_one(&mut documents);
        }
        if self.capacity > 0 {
            documents.insert(url.to_owned(), Arc::clone(&document));
        }
        Ok(document)
    }

    /// Drops every cached document.
    pub(crate) fn clear(&self) {
        self.lock().clear();
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<RemoteContextDocument>>> {
        self.documents
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    async fn fetch(&self, url: &str) -> Result<RemoteContextDocument, JsonLdError> {
        let parsed = reqwest::Url::parse(url)
            .map_err(|e| JsonLdError::Invalid(format!("@context URL {url} is not valid: {e}")))?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(JsonLdError::not_available(
                url,
                format!("the {} URL scheme cannot be fetched", parsed.scheme()),
            ));
        }
        tracing::debug!(%url, "fetching remote @context");
        let mut response = self
            .client
            .get(parsed)
            .header(ACCEPT, "application/ld+json, application/json")
            .send()
            .await
            .map_err(|e| JsonLdError::not_available(url, self.describe(&e)))?;
        let status = response.status();
        if !status.is_success() {
            return Err(JsonLdError::not_available(
                url,
                format!("HTTP status {status}"),
            ));
        }
        let too_big =
            || JsonLdError::not_available(url, format!("larger than {} bytes", self.max_bytes));
        let declared = response
            .headers()
            .get(CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if declared.is_some_and(|len| len > self.max_bytes as u64) {
            return Err(too_big());
        }
        let final_url = response.url().to_string();
        let mut body = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| JsonLdError::not_available(url, self.describe(&e)))?
        {
            if body.len() + chunk.len() > self.max_bytes {
                return Err(too_big());
            }
            body.extend_from_slice(&chunk);
        }
        let document = parse_context_document(url, &body)?;
        Ok(RemoteContextDocument {
            final_url,
            document,
        })
    }

    fn describe(&self, error: &reqwest::Error) -> String {
        if error.is_timeout() {
            format!("no complete response within {:?}", self.timeout)
        } else if error.is_redirect() {
            "too many redirects".to_owned()
        } else if error.is_connect() {
            format!("cannot connect: {}", source_chain(error))
        } else {
            source_chain(error)
        }
    }
}

/// Validates a fetched body and converts it for json-ld.
///
/// Clause 5.5.6: a remote @context that was retrieved but is invalid is `BadRequestData`;
/// that covers a body that is not JSON at all as much as JSON without a valid `@context`.
/// Only a context that could not be retrieved (network, non-2xx, limits) is
/// `LdContextNotAvailable`.
fn parse_context_document(url: &str, body: &[u8]) -> Result<json_ld::syntax::Value, JsonLdError> {
    let mut value: Value = serde_json::from_slice(body)
        .map_err(|e| JsonLdError::Invalid(format!("the @context at {url} is not JSON: {e}")))?;
    if value == *core_context() {
        // A mirror of the core context (e.g. a conformance-test server's copy): the core is
        // already applied, with precedence, so it contributes nothing here. Processing it
        // as a user context would make its `@protected` flag reject later definitions.
        value = serde_json::json!({"@context": {}});
    }
    let context = match &mut value {
        Value::Object(map) => map.get_mut("@context"),
        _ => None,
    };
    let Some(context) = context else {
        return Err(JsonLdError::Invalid(format!(
            "the document at {url} has no top-level \"@context\" member"
        )));
    };
    strip_scoped_contexts(context);
    let invalid = |e: &dyn std::fmt::Display| {
        JsonLdError::Invalid(format!("the @context at {url} is invalid: {e}"))
    };
    let text = serde_json::to_string(&value).map_err(|e| invalid(&e))?;
    let (document, _) = json_ld::syntax::Value::parse_str(&text).map_err(|e| invalid(&e))?;
    // Check the @context syntax now, so that only usable documents are cached.
    let context = document
        .as_object()
        .and_then(|o| o.get_unique("@context").ok().flatten());
    if let Some(context) = context {
        json_ld::syntax::context::Context::try_from_json(context.clone())
            .map_err(|e| invalid(&e))?;
    }
    Ok(document)
}

/// Removes one arbitrary entry (the map's iteration order is randomised per process).
pub(crate) fn evict_one<K: Clone + std::hash::Hash + Eq, V>(map: &mut HashMap<K, V>) {
    if let Some(key) = map.keys().next().cloned() {
        map.remove(&key);
    }
}

/// The error and its causes on one line (reqwest's top-level message alone is vague).
fn source_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
