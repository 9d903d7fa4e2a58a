//! Selections and visits: candidates from the source the query's selectors imply (ids, the
//! types index, an id-prefix range or everything) narrowed by the query's lookup over the
//! documents' index fields (`pushdown.rs`), read from MongoDB in id order after `after`,
//! each evaluated against the whole query here. A query that selects by types alone is
//! paged and counted by MongoDB itself.

use std::collections::HashMap;
use std::sync::Arc;

use futures::TryStreamExt;
use mongodb::bson::{doc, Bson, Document};
use mongodb::{Collection, Cursor};
use rigel_model::Entity;
use rigel_query::EntityQuery;
use rigel_storage::plan;
use rigel_storage::{Selected, Selection, Source, StorageError, Versioned, Visitor};

use crate::error::storage_error;
use crate::pushdown;

/// Documents fetched per round trip while scanning candidates.
const BATCH: u32 = 256;

/// Ordered selections sorted in memory at once, process-wide.
static SORTS: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(2);

/// The entity and version a document holds.
pub(crate) fn decode(document: &Document) -> Result<Versioned<Entity>, StorageError> {
    let version = document
        .get_i64("v")
        .map_err(|e| StorageError::Corrupt(format!("entity document without a version: {e}")))?;
    let body = document
        .get_str("body")
        .map_err(|e| StorageError::Corrupt(format!("entity document without a body: {e}")))?;
    let value: Entity = serde_json::from_str(body)
        .map_err(|e| StorageError::Corrupt(format!("entity body unreadable: {e}")))?;
    Ok(Versioned {
        version: version.unsigned_abs(),
        value,
    })
}

/// The filter of a source's candidates with an id after `after`; also the id prefix they
/// must keep (MongoDB reads from the prefix on, in id order, and the scan stops at the
/// first id without it).
pub(crate) fn filter(source: &Source, after: Option<&str>) -> (Document, Option<String>) {
    let mut id = Document::new();
    if let Some(after) = after {
        id.insert("$gt", after);
    }
    let mut filter = Document::new();
    let mut prefix = None;
    match source {
        Source::All => {}
        Source::IdPrefix(p) => {
            if after.is_none_or(|a| a < p.as_str()) {
                id.insert("$gte", p.as_str());
            }
            prefix = Some(p.clone());
        }
        Source::Ids(ids) => {
            id.insert("$in", ids.clone());
        }
        Source::Types(types) => {
            filter.insert("types", doc! {"$in": types.clone()});
        }
    }
    if !id.is_empty() {
        filter.insert("_id", id);
    }
    (filter, prefix)
}

/// The candidates of `source` after `after` that may match `query` (its lookup pushed
/// down), in id order.
async fn candidates(
    entities: &Collection<Document>,
    source: &Source,
    after: Option<&str>,
    query: &EntityQuery,
) -> Result<(Cursor<Document>, Option<String>), StorageError> {
    let (mut filter, prefix) = filter(source, after);
    if let Some(narrowed) = pushdown::filter(&query.lookup()) {
        filter = if filter.is_empty() {
            narrowed
        } else {
            doc! {"$and": [filter, narrowed]}
        };
    }
    let cursor = entities
        .find(filter)
        .sort(doc! {"_id": 1})
        .batch_size(BATCH)
        .await
        .map_err(storage_error)?;
    Ok((cursor, prefix))
}

/// The next candidate, `None` past the last (or past the prefix).
async fn next(
    cursor: &mut Cursor<Document>,
    prefix: Option<&str>,
) -> Result<Option<Versioned<Entity>>, StorageError> {
    let Some(document) = cursor.try_next().await.map_err(storage_error)? else {
        return Ok(None);
    };
    let candidate = decode(&document)?;
    if prefix.is_some_and(|p| !candidate.value.id.starts_with(p)) {
        return Ok(None);
    }
    Ok(Some(candidate))
}

/// Runs a selection on one tenant's entities.
pub(crate) async fn select(
    entities: &Collection<Document>,
    selection: Selection,
) -> Result<Selected, StorageError> {
    if let Some(order) = selection.order.clone() {
        // Sorting needs every match in memory (up to `plan::MAX_SORTED_MATCHES`): a few such
        // selections at a time, so that concurrent ones do not hold many times that.
        let _turn = SORTS.acquire().await.map_err(|_| StorageError::Closed)?;
        let matches = Box::pin(select(entities, plan::all_for_sorting(&selection)))
            .await?
            .entities;
        return plan::sorted_page(matches, &order, &selection);
    }
    if let Some(types) = plan::types_alone(&selection.query) {
        return by_types(entities, &types, &selection).await;
    }
    let mut seen = 0usize;
    let mut found = Vec::with_capacity(selection.limit.min(1024));
    let mut held = plan::PageMemory::new(&selection);
    if selection.limit > 0 || selection.count {
        let enough = selection.offset.saturating_add(selection.limit);
        let source = plan::selectors_source(&selection.query);
        let (mut cursor, prefix) = candidates(
            entities,
            &source,
            selection.after.as_deref(),
            &selection.query,
        )
        .await?;
        while let Some(candidate) = next(&mut cursor, prefix.as_deref()).await? {
            if !selection.matches(&candidate.value) {
                continue;
            }
            if seen >= selection.offset && found.len() < selection.limit {
                held.hold(&candidate.value)?;
                found.push(Versioned {
                    version: candidate.version,
                    value: Arc::new(candidate.value),
                });
            }
            seen += 1;
            if !selection.count && seen >= enough {
                break;
            }
        }
    }
    Ok(Selected {
        entities: found,
        total: selection.count.then_some(seen),
    })
}

/// A selection whose matches are exactly the entities having one of `types`: MongoDB skips,
/// limits and counts.
async fn by_types(
    entities: &Collection<Document>,
    types: &[String],
    selection: &Selection,
) -> Result<Selected, StorageError> {
    let (filter, _) = filter(&Source::Types(types.to_vec()), selection.after.as_deref());
    let total = if selection.count {
        let n = entities
            .count_documents(filter.clone())
            .await
            .map_err(storage_error)?;
        Some(usize::try_from(n).unwrap_or(usize::MAX))
    } else {
        None
    };
    let mut found = Vec::new();
    let mut held = plan::PageMemory::new(selection);
    if selection.limit > 0 {
        let mut cursor = entities
            .find(filter)
            .sort(doc! {"_id": 1})
            .skip(u64::try_from(selection.offset).unwrap_or(u64::MAX))
            .limit(i64::try_from(selection.limit).unwrap_or(i64::MAX))
            .await
            .map_err(storage_error)?;
        while let Some(document) = cursor.try_next().await.map_err(storage_error)? {
            let entity = decode(&document)?;
            held.hold(&entity.value)?;
            found.push(Versioned {
                version: entity.version,
                value: Arc::new(entity.value),
            });
        }
    }
    Ok(Selected {
        entities: found,
        total,
    })
}

/// Hands every match of `query` to `visitor`, in id order; returns how many there were.
pub(crate) async fn visit(
    entities: &Collection<Document>,
    query: &EntityQuery,
    mut visitor: Visitor,
) -> Result<usize, StorageError> {
    let (mut cursor, prefix) =
        candidates(entities, &plan::selectors_source(query), None, query).await?;
    let mut seen = 0;
    while let Some(candidate) = next(&mut cursor, prefix.as_deref()).await? {
        if query.matches(&candidate.value) {
            visitor(&candidate.value);
            seen += 1;
        }
    }
    Ok(seen)
}

/// Ids of the entities having `type_iri`, in id order after `after`, at most `limit`.
pub(crate) async fn ids_by_type(
    entities: &Collection<Document>,
    type_iri: &str,
    after: Option<&str>,
    limit: usize,
) -> Result<Vec<String>, StorageError> {
    if limit == 0 {
        return Ok(Vec::new());
    }
    let (filter, _) = filter(&Source::Types(vec![type_iri.to_owned()]), after);
    let mut find = entities
        .find(filter)
        .sort(doc! {"_id": 1})
        .projection(doc! {"_id": 1});
    if let Ok(limit) = i64::try_from(limit) {
        find = find.limit(limit);
    }
    let mut cursor = find.await.map_err(storage_error)?;
    let mut ids = Vec::new();
    while let Some(document) = cursor.try_next().await.map_err(storage_error)? {
        if let Some(Bson::String(id)) = document.get("_id") {
            ids.push(id.clone());
        }
    }
    Ok(ids)
}

/// Several entities in one read, one result per requested id in request order.
pub(crate) async fn get_many(
    entities: &Collection<Document>,
    ids: &[String],
) -> Result<Vec<Option<Versioned<Entity>>>, StorageError> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let mut cursor = entities
        .find(doc! {"_id": {"$in": ids.to_vec()}})
        .batch_size(BATCH)
        .await
        .map_err(storage_error)?;
    let mut by_id = HashMap::with_capacity(ids.len());
    while let Some(document) = cursor.try_next().await.map_err(storage_error)? {
        let entity = decode(&document)?;
        by_id.insert(entity.value.id.clone(), entity);
    }
    Ok(ids.iter().map(|id| by_id.get(id).cloned()).collect())
}
