//! Linked entity retrieval (clause 4.5.23): following relationships to locally stored entities
//! and returning them inline (under `entity`/`entityList`) or flattened into an array.

use std::collections::HashSet;
use std::future::Future;
use std::pin::Pin;

use rigel_broker::{Broker, BrokerError};
use rigel_model::codec::linked::{attach_linked, relationship_targets};
use rigel_model::codec::render::{render_entity, RenderOptions};
use rigel_model::{Entity, Tenant, TermMap};
use serde_json::{Map, Value};

use crate::request::Params;
use crate::ApiError;

/// How linked entities are returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Join {
    Inline,
    Flat,
}

/// A linked-entity request: the join kind, how many relationship hops, ids already seen.
#[derive(Debug, Clone)]
pub struct JoinSpec {
    pub join: Join,
    pub level: usize,
    pub contained_by: HashSet<String>,
}

/// Largest `joinLevel` accepted; deeper graphs are cut here.
const MAX_JOIN_LEVEL: usize = 16;

impl JoinSpec {
    /// Reads `join`, `joinLevel` and `containedBy`; `None` when no join is asked for.
    pub fn from_params(params: &Params) -> Result<Option<Self>, ApiError> {
        let join = match params.get("join") {
            None | Some("@none") => return Ok(None),
            Some("inline") => Join::Inline,
            Some("flat") => Join::Flat,
            Some(other) => {
                return Err(ApiError::bad_data(format!(
                    "join must be inline, flat or @none, not {other:?}"
                )))
            }
        };
        let level = match params.get("joinLevel") {
            None => 1,
            Some(l) => l
                .parse::<usize>()
                .ok()
                .filter(|l| (1..=MAX_JOIN_LEVEL).contains(l))
                .ok_or_else(|| {
                    ApiError::bad_data(format!(
                        "joinLevel must be an integer from 1 to {MAX_JOIN_LEVEL}"
                    ))
                })?,
        };
        let contained_by = params
            .list("containedBy")?
            .unwrap_or_default()
            .into_iter()
            .map(str::to_owned)
            .collect();
        Ok(Some(Self {
            join,
            level,
            contained_by,
        }))
    }
}

/// Fetches the linked entities that exist locally and were not seen yet.
async fn fetch(
    broker: &Broker,
    tenant: &Tenant,
    ids: &[String],
    seen: &mut HashSet<String>,
) -> Result<Vec<Entity>, ApiError> {
    let mut found = Vec::new();
    for id in ids {
        if seen.contains(id) {
            continue;
        }
        match broker.retrieve_entity(tenant, id, None).await {
            Ok(e) => {
                seen.insert(id.clone());
                found.push(e);
            }
            Err(BrokerError::EntityNotFound(_) | BrokerError::NonexistentTenant(_)) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(found)
}

/// Renders `root` with its linked entities as the join asks.
pub async fn render_joined(
    broker: &Broker,
    tenant: &Tenant,
    root: &Entity,
    terms: &dyn TermMap,
    opts: &RenderOptions,
    spec: &JoinSpec,
) -> Result<Value, ApiError> {
    let mut seen = spec.contained_by.clone();
    seen.insert(root.id.clone());
    match spec.join {
        Join::Inline => Ok(Value::Object(
            inline(broker, tenant, root, terms, opts, spec.level, &mut seen).await?,
        )),
        Join::Flat => {
            let mut out = vec![Value::Object(render_entity(root, terms, opts))];
            let mut frontier = vec![(root.clone(), opts.clone())];
            for _ in 0..spec.level {
                let mut next = Vec::new();
                for (entity, entity_opts) in &frontier {
                    for link in relationship_targets(entity, &entity_opts.projection) {
                        let nested = RenderOptions {
                            projection: entity_opts.projection.nested(&link.name),
                            ..entity_opts.clone()
                        };
                        for linked in fetch(broker, tenant, &link.targets, &mut seen).await? {
                            out.push(Value::Object(render_entity(&linked, terms, &nested)));
                            next.push((linked, nested.clone()));
                        }
                    }
                }
                frontier = next;
            }
            // With nothing linked the entity is returned alone, as without a join.
            if out.len() == 1 {
                return Ok(out.swap_remove(0));
            }
            Ok(Value::Array(out))
        }
    }
}

type Rendered<'a> = Pin<Box<dyn Future<Output = Result<Map<String, Value>, ApiError>> + 'a>>;

fn inline<'a>(
    broker: &'a Broker,
    tenant: &'a Tenant,
    entity: &'a Entity,
    terms: &'a dyn TermMap,
    opts: &'a RenderOptions,
    level: usize,
    seen: &'a mut HashSet<String>,
) -> Rendered<'a> {
    Box::pin(async move {
        let mut body = render_entity(entity, terms, opts);
        if level == 0 {
            return Ok(body);
        }
        for link in relationship_targets(entity, &opts.projection) {
            let nested = RenderOptions {
                projection: opts.projection.nested(&link.name),
                ..opts.clone()
            };
            let mut rendered = Vec::new();
            for linked in fetch(broker, tenant, &link.targets, seen).await? {
                rendered.push(Value::Object(
                    inline(broker, tenant, &linked, terms, &nested, level - 1, seen).await?,
                ));
            }
            let key = terms.compact(&link.name).into_owned();
            attach_linked(
                &mut body,
                &key,
                link.index,
                rendered,
                link.is_list,
                opts.format,
            );
        }
        Ok(body)
    })
}
