//! What the entity versions written lately file in the value index, so that the next write
//! of one of them need not read and decode the version it replaces to know which index rows
//! to remove (`filed_before`).
//!
//! A write that replaces version `v` of an entity (a partial update, an append, a
//! replacement) must remove the rows `v` filed. The broker has just decoded `v` for the
//! update; without this cache the store decoded it a second time and computed its rows
//! again (about a tenth of the broker's CPU under partial updates). The rows a version files
//! are the rows `prepare` computed for it when it was written, so each successful put leaves
//! them here under the version the writer gave it. Only writes over an entity are noted,
//! not creates: the entities written over lately are the ones likely to be written again,
//! and a bulk load then does not fill the cache.
//!
//! Correctness does not depend on invalidation: versions never repeat for an id, so an entry
//! is true for its version forever; a write whose expected version is not the entry's does
//! not use it, and the writer still checks the stored version. Memory is bounded by a count
//! of entries per shard; a full shard forgets everything it holds.

use std::collections::hash_map::DefaultHasher;
use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::{Mutex, PoisonError};

use rigel_storage::{Expect, WriteOutcome};

use crate::index::Before;
use crate::layout;
use crate::writer::{Job, PreparedOp};

/// Shards of the cache; each has its own lock.
const SHARDS: usize = 16;

/// Entries kept by default: about 0.6 KB each for the template entity (17 index rows).
pub(crate) const DEFAULT_ENTRIES: usize = 16_384;

/// One shard: entries by entity key.
type Shard = Mutex<HashMap<Box<[u8]>, Entry>>;

/// Recently written versions and what they file, by entity key.
pub(crate) struct FiledCache {
    shards: Vec<Shard>,
    per_shard: usize,
}

/// What one version files, packed: its index suffixes end to end in one buffer (half the
/// memory of one allocation per suffix).
struct Entry {
    version: u64,
    types: Box<[String]>,
    rows: Box<[u8]>,
    /// Where each suffix ends in `rows`.
    ends: Box<[u32]>,
}

impl Entry {
    fn pack(filed: Before) -> Option<Self> {
        let mut rows = Vec::with_capacity(filed.suffixes.iter().map(Vec::len).sum());
        let mut ends = Vec::with_capacity(filed.suffixes.len());
        for suffix in &filed.suffixes {
            rows.extend_from_slice(suffix);
            ends.push(u32::try_from(rows.len()).ok()?);
        }
        Some(Self {
            version: filed.version,
            types: filed.types.into_boxed_slice(),
            rows: rows.into_boxed_slice(),
            ends: ends.into_boxed_slice(),
        })
    }

    fn unpack(&self) -> Before {
        let mut start = 0usize;
        let suffixes = self
            .ends
            .iter()
            .map(|&end| {
                let end = end as usize;
                let suffix = self.rows.get(start..end).unwrap_or_default().to_vec();
                start = end;
                suffix
            })
            .collect();
        Before {
            version: self.version,
            types: self.types.to_vec(),
            suffixes,
        }
    }
}

impl FiledCache {
    /// A cache of about `entries` entries; 0 disables it.
    pub(crate) fn new(entries: usize) -> Self {
        Self {
            shards: (0..SHARDS).map(|_| Mutex::default()).collect(),
            per_shard: entries / SHARDS,
        }
    }

    fn shard(&self, key: &[u8]) -> Option<&Shard> {
        if self.per_shard == 0 {
            return None;
        }
        let mut hasher = DefaultHasher::new();
        key.hash(&mut hasher);
        self.shards.get((hasher.finish() as usize) % SHARDS)
    }

    /// What the entity under `key` files at `version`, if that version was written lately.
    pub(crate) fn get(&self, key: &[u8], version: u64) -> Option<Before> {
        let shard = self
            .shard(key)?
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        shard
            .get(key)
            .filter(|e| e.version == version)
            .map(Entry::unpack)
    }

    /// Notes what the entity under `key` files at the version just written.
    pub(crate) fn put(&self, key: Vec<u8>, filed: Before) {
        let (Some(shard), Some(entry)) = (self.shard(&key), Entry::pack(filed)) else {
            return;
        };
        let mut shard = shard.lock().unwrap_or_else(PoisonError::into_inner);
        if shard.len() >= self.per_shard && !shard.contains_key(key.as_slice()) {
            shard.clear();
        }
        shard.insert(key.into_boxed_slice(), entry);
    }

    /// Forgets the entity under `key` (deleted: its next version files nothing before).
    pub(crate) fn forget(&self, key: &[u8]) {
        if let Some(shard) = self.shard(key) {
            shard
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .remove(key);
        }
    }
}

/// What a job's puts and deletes will have filed once applied, to note from its outcomes.
pub(crate) struct Written {
    /// One per op of the job, in order.
    ops: Vec<Noted>,
}

/// What applying one op changes in the cache.
enum Noted {
    /// A put over an entity: its key, types and index suffixes.
    Put(Vec<u8>, Vec<String>, Vec<Vec<u8>>),
    /// A delete: its key.
    Delete(Vec<u8>),
    /// Nothing (a create, a history or outbox op).
    Nothing,
}

impl Written {
    /// Copies what the job's puts file (before the job goes to the writer).
    pub(crate) fn of(job: &Job) -> Self {
        let key = |id: &str| layout::entity_key(&job.tenant_prefix, id);
        let ops = job
            .ops
            .iter()
            .map(|op| match op {
                // A create is not noted: most entities created are not written again soon
                // (a bulk load would only fill the cache), while one written over once
                // usually is again.
                PreparedOp::Put { expect, .. } if *expect == Expect::Absent => Noted::Nothing,
                PreparedOp::Put {
                    id,
                    types,
                    suffixes,
                    ..
                } => Noted::Put(key(id), types.clone(), suffixes.clone()),
                PreparedOp::Delete { id, .. } => Noted::Delete(key(id)),
                _ => Noted::Nothing,
            })
            .collect();
        Self { ops }
    }

    /// Notes in `cache` what each applied put filed at the version it got, and forgets the
    /// deleted entities.
    pub(crate) fn note(self, cache: &FiledCache, outcomes: &[WriteOutcome]) {
        for (op, outcome) in self.ops.into_iter().zip(outcomes) {
            let WriteOutcome::Applied { version } = *outcome else {
                continue;
            };
            match op {
                Noted::Put(key, types, suffixes) => cache.put(
                    key,
                    Before {
                        version,
                        types,
                        suffixes,
                    },
                ),
                Noted::Delete(key) => cache.forget(&key),
                Noted::Nothing => {}
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::expect_used)]
mod tests {
    use super::*;

    fn filed(version: u64, row: &str) -> Before {
        Before {
            version,
            types: vec!["https://example.org/T".into()],
            suffixes: vec![row.as_bytes().to_vec()],
        }
    }

    #[test]
    fn an_entry_answers_only_for_its_own_version() {
        let cache = FiledCache::new(64);
        cache.put(b"k".to_vec(), filed(7, "a"));
        assert_eq!(
            cache.get(b"k", 7).map(|b| b.suffixes),
            Some(vec![b"a".to_vec()])
        );
        assert!(cache.get(b"k", 6).is_none());
        assert!(cache.get(b"k", 8).is_none());
        cache.put(b"k".to_vec(), filed(8, "b"));
        assert!(cache.get(b"k", 7).is_none());
        assert_eq!(
            cache.get(b"k", 8).map(|b| b.suffixes),
            Some(vec![b"b".to_vec()])
        );
        cache.forget(b"k");
        assert!(cache.get(b"k", 8).is_none());
    }

    #[test]
    fn every_suffix_comes_back_as_it_went_in() {
        let cache = FiledCache::new(64);
        let before = Before {
            version: 3,
            types: vec![
                "https://example.org/A".into(),
                "https://example.org/B".into(),
            ],
            suffixes: vec![b"one".to_vec(), Vec::new(), b"three".to_vec()],
        };
        cache.put(b"k".to_vec(), before.clone());
        let got = cache.get(b"k", 3).expect("cached");
        assert_eq!(got.types, before.types);
        assert_eq!(got.suffixes, before.suffixes);
    }

    #[test]
    fn the_cache_stays_within_its_entries() {
        let cache = FiledCache::new(SHARDS * 4);
        for i in 0..1_000u64 {
            cache.put(i.to_be_bytes().to_vec(), filed(i, "r"));
        }
        let held: usize = cache
            .shards
            .iter()
            .map(|s| s.lock().unwrap_or_else(PoisonError::into_inner).len())
            .sum();
        assert!(held <= SHARDS * 4, "{held} entries held");
        assert!(cache.get(&999u64.to_be_bytes(), 999).is_some());
    }

    fn put_op(id: &str, expect: Expect, row: &str) -> PreparedOp {
        PreparedOp::Put {
            id: id.into(),
            types: vec!["https://example.org/T".into()],
            record: Vec::new(),
            suffixes: vec![row.as_bytes().to_vec()],
            before: None,
            expect,
        }
    }

    #[test]
    fn applied_writes_over_entities_are_noted_and_creates_and_conflicts_are_not() {
        let cache = FiledCache::new(64);
        let job = Job {
            tenant_prefix: Vec::new(),
            tenant_name: None,
            ops: vec![
                put_op("urn:a", Expect::Absent, "a"),
                put_op("urn:b", Expect::Version(4), "b"),
                put_op("urn:c", Expect::Any, "c"),
                put_op("urn:d", Expect::Version(9), "d"),
            ],
        };
        let written = Written::of(&job);
        written.note(
            &cache,
            &[
                WriteOutcome::Applied { version: 5 },
                WriteOutcome::Applied { version: 6 },
                WriteOutcome::Applied { version: 7 },
                WriteOutcome::Conflict,
            ],
        );
        let key = |id: &str| layout::entity_key(&[], id);
        assert!(cache.get(&key("urn:a"), 5).is_none());
        assert_eq!(
            cache.get(&key("urn:b"), 6).map(|b| b.suffixes),
            Some(vec![b"b".to_vec()])
        );
        assert!(cache.get(&key("urn:c"), 7).is_some());
        assert!(cache.get(&key("urn:d"), 9).is_none());
        // A delete forgets the entity.
        let job = Job {
            tenant_prefix: Vec::new(),
            tenant_name: None,
            ops: vec![PreparedOp::Delete {
                id: "urn:b".into(),
                expect: Expect::Any,
            }],
        };
        Written::of(&job).note(&cache, &[WriteOutcome::Applied { version: 0 }]);
        assert!(cache.get(&key("urn:b"), 6).is_none());
    }

    #[test]
    fn a_cache_of_no_entries_holds_nothing() {
        let cache = FiledCache::new(0);
        cache.put(b"k".to_vec(), filed(1, "a"));
        assert!(cache.get(b"k", 1).is_none());
    }
}
