//! Query Entities (clause 5.7.2) and Purge Entities (5.6.21): picking candidates from an
//! index, filtering them next to the data, ordering and paging.
//!
//! Planning: ids given → read those ids; a type selector → the type index (the union of the
//! types every match must have one of); an id pattern with a literal prefix → a key range;
//! otherwise every entity of the tenant. Everything else the query says is evaluated on the
//! decoded candidates inside the store's read, so only the requested page comes back.

use std::sync::Arc;

use rigel_model::{Entity, Tenant};
use rigel_query::{GeoQuery, IdPattern, OrderBy, QExpr, ScopeExpr, TypeExpr};
use rigel_storage::{EntityFilter, Expect, Selection, Source, WriteOp, WriteOutcome};

use crate::{Broker, BrokerError};

/// One entity selector (EntitySelector, 5.2.33): ids, an id pattern and a type selection,
/// all of which an entity must satisfy.
#[derive(Default)]
pub struct EntitySelector {
    pub ids: Option<Vec<String>>,
    pub id_pattern: Option<IdPattern>,
    pub types: Option<TypeExpr>,
}

impl EntitySelector {
    pub(crate) fn matches(&self, entity: &Entity) -> bool {
        self.ids.as_ref().is_none_or(|ids| ids.contains(&entity.id))
            && self
                .id_pattern
                .as_ref()
                .is_none_or(|p| p.matches(&entity.id))
            && self.types.as_ref().is_none_or(|t| t.matches(&entity.types))
    }

    /// The candidates of this selector alone.
    pub(crate) fn source(&self) -> Source {
        if let Some(ids) = &self.ids {
            return Source::Ids(ids.clone());
        }
        if let Some(types) = &self.types {
            return Source::Types(types.index_types());
        }
        match self.id_pattern.as_ref().map(IdPattern::literal_prefix) {
            Some(prefix) if !prefix.is_empty() => Source::IdPrefix(prefix),
            _ => Source::All,
        }
    }
}

/// What a query selects. Every name in it is a full IRI.
#[derive(Default)]
pub struct EntityQuery {
    /// An entity must satisfy one of them (none: no restriction).
    pub selectors: Vec<EntitySelector>,
    /// The entity must have at least one of these attributes (`attrs`).
    pub attrs: Option<Vec<String>>,
    /// The attributes a projection (`pick`) names: the entity must have at least one of
    /// them (clause 5.7.2.4), though they do not restrict the query on their own.
    pub projected: Option<Vec<String>>,
    pub q: Option<QExpr>,
    pub geo: Option<GeoQuery>,
    pub scope: Option<ScopeExpr>,
}

impl EntityQuery {
    /// Whether the query restricts the result enough to run without `local` (clause
    /// 5.7.2.4: a type selection, attributes, a q or a geoquery).
    pub fn is_restricted(&self) -> bool {
        self.selectors.iter().any(|s| s.types.is_some())
            || self.attrs.is_some()
            || self.q.is_some()
            || self.geo.is_some()
    }

    /// The cheapest candidate source that still covers every match.
    pub(crate) fn source(&self) -> Source {
        match self.selectors.as_slice() {
            [] => Source::All,
            [one] => one.source(),
            many => {
                let sources: Vec<Source> = many.iter().map(EntitySelector::source).collect();
                if let Some(ids) = union(&sources, |s| match s {
                    Source::Ids(ids) => Some(ids),
                    _ => None,
                }) {
                    return Source::Ids(ids);
                }
                match union(&sources, |s| match s {
                    Source::Types(types) => Some(types),
                    _ => None,
                }) {
                    Some(mut types) => {
                        types.sort();
                        types.dedup();
                        Source::Types(types)
                    }
                    None => Source::All,
                }
            }
        }
    }

    /// Whether an entity satisfies every condition of the query.
    pub fn matches(&self, entity: &Entity) -> bool {
        self.matches_with_q(entity, |q| q.matches(entity))
    }

    /// [`EntityQuery::matches`] with q's linked-entity terms taken to match: the
    /// candidates of a query that follows relationships.
    pub(crate) fn matches_assuming_links(&self, entity: &Entity) -> bool {
        self.matches_with_q(entity, |q| q.matches_assuming_links(entity))
    }

    /// Whether q has linked-entity terms (`rel{attr}`), which only Query Entities follows.
    pub fn has_linked_terms(&self) -> bool {
        self.q.as_ref().is_some_and(|q| q.linked_depth() > 0)
    }

    fn matches_with_q(&self, entity: &Entity, q_holds: impl Fn(&QExpr) -> bool) -> bool {
        (self.selectors.is_empty() || self.selectors.iter().any(|s| s.matches(entity)))
            && self
                .attrs
                .as_ref()
                .is_none_or(|attrs| attrs.iter().any(|a| entity.attributes.contains_key(a)))
            && self
                .projected
                .as_ref()
                .is_none_or(|attrs| attrs.iter().any(|a| entity.attributes.contains_key(a)))
            && self
                .scope
                .as_ref()
                .is_none_or(|s| s.matches(entity.scope.as_deref()))
            && self.q.as_ref().is_none_or(q_holds)
            && self.geo.as_ref().is_none_or(|g| g.matches(entity))
    }
}

/// The union of the sources' lists when every source is of the kind `pick` accepts.
fn union<'a>(
    sources: &'a [Source],
    pick: impl Fn(&'a Source) -> Option<&'a Vec<String>>,
) -> Option<Vec<String>> {
    let mut all = Vec::new();
    for source in sources {
        all.extend(pick(source)?.iter().cloned());
    }
    Some(all)
}

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
}

/// The most matches an ordered query sorts in memory; beyond it the query is refused with
/// `TooManyResults` rather than holding an unbounded result set.
pub const MAX_ORDERED_MATCHES: usize = 100_000;

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
        let source = query.source();
        let filter: EntityFilter = Arc::new(move |e: &Entity| query.matches(e));
        let Some(order) = order else {
            let selected = self
                .store
                .select(
                    tenant,
                    Selection {
                        source,
                        filter,
                        after: None,
                        offset: paging.offset,
                        limit: paging.limit,
                        count: paging.count,
                    },
                )
                .await?;
            return Ok(QueryResult {
                entities: selected.entities.into_iter().map(|v| v.value).collect(),
                total: selected.total,
            });
        };
        // Ordering needs every match.
        let matches = self
            .all_matches(tenant, source, filter, "narrow the query to order it")
            .await?;
        Ok(page(matches, Some(&order), paging))
    }

    /// Every match of `filter` among `source`, in id order; more than
    /// [`MAX_ORDERED_MATCHES`] is a `TooManyResults` error ending with `advice`.
    pub(crate) async fn all_matches(
        &self,
        tenant: &Tenant,
        source: Source,
        filter: EntityFilter,
        advice: &str,
    ) -> Result<Vec<Arc<Entity>>, BrokerError> {
        // One more than the cap tells an overflow.
        let selected = self
            .store
            .select(
                tenant,
                Selection {
                    source,
                    filter,
                    after: None,
                    offset: 0,
                    limit: MAX_ORDERED_MATCHES + 1,
                    count: false,
                },
            )
            .await?;
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
        let source = query.source();
        let query = Arc::new(query);
        let filter: EntityFilter = {
            let query = Arc::clone(&query);
            Arc::new(move |e: &Entity| query.matches(e))
        };
        let mut changed = 0;
        let mut after: Option<String> = None;
        loop {
            let batch = self
                .store
                .select(
                    tenant,
                    Selection {
                        source: source.clone(),
                        filter: Arc::clone(&filter),
                        after: after.clone(),
                        offset: 0,
                        limit: PURGE_BATCH,
                        count: false,
                    },
                )
                .await?;
            let Some(last) = batch.entities.last() else {
                return Ok(changed);
            };
            after = Some(last.value.id.clone());
            let full = batch.entities.len() == PURGE_BATCH;
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
    QueryResult { entities, total }
}

/// The error for linked-entity q terms where only Query Entities follows them.
pub(crate) fn linked_terms_unsupported(operation: &str) -> BrokerError {
    BrokerError::Model(rigel_model::ModelError::new(
        rigel_model::ErrorKind::OperationNotSupported,
        format!("{operation} does not follow linked-entity terms in q (rel{{attr}})"),
    ))
}
