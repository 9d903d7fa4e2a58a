//! Query Entities, distributed (clause 5.7.2.4): the local matches and those of every
//! matching registration's source, merged by id (4.5.5), in id order, then paged.
//!
//! Each source is asked for as many matches as the page needs (`offset + limit + 1`,
//! at most [`MAX_FROM_SOURCE`]) with the client's own query, restricted to the attributes
//! the registration holds. A count is then the number of distinct entities merged, which
//! is exact unless a source had more matches than it was asked for. `orderBy` needs a
//! local query (5.7.2.4): with a matching registration it is BadRequestData.
//!
//! With `splitEntities=true` (4.3.6.7) an entity's attributes may come from several
//! sources: the local store and the sources are asked by the entity selectors alone (at
//! most [`MAX_FROM_SOURCE`] candidates each, else TooManyResults), and `attrs`, q, geoQ and
//! scopeQ are applied to the merged entities. A side that fills a whole page of candidates
//! may hold more: the query is then TooManyResults.

use std::collections::BTreeMap;
use std::sync::Arc;

use rigel_model::registration::operations::Operation;
use rigel_model::registration::Mode;
use rigel_model::{Entity, Tenant};
use rigel_query::registration::Wanted;
use rigel_query::{EntityQuery, OrderBy};

use super::cache::Kept;
use super::{
    call_to, cooling_down, merge_into, passed_through, registered_attributes, registered_types,
    warning, within, Distributed, Distribution, SourceQuery, SourceWarning,
};
use crate::query::{Paging, QueryResult};
use crate::{Broker, BrokerError};

/// The most matches asked of one source for one page.
pub const MAX_FROM_SOURCE: usize = 1000;

/// The key an EntityMap gives local entities (5.2.39).
pub const LOCAL: &str = "@none";

/// What sources get of the client's query besides the typed query: the parameters passed
/// on as written (`csf`, `datasetId`, `expandValues`, `jsonKeys`) and the binding it used (a
/// POST query prefers `queryBatch`, a GET one `queryEntity`).
#[derive(Debug, Clone, Default)]
pub struct ClientQuery {
    pub extra: Vec<(String, String)>,
    pub post: bool,
    /// `splitEntities=true` (4.3.6.7): entities may be split between sources, so the
    /// conditions are applied to the merged entities, not by each source.
    pub split: bool,
}

/// One registration a query goes to.
struct QueryTarget {
    registration: rigel_model::registration::Registration,
    attributes: Vec<String>,
    ids: Vec<String>,
    batch: bool,
    /// The entity types the matching elements register.
    types: Vec<String>,
}

impl Broker {
    /// Query Entities (5.7.2.4), distributed: `client` is what the sources are asked.
    pub async fn query_distributed(
        &self,
        tenant: &Tenant,
        query: EntityQuery,
        order: Option<OrderBy>,
        paging: Paging,
        client: &ClientQuery,
        distribution: &Distribution,
    ) -> Result<Distributed<QueryResult>, BrokerError> {
        let mut warnings = Vec::new();
        let post = client.post;
        // Split entities: sources and the local store are asked by the selectors alone.
        let selectors_only = EntityQuery {
            selectors: query.selectors.clone(),
            ..EntityQuery::default()
        };
        let split = client.split && !query.has_linked_terms();
        let asked = if split { &selectors_only } else { &query };
        let targets = self.query_targets(tenant, asked, post, distribution, &mut warnings);
        let Some((federation, targets)) = targets else {
            let value = self.query_entities(tenant, query, order, paging).await?;
            return Ok(Distributed { value, warnings });
        };
        if order.is_some() {
            return Err(BrokerError::Model(rigel_model::ModelError::bad_data(
                "orderBy needs a local query (local=true): registered context sources hold \
                 matches too (clause 5.7.2.4)",
            )));
        }
        // Split: every candidate, as many as a page may hold (a full page may hide more).
        let want = if split {
            MAX_FROM_SOURCE
        } else {
            paging
                .offset
                .saturating_add(paging.limit)
                .saturating_add(1)
                .min(MAX_FROM_SOURCE)
        };
        let forwarded = asked.clone();
        let local = if self.store.tenant_exists(tenant).await? {
            let local_page = Paging {
                offset: 0,
                limit: want,
                count: false,
            };
            self.query_entities(tenant, asked.clone(), None, local_page)
                .await?
                .entities
        } else {
            Vec::new()
        };
        let mut overflow = split && local.len() >= MAX_FROM_SOURCE;
        let via = self.via_out(tenant, distribution, federation);
        let now = self.now();
        let keys: Vec<String> = targets
            .iter()
            .map(|t| {
                format!(
                    "query {} {forwarded:?} {:?} {:?} {:?} {} {want}",
                    t.registration.id, client.extra, t.attributes, t.ids, t.batch
                )
            })
            .collect();
        let kept = self.kept_answers(targets.iter().map(|t| &t.registration).zip(&keys));
        let calls = targets.iter().zip(&kept).map(|(target, kept)| {
            let call = call_to(&target.registration, &via, distribution, federation);
            let request = SourceQuery {
                query: &forwarded,
                extra: &client.extra,
                attributes: &target.attributes,
                ids: &target.ids,
                batch: target.batch,
                limit: want,
            };
            let sources = federation.sources.clone();
            async move {
                match kept {
                    Some(Kept::Entities(entities)) => Ok(entities.clone()),
                    _ => sources.query(&call, &request).await,
                }
            }
        });
        let answers = futures::future::join_all(calls).await;
        let mut held_by: BTreeMap<String, Vec<String>> = local
            .iter()
            .map(|e| (e.id.clone(), vec![LOCAL.to_owned()]))
            .collect();
        let mut merged: BTreeMap<String, Entity> = local
            .into_iter()
            .map(|e| (e.id.clone(), Arc::unwrap_or_clone(e)))
            .collect();
        let mut auxiliary = Vec::new();
        for (((target, answer), kept), key) in targets.iter().zip(answers).zip(kept).zip(keys) {
            let reg = &target.registration;
            let fresh = answer.as_ref().ok().map(|e| Kept::Entities(e.clone()));
            self.account_read(tenant, reg, key, kept.is_some(), fresh, &mut warnings);
            match answer {
                Ok(entities) => {
                    overflow |= split && entities.len() >= MAX_FROM_SOURCE;
                    // Only what the registration covers counts: its types, its attributes.
                    let covered: Vec<Entity> = entities
                        .into_iter()
                        .filter_map(|e| within(e, &target.types, &target.attributes))
                        .collect();
                    for entity in &covered {
                        held_by
                            .entry(entity.id.clone())
                            .or_default()
                            .push(reg.id.clone());
                    }
                    if reg.mode() == Mode::Auxiliary {
                        auxiliary.extend(covered);
                    } else {
                        for entity in covered {
                            add(&mut merged, entity, false, now);
                        }
                    }
                }
                Err(e) => {
                    tracing::warn!(registration = %reg.id, endpoint = %reg.endpoint, "context source failed: {e}");
                    warnings.push(warning(reg, &e));
                }
            }
        }
        for entity in auxiliary {
            add(&mut merged, entity, true, now);
        }
        if split {
            if overflow {
                return Err(BrokerError::TooManyResults(format!(
                    "splitEntities gathers every candidate before filtering, and \
                     {MAX_FROM_SOURCE} or more entities match the selection here or at a \
                     source; narrow the entity selection"
                )));
            }
            merged.retain(|_, entity| query.matches(entity));
        }
        held_by.retain(|id, _| merged.contains_key(id));
        let total = merged.len();
        let entities = merged
            .into_values()
            .skip(paging.offset)
            .take(paging.limit)
            .map(Arc::new)
            .collect();
        Ok(Distributed {
            value: QueryResult {
                entities,
                total: paging.count.then_some(total),
                held_by,
            },
            warnings,
        })
    }

    /// The registrations a query goes to; `None` when it stays local.
    fn query_targets(
        &self,
        tenant: &Tenant,
        query: &EntityQuery,
        post: bool,
        distribution: &Distribution,
        warnings: &mut Vec<SourceWarning>,
    ) -> Option<(&super::Federation, Vec<QueryTarget>)> {
        if query.has_linked_terms() {
            return None;
        }
        let (federation, registry) = self.distributing(tenant, distribution, warnings)?;
        let attributes = with_q_attributes(query.attrs.clone().unwrap_or_default(), query);
        let wanted = wanted_by(query, &attributes);
        let now = self.now();
        let targets: Vec<QueryTarget> = registry
            .matching(tenant, now, |reg| {
                !passed_through(reg, &distribution.via) && wanted.iter().any(|w| w.matches(reg))
            })
            .into_iter()
            .filter(|reg| !cooling_down(reg, now, warnings))
            .filter_map(|reg| {
                let operations = reg.operation_set();
                let get = operations.contains(&Operation::QueryEntity);
                let batch = operations.contains(&Operation::QueryBatch);
                let batch = match (post, get, batch) {
                    (_, false, false) => return None,
                    (true, _, true) | (false, false, true) => true,
                    _ => false,
                };
                let held = wanted
                    .iter()
                    .filter(|w| w.matches(&reg))
                    .flat_map(|w| registered_attributes(&reg, w))
                    .collect::<Vec<_>>();
                let whole = wanted
                    .iter()
                    .any(|w| w.matches(&reg) && registered_attributes(&reg, w).is_empty());
                let client_ids = query.selectors.iter().any(|s| s.ids.is_some());
                let ids = if client_ids {
                    Vec::new()
                } else {
                    registered_ids(&reg, &wanted)
                };
                let matching: Vec<&Wanted<'_>> =
                    wanted.iter().filter(|w| w.matches(&reg)).collect();
                Some(QueryTarget {
                    attributes: if whole { Vec::new() } else { held },
                    ids,
                    types: registered_types(&reg, &matching),
                    registration: reg,
                    batch,
                })
            })
            .collect();
        (!targets.is_empty()).then_some((federation, targets))
    }
}

/// `attributes` and those the query's `q` reads.
pub(super) fn with_q_attributes(mut attributes: Vec<String>, query: &EntityQuery) -> Vec<String> {
    for name in query.q.iter().flat_map(|q| q.attributes()) {
        if !attributes.contains(&name) {
            attributes.push(name);
        }
    }
    attributes
}

/// What a query wants of registrations: one want per entity selector (or one for any
/// entity), each with `attributes`.
pub(super) fn wanted_by<'a>(query: &'a EntityQuery, attributes: &'a [String]) -> Vec<Wanted<'a>> {
    if query.selectors.is_empty() {
        return vec![Wanted {
            attributes,
            ..Wanted::default()
        }];
    }
    query
        .selectors
        .iter()
        .map(|s| Wanted {
            types: s.types.as_ref(),
            ids: s.ids.as_deref(),
            id_pattern: s.id_pattern.as_ref(),
            attributes,
            ..Wanted::default()
        })
        .collect()
}

/// The entity ids the matching elements of a registration are restricted to (4.3.6.1): all
/// of them when every matching EntityInfo names an id, else none.
pub(super) fn registered_ids(
    reg: &rigel_model::registration::Registration,
    wanted: &[Wanted<'_>],
) -> Vec<String> {
    let mut ids: Vec<String> = Vec::new();
    for info in reg
        .information
        .iter()
        .filter(|info| wanted.iter().any(|w| w.matches_info(info)))
    {
        let Some(entities) = &info.entities else {
            return Vec::new();
        };
        for entity in entities {
            match &entity.id {
                Some(id) if !ids.contains(id) => ids.push(id.clone()),
                Some(_) => {}
                None => return Vec::new(),
            }
        }
    }
    ids
}

fn add(
    merged: &mut BTreeMap<String, Entity>,
    entity: Entity,
    auxiliary: bool,
    now: chrono::DateTime<chrono::Utc>,
) {
    match merged.get_mut(&entity.id) {
        Some(held) => merge_into(held, entity, auxiliary, now),
        None => {
            merged.insert(entity.id.clone(), entity);
        }
    }
}
