//! Query Entities (clause 5.7.2) and Purge Entities (5.6.21): picking candidates from an
//! index, filtering them next to the data, ordering and paging.
//!
//! The query goes to the store as it is (a declarative [`EntityQuery`]): the backend picks
//! the candidates from the index that serves it best and evaluates the whole query next to
//! the data, so only the requested page comes back.

use std::sync::Arc;

use rigel_model::{Entity, Tenant};
use rigel_query::OrderBy;
pub use rigel_query::{EntityQuery, EntitySelector};
use rigel_storage::{Expect, Links, Selection, StorageError, WriteOp, WriteOutcome};

use crate::{Broker, BrokerError};

/// Which page of the matches to return.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Paging {
    pub offset: usize,
    pub limit: usize,
    /// Count every match.
    pub count: bool,
}

/// A page of matches.
#[derive(Debug, Clone, Default)]
pub struct QueryResult {
    pub entities: Vec<Arc<Entity>>,
    /// Every match, when counted.
    pub total: Option<usize>,
    /// Of a distributed query, for every match (not only the page's), where it came from:
    /// `@none` for the local store, else registration ids (an EntityMap, 5.2.39).
    pub held_by: std::collections::BTreeMap<String, Vec<String>>,
}

/// The most matches a query holds in memory (to order them, or to follow their
/// relationships); beyond it the query is refused with `TooManyResults` rather than holding
/// an unbounded result set.
pub const MAX_ORDERED_MATCHES: usize = rigel_storage::plan::MAX_SORTED_MATCHES;

impl Broker {
    /// Query Entities (5.7.2): the page of matches in id order (or in `order`).
    pub async fn query_entities(
        &self,
        tenant: &Tenant,
        query: EntityQuery,
        order: Option<OrderBy>,
        paging: Paging,
    ) -> Result<QueryResult, BrokerError> {
        if !self.store.tenant_exists(tenant).await? {
            return Err(BrokerError::NonexistentTenant(tenant.to_string()));
        }
        if query.has_linked_terms() {
            return self.query_linked(tenant, query, order, paging).await;
        }
        let advice = match order {
            Some(_) => "narrow the query to order it",
            None => "narrow the query",
        };
        let selection = Selection {
            order: order.map(Arc::new),
            offset: paging.offset,
            count: paging.count,
            max_bytes: self.query_memory,
            ..Selection::new(Arc::new(query), paging.limit)
        };
        let selected = self
            .store
            .select(tenant, selection)
            .await
            .map_err(|e| too_many(e, advice))?;
        Ok(QueryResult {
            entities: selected.entities.into_iter().map(|v| v.value).collect(),
            total: selected.total,
            ..QueryResult::default()
        })
    }

    /// Every match of `query` (with linked-entity terms as `links` says), in id order;
    /// more than [`MAX_ORDERED_MATCHES`] is a `TooManyResults` error ending with `advice`.
    pub(crate) async fn all_matches(
        &self,
        tenant: &Tenant,
        query: Arc<EntityQuery>,
        links: Links,
        advice: &str,
    ) -> Result<Vec<Arc<Entity>>, BrokerError> {
        // One more than the cap tells an overflow.
        let selection = Selection {
            links,
            max_bytes: self.query_memory,
            ..Selection::new(query, MAX_ORDERED_MATCHES + 1)
        };
        let selected = self
            .store
            .select(tenant, selection)
            .await
            .map_err(|e| too_many(e, advice))?;
        if selected.entities.len() > MAX_ORDERED_MATCHES {
            return Err(BrokerError::TooManyResults(format!(
                "more than {MAX_ORDERED_MATCHES} entities match; {advice}"
            )));
        }
        Ok(selected.entities.into_iter().map(|v| v.value).collect())
    }

    /// Purge Entities (5.6.21): deletes every match (or, with `Drop`/`Keep`, only some of
    /// their attributes), walking the matches in id order in commits of bounded size.
    /// Returns how many entities were deleted or changed.
    pub async fn purge_entities(
        &self,
        tenant: &Tenant,
        query: EntityQuery,
        purge: Purge,
    ) -> Result<usize, BrokerError> {
        if !self.store.tenant_exists(tenant).await? {
            return Err(BrokerError::NonexistentTenant(tenant.to_string()));
        }
        if query.has_linked_terms() {
            return Err(linked_terms_unsupported("Purge Entities"));
        }
        let query = Arc::new(query);
        let mut changed = 0;
        let mut after: Option<String> = None;
        // Batches shrink while their entities take more than the query memory bound, down
        // to one entity, which is purged whatever its size.
        let mut batch_size = PURGE_BATCH;
        loop {
            let selected = self
                .store
                .select(
                    tenant,
                    Selection {
                        after: after.clone(),
                        max_bytes: self.query_memory.filter(|_| batch_size > 1),
                        ..Selection::new(Arc::clone(&query), batch_size)
                    },
                )
                .await;
            let batch = match selected {
                Err(StorageError::TooLarge(_)) => {
                    batch_size = (batch_size / 2).max(1);
                    continue;
                }
                other => other?,
            };
            let Some(last) = batch.entities.last() else {
                return Ok(changed);
            };
            after = Some(last.value.id.clone());
            let full = batch.entities.len() == batch_size;
            let now = self.now();
            let mut ids = Vec::new();
            let mut previous = Vec::new();
            let observed = self.wants_previous(tenant);
            let ops: Vec<WriteOp> = batch
                .entities
                .into_iter()
                .filter_map(|v| {
                    let expect = Expect::Version(v.version);
                    let id = v.value.id.clone();
                    let op = match purge.apply(&v.value, now) {
                        Purged::Deleted => WriteOp::Delete {
                            id: id.clone(),
                            expect,
                        },
                        Purged::Changed(entity) => WriteOp::Put { entity, expect },
                        Purged::Unchanged => return None,
                    };
                    ids.push(id);
                    previous.push(observed.then(|| v.value.clone()));
                    Some(op)
                })
                .collect();
            let outcomes = self.commit(tenant, ops, previous).await?;
            for (id, outcome) in ids.iter().zip(&outcomes) {
                match outcome {
                    WriteOutcome::Applied { .. } => changed += 1,
                    // Changed by someone else meanwhile: re-read, re-check, retry.
                    WriteOutcome::Conflict => {
                        if self.purge_one(tenant, id, &query, &purge).await? {
                            changed += 1;
                        }
                    }
                }
            }
            if !full {
                return Ok(changed);
            }
        }
    }

    /// Purges one entity that a concurrent write changed under a batch.
    async fn purge_one(
        &self,
        tenant: &Tenant,
        id: &str,
        query: &EntityQuery,
        purge: &Purge,
    ) -> Result<bool, BrokerError> {
        for _ in 0..crate::MAX_WRITE_ATTEMPTS {
            let Some(current) = self.store.get(tenant, id).await? else {
                return Ok(false);
            };
            if !query.matches(&current.value) {
                return Ok(false);
            }
            let expect = Expect::Version(current.version);
            let previous = self
                .wants_previous(tenant)
                .then(|| Arc::new(current.value.clone()));
            let op = match purge.apply(&current.value, self.now()) {
                Purged::Deleted => WriteOp::Delete {
                    id: id.to_owned(),
                    expect,
                },
                Purged::Changed(entity) => WriteOp::Put { entity, expect },
                Purged::Unchanged => return Ok(false),
            };
            if self.commit_one(tenant, op, previous).await? {
                return Ok(true);
            }
        }
        Err(BrokerError::Contended(id.to_owned()))
    }
}

/// What a purge does to each match (clause 5.6.21.4).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Purge {
    /// Delete the entities.
    Entities,
    /// Delete these attributes from the entities (`drop`).
    Drop(Vec<String>),
    /// Delete every attribute but these (`keep`).
    Keep(Vec<String>),
}

enum Purged {
    Deleted,
    Changed(Entity),
    Unchanged,
}

impl Purge {
    fn apply(&self, entity: &Entity, now: chrono::DateTime<chrono::Utc>) -> Purged {
        let removes = |name: &String| match self {
            Self::Entities => true,
            Self::Drop(names) => names.contains(name),
            Self::Keep(names) => !names.contains(name),
        };
        if *self == Self::Entities {
            return Purged::Deleted;
        }
        if !entity.attributes.keys().any(removes) {
            return Purged::Unchanged;
        }
        let mut changed = entity.clone();
        changed.attributes.retain(|name, _| !removes(name));
        changed.modified_at = now;
        Purged::Changed(changed)
    }
}

/// Commits of a purge: bounded so a huge purge does not build one giant transaction.
const PURGE_BATCH: usize = 1000;

/// The requested page of `matches` (in id order, or in `order`).
pub(crate) fn page(
    mut matches: Vec<Arc<Entity>>,
    order: Option<&OrderBy>,
    paging: Paging,
) -> QueryResult {
    if let Some(order) = order {
        // Matches come in id order and the sort is stable, so ties stay in id order.
        matches.sort_by_cached_key(|e| order.sort_key(e));
    }
    let total = paging.count.then_some(matches.len());
    let entities = matches
        .into_iter()
        .skip(paging.offset)
        .take(paging.limit)
        .collect();
    QueryResult {
        entities,
        total,
        ..QueryResult::default()
    }
}

/// A store's refusal to sort that many matches, as the client's `TooManyResults` with
/// `advice`.
fn too_many(error: StorageError, advice: &str) -> BrokerError {
    match error {
        StorageError::TooManyToSort(cap) => {
            BrokerError::TooManyResults(format!("more than {cap} entities match; {advice}"))
        }
        StorageError::TooLarge(bytes) => BrokerError::TooManyResults(format!(
            "the matching entities take more than {bytes} bytes of memory \
             (--max-query-bytes); ask for a smaller page (limit), or {advice}"
        )),
        other => BrokerError::Storage(other),
    }
}

/// The error for linked-entity q terms where only Query Entities follows them.
pub(crate) fn linked_terms_unsupported(operation: &str) -> BrokerError {
    BrokerError::Model(rigel_model::ModelError::new(
        rigel_model::ErrorKind::OperationNotSupported,
        format!("{operation} does not follow linked-entity terms in q (rel{{attr}})"),
    ))
}
