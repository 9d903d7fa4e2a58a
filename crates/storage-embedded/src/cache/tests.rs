//! The decoded-entity cache: version validation, budgets and eviction.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use rigel_storage::testkit::sample_entity;

use super::DecodedCache;
use crate::layout;

/// How many entities the cache holds.
fn cached_entries(cache: &DecodedCache) -> usize {
    cache
        .shards
        .iter()
        .map(|s| s.read().unwrap().slots.len())
        .sum()
}

/// A stored record of an entity at a version, as the writer makes it.
fn record(id: &str, version: u64) -> Vec<u8> {
    let mut record = layout::encode_record(&sample_entity(id, &["urn:t:T"]));
    layout::set_record_version(&mut record, version);
    record
}

#[test]
fn the_same_version_is_served_from_the_cache() {
    let cache = DecodedCache::new(1 << 20);
    let rec = record("urn:x:1", 7);
    let (_, first) = cache.entity(b"k1", &rec).unwrap();
    let (v2, second) = cache.entity(b"k1", &rec).unwrap();
    let (v3, third) = cache.entity(b"k1", &rec).unwrap();
    assert_eq!((v2, v3), (7, 7));
    assert!(!Arc::ptr_eq(&first, &second), "seen once: not admitted");
    assert!(
        Arc::ptr_eq(&second, &third),
        "admitted on the second sighting, reused on the third"
    );
}

#[test]
fn a_scan_of_entities_seen_once_does_not_evict_hot_ones() {
    let one = record("urn:x:0", 1).len() * super::DECODED_SIZE_FACTOR_BINARY;
    let cache = DecodedCache::new(super::SHARDS * one * 3);
    let hot = record("urn:x:hot", 1);
    cache.entity(b"hot", &hot).unwrap();
    let (_, cached) = cache.entity(b"hot", &hot).unwrap();
    for i in 0..2000u64 {
        let key = format!("scan{i}");
        cache
            .entity(key.as_bytes(), &record(&format!("urn:x:{i}"), i + 2))
            .unwrap();
    }
    let (_, again) = cache.entity(b"hot", &hot).unwrap();
    assert!(Arc::ptr_eq(&cached, &again), "the hot entity stayed");
    let cached = cached_entries(&cache);
    assert_eq!(cached, 1, "no scanned entity was admitted");
}

#[test]
fn a_new_version_is_decoded_again_not_taken_from_the_cache() {
    let cache = DecodedCache::new(1 << 20);
    let (_, old) = cache.entity(b"k1", &record("urn:x:old", 1)).unwrap();
    let (version, new) = cache.entity(b"k1", &record("urn:x:new", 2)).unwrap();
    assert_eq!(version, 2);
    assert_eq!(new.id, "urn:x:new");
    assert!(!Arc::ptr_eq(&old, &new));
}

#[test]
fn an_older_snapshot_never_replaces_a_newer_cached_version() {
    let cache = DecodedCache::new(1 << 20);
    cache.entity(b"k1", &record("urn:x:new", 5)).unwrap();
    cache.entity(b"k1", &record("urn:x:new", 5)).unwrap();
    // A reader on an older snapshot decodes its own version and gets it...
    let (version, old) = cache.entity(b"k1", &record("urn:x:old", 4)).unwrap();
    assert_eq!((version, old.id.as_str()), (4, "urn:x:old"));
    // ...but the cache keeps the newer one.
    let (_, again) = cache.entity(b"k1", &record("urn:x:new", 5)).unwrap();
    let (_, third) = cache.entity(b"k1", &record("urn:x:new", 5)).unwrap();
    assert!(Arc::ptr_eq(&again, &third));
}

#[test]
fn the_budget_bounds_what_stays_cached() {
    let one = record("urn:x:0", 1).len() * super::DECODED_SIZE_FACTOR_BINARY;
    // Room for about 3 entries per shard.
    let cache = DecodedCache::new(super::SHARDS * one * 3);
    for i in 0..2000u64 {
        let key = format!("k{i}");
        let rec = record(&format!("urn:x:{i}"), i + 1);
        // Twice: admitted on the second sighting.
        cache.entity(key.as_bytes(), &rec).unwrap();
        cache.entity(key.as_bytes(), &rec).unwrap();
    }
    let cached = cached_entries(&cache);
    assert!(cached <= super::SHARDS * 4, "{cached} entries cached");
    assert!(cached > 0);
}

#[test]
fn a_disabled_cache_still_decodes() {
    let cache = DecodedCache::new(0);
    let (version, entity) = cache.entity(b"k", &record("urn:x:1", 3)).unwrap();
    assert_eq!((version, entity.id.as_str()), (3, "urn:x:1"));
}

#[test]
fn a_single_read_uses_a_cached_version_but_does_not_fill_the_cache() {
    let cache = DecodedCache::new(1 << 20);
    let rec = record("urn:x:1", 3);
    let (version, owned) = cache.owned_entity(b"k1", &rec).unwrap();
    assert_eq!((version, owned.id.as_str()), (3, "urn:x:1"));
    let cached = cached_entries(&cache);
    assert_eq!(cached, 0, "a point read does not fill the cache");
    cache.entity(b"k1", &rec).unwrap();
    let (_, shared) = cache.entity(b"k1", &rec).unwrap();
    let (_, copy) = cache.owned_entity(b"k1", &rec).unwrap();
    assert_eq!(*shared, copy);
}
