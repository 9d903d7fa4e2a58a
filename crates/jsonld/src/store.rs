//! The @context store (clause 5.13): the Hosted and ImplicitlyCreated @contexts this broker
//! serves, the Cached copies of remote ones, the built-in core, and their usage counters.
//! In memory; the resolver persists what must survive a restart.

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use serde_json::Value;

use crate::core::{is_core_context_url, CORE_CONTEXT_URL};
use crate::fetch::Fetched;
use crate::local_id::{new_local_id, served_id, CORE_ID};
use crate::stored::{ContextInfo, ContextKind};

/// How often, and when last, an entry was used.
struct Usage {
    hits: AtomicU64,
    /// Milliseconds since the epoch; `i64::MIN` when never used.
    last_ms: AtomicI64,
}

impl Usage {
    fn new(hits: u64, last: Option<DateTime<Utc>>) -> Self {
        Self {
            hits: AtomicU64::new(hits),
            last_ms: AtomicI64::new(last.map_or(i64::MIN, |t| t.timestamp_millis())),
        }
    }

    fn used(&self, now: DateTime<Utc>) {
        self.last_ms
            .fetch_max(now.timestamp_millis(), Ordering::Relaxed);
    }

    fn hit(&self, now: DateTime<Utc>) {
        self.hits.fetch_add(1, Ordering::Relaxed);
        self.used(now);
    }

    fn hits(&self) -> u64 {
        self.hits.load(Ordering::Relaxed)
    }

    fn last(&self) -> Option<DateTime<Utc>> {
        match self.last_ms.load(Ordering::Relaxed) {
            i64::MIN => None,
            ms => DateTime::from_timestamp_millis(ms),
        }
    }
}

/// A Hosted or ImplicitlyCreated @context.
pub(crate) struct ServedEntry {
    pub(crate) local_id: String,
    pub(crate) kind: ContextKind,
    pub(crate) created_at: DateTime<Utc>,
    /// The document as served: `{"@context": ...}` and nothing else.
    pub(crate) document: Value,
    /// The same, ready for json-ld.
    pub(crate) prepared: json_ld::syntax::Value,
    usage: Usage,
}

impl ServedEntry {
    pub(crate) fn new(
        local_id: String,
        kind: ContextKind,
        created_at: DateTime<Utc>,
        document: Value,
        prepared: json_ld::syntax::Value,
    ) -> Self {
        Self {
            local_id,
            kind,
            created_at,
            document,
            prepared,
            usage: Usage::new(0, None),
        }
    }

    pub(crate) fn info(&self) -> ContextInfo {
        ContextInfo {
            local_id: self.local_id.clone(),
            kind: self.kind,
            origin: None,
            created_at: self.created_at,
            expires_at: None,
            last_usage: self.usage.last(),
            number_of_hits: self.usage.hits(),
            extra_info: None,
        }
    }
}

/// A Cached copy of a remote @context.
pub(crate) struct CachedEntry {
    pub(crate) local_id: String,
    /// The URL it was requested by (the cache key).
    pub(crate) url: String,
    /// The URL it was served from after redirects: the base of relative references in it.
    pub(crate) final_url: String,
    pub(crate) created_at: DateTime<Utc>,
    pub(crate) expires_at: DateTime<Utc>,
    pub(crate) document: json_ld::syntax::Value,
    usage: Usage,
}

impl CachedEntry {
    pub(crate) fn info(&self) -> ContextInfo {
        let extra_info = (self.final_url != self.url)
            .then(|| format!("downloaded from {} after redirects", self.final_url));
        ContextInfo {
            local_id: self.local_id.clone(),
            kind: ContextKind::Cached,
            origin: Some(self.url.clone()),
            created_at: self.created_at,
            expires_at: Some(self.expires_at),
            last_usage: self.usage.last(),
            number_of_hits: self.usage.hits(),
            extra_info,
        }
    }
}

/// A stored @context found by local id or URL.
pub(crate) enum Found {
    Core,
    Served(Arc<ServedEntry>),
    Cached(Arc<CachedEntry>),
}

#[derive(Default)]
struct Entries {
    /// Hosted and ImplicitlyCreated entries by local id.
    served: HashMap<String, Arc<ServedEntry>>,
    /// Cached entries by the URL they were requested by.
    cached: HashMap<String, Arc<CachedEntry>>,
    /// Local id -> URL of the Cached entries.
    cached_ids: HashMap<String, String>,
}

pub(crate) struct ContextStore {
    /// Cached entries kept at most; one is dropped to make room for another.
    capacity: usize,
    /// When the built-in core @context was "stored": the broker's start.
    started: DateTime<Utc>,
    core: Usage,
    entries: RwLock<Entries>,
}

impl ContextStore {
    pub(crate) fn new(capacity: usize) -> Self {
        Self {
            capacity,
            started: Utc::now(),
            core: Usage::new(0, None),
            entries: RwLock::default(),
        }
    }

    fn read(&self) -> RwLockReadGuard<'_, Entries> {
        self.entries.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn write(&self) -> RwLockWriteGuard<'_, Entries> {
        self.entries.write().unwrap_or_else(PoisonError::into_inner)
    }

    /// The entry a client names by local id, or (clauses 5.13.4.3, 5.13.5.3) a Cached
    /// entry by its original URL. Core URLs and the URLs this broker serves entries under
    /// are understood too.
    pub(crate) fn find(&self, id: &str) -> Option<Found> {
        if id == CORE_ID || is_core_context_url(id) {
            return Some(Found::Core);
        }
        let entries = self.read();
        if let Some(entry) = entries.served.get(id) {
            return Some(Found::Served(Arc::clone(entry)));
        }
        let url = entries.cached_ids.get(id).map_or(id, String::as_str);
        if let Some(entry) = entries.cached.get(url) {
            return Some(Found::Cached(Arc::clone(entry)));
        }
        let served = served_id(id)?;
        entries
            .served
            .get(&served)
            .map(|entry| Found::Served(Arc::clone(entry)))
    }

    pub(crate) fn core_info(&self) -> ContextInfo {
        ContextInfo {
            local_id: CORE_ID.to_owned(),
            kind: ContextKind::Cached,
            origin: Some(CORE_CONTEXT_URL.to_owned()),
            created_at: self.started,
            expires_at: None,
            last_usage: self.core.last(),
            number_of_hits: self.core.hits(),
            extra_info: Some(
                "the NGSI-LD core @context, built into the broker: it never expires and cannot be deleted"
                    .to_owned(),
            ),
        }
    }

    pub(crate) fn info(&self, found: &Found) -> ContextInfo {
        match found {
            Found::Core => self.core_info(),
            Found::Served(entry) => entry.info(),
            Found::Cached(entry) => entry.info(),
        }
    }

    /// Every entry of `kind` (all when `None`): the core first, then by creation time.
    pub(crate) fn list(&self, kind: Option<ContextKind>) -> Vec<ContextInfo> {
        let wanted = |k: ContextKind| kind.is_none_or(|w| w == k);
        let mut infos: Vec<ContextInfo> = {
            let entries = self.read();
            let served = entries.served.values().map(|e| e.info());
            let cached = entries.cached.values().map(|e| e.info());
            served.chain(cached).filter(|i| wanted(i.kind)).collect()
        };
        infos.sort_by(|a, b| (a.created_at, &a.local_id).cmp(&(b.created_at, &b.local_id)));
        if wanted(ContextKind::Cached) {
            infos.insert(0, self.core_info());
        }
        infos
    }

    /// The served entry a URL names (see [`served_id`]).
    pub(crate) fn served_for_url(&self, url: &str) -> Option<Arc<ServedEntry>> {
        let id = served_id(url)?;
        self.read().served.get(&id).cloned()
    }

    /// The ImplicitlyCreated entry with exactly this document, if any.
    pub(crate) fn implicit_with(&self, document: &Value) -> Option<Arc<ServedEntry>> {
        self.read()
            .served
            .values()
            .find(|e| e.kind == ContextKind::ImplicitlyCreated && e.document == *document)
            .cloned()
    }

    /// The Cached copy of `url` while it is fresh.
    pub(crate) fn fresh_cached(&self, url: &str, now: DateTime<Utc>) -> Option<Arc<CachedEntry>> {
        self.read()
            .cached
            .get(url)
            .filter(|entry| entry.expires_at > now)
            .cloned()
    }

    /// Stores a downloaded copy of `url`, fresh for `lifetime`. A copy replacing an older
    /// one keeps its local id and usage; the download counts as a use, not as a hit.
    pub(crate) fn insert_cached(
        &self,
        url: &str,
        fetched: Fetched,
        lifetime: Duration,
        now: DateTime<Utc>,
    ) -> Arc<CachedEntry> {
        let lifetime = TimeDelta::from_std(lifetime).unwrap_or(TimeDelta::MAX);
        let mut entries = self.write();
        let previous = entries.cached.get(url);
        let replacing = previous.is_some();
        let (local_id, usage) = match previous {
            Some(old) => (
                old.local_id.clone(),
                Usage::new(old.usage.hits(), old.usage.last()),
            ),
            None => (new_local_id(), Usage::new(0, None)),
        };
        usage.used(now);
        let entry = Arc::new(CachedEntry {
            local_id,
            url: url.to_owned(),
            final_url: fetched.final_url,
            created_at: now,
            expires_at: now
                .checked_add_signed(lifetime)
                .unwrap_or(DateTime::<Utc>::MAX_UTC),
            document: fetched.document,
            usage,
        });
        if !replacing {
            if self.capacity == 0 {
                return entry;
            }
            if entries.cached.len() >= self.capacity {
                if let Some(evicted) = entries.cached.keys().next().cloned() {
                    remove_cached(&mut entries, &evicted);
                }
            }
            entries
                .cached_ids
                .insert(entry.local_id.clone(), url.to_owned());
        }
        entries.cached.insert(url.to_owned(), Arc::clone(&entry));
        entry
    }

    pub(crate) fn insert_served(&self, entry: ServedEntry) -> Arc<ServedEntry> {
        let entry = Arc::new(entry);
        self.write()
            .served
            .insert(entry.local_id.clone(), Arc::clone(&entry));
        entry
    }

    pub(crate) fn remove_served(&self, local_id: &str) {
        self.write().served.remove(local_id);
    }

    pub(crate) fn remove_cached(&self, url: &str) {
        remove_cached(&mut self.write(), url);
    }

    /// Drops every Cached entry.
    pub(crate) fn clear_cached(&self) {
        let mut entries = self.write();
        entries.cached.clear();
        entries.cached_ids.clear();
    }

    /// Counts a hit for the stored entry a request's @context names by URL, if any.
    pub(crate) fn touch(&self, url: &str, now: DateTime<Utc>) {
        if is_core_context_url(url) {
            self.core.hit(now);
            return;
        }
        let entries = self.read();
        if let Some(entry) = entries.cached.get(url) {
            entry.usage.hit(now);
        } else if let Some(entry) = served_id(url).and_then(|id| entries.served.get(&id)) {
            entry.usage.hit(now);
        }
    }
}

fn remove_cached(entries: &mut Entries, url: &str) {
    if let Some(entry) = entries.cached.remove(url) {
        entries.cached_ids.remove(&entry.local_id);
    }
}

/// Removes one arbitrary entry (the map's iteration order is randomised per process).
pub(crate) fn evict_one<K: Clone + std::hash::Hash + Eq, V>(map: &mut HashMap<K, V>) {
    if let Some(key) = map.keys().next().cloned() {
        map.remove(&key);
    }
}
