//! Resolving a request's user @context (URL, inline object, or array) into a cached
//! [`ResolvedContext`].

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

use json_ld::context_processing::{Options, Process};
use json_ld::syntax::{Parse, TryFromJson};
use serde_json::Value;

use crate::core::{core_data, is_core_context_url, CoreData};
use crate::error::JsonLdError;
use crate::fetch::{evict_one, Fetcher};
use crate::loader::{processing_error, ContextLoader};
use crate::resolved::ResolvedContext;
use crate::sanitize::strip_scoped_contexts;
use crate::tables::Tables;

/// Limits and sizes of a [`ContextResolver`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolverConfig {
    /// Total time allowed for fetching one remote context (connect + headers + body).
    pub fetch_timeout: Duration,
    /// Largest remote context body accepted, in bytes.
    pub max_context_bytes: usize,
    /// Redirects followed when fetching a remote context.
    pub max_redirects: usize,
    /// Entries kept in each cache (fetched documents per URL; resolved user contexts).
    pub cache_capacity: usize,
}

impl Default for ResolverConfig {
    fn default() -> Self {
        Self {
            fetch_timeout: Duration::from_secs(5),
            max_context_bytes: 1024 * 1024,
            max_redirects: 5,
            cache_capacity: 1024,
        }
    }
}

/// Turns user @contexts into [`ResolvedContext`]s; cheap to clone (shared state).
#[derive(Clone)]
pub struct ContextResolver {
    inner: Arc<Inner>,
}

struct Inner {
    core_data: &'static CoreData,
    core: Arc<ResolvedContext>,
    fetcher: Fetcher,
    capacity: usize,
    /// Resolved contexts by cache key (see [`cache_key`]).
    contexts: RwLock<HashMap<Box<str>, Arc<ResolvedContext>>>,
}

impl ContextResolver {
    /// Builds a resolver; fails only if the HTTP client cannot be built (or, in theory,
    /// if the built-in core context does not process).
    pub fn new(config: ResolverConfig) -> Result<Self, JsonLdError> {
        let core_data = core_data()?;
        let fetcher = Fetcher::new(
            config.fetch_timeout,
            config.max_context_bytes,
            config.max_redirects,
            config.cache_capacity,
        )?;
        Ok(Self {
            inner: Arc::new(Inner {
                core_data,
                core: Arc::new(ResolvedContext::new(core_data, Tables::default())),
                fetcher,
                capacity: config.cache_capacity,
                contexts: RwLock::new(HashMap::new()),
            }),
        })
    }

    /// The core context alone (what a request without user @context uses). No I/O.
    pub fn core(&self) -> Arc<ResolvedContext> {
        Arc::clone(&self.inner.core)
    }

    /// Resolves the user @context exactly as the client sent it: a URL string, an inline
    /// object, or an array mixing both; `None` when the client sent none. The core
    /// context is applied last, with precedence. Results are cached per distinct user
    /// context, so a repeated context costs one hash lookup.
    pub async fn resolve(&self, user: Option<&Value>) -> Result<Arc<ResolvedContext>, JsonLdError> {
        let Some(user) = user else {
            return Ok(self.core());
        };
        let Some(key) = cache_key(user)? else {
            return Ok(self.core());
        };
        if let Some(hit) = self.read_contexts().get(&*key) {
            return Ok(Arc::clone(hit));
        }
        // Not holding any lock here: two concurrent misses on one context both compute it.
        let resolved = Arc::new(self.process(user).await?);
        if self.inner.capacity > 0 {
            let mut contexts = self
                .inner
                .contexts
                .write()
                .unwrap_or_else(PoisonError::into_inner);
            if contexts.len() >= self.inner.capacity {
                evict_one(&mut contexts);
            }
            contexts.insert(key.into(), Arc::clone(&resolved));
        }
        Ok(resolved)
    }

    /// Forgets every cached remote document and resolved context, so that the next
    /// resolutions fetch remote contexts again.
    pub fn clear_cache(&self) {
        self.inner.fetcher.clear();
        self.inner
            .contexts
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
    }

    fn read_contexts(
        &self,
    ) -> std::sync::RwLockReadGuard<'_, HashMap<Box<str>, Arc<ResolvedContext>>> {
        self.inner
            .contexts
            .read()
            .unwrap_or_else(PoisonError::into_inner)
    }

    async fn process(&self, user: &Value) -> Result<ResolvedContext, JsonLdError> {
        let invalid = |e: &dyn std::fmt::Display| JsonLdError::Invalid(e.to_string());
        let mut local = user.clone();
        strip_scoped_contexts(&mut local);
        let text = serde_json::to_string(&local).map_err(|e| invalid(&e))?;
        let (json, _) = json_ld::syntax::Value::parse_str(&text).map_err(|e| invalid(&e))?;
        let local = json_ld::syntax::context::Context::try_from_json(json)
            .map_err(|e| JsonLdError::Invalid(format!("not a JSON-LD context: {e}")))?;
        let core = self.inner.core_data;
        let loader = ContextLoader::new(&self.inner.fetcher);
        let processed = local
            .process_full(&mut (), &core.active, &loader, None, Options::default(), ())
            .await
            .map_err(processing_error)?;
        let context = processed.into_processed();
        // Core precedence: user definitions of core terms are dropped, and IRIs that have a
        // core term compact to that term.
        let tables = Tables::from_context(
            &context,
            |term| core.tables.terms.contains_key(term),
            |iri| core.tables.reverse.contains_key(iri),
        );
        Ok(ResolvedContext::new(core, tables))
    }
}

/// The cache key of a user context, or `None` when it is equivalent to no user context
/// (`null`, a core URL, or an array of only core URLs).
///
/// A URL string is its own key (no allocation on the hot path); anything else is keyed by
/// its JSON text, which starts with `{`, `[` or `"`; a URL string that itself starts with
/// one of these is keyed by its JSON text too, so the two kinds never collide.
fn cache_key(user: &Value) -> Result<Option<Cow<'_, str>>, JsonLdError> {
    let json_text = || {
        serde_json::to_string(user)
            .map(Cow::Owned)
            .map_err(|e| JsonLdError::Invalid(e.to_string()))
    };
    match user {
        Value::Null => Ok(None),
        Value::String(url) if is_core_context_url(url) => Ok(None),
        Value::String(url) if url.starts_with(['{', '[', '"']) => json_text().map(Some),
        Value::String(url) => Ok(Some(Cow::Borrowed(url))),
        Value::Array(items)
            if items
                .iter()
                .all(|item| item.as_str().is_some_and(is_core_context_url)) =>
        {
            Ok(None)
        }
        Value::Array(_) | Value::Object(_) => json_text().map(Some),
        Value::Bool(_) | Value::Number(_) => Err(JsonLdError::Invalid(format!(
            "@context must be a URL, an object or an array, not {user}"
        ))),
    }
}
