//! The temporal API's use cases (clauses 5.6.11-5.6.16, 5.7.3, 5.7.4): provision of the
//! Temporal Evolution of an Entity (upsert, add attributes, delete the entity, an attribute
//! or an instance, modify an instance) and its retrieval and query. Provision writes only the
//! history; the current state of entities is the core API's. Selection reuses the entity
//! query's selectors, q, geoQ and scopeQ, evaluated on the instances within the time range.

use std::collections::BTreeMap;

use rigel_model::{Attribute, Entity, Tenant, SCOPE_IRI};
use rigel_storage::{DatasetSelector, HistoryChange, WriteOp, WriteOutcome};

use crate::query::{EntityQuery, MAX_ORDERED_MATCHES};
use crate::temporal_page;
pub use crate::temporal_page::{InstanceCut, DEFAULT_INSTANCE_PAGE};

use crate::{Broker, BrokerError};
pub use rigel_storage::{
    DatasetSelector as TemporalDatasets, EntityHistory, EntitySamples, HistoryHeader, HistoryQuery,
    Instance as HistoryInstance, NewInstance, Sample, TimeProperty, TimeRange,
};

/// How many headers a temporal query reads from the store at a time.
const HEADER_CHUNK: usize = 256;

/// A query over temporal evolutions: which entities, and which instances of them.
pub struct TemporalQuery {
    /// Selectors, `attrs`, q, geoQ and scopeQ; q and geoQ are tested on the instances
    /// within the time range.
    pub entities: EntityQuery,
    /// The attributes, time range and `lastN` of the instances returned.
    pub history: HistoryQuery,
    pub offset: usize,
    pub limit: usize,
    pub count: bool,
    /// Whether the instances are paged (6.3.10); an aggregation takes the whole range.
    pub paged: bool,
    /// `orderBy=id;desc` (4.23, 5.7.4.4): the matches in descending id order.
    pub descending: bool,
}

/// A page of temporal evolutions.
#[derive(Debug, Default)]
pub struct TemporalPage {
    pub entities: Vec<EntityHistory>,
    /// Every match, when counted.
    pub total: Option<usize>,
    /// Whether matches follow this page (a next page, 6.3.10).
    pub more: bool,
    /// Set when the instances were cut to a page.
    pub cut: Option<InstanceCut>,
}

/// One entity's temporal evolution as retrieved.
#[derive(Debug)]
pub struct TemporalRead {
    pub history: EntityHistory,
    /// Set when the instances were cut to a page.
    pub cut: Option<InstanceCut>,
}

/// The entity the query languages see for a history: its header, and every instance within
/// the range as an instance of its attribute.
fn as_entity(history: &EntityHistory) -> Entity {
    let h = &history.header;
    let attributes: BTreeMap<String, Vec<Attribute>> = history
        .attributes
        .iter()
        .filter(|(name, _)| name.as_str() != SCOPE_IRI)
        .map(|(name, instances)| {
            (
                name.clone(),
                instances.iter().map(|i| i.value.clone()).collect(),
            )
        })
        .collect();
    Entity {
        id: h.id.clone(),
        types: h.types.clone(),
        scope: h.scope.clone(),
        attributes,
        created_at: h.created_at,
        modified_at: h.modified_at,
    }
}

impl Broker {
    /// Commits one history change on its own; `false` when it found nothing to act on.
    async fn record(&self, tenant: &Tenant, change: HistoryChange) -> Result<bool, BrokerError> {
        let outcomes = self
            .store
            .commit(
                tenant,
                vec![WriteOp::Record {
                    change,
                    with_previous: false,
                }],
            )
            .await?;
        Ok(matches!(
            outcomes.first(),
            Some(WriteOutcome::Applied { .. })
        ))
    }

    /// The header of an existing temporal evolution, or the not-found error.
    async fn history_of(&self, tenant: &Tenant, id: &str) -> Result<HistoryHeader, BrokerError> {
        match self.store.history_header(tenant, id).await? {
            Some(h) => Ok(h),
            None => Err(self.missing(tenant, id).await),
        }
    }

    /// Create or Update (Upsert) Temporal Evolution of an Entity (5.6.11): `true` when it
    /// was created. The types of `header` are added to those of an existing evolution; its
    /// scope replaces theirs when set (empty: removed), else theirs stays.
    pub async fn upsert_temporal(
        &self,
        tenant: &Tenant,
        mut header: HistoryHeader,
        instances: Vec<NewInstance>,
    ) -> Result<bool, BrokerError> {
        let existing = self.store.history_header(tenant, &header.id).await?;
        let now = self.now();
        if let Some(old) = &existing {
            let mut types = old.types.clone();
            add_types(&mut types, std::mem::take(&mut header.types));
            header.types = types;
        }
        header.scope = next_scope(existing.as_ref(), header.scope.take());
        header.created_at = existing.as_ref().map_or(now, |h| h.created_at);
        header.modified_at = now;
        header.deleted_at = None;
        self.record(tenant, HistoryChange::Append { header, instances })
            .await?;
        Ok(existing.is_none())
    }

    /// Add Attributes to Temporal Evolution of an Entity (5.6.12); `scope` as
    /// [`Broker::upsert_temporal`] takes it.
    pub async fn add_temporal_attributes(
        &self,
        tenant: &Tenant,
        id: &str,
        types: Vec<String>,
        scope: Option<Vec<String>>,
        instances: Vec<NewInstance>,
    ) -> Result<(), BrokerError> {
        let mut header = self.history_of(tenant, id).await?;
        add_types(&mut header.types, types);
        header.scope = next_scope(Some(&header), scope);
        header.modified_at = self.now();
        self.record(tenant, HistoryChange::Append { header, instances })
            .await?;
        Ok(())
    }

    /// Delete Temporal Evolution of an Entity (5.6.16).
    pub async fn delete_temporal(&self, tenant: &Tenant, id: &str) -> Result<(), BrokerError> {
        if self
            .record(tenant, HistoryChange::Forget { id: id.to_owned() })
            .await?
        {
            Ok(())
        } else {
            Err(self.missing(tenant, id).await)
        }
    }

    /// Delete Attribute from Temporal Evolution of an Entity (5.6.13).
    pub async fn delete_temporal_attribute(
        &self,
        tenant: &Tenant,
        id: &str,
        attribute: &str,
        datasets: DatasetSelector,
    ) -> Result<(), BrokerError> {
        self.history_of(tenant, id).await?;
        let change = HistoryChange::ForgetAttribute {
            id: id.to_owned(),
            attribute: attribute.to_owned(),
            datasets,
        };
        if self.record(tenant, change).await? {
            Ok(())
        } else {
            Err(attribute_not_found(id, attribute))
        }
    }

    /// Modify Attribute instance in Temporal Evolution of an Entity (5.6.14).
    pub async fn modify_temporal_instance(
        &self,
        tenant: &Tenant,
        id: &str,
        attribute: &str,
        instance_id: &str,
        value: Attribute,
    ) -> Result<(), BrokerError> {
        self.history_of(tenant, id).await?;
        let change = HistoryChange::ReplaceInstance {
            id: id.to_owned(),
            attribute: attribute.to_owned(),
            instance_id: instance_id.to_owned(),
            value,
        };
        if self.record(tenant, change).await? {
            Ok(())
        } else {
            Err(attribute_not_found(id, attribute))
        }
    }

    /// Delete Attribute instance from Temporal Evolution of an Entity (5.6.15).
    pub async fn delete_temporal_instance(
        &self,
        tenant: &Tenant,
        id: &str,
        attribute: &str,
        instance_id: &str,
    ) -> Result<(), BrokerError> {
        self.history_of(tenant, id).await?;
        let change = HistoryChange::ForgetInstance {
            id: id.to_owned(),
            attribute: attribute.to_owned(),
            instance_id: instance_id.to_owned(),
        };
        if self.record(tenant, change).await? {
            Ok(())
        } else {
            Err(attribute_not_found(id, attribute))
        }
    }

    /// Retrieve Temporal Evolution of an Entity (5.7.3); `paged`: at most a page of
    /// instances per attribute (else the whole range, as an aggregation needs).
    pub async fn retrieve_temporal(
        &self,
        tenant: &Tenant,
        id: &str,
        query: &HistoryQuery,
        paged: bool,
    ) -> Result<TemporalRead, BrokerError> {
        let read = if paged {
            temporal_page::probe(query, self.instance_page)
        } else {
            query.clone()
        };
        let Some(history) = self.store.history(tenant, id, &read).await? else {
            return Err(self.missing(tenant, id).await);
        };
        let mut histories = [history];
        let cut = if paged {
            temporal_page::cut(&mut histories, query, self.instance_page)
        } else {
            None
        };
        let [history] = histories;
        Ok(TemporalRead { history, cut })
    }

    /// Retrieve Temporal Evolution of an Entity (5.7.3) for an aggregation (4.5.19): every
    /// instance in the range, reduced to samples.
    pub async fn retrieve_temporal_samples(
        &self,
        tenant: &Tenant,
        id: &str,
        query: &HistoryQuery,
    ) -> Result<EntitySamples, BrokerError> {
        match self.store.history_samples(tenant, id, query).await? {
            Some(samples) => Ok(samples),
            None => Err(self.missing(tenant, id).await),
        }
    }

    /// Query Temporal Evolution of Entities (5.7.4): the matches in id order (descending
    /// when asked, 4.23), paged.
    pub async fn query_temporal(
        &self,
        tenant: &Tenant,
        query: &TemporalQuery,
    ) -> Result<TemporalPage, BrokerError> {
        if query.entities.has_linked_terms() {
            return Err(crate::query::linked_terms_unsupported(
                "Query Temporal Evolution of Entities",
            ));
        }
        let q = &query.entities;
        let needs_instances =
            q.attrs.is_some() || q.q.is_some() || q.geo.is_some() || q.projected.is_some();
        // With q or geoQ, an entity matches on every instance in the range; else only what
        // is returned is read.
        let read = if needs_instances {
            HistoryQuery {
                last_n: None,
                ..query.history.clone()
            }
        } else if query.paged {
            temporal_page::probe(&query.history, self.instance_page)
        } else {
            query.history.clone()
        };
        let keep = |mut history: EntityHistory| {
            if needs_instances {
                self.narrow(&mut history, query);
            }
            history
        };
        let mut page = TemporalPage::default();
        if query.descending {
            // Every match is found in ascending order first; the page is read again.
            let mut ids = Vec::new();
            self.each_match(tenant, query, &read, needs_instances, |history| {
                ids.push(history.header.id);
                ids.len() <= MAX_ORDERED_MATCHES
            })
            .await?;
            if ids.len() > MAX_ORDERED_MATCHES {
                return Err(BrokerError::TooManyResults(format!(
                    "more than {MAX_ORDERED_MATCHES} entities match; narrow the query to order it"
                )));
            }
            for id in ids.iter().rev().skip(query.offset).take(query.limit) {
                if let Some(history) = self.store.history(tenant, id, &read).await? {
                    page.entities.push(keep(history));
                }
            }
            page.total = query.count.then_some(ids.len());
            page.more = ids.len() > query.offset.saturating_add(query.limit);
            return Ok(self.finish(page, query));
        }
        let mut matched = 0usize;
        self.each_match(tenant, query, &read, needs_instances, |history| {
            matched += 1;
            if matched <= query.offset {
                return true;
            }
            if page.entities.len() < query.limit {
                page.entities.push(keep(history));
            } else {
                page.more = true;
            }
            query.count || !page.more
        })
        .await?;
        if query.count {
            page.total = Some(matched);
        }
        Ok(self.finish(page, query))
    }

    /// Calls `visit` with every evolution the query selects, read with `read`, in id order,
    /// until it returns `false`.
    async fn each_match(
        &self,
        tenant: &Tenant,
        query: &TemporalQuery,
        read: &HistoryQuery,
        needs_instances: bool,
        mut visit: impl FnMut(EntityHistory) -> bool,
    ) -> Result<(), BrokerError> {
        let source = rigel_storage::plan::selectors_source(&query.entities);
        let q = &query.entities;
        let mut after: Option<String> = None;
        loop {
            let headers = self
                .store
                .history_headers(tenant, &source, after.as_deref(), HEADER_CHUNK)
                .await?;
            let Some(last) = headers.last() else {
                return Ok(());
            };
            after = Some(last.id.clone());
            let full = headers.len() == HEADER_CHUNK;
            for header in headers {
                let bare = EntityHistory {
                    header,
                    attributes: BTreeMap::new(),
                };
                let shell = as_entity(&bare);
                if !q.selects(&shell)
                    || !q
                        .scope
                        .as_ref()
                        .is_none_or(|s| s.matches(shell.scope.as_deref()))
                {
                    continue;
                }
                let Some(history) = self.store.history(tenant, &bare.header.id, read).await? else {
                    continue;
                };
                // Entities without any instance in the range are not part of the result
                // (5.7.4.4, S1).
                if history.attributes.is_empty() {
                    continue;
                }
                if needs_instances && !q.matches(&as_entity(&history)) {
                    continue;
                }
                if !visit(history) {
                    return Ok(());
                }
            }
            if !full {
                return Ok(());
            }
        }
    }

    /// Narrows a history read over the whole range to the instances the query returns.
    fn narrow(&self, history: &mut EntityHistory, query: &TemporalQuery) {
        if query.paged {
            temporal_page::narrow_to_probe(history, &query.history, self.instance_page);
        } else if let Some(n) = query.history.last_n {
            for instances in history.attributes.values_mut() {
                let skip = instances.len().saturating_sub(n);
                instances.drain(..skip);
            }
        }
    }

    /// Cuts a page of a query's results to the instance page.
    fn finish(&self, mut page: TemporalPage, query: &TemporalQuery) -> TemporalPage {
        if query.paged {
            page.cut = temporal_page::cut(&mut page.entities, &query.history, self.instance_page);
        }
        page
    }
}

/// Adds to `types` those of `more` it does not hold yet, in order.
fn add_types(types: &mut Vec<String>, more: Vec<String>) {
    for t in more {
        if !types.contains(&t) {
            types.push(t);
        }
    }
}

/// The scope of an evolution after a temporal write naming `scope` (see
/// [`Broker::upsert_temporal`]).
fn next_scope(existing: Option<&HistoryHeader>, scope: Option<Vec<String>>) -> Option<Vec<String>> {
    match scope {
        None => existing.and_then(|h| h.scope.clone()),
        Some(s) if s.is_empty() => None,
        Some(s) => Some(s),
    }
}

fn attribute_not_found(id: &str, attribute: &str) -> BrokerError {
    BrokerError::AttributeNotFound {
        entity: id.to_owned(),
        attribute: attribute.to_owned(),
    }
}

/// How many history changes one retention commit carries.
const TRIM_BATCH: usize = 64;

impl Broker {
    /// Retention: in every tenant, forgets the history instances filed before `older_than`
    /// and all but the latest `keep_last` of each attribute, a few entities per commit so
    /// writers are never held up for long. Returns how many entities lost instances.
    pub async fn sweep_history(
        &self,
        older_than: Option<chrono::DateTime<chrono::Utc>>,
        keep_last: Option<usize>,
    ) -> Result<usize, BrokerError> {
        let mut trimmed = 0;
        for tenant in self.store.tenants().await? {
            let mut after: Option<String> = None;
            loop {
                let headers = self
                    .store
                    .history_headers(
                        &tenant,
                        &rigel_storage::Source::All,
                        after.as_deref(),
                        TRIM_BATCH,
                    )
                    .await?;
                let Some(last) = headers.last() else {
                    break;
                };
                after = Some(last.id.clone());
                let full = headers.len() == TRIM_BATCH;
                let ops = headers
                    .into_iter()
                    .map(|h| WriteOp::Record {
                        change: HistoryChange::Trim {
                            id: h.id,
                            older_than,
                            keep_last,
                        },
                        with_previous: false,
                    })
                    .collect();
                let outcomes = self.store.commit(&tenant, ops).await?;
                trimmed += outcomes
                    .iter()
                    .filter(|o| matches!(o, WriteOutcome::Applied { .. }))
                    .count();
                if !full {
                    break;
                }
            }
        }
        Ok(trimmed)
    }
}
