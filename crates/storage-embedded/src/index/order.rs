//! An ascending `orderBy` on a numeric attribute served from the value index: the type's
//! numbers are read from the smallest, each new entity is read and checked against the
//! query, and the read stops once the page is certain (ADR 0004), so the first page of an
//! ordered query over a large type reads a few dozen entities instead of sorting them all.
//!
//! Why the stop is exact: numbers come before every other value and before entities
//! without the member in the ascending order of clause 4.23.2; every entity sorting by a
//! number `x` has an index row with `x`; so once the rows reach a value above the
//! `offset + limit`-th smallest number found, no entity not yet read can enter the page.
//! When the rows run out first, only the entities sorting by numbers are known, which is
//! enough if there are `offset + limit` of them; otherwise the caller sorts every match.

use std::cmp::Ordering;
use std::collections::{BinaryHeap, HashSet};
use std::ops::Bound;
use std::sync::Arc;

use redb::ReadOnlyTable;
use rigel_model::Entity;
use rigel_query::OrderBy;
use rigel_storage::{plan, Selection, StorageError, Versioned};

use super::overlay::IndexRows;
use super::{number_from_bytes, path_part, type_part, TAG_NUMBER};
use crate::cache::DecodedCache;
use crate::error::db_err;
use crate::layout;

/// The most index rows an ordered read goes through before it leaves the ordering to a
/// sort of every match (a filter that keeps few of the type's entities).
const MAX_ORDER_ROWS: usize = 20_000;

/// A number ordered by `total_cmp`, for the heap of the smallest ones.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Total(f64);

impl Eq for Total {}

impl PartialOrd for Total {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Total {
    fn cmp(&self, other: &Self) -> Ordering {
        self.0.total_cmp(&other.0)
    }
}

/// Where an ordered read looks.
pub(crate) struct OrderedRead<'a> {
    pub values: &'a IndexRows<'a>,
    pub entities: &'a ReadOnlyTable<&'static [u8], &'static [u8]>,
    pub cache: &'a DecodedCache,
    pub tenant_prefix: &'a [u8],
    pub type_iri: &'a str,
}

impl OrderedRead<'_> {
    /// The first `offset + limit` matches of `selection` in `order`, in that order, or
    /// `None` when the index cannot tell them (see the module documentation).
    pub(crate) fn first_matches(
        &self,
        selection: &Selection,
        order: &OrderBy,
    ) -> Result<Option<Vec<Versioned<Arc<Entity>>>>, StorageError> {
        let Some((attribute, sub)) = order.ascending_path() else {
            return Ok(None);
        };
        let want = selection.offset.saturating_add(selection.limit);
        if want == 0 || want > MAX_ORDER_ROWS {
            return Ok(None);
        }
        let mut prefix = type_part(self.tenant_prefix, self.type_iri);
        prefix.extend_from_slice(&path_part(attribute, sub, TAG_NUMBER));
        let end = layout::prefix_end_bytes(&prefix);
        let range = self.values.range(
            Bound::Included(prefix.as_slice()),
            Bound::Excluded(end.as_slice()),
        )?;
        let mut seen: HashSet<String> = HashSet::new();
        let mut smallest: BinaryHeap<Total> = BinaryHeap::new();
        let mut found: Vec<Versioned<Arc<Entity>>> = Vec::new();
        let mut certain = false;
        let mut held = plan::PageMemory::new(selection);
        for (rows, entry) in range.enumerate() {
            if rows >= MAX_ORDER_ROWS {
                return Ok(None);
            }
            let key = entry?;
            let key = key.value();
            let (value, id_at) = layout::component_at(key, prefix.len())?;
            let value = number_from_bytes(value.as_slice().try_into().map_err(|_| {
                StorageError::Corrupt("a number in the value index is not 8 bytes".into())
            })?);
            if smallest.len() >= want && smallest.peek().is_some_and(|kth| value > kth.0) {
                certain = true;
                break;
            }
            let id = std::str::from_utf8(key.get(id_at..).unwrap_or_default())
                .map_err(|_| StorageError::Corrupt("entity id in a key is not UTF-8".into()))?;
            if !seen.insert(id.to_owned()) {
                continue;
            }
            let entity_key = layout::entity_key(self.tenant_prefix, id);
            let Some(guard) = self.entities.get(entity_key.as_slice()).map_err(db_err)? else {
                continue;
            };
            let (version, entity) = self.cache.entity(&entity_key, guard.value())?;
            if !selection.matches(&entity) {
                continue;
            }
            if let Some(x) = order.sort_number(&entity) {
                smallest.push(Total(x));
                if smallest.len() > want {
                    smallest.pop();
                }
                held.hold(&entity)?;
                found.push(Versioned {
                    version,
                    value: entity,
                });
            }
        }
        if !certain && smallest.len() < want {
            return Ok(None);
        }
        // Ties keep id order, as a sort of the matches in id order would.
        found.sort_by(|a, b| a.value.id.cmp(&b.value.id));
        found.sort_by_cached_key(|e| order.sort_key(&e.value));
        found.truncate(want);
        Ok(Some(found))
    }
}
