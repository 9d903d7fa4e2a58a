//! Sources' answers kept for their registration's `management.cacheDuration` (clause
//! 5.2.34: the least time between two consumption operations on the same context data at
//! a source). Within it the same read is answered from the copy, and the answer says so
//! (6.3.17: Warning 110, the response is stale). Only reads are kept, by registration and
//! request; at most [`MAX_ENTRIES`], the oldest given up first.

use std::collections::HashMap;
use std::sync::Mutex;

use chrono::{DateTime, Utc};
use rigel_model::registration::Registration;
use rigel_model::Entity;
use rigel_query::aggregate::PeriodDuration;

use super::SourceWarning;

/// Most answers kept at once.
const MAX_ENTRIES: usize = 4096;

/// A kept answer.
#[derive(Debug, Clone)]
pub(crate) enum Kept {
    Entity(Option<Entity>),
    Entities(Vec<Entity>),
}

/// Answers of sources whose registrations set a `cacheDuration`.
#[derive(Debug, Default)]
pub(crate) struct SourceCache {
    entries: Mutex<HashMap<String, (DateTime<Utc>, Kept)>>,
}

impl SourceCache {
    /// The answer kept for `key` if the registration's `cacheDuration` has not passed
    /// since it was fetched.
    pub(crate) fn get(&self, reg: &Registration, key: &str, now: DateTime<Utc>) -> Option<Kept> {
        let duration = cache_duration(reg)?;
        let entries = self.entries.lock().ok()?;
        let (at, kept) = entries.get(key)?;
        duration
            .add_to(*at)
            .is_some_and(|until| until > now)
            .then(|| kept.clone())
    }

    /// Keeps an answer fetched at `now`, when the registration sets a `cacheDuration`.
    pub(crate) fn put(&self, reg: &Registration, key: String, kept: Kept, now: DateTime<Utc>) {
        if cache_duration(reg).is_none() {
            return;
        }
        let Ok(mut entries) = self.entries.lock() else {
            return;
        };
        if entries.len() >= MAX_ENTRIES && !entries.contains_key(&key) {
            if let Some(oldest) = entries
                .iter()
                .min_by_key(|(_, (at, _))| *at)
                .map(|(k, _)| k.clone())
            {
                entries.remove(&oldest);
            }
        }
        entries.insert(key, (now, kept));
    }
}

/// The registration's `management.cacheDuration`, if it sets a non-zero one.
fn cache_duration(reg: &Registration) -> Option<PeriodDuration> {
    let text = reg.management.as_ref()?.cache_duration.as_deref()?;
    PeriodDuration::parse(text).ok().filter(|d| !d.is_zero())
}

/// The warning of an answer taken from the copy (6.3.17: 110).
fn stale(reg: &Registration) -> SourceWarning {
    SourceWarning {
        code: 110,
        registration: reg.id.clone(),
        endpoint: reg.endpoint.clone(),
        text: "answered from a copy kept for the registration's cacheDuration".to_owned(),
    }
}

impl crate::Broker {
    /// For each registration and request key, the answer kept for it, if still fresh.
    pub(crate) fn kept_answers<'a>(
        &self,
        parts: impl Iterator<Item = (&'a Registration, &'a String)>,
    ) -> Vec<Option<Kept>> {
        let now = self.now();
        parts
            .map(|(reg, key)| self.source_cache.get(reg, key, now))
            .collect()
    }

    /// Accounts for one source's part of a read: an answer taken from the copy is a 110
    /// warning; a fresh one is counted on the registration and, when it came, kept.
    pub(crate) fn account_read(
        &self,
        tenant: &rigel_model::Tenant,
        reg: &Registration,
        key: String,
        from_copy: bool,
        fresh: Option<Kept>,
        warnings: &mut Vec<SourceWarning>,
    ) {
        let now = self.now();
        if from_copy {
            warnings.push(stale(reg));
            return;
        }
        self.record_forward(tenant, reg, fresh.is_some(), now);
        if let Some(kept) = fresh {
            self.source_cache.put(reg, key, kept, now);
        }
    }
}
