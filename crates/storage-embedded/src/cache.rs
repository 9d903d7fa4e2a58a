//! A bounded cache of decoded entities, so hot entities are not parsed from JSON on every
//! read or query scan.
//!
//! Correctness does not depend on invalidation: a read still fetches the record from its
//! redb snapshot and takes the cached entity only when the cached version equals the
//! record's version (versions never repeat for an id). The writer never touches the cache;
//! a stale entry is simply not used, and replaced by the next decode.
//!
//! Memory is bounded by an estimate of each entry's decoded size; eviction is CLOCK (second
//! chance) per shard, so frequently read entities stay.
//!
//! Admission is on the second sighting: an entity decoded for the first time (since the
//! shard's memory of sightings was last reset) is only noted by the hash of its key, and is
//! cached when it is decoded again. A query that scans a type larger than the cache (each
//! entity seen once) then neither evicts what other queries keep hot nor pays for inserting
//! and evicting every candidate: over 10,000 entities of one type the cache cost more than it
//! saved (783 queries/s with it, 994 without) before this rule.

use std::collections::hash_map::DefaultHasher;
use std::collections::{HashMap, HashSet, VecDeque};
use std::hash::{Hash, Hasher};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use rigel_model::Entity;
use rigel_storage::StorageError;

use crate::layout::{self, Body};

/// Shards of the cache; each has its own lock.
const SHARDS: usize = 16;

/// Decoded entities take about this many times their stored JSON (record format 1) size in
/// memory: the bench template is 2.7 KB stored and 16.6 KB decoded (IRI strings, `Value`
/// trees, B-tree nodes), and a full cache raised the broker's RssAnon by about 1.5 times
/// that (allocator slack).
const DECODED_SIZE_FACTOR: usize = 10;
/// The same for binary bodies (record format 2): the template is 809 bytes in format 2.
const DECODED_SIZE_FACTOR_BINARY: usize = 34;

/// Estimated memory of a decoded entity from its stored body.
fn decoded_cost(body: &Body<'_>) -> usize {
    let factor = match body {
        Body::Json(_) => DECODED_SIZE_FACTOR,
        Body::Binary(_) => DECODED_SIZE_FACTOR_BINARY,
    };
    body.len().saturating_mul(factor)
}

struct Slot {
    version: u64,
    entity: Arc<Entity>,
    cost: usize,
    /// Set on use, cleared by the clock hand: a used entry survives one more sweep. Atomic so
    /// that a hit needs only the shared lock.
    referenced: AtomicBool,
}

/// Sightings a shard remembers before it forgets them all (a few times the entries a shard
/// of the default budget holds; 8 bytes each).
const SIGHTINGS_PER_SHARD: usize = 4096;

#[derive(Default)]
struct Shard {
    slots: HashMap<Box<[u8]>, Slot>,
    /// Keys in insertion order: the clock hand's path.
    ring: VecDeque<Box<[u8]>>,
    cost: usize,
    /// Hashes of keys decoded once and not admitted (see the module documentation).
    sightings: HashSet<u64>,
}

impl Shard {
    /// Whether an uncached key may be admitted now: on its second sighting.
    fn admit(&mut self, hash: u64) -> bool {
        if self.sightings.remove(&hash) {
            return true;
        }
        if self.sightings.len() >= SIGHTINGS_PER_SHARD {
            self.sightings.clear();
        }
        self.sightings.insert(hash);
        false
    }
}

impl Shard {
    fn evict_until(&mut self, budget: usize) {
        // Each key is looked at most twice per call (once to clear its bit, once to evict).
        let mut steps = self.ring.len().saturating_mul(2);
        while self.cost > budget && steps > 0 {
            steps -= 1;
            let Some(key) = self.ring.pop_front() else {
                return;
            };
            match self.slots.get(&key) {
                Some(slot) if slot.referenced.swap(false, Ordering::Relaxed) => {
                    self.ring.push_back(key);
                }
                Some(_) => {
                    if let Some(slot) = self.slots.remove(&key) {
                        self.cost = self.cost.saturating_sub(slot.cost);
                    }
                }
                // Not in the map any more: nothing to evict.
                None => {}
            }
        }
    }
}

/// The cache; cheap to share behind an `Arc`.
pub(crate) struct DecodedCache {
    shards: Vec<RwLock<Shard>>,
    shard_budget: usize,
    hits: AtomicU64,
    misses: AtomicU64,
}

impl DecodedCache {
    /// A cache holding about `budget_bytes` of decoded entities; 0 disables it.
    pub(crate) fn new(budget_bytes: usize) -> Self {
        Self {
            shards: (0..SHARDS).map(|_| RwLock::default()).collect(),
            shard_budget: budget_bytes / SHARDS,
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
        }
    }

    /// The key's shard and hash.
    fn shard(&self, key: &[u8]) -> Option<(&RwLock<Shard>, u64)> {
        let mut hasher = DefaultHasher::new();
        key.hash(&mut hasher);
        let hash = hasher.finish();
        self.shards
            .get((hash as usize) % SHARDS)
            .map(|shard| (shard, hash))
    }

    /// Reads served from the cache, and reads that decoded a record, since the start.
    pub(crate) fn hits_and_misses(&self) -> (u64, u64) {
        (
            self.hits.load(Ordering::Relaxed),
            self.misses.load(Ordering::Relaxed),
        )
    }

    /// An owned entity of a stored record for a single read: copied from the cache when it
    /// holds this very version, else decoded without being remembered (a point read of a
    /// large store would mostly evict what queries keep hot, and pay a copy for it).
    pub(crate) fn owned_entity(
        &self,
        key: &[u8],
        record: &[u8],
    ) -> Result<(u64, Entity), StorageError> {
        let (version, body) = layout::split_record(record)?;
        if let Some((shard, _)) = self.shard(key).filter(|_| self.shard_budget > 0) {
            if let Ok(guard) = shard.read() {
                if let Some(slot) = guard.slots.get(key).filter(|s| s.version == version) {
                    slot.referenced.store(true, Ordering::Relaxed);
                    self.hits.fetch_add(1, Ordering::Relaxed);
                    return Ok((version, (*slot.entity).clone()));
                }
            }
        }
        self.misses.fetch_add(1, Ordering::Relaxed);
        Ok((version, body.decode()?))
    }

    /// The entity of a stored record under `key`: from the cache when it holds this very
    /// version, else decoded (and remembered if the key was cached before or was seen once
    /// already).
    pub(crate) fn entity(
        &self,
        key: &[u8],
        record: &[u8],
    ) -> Result<(u64, Arc<Entity>), StorageError> {
        let (version, body) = layout::split_record(record)?;
        let Some((shard, hash)) = self.shard(key).filter(|_| self.shard_budget > 0) else {
            return Ok((version, Arc::new(body.decode()?)));
        };
        if let Ok(guard) = shard.read() {
            if let Some(slot) = guard.slots.get(key) {
                if slot.version == version {
                    slot.referenced.store(true, Ordering::Relaxed);
                    self.hits.fetch_add(1, Ordering::Relaxed);
                    return Ok((version, Arc::clone(&slot.entity)));
                }
            }
        }
        self.misses.fetch_add(1, Ordering::Relaxed);
        let entity = Arc::new(body.decode()?);
        let cost = key.len() + decoded_cost(&body);
        if cost > self.shard_budget {
            return Ok((version, entity));
        }
        if let Ok(mut guard) = shard.write() {
            let shard = &mut *guard;
            let admit = match shard.slots.get(key) {
                Some(slot) => slot.version < version,
                None => shard.admit(hash),
            };
            if admit {
                let slot = Slot {
                    version,
                    entity: Arc::clone(&entity),
                    cost,
                    referenced: AtomicBool::new(false),
                };
                match shard.slots.insert(key.into(), slot) {
                    Some(old) => shard.cost = shard.cost.saturating_sub(old.cost),
                    None => shard.ring.push_back(key.into()),
                }
                shard.cost += cost;
                shard.evict_until(self.shard_budget);
            }
        }
        Ok((version, entity))
    }
}

#[cfg(test)]
mod tests;
