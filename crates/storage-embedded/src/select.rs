//! Read paths beyond a single get: selections (candidates from an index or a key range,
//! filtered next to the data) and the listing of types in use. Each runs in one redb read
//! transaction, so a page is one consistent snapshot.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::ops::Bound;
use std::sync::Arc;

use redb::{Database, ReadOnlyTable, ReadableDatabase};
use rigel_model::Entity;
use rigel_query::EntityQuery;
use rigel_storage::plan::{self, MAX_SORTED_MATCHES};
use rigel_storage::{Selected, Selection, Source, StorageError, Versioned, Visitor};

use crate::cache::DecodedCache;
use crate::error::db_err;
use crate::layout::{self, ENTITIES, TYPES};

/// The entity of a stored record, owned (the cache keeps its own copy).
pub(crate) fn decode(
    cache: &DecodedCache,
    key: &[u8],
    record: &[u8],
) -> Result<Versioned<Entity>, StorageError> {
    let (version, value) = cache.owned_entity(key, record)?;
    Ok(Versioned { version, value })
}

/// Where candidates go, in id order: each says when it has seen enough.
trait Sink {
    /// Offers one candidate; returns false once no further candidate can change the result.
    fn offer(&mut self, key: &[u8], record: &[u8]) -> Result<bool, StorageError>;
}

/// Collects matches in id order: skips `offset`, keeps `limit`, counts when asked.
struct Page<'c> {
    cache: &'c DecodedCache,
    selection: Selection,
    seen: usize,
    entities: Vec<Versioned<Arc<Entity>>>,
}

impl<'c> Page<'c> {
    fn new(cache: &'c DecodedCache, selection: Selection) -> Self {
        Self {
            cache,
            entities: Vec::with_capacity(selection.limit.min(1024)),
            seen: 0,
            selection,
        }
    }

    fn finish(self) -> Selected {
        Selected {
            total: self.selection.count.then_some(self.seen),
            entities: self.entities,
        }
    }
}

impl Sink for Page<'_> {
    fn offer(&mut self, key: &[u8], record: &[u8]) -> Result<bool, StorageError> {
        let (version, candidate) = self.cache.entity(key, record)?;
        if self.selection.matches(&candidate) {
            if self.seen >= self.selection.offset && self.entities.len() < self.selection.limit {
                self.entities.push(Versioned {
                    version,
                    value: candidate,
                });
            }
            self.seen += 1;
        }
        Ok(self.selection.count
            || self.seen < self.selection.offset.saturating_add(self.selection.limit))
    }
}

/// Hands every match to a visitor.
struct Visit<'c> {
    cache: &'c DecodedCache,
    query: Arc<EntityQuery>,
    visitor: Visitor,
    seen: usize,
}

impl Sink for Visit<'_> {
    fn offer(&mut self, key: &[u8], record: &[u8]) -> Result<bool, StorageError> {
        let (_, candidate) = self.cache.entity(key, record)?;
        if self.query.matches(&candidate) {
            (self.visitor)(&candidate);
            self.seen += 1;
        }
        Ok(true)
    }
}

/// Runs a selection in one snapshot.
pub(crate) fn select(
    db: &Database,
    cache: &DecodedCache,
    tenant_prefix: &[u8],
    selection: Selection,
) -> Result<Selected, StorageError> {
    if let Some(order) = selection.order.clone() {
        // Sorting needs every match; one more than the cap tells an overflow.
        let all = Selection {
            order: None,
            offset: 0,
            limit: MAX_SORTED_MATCHES + 1,
            count: false,
            ..selection.clone()
        };
        let mut matches = select(db, cache, tenant_prefix, all)?.entities;
        plan::sort_matches(&mut matches, &order)?;
        let total = selection.count.then_some(matches.len());
        let entities = matches
            .into_iter()
            .skip(selection.offset)
            .take(selection.limit)
            .collect();
        return Ok(Selected { entities, total });
    }
    let source = plan::selectors_source(&selection.query);
    let after = selection.after.clone();
    let mut page = Page::new(cache, selection);
    if page.selection.limit == 0 && !page.selection.count {
        return Ok(page.finish());
    }
    candidates(db, tenant_prefix, source, after.as_deref(), &mut page)?;
    Ok(page.finish())
}

/// Visits every match of a query in one snapshot; returns how many there were.
pub(crate) fn visit(
    db: &Database,
    cache: &DecodedCache,
    tenant_prefix: &[u8],
    query: Arc<EntityQuery>,
    visitor: Visitor,
) -> Result<usize, StorageError> {
    let source = plan::selectors_source(&query);
    let mut sink = Visit {
        cache,
        query,
        visitor,
        seen: 0,
    };
    candidates(db, tenant_prefix, source, None, &mut sink)?;
    Ok(sink.seen)
}

/// Offers the candidates of `source` after `after`, in id order, until the sink has enough.
fn candidates(
    db: &Database,
    tenant_prefix: &[u8],
    source: Source,
    after: Option<&str>,
    sink: &mut dyn Sink,
) -> Result<(), StorageError> {
    let txn = db.begin_read().map_err(db_err)?;
    let entities = txn.open_table(ENTITIES).map_err(db_err)?;
    match source {
        Source::All => scan_range(&entities, tenant_prefix, "", after, sink)?,
        Source::IdPrefix(prefix) => {
            scan_range(&entities, tenant_prefix, &prefix, after, sink)?;
        }
        Source::Ids(mut ids) => {
            ids.sort_unstable();
            ids.dedup();
            ids.retain(|id| after.is_none_or(|after| id.as_str() > after));
            for id in ids {
                let key = layout::entity_key(tenant_prefix, &id);
                if let Some(guard) = entities.get(key.as_slice()).map_err(db_err)? {
                    if !sink.offer(&key, guard.value())? {
                        break;
                    }
                }
            }
        }
        Source::Types(types) => {
            let index = txn.open_table(TYPES).map_err(db_err)?;
            let ids = MergedIds::new(&index, tenant_prefix, &types, after)?;
            for id in ids {
                let key = layout::entity_key(tenant_prefix, &id?);
                // The index and the entities are written in the same transaction, so an
                // indexed id is always present in this snapshot.
                if let Some(guard) = entities.get(key.as_slice()).map_err(db_err)? {
                    if !sink.offer(&key, guard.value())? {
                        break;
                    }
                }
            }
        }
    }
    Ok(())
}

/// Offers every entity whose id starts with `id_prefix` (and comes after `after`), in id order.
fn scan_range(
    entities: &ReadOnlyTable<&'static [u8], &'static [u8]>,
    tenant_prefix: &[u8],
    id_prefix: &str,
    after: Option<&str>,
    page: &mut dyn Sink,
) -> Result<(), StorageError> {
    let prefix = layout::entity_key(tenant_prefix, id_prefix);
    let resume = after
        .filter(|after| *after >= id_prefix)
        .map(|after| layout::entity_key(tenant_prefix, after));
    let start = match &resume {
        Some(key) => Bound::Excluded(key.as_slice()),
        None => Bound::Included(prefix.as_slice()),
    };
    let end = layout::prefix_end(tenant_prefix);
    for entry in entities
        .range::<&[u8]>((start, Bound::Excluded(end.as_slice())))
        .map_err(db_err)?
    {
        let (key, value) = entry.map_err(db_err)?;
        if !key.value().starts_with(&prefix) {
            break;
        }
        if !page.offer(key.value(), value.value())? {
            break;
        }
    }
    Ok(())
}

type TypeRange = redb::Range<'static, &'static [u8], ()>;

/// The ids of the entities having any of several types, merged in id order, each once.
struct MergedIds {
    ranges: Vec<(Vec<u8>, TypeRange)>,
    heads: BinaryHeap<Reverse<(String, usize)>>,
    last: Option<String>,
}

impl MergedIds {
    fn new(
        index: &ReadOnlyTable<&'static [u8], ()>,
        tenant_prefix: &[u8],
        types: &[String],
        after: Option<&str>,
    ) -> Result<Self, StorageError> {
        let mut merged = Self {
            ranges: Vec::with_capacity(types.len()),
            heads: BinaryHeap::new(),
            last: None,
        };
        for type_iri in types {
            let prefix = layout::type_prefix(tenant_prefix, type_iri);
            let end = layout::prefix_end(&prefix);
            let resume = after.map(|id| layout::type_key(tenant_prefix, type_iri, id));
            let start = match &resume {
                Some(key) => Bound::Excluded(key.as_slice()),
                None => Bound::Included(prefix.as_slice()),
            };
            let range = index
                .range::<&[u8]>((start, Bound::Excluded(end.as_slice())))
                .map_err(db_err)?;
            merged.ranges.push((prefix, range));
            let slot = merged.ranges.len() - 1;
            merged.advance(slot)?;
        }
        Ok(merged)
    }

    /// Pulls the next id of one range onto the heap.
    fn advance(&mut self, slot: usize) -> Result<(), StorageError> {
        let Some((prefix, range)) = self.ranges.get_mut(slot) else {
            return Ok(());
        };
        if let Some(entry) = range.next() {
            let (key, ()) = entry.map(|(k, v)| (k, v.value())).map_err(db_err)?;
            let id = layout::id_after_prefix(key.value(), prefix)?;
            self.heads.push(Reverse((id, slot)));
        }
        Ok(())
    }
}

impl Iterator for MergedIds {
    type Item = Result<String, StorageError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            let Reverse((id, slot)) = self.heads.pop()?;
            if let Err(e) = self.advance(slot) {
                return Some(Err(e));
            }
            if self.last.as_deref() != Some(id.as_str()) {
                self.last = Some(id.clone());
                return Some(Ok(id));
            }
        }
    }
}

/// The distinct types of a tenant: one index seek per type, however many entities it has.
pub(crate) fn types_in_use(
    db: &Database,
    tenant_prefix: &[u8],
) -> Result<Vec<String>, StorageError> {
    let txn = db.begin_read().map_err(db_err)?;
    let index = txn.open_table(TYPES).map_err(db_err)?;
    let end = layout::prefix_end(tenant_prefix);
    let mut start = tenant_prefix.to_vec();
    let mut types = Vec::new();
    loop {
        let next = index
            .range::<&[u8]>((
                Bound::Included(start.as_slice()),
                Bound::Excluded(end.as_slice()),
            ))
            .map_err(db_err)?
            .next();
        let Some(entry) = next else {
            break;
        };
        let (key, ()) = entry.map(|(k, v)| (k, v.value())).map_err(db_err)?;
        let rest = key.value().get(tenant_prefix.len()..).unwrap_or_default();
        let type_iri = layout::first_component(rest)?;
        start = layout::prefix_end(&layout::type_prefix(tenant_prefix, &type_iri));
        types.push(type_iri);
    }
    Ok(types)
}
