//! Resolving a request's user @context (URL, inline object, or array) into a cached
//! [`ResolvedContext`].

use std::borrow::Cow;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

use chrono::{DateTime, Utc};
use json_ld::context_processing::{Options, Process};
use json_ld::syntax::{Parse, TryFromJson};
use serde_json::Value;

use crate::core::{core_data, is_core_context_url, CoreData};
use crate::error::JsonLdError;
use crate::fetch::Fetcher;
use crate::loader::{processing_error, ContextLoader};
use crate::local_id::LOCAL_ORIGIN;
use crate::persist::ContextDir;
use crate::resolved::ResolvedContext;
use crate::sanitize::{prepare_document, strip_scoped_contexts};
use crate::store::{evict_one, ContextStore, ServedEntry};
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
    /// Entries kept in each cache (Cached @contexts per URL; resolved user contexts).
    pub cache_capacity: usize,
    /// How long a downloaded @context is used before it is downloaded again, when its HTTP
    /// response does not say (`Cache-Control: max-age`, `no-cache`, `no-store`).
    pub cached_context_lifetime: Duration,
    /// Where Hosted and ImplicitlyCreated @contexts are kept across restarts (created if
    /// missing); `None` keeps them in memory only.
    pub hosted_dir: Option<PathBuf>,
}

impl Default for ResolverConfig {
    fn default() -> Self {
        Self {
            fetch_timeout: Duration::from_secs(5),
            max_context_bytes: 1024 * 1024,
            max_redirects: 5,
            cache_capacity: 1024,
            cached_context_lifetime: Duration::from_secs(3600),
            hosted_dir: None,
        }
    }
}

/// Turns user @contexts into [`ResolvedContext`]s; cheap to clone (shared state).
#[derive(Clone)]
pub struct ContextResolver {
    inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub(crate) core_data: &'static CoreData,
    core: Arc<ResolvedContext>,
    pub(crate) fetcher: Fetcher,
    pub(crate) store: ContextStore,
    /// Where served @contexts are persisted, if anywhere.
    pub(crate) dir: Option<Arc<ContextDir>>,
    /// Where served @contexts are shared with other brokers, if they are.
    pub(crate) shelf: Option<Arc<dyn crate::ContextShelf>>,
    pub(crate) cached_lifetime: Duration,
    capacity: usize,
    /// Resolved contexts by cache key (see [`cache_key`]).
    contexts: RwLock<HashMap<Box<str>, Resolution>>,
    /// Bumped whenever stored @contexts are deleted or replaced: a resolution that started
    /// before is not cached, since it may have used the old content.
    generation: AtomicU64,
    /// Which tenants named which remote @contexts (the per-tenant listing).
    pub(crate) usage: crate::usage::TenantUsage,
}

/// A cached resolution, valid until the first Cached @context it used expires.
struct Resolution {
    context: Arc<ResolvedContext>,
    expires_at: Option<DateTime<Utc>>,
}

impl ContextResolver {
    /// Builds a resolver and loads the stored @contexts of `hosted_dir`; fails if the HTTP
    /// client cannot be built, the directory cannot be read or holds an unreadable entry
    /// (or, in theory, if the built-in core context does not process).
    pub fn new(config: ResolverConfig) -> Result<Self, JsonLdError> {
        let egress = rigel_egress::Egress::new(rigel_egress::EgressConfig {
            timeout: config.fetch_timeout,
            max_answer_bytes: config.max_context_bytes,
            max_redirects: config.max_redirects,
            ..rigel_egress::EgressConfig::default()
        })
        .map_err(|e| JsonLdError::Internal(format!("cannot build the HTTP client: {e}")))?;
        Self::with_egress(config, egress)
    }

    /// A resolver downloading remote @contexts through the broker's outbound client
    /// (its policy and redirect limit apply; the timeout and size cap are `config`'s).
    pub fn with_egress(
        config: ResolverConfig,
        egress: rigel_egress::Egress,
    ) -> Result<Self, JsonLdError> {
        Self::build(config, egress, None, Vec::new())
    }

    /// A resolver whose served @contexts live on `shelf`, shared with the other brokers of
    /// a deployment: loads every one of them first. @contexts this broker kept in
    /// `config.hosted_dir` before (when it ran on a store of its own) are put on the shelf
    /// if it lacks them; the directory is not used afterwards.
    pub async fn with_shelf(
        config: ResolverConfig,
        egress: rigel_egress::Egress,
        shelf: Arc<dyn crate::ContextShelf>,
    ) -> Result<Self, JsonLdError> {
        let mut shelved = shelf.all().await.map_err(JsonLdError::Storage)?;
        if let Some(dir) = config.hosted_dir.as_deref().filter(|d| d.exists()) {
            let (_, kept) = ContextDir::open(dir)?;
            for context in kept {
                if shelved.iter().any(|(id, _)| *id == context.local_id) {
                    continue;
                }
                let record = serde_json::to_value(&context)
                    .map_err(|e| JsonLdError::Storage(format!("cannot encode a @context: {e}")))?;
                shelf
                    .put(&context.local_id, record.clone())
                    .await
                    .map_err(JsonLdError::Storage)?;
                shelved.push((context.local_id, record));
            }
        }
        let mut stored = Vec::new();
        for (local_id, record) in shelved {
            match serde_json::from_value::<crate::persist::StoredContext>(record) {
                Ok(context) if context.kind.is_served() => stored.push(context),
                Ok(_) | Err(_) => {
                    return Err(JsonLdError::Storage(format!(
                        "the shared @context {local_id} is unreadable"
                    )))
                }
            }
        }
        let config = ResolverConfig {
            hosted_dir: None,
            ..config
        };
        Self::build(config, egress, Some(shelf), stored)
    }

    fn build(
        config: ResolverConfig,
        egress: rigel_egress::Egress,
        shelf: Option<Arc<dyn crate::ContextShelf>>,
        shelved: Vec<crate::persist::StoredContext>,
    ) -> Result<Self, JsonLdError> {
        let core_data = core_data()?;
        let fetcher = Fetcher::new(egress, config.fetch_timeout, config.max_context_bytes);
        let store = ContextStore::new(config.cache_capacity);
        let mut served = shelved;
        let dir = match &config.hosted_dir {
            Some(path) => {
                let (dir, stored) = ContextDir::open(path)?;
                served.extend(stored);
                Some(Arc::new(dir))
            }
            None => None,
        };
        for context in served {
            let prepared = prepared_document(&context.document)?;
            store.insert_served(ServedEntry::new(
                context.local_id,
                context.kind,
                context.created_at,
                context.document,
                prepared,
            ));
        }
        Ok(Self {
            inner: Arc::new(Inner {
                core_data,
                core: Arc::new(ResolvedContext::new(core_data, Tables::default())),
                fetcher,
                store,
                dir,
                shelf,
                cached_lifetime: config.cached_context_lifetime,
                capacity: config.cache_capacity,
                contexts: RwLock::new(HashMap::new()),
                generation: AtomicU64::new(0),
                usage: crate::usage::TenantUsage::default(),
            }),
        })
    }

    pub(crate) fn inner(&self) -> &Inner {
        &self.inner
    }

    /// Remote @context downloads since the start.
    pub fn fetch_counts(&self) -> crate::fetch::FetchCounts {
        self.inner.fetcher.counts()
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
        self.count_hits(user);
        let Some(key) = cache_key(user)? else {
            return Ok(self.core());
        };
        if let Some(hit) = self.cached_resolution(&key) {
            return Ok(hit);
        }
        let generation = self.inner.generation.load(Ordering::Acquire);
        // Not holding any lock here: two concurrent misses on one context both compute it.
        let (resolved, expires_at) = self.process(user).await?;
        let resolved = Arc::new(resolved);
        if self.inner.capacity > 0 {
            let mut contexts = self
                .inner
                .contexts
                .write()
                .unwrap_or_else(PoisonError::into_inner);
            if self.inner.generation.load(Ordering::Acquire) == generation {
                if contexts.len() >= self.inner.capacity && !contexts.contains_key(&*key) {
                    evict_one(&mut contexts);
                }
                let resolution = Resolution {
                    context: Arc::clone(&resolved),
                    expires_at,
                };
                contexts.insert(key.into(), resolution);
            }
        }
        Ok(resolved)
    }

    /// Forgets every Cached @context and resolved context, so that the next resolutions
    /// fetch remote contexts again. Hosted and ImplicitlyCreated @contexts stay.
    pub fn clear_cache(&self) {
        self.inner.store.clear_cached();
        self.forget_resolutions();
    }

    /// Drops every resolved context, after stored @contexts were deleted or replaced.
    pub(crate) fn forget_resolutions(&self) {
        let mut contexts = self
            .inner
            .contexts
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        self.inner.generation.fetch_add(1, Ordering::AcqRel);
        contexts.clear();
    }

    /// A cached resolution that is still valid.
    fn cached_resolution(&self, key: &str) -> Option<Arc<ResolvedContext>> {
        let contexts = self
            .inner
            .contexts
            .read()
            .unwrap_or_else(PoisonError::into_inner);
        let hit = contexts.get(key)?;
        match hit.expires_at {
            Some(at) if at <= Utc::now() => None,
            _ => Some(Arc::clone(&hit.context)),
        }
    }

    /// Counts a hit on every stored @context the user context names by URL at its top
    /// level (clause 5.13.3.5 `numberOfHits`). Contexts nested in others are not counted:
    /// repeated requests are answered from resolved contexts without looking at them.
    fn count_hits(&self, user: &Value) {
        let urls: &[Value] = match user {
            Value::String(_) => std::slice::from_ref(user),
            Value::Array(items) => items,
            _ => return,
        };
        let mut now = None;
        for url in urls.iter().filter_map(Value::as_str) {
            let now = *now.get_or_insert_with(Utc::now);
            self.inner.store.touch(url, now);
        }
    }

    /// The user context with relative references to served @contexts made absolute. Clients
    /// get a served @context's path in `Location` (6.29.3.1); used as a reference in a
    /// request, it resolves against the request URL, that is, against this broker.
    fn absolute_served_refs<'v>(&self, user: &'v Value) -> Cow<'v, Value> {
        let is_served_path = |v: &Value| {
            v.as_str()
                .is_some_and(|s| s.starts_with('/') && self.inner.store.served_for_url(s).is_some())
        };
        let absolute = |v: &Value| match v.as_str() {
            Some(path) if is_served_path(v) => Value::String(format!("{LOCAL_ORIGIN}{path}")),
            _ => v.clone(),
        };
        match user {
            Value::String(_) if is_served_path(user) => Cow::Owned(absolute(user)),
            Value::Array(items) if items.iter().any(is_served_path) => {
                Cow::Owned(Value::Array(items.iter().map(absolute).collect()))
            }
            _ => Cow::Borrowed(user),
        }
    }

    async fn process(
        &self,
        user: &Value,
    ) -> Result<(ResolvedContext, Option<DateTime<Utc>>), JsonLdError> {
        let local = local_context(&self.absolute_served_refs(user))?;
        let core = self.inner.core_data;
        let loader = ContextLoader::new(
            &self.inner.store,
            &self.inner.fetcher,
            self.inner.cached_lifetime,
        );
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
        Ok((ResolvedContext::new(core, tables), loader.expires_at()))
    }
}

/// A user context (URL, object or array) in json-ld's syntax, scoped contexts removed.
pub(crate) fn local_context(
    user: &Value,
) -> Result<json_ld::syntax::context::Context, JsonLdError> {
    let invalid = |e: &dyn std::fmt::Display| JsonLdError::Invalid(e.to_string());
    let mut local = user.clone();
    strip_scoped_contexts(&mut local);
    let text = serde_json::to_string(&local).map_err(|e| invalid(&e))?;
    let (json, _) = json_ld::syntax::Value::parse_str(&text).map_err(|e| invalid(&e))?;
    json_ld::syntax::context::Context::try_from_json(json)
        .map_err(|e| JsonLdError::Invalid(format!("not a JSON-LD context: {e}")))
}

/// The json-ld form of a stored document (`{"@context": ...}`); a stored document that
/// no longer prepares (it did when stored) is a storage fault.
fn prepared_document(document: &Value) -> Result<json_ld::syntax::Value, JsonLdError> {
    let context = document
        .get("@context")
        .ok_or_else(|| JsonLdError::Storage("a stored @context has no @context member".into()))?;
    prepare_document(context)
        .map_err(|e| JsonLdError::Storage(format!("a stored @context is invalid: {e}")))
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
