//! The value index (`values` table): every entity's values at every indexable path
//! (`rigel_query::index::entries`), keyed so that one attribute's values of one type are a
//! sorted key range, maintained in the same transaction as the entity, and read by the
//! planner (`plan`) to find the candidates of a query without reading the whole type.
//!
//! Key: tenant ‖ type hash ‖ path hash ‖ kind tag ‖ value ‖ id. The tenant and the value
//! are escaped, terminated components (see `layout`), the id is raw. The type IRI and the
//! path (attribute and sub-attribute IRIs) are 8-byte FNV-1a hashes rather than the IRIs:
//! keys stay short (about 70 bytes for a template entity's rows instead of 180), and a
//! collision only adds candidates, which the query evaluation on every candidate removes.
//! Values are encoded so that byte order is value order: numbers as IEEE 754 bits with the
//! sign flipped (negatives inverted, -0 as 0), instants as seconds and nanoseconds with the
//! sign flipped, strings as their first [`MAX_TEXT`] UTF-8 bytes (longer ones share the
//! row of their prefix: truncation keeps the order, and lookups truncate their bounds the
//! same way), booleans as one byte, GeoProperty boxes as the geohash of the smallest cell
//! that holds the box (`cells`).
//!
//! A GeoProperty box has a second row, a tile row (tag `t`): tenant ‖ type hash ‖ path hash
//! ‖ `t` ‖ tile ‖ id ‖ 0x00 ‖ rest of the cell, where the tile is the cell's first
//! [`cells::TILE_PRECISION`] characters (the whole cell when it is shorter) and the rest
//! the characters after them. One tile's geometries are then a key range in id order,
//! so a geospatial query over a few tiles merges them and stops at its page instead of
//! reading and sorting every row of its box (`tiles`). Ids never hold 0x00 (they
//! are URIs), and the rest is geohash characters, so the last 0x00 of a key ends its id.

pub(crate) mod build;
pub(crate) mod cells;
pub(crate) mod ids;
pub(crate) mod order;
pub(crate) mod overlay;
pub(crate) mod plan;
pub(crate) mod tiles;

#[cfg(test)]
mod tests;

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use redb::Table;
use rigel_model::Entity;
use rigel_query::index::{entries, Key};
use rigel_storage::StorageError;

use crate::error::db_err;
use crate::layout;

/// The kind tags: one byte after the path, so each kind is its own key range.
pub(crate) const TAG_BOOL: u8 = b'b';
pub(crate) const TAG_DATE_TIME: u8 = b'd';
pub(crate) const TAG_GEO: u8 = b'g';
pub(crate) const TAG_NUMBER: u8 = b'n';
pub(crate) const TAG_TEXT: u8 = b's';
pub(crate) const TAG_TILE: u8 = b't';

/// What `meta.value_index` holds once the index is complete in the current layout (1 was
/// the layout without tile rows).
pub(crate) const LAYOUT: u64 = 2;

/// Strings are indexed by at most this many leading bytes.
pub(crate) const MAX_TEXT: usize = 64;

/// A string's indexed bytes: its first [`MAX_TEXT`] bytes.
pub(crate) fn text_bytes(s: &str) -> &[u8] {
    let bytes = s.as_bytes();
    bytes.get(..MAX_TEXT).unwrap_or(bytes)
}

/// FNV-1a, 64 bits: stable across builds and platforms, which a key needs.
fn fnv1a(parts: &[&[u8]]) -> [u8; 8] {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for (i, part) in parts.iter().enumerate() {
        if i > 0 {
            // A separator no IRI contains, so ("ab", "c") and ("a", "bc") differ.
            hash ^= 0xff;
            hash = hash.wrapping_mul(0x0100_0000_01b3);
        }
        for &b in *part {
            hash ^= u64::from(b);
            hash = hash.wrapping_mul(0x0100_0000_01b3);
        }
    }
    hash.to_be_bytes()
}

/// The key prefix of one type's rows in a tenant.
pub(crate) fn type_part(tenant_prefix: &[u8], type_iri: &str) -> Vec<u8> {
    let mut buf = Vec::with_capacity(tenant_prefix.len() + 8 + 9);
    buf.extend_from_slice(tenant_prefix);
    buf.extend_from_slice(&fnv1a(&[type_iri.as_bytes()]));
    buf
}

/// The part of an index key between the type and the value: the path's hash and the kind.
pub(crate) fn path_part(attribute: &str, sub: Option<&str>, tag: u8) -> Vec<u8> {
    let mut buf = Vec::with_capacity(9);
    let hash = match sub {
        Some(sub) => fnv1a(&[attribute.as_bytes(), sub.as_bytes()]),
        None => fnv1a(&[attribute.as_bytes()]),
    };
    buf.extend_from_slice(&hash);
    buf.push(tag);
    buf
}

/// A number's order-preserving bytes.
pub(crate) fn number_bytes(x: f64) -> [u8; 8] {
    let x = if x == 0.0 { 0.0 } else { x };
    let bits = x.to_bits();
    let ordered = if bits >> 63 == 1 {
        !bits
    } else {
        bits | (1 << 63)
    };
    ordered.to_be_bytes()
}

/// The number of [`number_bytes`].
pub(crate) fn number_from_bytes(bytes: [u8; 8]) -> f64 {
    let ordered = u64::from_be_bytes(bytes);
    let bits = if ordered >> 63 == 1 {
        ordered & !(1 << 63)
    } else {
        !ordered
    };
    f64::from_bits(bits)
}

/// An instant's order-preserving bytes.
pub(crate) fn instant_bytes(t: DateTime<Utc>) -> [u8; 12] {
    let mut out = [0u8; 12];
    let secs = (t.timestamp() as u64) ^ (1 << 63);
    out[..8].copy_from_slice(&secs.to_be_bytes());
    out[8..].copy_from_slice(&t.timestamp_subsec_nanos().to_be_bytes());
    out
}

/// The tag and value bytes of one indexed value.
fn value_part(key: Key<'_>) -> (u8, Vec<u8>) {
    match key {
        Key::Number(x) => (TAG_NUMBER, number_bytes(x).to_vec()),
        Key::Text(s) => (TAG_TEXT, text_bytes(s).to_vec()),
        Key::DateTime(t) => (TAG_DATE_TIME, instant_bytes(t).to_vec()),
        Key::Bool(b) => (TAG_BOOL, vec![u8::from(b)]),
        Key::Area(bounds) => (TAG_GEO, cells::cell_of(bounds).into_bytes()),
    }
}

/// Everything of an entity's index keys but the tenant, type and id: sorted, each once.
pub(crate) fn suffixes(entity: &Entity) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    entries(entity, &mut |attribute, sub, key| {
        let (tag, value) = value_part(key);
        if tag == TAG_GEO {
            let cell = std::str::from_utf8(&value).unwrap_or_default();
            let (tile, rest) = cells::tile_of(cell);
            let mut suffix = path_part(attribute, sub, TAG_TILE);
            layout::push_component(&mut suffix, tile);
            suffix.extend_from_slice(rest.as_bytes());
            out.push(suffix);
        }
        let mut suffix = path_part(attribute, sub, tag);
        layout::push_bytes_component(&mut suffix, &value);
        out.push(suffix);
    });
    out.sort_unstable();
    out.dedup();
    out
}

/// The full keys of an entity with these types and suffixes, sorted.
fn full_keys(
    tenant_prefix: &[u8],
    types: &[String],
    suffixes: &[Vec<u8>],
    id: &str,
) -> Vec<Vec<u8>> {
    let mut keys = Vec::with_capacity(types.len() * suffixes.len());
    for type_iri in types {
        let prefix = type_part(tenant_prefix, type_iri);
        for suffix in suffixes {
            let mut key = Vec::with_capacity(prefix.len() + suffix.len() + id.len() + 1);
            key.extend_from_slice(&prefix);
            match tile_split(suffix) {
                // A tile row: the id goes between the tile and the rest of the cell.
                Some((head, rest)) => {
                    key.extend_from_slice(head);
                    key.extend_from_slice(id.as_bytes());
                    key.push(0);
                    key.extend_from_slice(rest);
                }
                None => {
                    key.extend_from_slice(suffix);
                    key.extend_from_slice(id.as_bytes());
                }
            }
            keys.push(key);
        }
    }
    keys.sort_unstable();
    keys.dedup();
    keys
}

/// A tile row's suffix split after its tile: (path and tile, rest of the cell).
fn tile_split(suffix: &[u8]) -> Option<(&[u8], &[u8])> {
    const PATH_LEN: usize = 9;
    if suffix.get(PATH_LEN - 1) != Some(&TAG_TILE) {
        return None;
    }
    let tile_len = layout::component_len(suffix.get(PATH_LEN..)?).ok()?;
    Some(suffix.split_at(PATH_LEN + tile_len))
}

/// What the stored entity a write expects to replace files in the index, worked out before
/// the write reaches the writer thread (from the decoded-entity cache); the writer uses it
/// when the stored version is still `version`, instead of decoding the stored record.
#[derive(Debug, Clone)]
pub(crate) struct Before {
    pub version: u64,
    pub types: Vec<String>,
    pub suffixes: Vec<Vec<u8>>,
}

/// What an entity files in the index: its types and suffixes.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Filed<'a> {
    pub types: &'a [String],
    pub suffixes: &'a [Vec<u8>],
}

/// Index rows to write at the end of a transaction: each key with whether it ends up
/// present. Applied in key order, so a batch's rows land on neighbouring B-tree pages one
/// after the other instead of at random (ADR 0004: twice the write rate of applying them
/// as each entity is written).
#[derive(Debug, Default)]
pub(crate) struct PendingRows(BTreeMap<Vec<u8>, bool>);

impl PendingRows {
    /// Moves an entity's rows from what `old` filed to what `new` files: rows in both are
    /// left alone.
    pub(crate) fn maintain(
        &mut self,
        tenant_prefix: &[u8],
        id: &str,
        old: Filed<'_>,
        new: Filed<'_>,
    ) {
        let old = full_keys(tenant_prefix, old.types, old.suffixes, id);
        let new = full_keys(tenant_prefix, new.types, new.suffixes, id);
        let (mut i, mut j) = (0, 0);
        loop {
            match (old.get(i), new.get(j)) {
                (Some(o), Some(n)) if o == n => {
                    i += 1;
                    j += 1;
                }
                (Some(o), Some(n)) if o < n => {
                    self.0.insert(o.clone(), false);
                    i += 1;
                }
                (Some(o), None) => {
                    self.0.insert(o.clone(), false);
                    i += 1;
                }
                (_, Some(n)) => {
                    self.0.insert(n.clone(), true);
                    j += 1;
                }
                (None, None) => return,
            }
        }
    }

    /// How many rows are pending.
    pub(crate) fn len(&self) -> usize {
        self.0.len()
    }

    /// The pending rows as changes of log frame `lsn`, in key order, forgetting them.
    pub(crate) fn take_changes(&mut self, lsn: u64) -> Vec<overlay::Change> {
        std::mem::take(&mut self.0)
            .into_iter()
            .map(|(key, present)| overlay::Change {
                key: key.into(),
                lsn,
                present,
            })
            .collect()
    }

    /// Writes the pending rows, in key order, and forgets them.
    pub(crate) fn flush(
        &mut self,
        table: &mut Table<'_, &'static [u8], ()>,
    ) -> Result<(), StorageError> {
        for (key, present) in std::mem::take(&mut self.0) {
            if present {
                table.insert(key.as_slice(), ()).map_err(db_err)?;
            } else {
                table.remove(key.as_slice()).map_err(db_err)?;
            }
        }
        Ok(())
    }
}
