//! Fetching remote @context documents over HTTP, with limits.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use rigel_egress::header::{HeaderMap, CACHE_CONTROL};
use rigel_egress::{Call, Egress, EgressError, Method, Url};
use serde_json::Value;

use crate::error::JsonLdError;
use crate::sanitize::prepare_document;

/// A remote context document as fetched, validated and ready for json-ld.
#[derive(Debug)]
pub(crate) struct Fetched {
    /// The URL the document was finally served from (after redirects): the base URL for
    /// relative context references inside it.
    pub(crate) final_url: String,
    /// The document (`{"@context": ...}`) with scoped contexts removed.
    pub(crate) document: json_ld::syntax::Value,
    /// How long HTTP caching allows the copy to be used (`Cache-Control`), when it says.
    pub(crate) max_age: Option<Duration>,
}

/// The outbound client and the limits of remote context fetches. Caching is the
/// [`crate::store::ContextStore`]'s business.
pub(crate) struct Fetcher {
    egress: Egress,
    timeout: Duration,
    max_bytes: usize,
    /// Downloads that gave a usable document, and those that did not, since the start.
    succeeded: AtomicU64,
    failed: AtomicU64,
}

/// Remote @context downloads since the start (for metrics).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FetchCounts {
    pub succeeded: u64,
    pub failed: u64,
}

impl Fetcher {
    pub(crate) fn new(egress: Egress, timeout: Duration, max_bytes: usize) -> Self {
        Self {
            egress,
            timeout,
            max_bytes,
            succeeded: AtomicU64::new(0),
            failed: AtomicU64::new(0),
        }
    }

    pub(crate) fn counts(&self) -> FetchCounts {
        FetchCounts {
            succeeded: self.succeeded.load(Ordering::Relaxed),
            failed: self.failed.load(Ordering::Relaxed),
        }
    }

    /// Downloads and validates the context document at `url`, counting the outcome.
    pub(crate) async fn fetch(&self, url: &str) -> Result<Fetched, JsonLdError> {
        let result = self.download(url).await;
        let counter = match result {
            Ok(_) => &self.succeeded,
            Err(_) => &self.failed,
        };
        counter.fetch_add(1, Ordering::Relaxed);
        result
    }

    async fn download(&self, url: &str) -> Result<Fetched, JsonLdError> {
        let parsed = Url::parse(url)
            .map_err(|e| JsonLdError::Invalid(format!("@context URL {url} is not valid: {e}")))?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(JsonLdError::not_available(
                url,
                format!("the {} URL scheme cannot be fetched", parsed.scheme()),
            ));
        }
        tracing::debug!(%url, "fetching remote @context");
        let call = Call {
            method: Method::GET,
            url: url.to_owned(),
            headers: vec![(
                "Accept".to_owned(),
                "application/ld+json, application/json".to_owned(),
            )],
            body: None,
            timeout: Some(self.timeout),
        };
        let answer = self
            .egress
            .fetch(call, self.max_bytes)
            .await
            .map_err(|e| JsonLdError::not_available(url, self.describe(&e)))?;
        if !(200..300).contains(&answer.status) {
            return Err(JsonLdError::not_available(
                url,
                format!("HTTP status {}", answer.status),
            ));
        }
        let document = parse_context_document(url, &answer.body)?;
        Ok(Fetched {
            final_url: answer.url,
            document,
            max_age: max_age(&answer.headers),
        })
    }

    fn describe(&self, error: &EgressError) -> String {
        match error {
            EgressError::Timeout(_) => format!("no complete response within {:?}", self.timeout),
            EgressError::TooLarge(n) => format!("larger than {n} bytes"),
            EgressError::Unreachable(why) => format!("cannot connect: {why}"),
            EgressError::Refused(why) => why.clone(),
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
    let value: Value = serde_json::from_slice(body)
        .map_err(|e| JsonLdError::Invalid(format!("the @context at {url} is not JSON: {e}")))?;
    let Some(context) = value.as_object().and_then(|o| o.get("@context")) else {
        return Err(JsonLdError::Invalid(format!(
            "the document at {url} has no top-level \"@context\" member"
        )));
    };
    prepare_document(context)
        .map_err(|e| JsonLdError::Invalid(format!("the @context at {url} is invalid: {e}")))
}

/// The freshness lifetime HTTP caching gives a response (RFC 9111): `no-store` and
/// `no-cache` allow no reuse without asking again, `max-age` bounds it; `None` when the
/// response says nothing, so that the caller's heuristic applies.
fn max_age(headers: &HeaderMap) -> Option<Duration> {
    let mut found = None;
    for value in headers.get_all(CACHE_CONTROL) {
        let Ok(value) = value.to_str() else { continue };
        for directive in value.split(',').map(str::trim) {
            let (name, argument) = directive.split_once('=').unwrap_or((directive, ""));
            let name = name.trim().to_ascii_lowercase();
            if name == "no-store" || name == "no-cache" {
                return Some(Duration::ZERO);
            }
            if name == "max-age" {
                let seconds = argument.trim().trim_matches('"').parse::<u64>().ok()?;
                found = Some(Duration::from_secs(seconds));
            }
        }
    }
    found
}
