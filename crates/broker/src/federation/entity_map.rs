//! EntityMaps (clauses 4.5.25, 5.2.39, 5.14): the set of entities a distributed query
//! found, each with where it was held (`@none`: here; else registration ids), kept so that
//! the following pages of the query read the same entities from the same places.
//!
//! A query with `entityMap=true` gathers every match (at most [`MAX_FROM_SOURCE`] per
//! side), keeps the map and answers its first page; a query naming the map in
//! `NGSILD-EntityMap` pages through the map's entities, reading each page's entities
//! from the local store and from the registrations the map names for them, by id. Maps
//! live in memory (the spec's "internal storage, or memory") until their `expiresAt`, at
//! most [`MAX_MAPS`] per broker; sources are not asked for maps of their own, so
//! `linkedMaps` stays empty.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Duration, Utc};
use rigel_model::{ErrorKind, ModelError, Tenant};
use rigel_query::{EntityQuery, EntitySelector};

use super::query::{ClientQuery, LOCAL, MAX_FROM_SOURCE};
use super::{call_to, merge_into, Distributed, Distribution, SourceQuery};
use crate::query::{Paging, QueryResult};
use crate::{Broker, BrokerError};

/// Most EntityMaps kept at once; the one expiring first gives way.
pub const MAX_MAPS: usize = 1024;

/// How long a map lives when the request does not say (`entityMapLifetime`), and at most.
const DEFAULT_LIFETIME: i64 = 3600;
const MAX_LIFETIME: i64 = 24 * 3600;

/// An EntityMap (5.2.39).
#[derive(Debug, Clone, PartialEq)]
pub struct EntityMap {
    pub id: String,
    pub expires_at: DateTime<Utc>,
    /// Entity id -> `@none` and/or registration ids, in the query's order.
    pub entities: Vec<(String, Vec<String>)>,
    /// Registration id -> the source's own EntityMap (none are asked for).
    pub linked: BTreeMap<String, String>,
}

/// A kept map and the query it was made for.
#[derive(Debug)]
struct Held {
    map: EntityMap,
    query: EntityQuery,
    client: ClientQuery,
}

/// The broker's EntityMaps, per tenant.
#[derive(Debug, Default)]
pub(crate) struct EntityMaps {
    held: Mutex<HashMap<(Option<String>, String), Held>>,
}

fn key(tenant: &Tenant, id: &str) -> (Option<String>, String) {
    (tenant.name().map(str::to_owned), id.to_owned())
}

fn not_found(id: &str) -> BrokerError {
    BrokerError::Model(ModelError::new(
        ErrorKind::ResourceNotFound,
        format!("no EntityMap {id} (unknown, or expired)"),
    ))
}

impl EntityMaps {
    fn with<T>(
        &self,
        tenant: &Tenant,
        id: &str,
        now: DateTime<Utc>,
        f: impl FnOnce(&mut Held) -> T,
    ) -> Result<T, BrokerError> {
        let mut held = self
            .held
            .lock()
            .map_err(|_| BrokerError::Contended(id.to_owned()))?;
        held.retain(|_, h| h.map.expires_at > now);
        held.get_mut(&key(tenant, id))
            .map(f)
            .ok_or_else(|| not_found(id))
    }
}

impl Broker {
    /// Retrieve EntityMap (5.14.1).
    pub fn entity_map(&self, tenant: &Tenant, id: &str) -> Result<EntityMap, BrokerError> {
        self.entity_maps
            .with(tenant, id, self.now(), |h| h.map.clone())
    }

    /// Update EntityMap (5.14.2): its `expiresAt`, the only member a client sets.
    pub fn update_entity_map(
        &self,
        tenant: &Tenant,
        id: &str,
        expires_at: Option<DateTime<Utc>>,
    ) -> Result<(), BrokerError> {
        let now = self.now();
        let limit = now + Duration::seconds(MAX_LIFETIME);
        self.entity_maps.with(tenant, id, now, |h| {
            if let Some(at) = expires_at {
                h.map.expires_at = at.min(limit);
            }
        })
    }

    /// Delete EntityMap (5.14.3).
    pub fn delete_entity_map(&self, tenant: &Tenant, id: &str) -> Result<(), BrokerError> {
        let mut held = self
            .entity_maps
            .held
            .lock()
            .map_err(|_| BrokerError::Contended(id.to_owned()))?;
        held.remove(&key(tenant, id))
            .map(|_| ())
            .ok_or_else(|| not_found(id))
    }

    /// Query Entities with `entityMap=true` (5.7.2.4, 5.14.4): every match gathered, the
    /// map kept for `lifetime` (else an hour, at most a day), the first page answered.
    pub async fn query_with_new_map(
        &self,
        tenant: &Tenant,
        query: EntityQuery,
        paging: Paging,
        client: &ClientQuery,
        distribution: &Distribution,
        lifetime: Option<std::time::Duration>,
    ) -> Result<(Distributed<QueryResult>, EntityMap), BrokerError> {
        let everything = Paging {
            offset: 0,
            limit: MAX_FROM_SOURCE - 1,
            count: true,
        };
        let found = self
            .query_distributed(
                tenant,
                query.clone(),
                None,
                everything,
                client,
                distribution,
            )
            .await?;
        let result = found.value;
        if result.total.unwrap_or(0) >= MAX_FROM_SOURCE {
            return Err(BrokerError::TooManyResults(format!(
                "an EntityMap holds at most {} entities; narrow the query",
                MAX_FROM_SOURCE - 1
            )));
        }
        let now = self.now();
        let seconds = lifetime.map_or(DEFAULT_LIFETIME, |d| {
            i64::try_from(d.as_secs()).unwrap_or(MAX_LIFETIME)
        });
        let map = EntityMap {
            id: format!("urn:ngsi-ld:EntityMap:{}", uuid_like(now)),
            expires_at: now + Duration::seconds(seconds.clamp(1, MAX_LIFETIME)),
            entities: result
                .entities
                .iter()
                .map(|e| {
                    let held = result
                        .held_by
                        .get(&e.id)
                        .cloned()
                        .unwrap_or_else(|| vec![LOCAL.to_owned()]);
                    (e.id.clone(), held)
                })
                .collect(),
            linked: BTreeMap::new(),
        };
        let total = map.entities.len();
        let entities = result
            .entities
            .into_iter()
            .skip(paging.offset)
            .take(paging.limit)
            .collect();
        self.keep_map(
            tenant,
            Held {
                map: map.clone(),
                query,
                client: client.clone(),
            },
        )?;
        Ok((
            Distributed {
                value: QueryResult {
                    entities,
                    total: paging.count.then_some(total),
                    ..QueryResult::default()
                },
                warnings: found.warnings,
            },
            map,
        ))
    }

    /// Query Entities with `NGSILD-EntityMap` (6.4.3.2): a page of the map's entities,
    /// each read by id where the map says it is held.
    pub async fn query_with_map(
        &self,
        tenant: &Tenant,
        map_id: &str,
        paging: Paging,
        distribution: &Distribution,
    ) -> Result<Distributed<QueryResult>, BrokerError> {
        let (map, query, client) = self.entity_maps.with(tenant, map_id, self.now(), |h| {
            (h.map.clone(), h.query.clone(), h.client.clone())
        })?;
        let page: Vec<&(String, Vec<String>)> = map
            .entities
            .iter()
            .skip(paging.offset)
            .take(paging.limit)
            .collect();
        // The map's query, restricted to the page's ids (an entity that no longer matches
        // drops out of the page).
        let types = query.selectors.iter().find_map(|s| s.types.clone());
        let by_id = |ids: Vec<String>| EntityQuery {
            selectors: vec![EntitySelector {
                ids: Some(ids),
                types: types.clone(),
                ..EntitySelector::default()
            }],
            ..query.clone()
        };
        let local_ids: Vec<String> = page
            .iter()
            .filter(|(_, held)| held.iter().any(|h| h == LOCAL))
            .map(|(id, _)| id.clone())
            .collect();
        let mut merged: BTreeMap<String, rigel_model::Entity> = BTreeMap::new();
        if !local_ids.is_empty() && self.store.tenant_exists(tenant).await? {
            let all = Paging {
                offset: 0,
                limit: local_ids.len(),
                count: false,
            };
            let local = self
                .query_entities(tenant, by_id(local_ids), None, all)
                .await?;
            for entity in local.entities {
                merged.insert(entity.id.clone(), Arc::unwrap_or_clone(entity));
            }
        }
        let mut warnings = Vec::new();
        let mut by_registration: BTreeMap<&str, Vec<String>> = BTreeMap::new();
        for (id, held) in &page {
            for reg in held.iter().filter(|h| *h != LOCAL) {
                by_registration.entry(reg).or_default().push(id.clone());
            }
        }
        if let Some((federation, registry)) = self.distributing(tenant, distribution, &mut warnings)
        {
            let now = self.now();
            let regs: Vec<(rigel_model::registration::Registration, EntityQuery)> = by_registration
                .into_iter()
                .filter_map(|(reg, ids)| {
                    registry
                        .matching(tenant, now, |r| r.id == reg)
                        .into_iter()
                        .next()
                        .map(|r| (r, by_id(ids)))
                })
                .collect();
            let via = self.via_out(tenant, distribution, federation);
            let answers = futures::future::join_all(regs.iter().map(|(reg, ids)| {
                let call = call_to(reg, &via, distribution, federation);
                let sources = federation.sources.clone();
                let request = SourceQuery {
                    query: ids,
                    extra: &client.extra,
                    attributes: &[],
                    ids: &[],
                    batch: false,
                    limit: paging.limit.max(1),
                };
                async move { sources.query(&call, &request).await }
            }))
            .await;
            for ((reg, _), answer) in regs.iter().zip(answers) {
                self.record_forward(tenant, reg, answer.is_ok(), now);
                match answer {
                    Ok(entities) => {
                        let auxiliary = reg.mode() == rigel_model::registration::Mode::Auxiliary;
                        for entity in entities {
                            match merged.get_mut(&entity.id) {
                                Some(held) => merge_into(held, entity, auxiliary, now),
                                None => {
                                    merged.insert(entity.id.clone(), entity);
                                }
                            }
                        }
                    }
                    Err(e) => warnings.push(super::warning(reg, &e)),
                }
            }
        }
        let entities = page
            .iter()
            .filter_map(|(id, _)| merged.remove(id))
            .map(Arc::new)
            .collect();
        Ok(Distributed {
            value: QueryResult {
                entities,
                total: paging.count.then_some(map.entities.len()),
                ..QueryResult::default()
            },
            warnings,
        })
    }

    fn keep_map(&self, tenant: &Tenant, held: Held) -> Result<(), BrokerError> {
        let now = self.now();
        let mut maps = self
            .entity_maps
            .held
            .lock()
            .map_err(|_| BrokerError::Contended(held.map.id.clone()))?;
        maps.retain(|_, h| h.map.expires_at > now);
        if maps.len() >= MAX_MAPS {
            if let Some(first) = maps
                .iter()
                .min_by_key(|(_, h)| h.map.expires_at)
                .map(|(k, _)| k.clone())
            {
                maps.remove(&first);
            }
        }
        maps.insert(key(tenant, &held.map.id), held);
        Ok(())
    }
}

/// A unique enough id part: the time and a process-wide counter.
fn uuid_like(now: DateTime<Utc>) -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    format!(
        "{:x}{:04x}",
        now.timestamp_nanos_opt().unwrap_or_default(),
        n & 0xffff
    )
}
