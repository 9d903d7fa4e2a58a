//! Read paths beyond a single get: selections (candidates from an index or a key range,
//! filtered next to the data) and the listing of types in use. Each runs in one redb read
//! transaction, so a page is one consistent snapshot.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::ops::Bound;
use std::sync::Arc;

use redb::{Database, ReadOnlyTable, ReadableDatabase};
use rigel_model::Entity;
use rigel_query::index::Lookup;
use rigel_query::EntityQuery;
use rigel_storage::plan;
use rigel_storage::{Selected, Selection, Source, StorageError, Versioned, Visitor};

use crate::cache::DecodedCache;
use crate::error::db_err;
use crate::index::ids::IdSet;
use crate::index::order::OrderedRead;
use crate::index::overlay::{IndexRows, Overlay, Runs};
use crate::index::plan::{Found, IndexReader};
use crate::layout::{self, ENTITIES, META, TYPES, VALUES, WAL_LSN_KEY};

/// The default of the most value-index entries a query reads to find its candidates. Past
/// it the matches are dense enough in their type that a scan in id order finds a page sooner
/// (ADR 0004).
pub(crate) const INDEX_BUDGET: usize = 4096;

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

    /// How many matches it takes at most, from the start; `None` when it takes them all.
    fn wanted(&self) -> Option<usize>;
}

/// Collects matches in id order: skips `offset`, keeps `limit`, counts when asked.
struct Page<'c> {
    cache: &'c DecodedCache,
    selection: Selection,
    seen: usize,
    entities: Vec<Versioned<Arc<Entity>>>,
    held: plan::PageMemory,
}

impl<'c> Page<'c> {
    fn new(cache: &'c DecodedCache, selection: Selection) -> Self {
        Self {
            cache,
            entities: Vec::with_capacity(selection.limit.min(1024)),
            seen: 0,
            held: plan::PageMemory::new(&selection),
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
                self.held.hold(&candidate)?;
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

    fn wanted(&self) -> Option<usize> {
        (!self.selection.count).then(|| self.selection.offset.saturating_add(self.selection.limit))
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

    fn wanted(&self) -> Option<usize> {
        None
    }
}

/// Where a read runs: the database, the decoded-entity cache, the tenant, and whether the
/// value index may be used.
#[derive(Clone, Copy)]
pub(crate) struct Reader<'a> {
    pub db: &'a Database,
    pub cache: &'a DecodedCache,
    pub tenant_prefix: &'a [u8],
    pub value_index: bool,
    /// The value-index rows not yet in the table (`index::overlay`).
    pub overlay: &'a Overlay,
    pub index_budget: usize,
}

/// One read snapshot: the transaction and the value-index runs that go with it.
pub(crate) struct Snapshot {
    runs: Arc<Runs>,
    txn: redb::ReadTransaction,
}

impl Reader<'_> {
    /// Begins a read snapshot with the runs that go with it (`index::overlay`).
    fn begin(&self) -> Result<Snapshot, StorageError> {
        let (runs, txn) = self
            .overlay
            .around(|| self.db.begin_read().map_err(db_err))?;
        Ok(Snapshot { runs, txn })
    }
}

impl Snapshot {
    /// The value index in this snapshot.
    fn index_rows<'t>(
        &'t self,
        values: &'t ReadOnlyTable<&'static [u8], ()>,
    ) -> Result<IndexRows<'t>, StorageError> {
        let meta = self.txn.open_table(META).map_err(db_err)?;
        let visible_lsn = meta
            .get(WAL_LSN_KEY)
            .map_err(db_err)?
            .map_or(0, |v| v.value());
        Ok(IndexRows {
            table: values,
            runs: &self.runs,
            visible_lsn,
        })
    }
}

/// Runs a selection in one snapshot.
pub(crate) fn select(reader: Reader<'_>, selection: Selection) -> Result<Selected, StorageError> {
    let Reader { cache, .. } = reader;
    if let Some(order) = selection.order.clone() {
        if let Some(first) = ordered_by_index(reader, &selection, &order)? {
            let total = if selection.count {
                let count = Selection {
                    order: None,
                    offset: 0,
                    limit: 0,
                    count: true,
                    ..selection.clone()
                };
                select(reader, count)?.total
            } else {
                None
            };
            let entities = first.into_iter().skip(selection.offset).collect();
            return Ok(Selected { entities, total });
        }
        // Sorting needs every match.
        let matches = select(reader, plan::all_for_sorting(&selection))?.entities;
        return plan::sorted_page(matches, &order, &selection);
    }
    if selection.count {
        if let Some(types) = plan::types_alone(&selection.query) {
            return counted_by_type(reader, selection, &types);
        }
    }
    let after = selection.after.clone();
    let query = Arc::clone(&selection.query);
    let mut page = Page::new(cache, selection);
    if page.selection.limit == 0 && !page.selection.count {
        return Ok(page.finish());
    }
    let snapshot = reader.begin()?;
    candidates(reader, &snapshot, &query, after.as_deref(), &mut page)?;
    Ok(page.finish())
}

/// A counted selection of entities by type alone: the count from the type index (each id
/// once, after `after` like the page), the page as without a count, in one snapshot.
fn counted_by_type(
    reader: Reader<'_>,
    selection: Selection,
    types: &[String],
) -> Result<Selected, StorageError> {
    let snapshot = reader.begin()?;
    let after = selection.after.clone();
    let mut total = 0usize;
    {
        let index = snapshot.txn.open_table(TYPES).map_err(db_err)?;
        for id in MergedIds::new(&index, reader.tenant_prefix, types, after.as_deref())? {
            id?;
            total += 1;
        }
    }
    let query = Arc::clone(&selection.query);
    let mut page = Page::new(
        reader.cache,
        Selection {
            count: false,
            ..selection
        },
    );
    if page.selection.limit > 0 {
        candidates(reader, &snapshot, &query, after.as_deref(), &mut page)?;
    }
    Ok(Selected {
        total: Some(total),
        ..page.finish()
    })
}

/// The first page of an ordered selection read from the value index, when the query is on
/// one type and the order on a number the index serves (`index::order`).
fn ordered_by_index(
    reader: Reader<'_>,
    selection: &Selection,
    order: &rigel_query::OrderBy,
) -> Result<Option<Vec<Versioned<Arc<Entity>>>>, StorageError> {
    if !reader.value_index {
        return Ok(None);
    }
    let Source::Types(types) = plan::selectors_source(&selection.query) else {
        return Ok(None);
    };
    let [type_iri] = types.as_slice() else {
        return Ok(None);
    };
    let snapshot = reader.begin()?;
    let entities = snapshot.txn.open_table(ENTITIES).map_err(db_err)?;
    let values = snapshot.txn.open_table(VALUES).map_err(db_err)?;
    OrderedRead {
        values: &snapshot.index_rows(&values)?,
        entities: &entities,
        cache: reader.cache,
        tenant_prefix: reader.tenant_prefix,
        type_iri,
    }
    .first_matches(selection, order)
}

/// Visits every match of a query in one snapshot; returns how many there were.
pub(crate) fn visit(
    reader: Reader<'_>,
    query: Arc<EntityQuery>,
    visitor: Visitor,
) -> Result<usize, StorageError> {
    let mut sink = Visit {
        cache: reader.cache,
        query: Arc::clone(&query),
        visitor,
        seen: 0,
    };
    let snapshot = reader.begin()?;
    candidates(reader, &snapshot, &query, None, &mut sink)?;
    Ok(sink.seen)
}

/// Offers the candidates of a query after `after`, in id order, until the sink has enough.
///
/// Without anything the value index serves, the candidates are the source the selectors
/// imply. With it, in this order (ADR 0004), each step only when the one before did not
/// finish the selection:
/// 1. for a page (not a count) of a lone box lookup that covers a fair share of the tiles
///    it meets, those tiles' rows in id order (`index::tiles`), and nothing else;
/// 2. the index read with a small budget ([`FIRST_PROBE`] entries): a selective query
///    (`rel==urn`) is answered from a handful of rows; a box whose probe tells it is dense
///    enough goes to its tiles as in 1;
/// 3. the source in id order, for at most [`FIRST_SCAN`] candidates (never more than the
///    budget): a query that matches a large part of its type fills its page here;
/// 4. the index read with the reader's whole budget, for the candidates after the scan's;
/// 5. the rest of the source in id order.
fn candidates(
    reader: Reader<'_>,
    snapshot: &Snapshot,
    query: &EntityQuery,
    after: Option<&str>,
    sink: &mut dyn Sink,
) -> Result<(), StorageError> {
    let tenant_prefix = reader.tenant_prefix;
    let txn = &snapshot.txn;
    let entities = txn.open_table(ENTITIES).map_err(db_err)?;
    let source = plan::selectors_source(query);
    let types = match (&source, reader.value_index) {
        (Source::Types(types), true) => types.clone(),
        _ => return scan_source(txn, &entities, tenant_prefix, source, after, sink),
    };
    let lookup = query.lookup();
    if lookup == Lookup::Unrestricted {
        return scan_source(txn, &entities, tenant_prefix, source, after, sink);
    }
    let values = txn.open_table(VALUES).map_err(db_err)?;
    let rows = snapshot.index_rows(&values)?;
    let index = IndexReader {
        rows: &rows,
        tenant_prefix,
        types: &types,
    };
    let mut by_id = ById {
        entities: &entities,
        key: tenant_prefix.to_vec(),
        prefix_len: tenant_prefix.len(),
    };
    // A page over a box that covers a fair share of its tiles: the tiles in id order.
    let wanted = sink.wanted();
    let tiles_after = after.map(str::as_bytes);
    if let Some(wanted) = wanted {
        if let Some(tiles) = index.tile_ids(&lookup, tiles_after, wanted, None)? {
            return by_id.offer_all(tiles, sink);
        }
    }
    let first_budget = FIRST_PROBE.min(reader.index_budget);
    let budgets = match index.candidates(&lookup, first_budget)? {
        Some(Found::Ids(ids)) => return by_id.offer_ids(&ids, after, sink),
        Some(Found::TooMany { budgets }) => budgets,
        None => None,
    };
    // A dense box: its tiles in id order find the page after a few rows.
    if let (Some(wanted), Some(budgets)) = (wanted, budgets) {
        let probe = Some((first_budget, budgets));
        if let Some(tiles) = index.tile_ids(&lookup, tiles_after, wanted, probe)? {
            return by_id.offer_all(tiles, sink);
        }
    }
    // The probe saw enough to tell that the whole read fits its budget: a short scan is
    // enough to serve a query that matches most of its type.
    let first_scan = match budgets {
        Some(budgets) if budgets * first_budget as f64 <= reader.index_budget as f64 => SHORT_SCAN,
        _ => FIRST_SCAN,
    };
    let mut capped = Capped {
        inner: sink,
        left: first_scan.min(reader.index_budget),
        last_key: None,
        capped: false,
    };
    scan_source(
        txn,
        &entities,
        tenant_prefix,
        source.clone(),
        after,
        &mut capped,
    )?;
    if !capped.capped {
        return Ok(());
    }
    let resume = match capped.last_key {
        Some(key) => Some(layout::id_after_prefix(&key, tenant_prefix)?),
        None => after.map(str::to_owned),
    };
    if let Some(Found::Ids(ids)) = index.candidates(&lookup, reader.index_budget)? {
        return by_id.offer_ids(&ids, resume.as_deref(), sink);
    }
    scan_source(
        txn,
        &entities,
        tenant_prefix,
        source,
        resume.as_deref(),
        sink,
    )
}

/// Offers candidates given by id to a sink.
struct ById<'t> {
    entities: &'t ReadOnlyTable<&'static [u8], &'static [u8]>,
    /// The tenant prefix, then the id of the candidate at hand.
    key: Vec<u8>,
    prefix_len: usize,
}

impl ById<'_> {
    /// Offers the entity of one id; false once the sink has enough.
    fn offer(&mut self, id: &[u8], sink: &mut dyn Sink) -> Result<bool, StorageError> {
        self.key.truncate(self.prefix_len);
        self.key.extend_from_slice(id);
        // The index and the entities are written in the same transaction.
        match self.entities.get(self.key.as_slice()).map_err(db_err)? {
            Some(guard) => sink.offer(&self.key, guard.value()),
            None => Ok(true),
        }
    }

    /// Offers the ids of a set after `after`, ascending, until the sink has enough.
    fn offer_ids(
        &mut self,
        ids: &IdSet,
        after: Option<&str>,
        sink: &mut dyn Sink,
    ) -> Result<(), StorageError> {
        for id in ids.ascending(after.map(str::as_bytes)) {
            if !self.offer(id, sink)? {
                break;
            }
        }
        Ok(())
    }

    /// Offers ids as they come, until the sink has enough.
    fn offer_all(
        &mut self,
        ids: impl Iterator<Item = Result<Vec<u8>, StorageError>>,
        sink: &mut dyn Sink,
    ) -> Result<(), StorageError> {
        for id in ids {
            if !self.offer(&id?, sink)? {
                break;
            }
        }
        Ok(())
    }
}

/// Index entries read first, to answer a selective query without touching its type.
const FIRST_PROBE: usize = 64;
/// Candidates scanned in id order before the index is read with its whole budget.
const FIRST_SCAN: usize = 256;
/// That scan when the probe tells that the index read fits its budget.
const SHORT_SCAN: usize = 32;

/// A sink that takes at most `left` candidates, remembering the last one it passed on.
struct Capped<'s> {
    inner: &'s mut dyn Sink,
    left: usize,
    last_key: Option<Vec<u8>>,
    /// Set when a candidate was refused because the cap was reached.
    capped: bool,
}

impl Sink for Capped<'_> {
    fn offer(&mut self, key: &[u8], record: &[u8]) -> Result<bool, StorageError> {
        if self.left == 0 {
            self.capped = true;
            return Ok(false);
        }
        self.left -= 1;
        self.last_key = Some(key.to_vec());
        self.inner.offer(key, record)
    }

    fn wanted(&self) -> Option<usize> {
        self.inner.wanted()
    }
}

/// Offers the candidates of `source` after `after`, in id order, until the sink has enough.
fn scan_source(
    txn: &redb::ReadTransaction,
    entities: &ReadOnlyTable<&'static [u8], &'static [u8]>,
    tenant_prefix: &[u8],
    source: Source,
    after: Option<&str>,
    sink: &mut dyn Sink,
) -> Result<(), StorageError> {
    match source {
        Source::All => scan_range(entities, tenant_prefix, "", after, sink)?,
        Source::IdPrefix(prefix) => {
            scan_range(entities, tenant_prefix, &prefix, after, sink)?;
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
