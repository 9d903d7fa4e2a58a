//! Linked entity retrieval (clause 4.5.23): following relationships to locally stored entities
//! and returning them inline (under `entity`/`entityList`) or flattened into an array.

use std::collections::HashSet;
use std::future::Future;
use std::pin::Pin;

use rigel_broker::{Broker, BrokerError};
use rigel_model::codec::render::{render_entity, Format, RenderOptions};
use rigel_model::{AttributeValue, Entity, Tenant, TermMap};
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

/// The objects of the relationships of `entity` kept by the projection, per attribute.
fn links(entity: &Entity, opts: &RenderOptions) -> Vec<(String, usize, Vec<String>)> {
    let mut out = Vec::new();
    for (name, instances) in &entity.attributes {
        if !opts.projection.keeps(name) {
            continue;
        }
        for (i, a) in instances.iter().enumerate() {
            let targets = match &a.value {
                AttributeValue::Relationship {
                    object: Value::String(o),
                    ..
                } => vec![o.clone()],
                AttributeValue::Relationship {
                    object: Value::Array(os),
                    ..
                } => os
                    .iter()
                    .filter_map(|o| o.as_str().map(str::to_owned))
                    .collect(),
                AttributeValue::ListRelationship { object_list, .. } => object_list.clone(),
                _ => continue,
            };
            out.push((name.clone(), i, targets));
        }
    }
    out
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
                    for (name, _, targets) in links(entity, entity_opts) {
                        let nested = RenderOptions {
                            projection: entity_opts.projection.nested(&name),
                            ..entity_opts.clone()
                        };
                        for linked in fetch(broker, tenant, &targets, &mut seen).await? {
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
        for (name, index, targets) in links(entity, opts) {
            let nested = RenderOptions {
                projection: opts.projection.nested(&name),
                ..opts.clone()
            };
            let mut rendered = Vec::new();
            for linked in fetch(broker, tenant, &targets, seen).await? {
                rendered.push(Value::Object(
                    inline(broker, tenant, &linked, terms, &nested, level - 1, seen).await?,
                ));
            }
            if rendered.is_empty() {
                continue;
            }
            let is_list = matches!(
                entity.attributes[&name][index].value,
                AttributeValue::ListRelationship { .. }
            );
            let key = terms.compact(&name).into_owned();
            attach(&mut body, &key, index, rendered, is_list, opts.format);
        }
        Ok(body)
    })
}

/// Puts rendered linked entities into the rendered relationship instance `index` of `key`.
fn attach(
    body: &mut Map<String, Value>,
    key: &str,
    index: usize,
    mut rendered: Vec<Value>,
    is_list: bool,
    format: Format,
) {
    let Some(slot) = body.get_mut(key) else {
        return;
    };
    let linked = if is_list || rendered.len() > 1 {
        Value::Array(rendered)
    } else {
        rendered.swap_remove(0)
    };
    if format == Format::KeyValues {
        *slot = linked;
        return;
    }
    let instance = match slot {
        Value::Array(items) => items.get_mut(index),
        other => Some(other),
    };
    if let Some(Value::Object(instance)) = instance {
        instance.insert(if is_list { "entityList" } else { "entity" }.into(), linked);
    }
}
