//! Batch entity operations (clauses 6.14-6.17, 6.31): `POST /entityOperations/create`,
//! `upsert`, `update`, `delete` and `merge`, answering 201/204 when every entity succeeded and
//! 207 with a BatchOperationResult (clause 5.2.16) otherwise.
//!
//! The body as a whole must be a non-empty JSON array without nulls (else 400); each entity is
//! then judged on its own: one that cannot be parsed, or whose @context cannot be resolved,
//! becomes an error entry of the result and the others go ahead. An item without a valid
//! entity id fails the whole request, since a BatchEntityError must name its entity.

use std::collections::HashMap;
use std::sync::Arc;

use actix_web::{web, HttpRequest, HttpResponse};
use rigel_broker::federation::BatchKind;
use rigel_broker::merge::MergeOptions;
use rigel_broker::{AttributeUpdate, BatchResult, EntityMerge, UpsertMode};
use rigel_jsonld::ResolvedContext;
use rigel_model::codec::parse::{
    parse_entity, parse_entity_id, parse_fragment, parse_types, NullPolicy,
};
use rigel_model::validate::is_uri;
use rigel_model::TermMap;
use serde_json::{json, Map, Value};

use crate::context;
use crate::negotiation::{request_media, RequestMedia};
use crate::request::{has_declared_length, read_json, tenant, Params};
use crate::routes::distributed_batch::Remote;
use crate::routes::entities::{expanded_fragment, scope_member};
use crate::{ApiError, AppState};

/// A turn to process a batch (see [`AppState::bulk_permit`]): held until the response.
type Turn<'s> = Option<tokio::sync::SemaphorePermit<'s>>;

/// Reads a batch body: a non-empty JSON array without null items (clauses 5.6.7.4-5.6.10.4),
/// after waiting for a turn, which bounds the batches parsed and applied at once.
async fn read_items<'s>(
    req: &HttpRequest,
    payload: web::Payload,
    state: &'s AppState,
) -> Result<(Vec<Value>, RequestMedia, Turn<'s>), ApiError> {
    let media = request_media(req)?;
    if !has_declared_length(req) {
        return Err(ApiError::LengthRequired);
    }
    let turn = state.bulk_permit().await;
    let Value::Array(items) = read_json(payload, &state.limits).await? else {
        return Err(ApiError::bad_data("the request body must be a JSON array"));
    };
    if items.is_empty() {
        return Err(ApiError::bad_data("the batch is empty"));
    }
    if let Some(i) = items.iter().position(Value::is_null) {
        return Err(ApiError::bad_data(format!("item {i} of the batch is null")));
    }
    Ok((items, media, turn))
}

/// One entity of a batch: its id, its JSON and the terms of its @context (or the
/// ProblemDetails of why they could not be had).
pub(super) type Item = (String, Value, Result<Arc<ResolvedContext>, Value>);

/// The entities of a batch body, each with its own @context.
pub(super) struct EntityBatch<'s> {
    pub(super) items: Vec<Item>,
    /// Entities turned away before reaching the broker: id and ProblemDetails.
    rejected: Vec<(String, Value)>,
    _turn: Turn<'s>,
}

impl<'s> EntityBatch<'s> {
    /// Reads the body and resolves each entity's @context (clause 6.3.5): its own `@context`
    /// with `application/ld+json`, the `Link` header with `application/json`. Identical
    /// contexts are resolved once per request.
    async fn read(
        req: &HttpRequest,
        payload: web::Payload,
        state: &'s AppState,
    ) -> Result<Self, ApiError> {
        let (values, media, turn) = read_items(req, payload, state).await?;
        if media == RequestMedia::LdJson && context::link_context(req)?.is_some() {
            return Err(ApiError::bad_data(
                "a body sent as application/ld+json carries its @context; a JSON-LD Link header is not allowed",
            ));
        }
        let mut contexts: HashMap<String, Result<Arc<ResolvedContext>, Value>> = HashMap::new();
        let mut items = Vec::with_capacity(values.len());
        for (i, value) in values.into_iter().enumerate() {
            let Value::Object(body) = &value else {
                return Err(ApiError::bad_data(format!(
                    "item {i} of the batch is not a JSON object"
                )));
            };
            let id = parse_entity_id(body)
                .map_err(|e| ApiError::bad_data(format!("item {i} of the batch: {}", e.detail)))?;
            let key = body
                .get("@context")
                .map_or_else(String::new, Value::to_string);
            let terms = match contexts.get(&key) {
                Some(terms) => terms.clone(),
                None => {
                    let terms = context::from_body(req, media, &value, &state.resolver)
                        .await
                        .map(|ctx| ctx.terms)
                        .map_err(|e| e.problem_body());
                    contexts.insert(key, terms.clone());
                    terms
                }
            };
            items.push((id, value, terms));
        }
        Ok(Self {
            items,
            rejected: Vec::new(),
            _turn: turn,
        })
    }

    /// Parses every entity with `parse(id, members, terms)`; those that fail are rejected.
    fn parse<T>(
        &mut self,
        parse: impl Fn(&str, &Map<String, Value>, &dyn TermMap) -> Result<T, ApiError>,
    ) -> Vec<T> {
        let mut parsed = Vec::with_capacity(self.items.len());
        for (id, value, terms) in self.items.drain(..) {
            let outcome = terms.and_then(|terms| match &value {
                Value::Object(body) => {
                    parse(&id, body, terms.as_ref()).map_err(|e| e.problem_body())
                }
                _ => Err(ApiError::bad_data("not a JSON object").problem_body()),
            });
            match outcome {
                Ok(item) => parsed.push(item),
                Err(problem) => self.rejected.push((id, problem)),
            }
        }
        parsed
    }
}

/// What a batch answers when every entity succeeded.
#[derive(Clone, Copy)]
pub(super) enum Complete {
    /// 201 with the ids of the entities (Batch Create).
    Created,
    /// 201 with the ids of the created entities, or 204 when all existed (Batch Upsert).
    Upserted,
    /// 204 (Batch Update, Delete, Merge).
    NoContent,
}

/// The outcome of a batch, as the response tells it.
#[derive(Default)]
pub(super) struct Outcome {
    pub success: Vec<String>,
    pub created: Vec<String>,
    /// BatchEntityErrors (clause 5.2.17).
    pub errors: Vec<Value>,
}

impl Outcome {
    /// The outcome of a local batch, after the entities turned away before it.
    pub(super) fn local(rejected: Vec<(String, Value)>, result: BatchResult) -> Self {
        let errors = rejected
            .into_iter()
            .chain(
                result
                    .errors
                    .into_iter()
                    .map(|e| (e.entity_id, ApiError::Broker(e.error).problem_body())),
            )
            .map(|(id, problem)| json!({ "entityId": id, "error": problem }))
            .collect();
        Self {
            success: result.success,
            created: result.created,
            errors,
        }
    }

    /// The response (clauses 6.14.3.1, 6.15.3.1, 6.16.3.1, 6.17.3.1, 6.31.3.1).
    pub(super) fn respond(self, complete: Complete) -> HttpResponse {
        if self.errors.is_empty() {
            return match complete {
                Complete::Created => HttpResponse::Created().json(&self.success),
                Complete::Upserted if !self.created.is_empty() => {
                    HttpResponse::Created().json(&self.created)
                }
                Complete::Upserted | Complete::NoContent => HttpResponse::NoContent().finish(),
            };
        }
        HttpResponse::MultiStatus().json(json!({ "success": self.success, "errors": self.errors }))
    }
}

/// The response of a batch: the local result after the entities turned away before it,
/// and what context sources did when they took part.
fn respond(
    rejected: Vec<(String, Value)>,
    result: BatchResult,
    remote: Option<Remote>,
    complete: Complete,
) -> HttpResponse {
    let outcome = Outcome::local(rejected, result);
    match remote {
        Some(remote) => remote.merge(outcome),
        None => outcome,
    }
    .respond(complete)
}

/// POST /entityOperations/create — Batch Entity Creation (5.6.7).
#[utoipa::path(post, path = "/ngsi-ld/v1/entityOperations/create", tag = "Batch entity operations",
    request_body(content = Vec<Object>, content_type = "application/ld+json", description = "Entities to create"),
    responses((status = 201, description = "All created: their ids", body = Vec<String>), (status = 207, description = "BatchOperationResult", body = Object), (status = 400, description = "BadRequestData / InvalidRequest")))]
pub async fn create_batch(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let params = Params::parse(&req, &["local"])?;
    let tenant = tenant(&req)?;
    let mut batch = EntityBatch::read(&req, payload, &state).await?;
    let remote = Remote::forward(
        &req,
        &state,
        &tenant,
        &params,
        &mut batch,
        BatchKind::Create,
    )
    .await?;
    let now = state.broker_now();
    let entities = batch.parse(|_, body, terms| Ok(parse_entity(body, terms, now)?));
    let result = match entities.is_empty() {
        true => BatchResult::default(),
        false => state.broker.create_entities(&tenant, entities).await?,
    };
    Ok(respond(batch.rejected, result, remote, Complete::Created))
}

/// POST /entityOperations/upsert — Batch Entity Creation or Update (5.6.8).
#[utoipa::path(post, path = "/ngsi-ld/v1/entityOperations/upsert", tag = "Batch entity operations",
    params(("options" = Option<String>, Query, description = "replace (default) or update")),
    request_body(content = Vec<Object>, content_type = "application/ld+json", description = "Entities to create or update"),
    responses((status = 201, description = "All done: the ids of the created entities", body = Vec<String>), (status = 204, description = "All existed and were updated"),
        (status = 207, description = "BatchOperationResult", body = Object), (status = 400, description = "BadRequestData / InvalidRequest")))]
pub async fn upsert_batch(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let params = Params::parse(&req, &["options", "local"])?;
    let mode = match params.get("options") {
        None | Some("replace") => UpsertMode::Replace,
        Some("update") => UpsertMode::Update,
        Some(other) => return Err(ApiError::bad_data(format!("unknown option {other:?}"))),
    };
    let tenant = tenant(&req)?;
    let mut batch = EntityBatch::read(&req, payload, &state).await?;
    let kind = BatchKind::Upsert {
        update: mode == UpsertMode::Update,
    };
    let remote = Remote::forward(&req, &state, &tenant, &params, &mut batch, kind).await?;
    let now = state.broker_now();
    let entities = batch.parse(|_, body, terms| Ok(parse_entity(body, terms, now)?));
    let result = match entities.is_empty() {
        true => BatchResult::default(),
        false => {
            state
                .broker
                .upsert_entities(&tenant, &entities, mode)
                .await?
        }
    };
    Ok(respond(batch.rejected, result, remote, Complete::Upserted))
}

/// POST /entityOperations/update — Batch Entity Update (5.6.9).
#[utoipa::path(post, path = "/ngsi-ld/v1/entityOperations/update", tag = "Batch entity operations",
    params(("options" = Option<String>, Query, description = "noOverwrite")),
    request_body(content = Vec<Object>, content_type = "application/ld+json", description = "Entity fragments, each with its id"),
    responses((status = 204, description = "All updated"), (status = 207, description = "BatchOperationResult", body = Object), (status = 400, description = "BadRequestData / InvalidRequest")))]
pub async fn update_batch(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let params = Params::parse(&req, &["options", "local"])?;
    let overwrite = match params.get("options") {
        None => true,
        Some("noOverwrite") => false,
        Some(other) => return Err(ApiError::bad_data(format!("unknown option {other:?}"))),
    };
    let tenant = tenant(&req)?;
    let mut batch = EntityBatch::read(&req, payload, &state).await?;
    let kind = BatchKind::Update {
        no_overwrite: !overwrite,
    };
    let remote = Remote::forward(&req, &state, &tenant, &params, &mut batch, kind).await?;
    let now = state.broker_now();
    // Batch Update appends (clause 5.6.9.4 runs Append Attributes, 5.6.3): no NGSI-LD Nulls.
    let updates = batch.parse(|id, body, terms| {
        let update = AttributeUpdate {
            attributes: parse_fragment(body, terms, NullPolicy::Reject, now)?,
            types: entity_types(body, terms)?,
            scope: scope_member(body)?,
        };
        Ok((id.to_owned(), update))
    });
    let result = match updates.is_empty() {
        true => BatchResult::default(),
        false => {
            state
                .broker
                .update_entities(&tenant, updates, overwrite)
                .await?
        }
    };
    Ok(respond(batch.rejected, result, remote, Complete::NoContent))
}

/// POST /entityOperations/delete — Batch Entity Delete (5.6.10). The body holds entity ids.
#[utoipa::path(post, path = "/ngsi-ld/v1/entityOperations/delete", tag = "Batch entity operations",
    request_body(content = Vec<String>, description = "Ids of the entities to delete"),
    responses((status = 204, description = "All deleted"), (status = 207, description = "BatchOperationResult", body = Object), (status = 400, description = "BadRequestData / InvalidRequest")))]
pub async fn delete_batch(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let params = Params::parse(&req, &["local"])?;
    let tenant = tenant(&req)?;
    let (items, _, _turn) = read_items(&req, payload, &state).await?;
    let ids = items
        .into_iter()
        .enumerate()
        .map(|(i, item)| match item {
            Value::String(id) if is_uri(&id) => Ok(id),
            _ => Err(ApiError::bad_data(format!(
                "item {i} of the batch is not an entity id (a URI string)"
            ))),
        })
        .collect::<Result<Vec<_>, _>>()?;
    let remote = Remote::forward_deletion(&req, &state, &tenant, &params, &ids).await?;
    let result = state.broker.delete_entities(&tenant, ids).await?;
    Ok(respond(Vec::new(), result, remote, Complete::NoContent))
}

/// POST /entityOperations/merge — Batch Entity Merge (5.6.20).
#[utoipa::path(post, path = "/ngsi-ld/v1/entityOperations/merge", tag = "Batch entity operations",
    request_body(content = Vec<Object>, content_type = "application/ld+json", description = "Entity fragments (merge patch), each with its id"),
    responses((status = 204, description = "All merged"), (status = 207, description = "BatchOperationResult", body = Object), (status = 400, description = "BadRequestData / InvalidRequest")))]
pub async fn merge_batch(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let params = Params::parse(&req, &["local"])?;
    let tenant = tenant(&req)?;
    let mut batch = EntityBatch::read(&req, payload, &state).await?;
    let remote =
        Remote::forward(&req, &state, &tenant, &params, &mut batch, BatchKind::Merge).await?;
    let merges = batch.parse(|id, body, terms| {
        reject_json_nulls(body)?;
        let merge = EntityMerge {
            attributes: expanded_fragment(body, terms)?,
            types: entity_types(body, terms)?,
            scope: scope_member(body)?,
            options: MergeOptions::default(),
        };
        Ok((id.to_owned(), merge))
    });
    let result = match merges.is_empty() {
        true => BatchResult::default(),
        false => state.broker.merge_entities(&tenant, merges).await?,
    };
    Ok(respond(batch.rejected, result, remote, Complete::NoContent))
}

/// The entity types of a fragment, expanded; none when it has no `type`.
fn entity_types(body: &Map<String, Value>, terms: &dyn TermMap) -> Result<Vec<String>, ApiError> {
    Ok(body
        .get("type")
        .map(|t| parse_types(t, terms))
        .transpose()?
        .unwrap_or_default())
}

/// Attribute payload members that cannot hold a JSON null (`json` may: a JSON literal).
const PAYLOADS: &[&str] = &[
    "value",
    "object",
    "languageMap",
    "vocab",
    "valueList",
    "objectList",
];

/// A merge fragment cannot carry a JSON `null` as an attribute or its payload: JSON-LD drops
/// nulls, so NGSI-LD spells a deletion "urn:ngsi-ld:null" (clause 4.5.0).
fn reject_json_nulls(body: &Map<String, Value>) -> Result<(), ApiError> {
    for (name, value) in body {
        if matches!(
            name.as_str(),
            "id" | "@id" | "type" | "@type" | "scope" | "@context"
        ) {
            continue;
        }
        let instances: Vec<&Value> = match value {
            Value::Array(items) if !items.is_empty() && items.iter().all(Value::is_object) => {
                items.iter().collect()
            }
            other => vec![other],
        };
        let null = instances.iter().any(|v| {
            v.is_null()
                || v.as_object().is_some_and(|o| {
                    PAYLOADS
                        .iter()
                        .any(|m| o.get(*m).is_some_and(Value::is_null))
                })
        });
        if null {
            return Err(ApiError::bad_data(format!(
                "attribute {name:?}: null is not an NGSI-LD value; a deletion is written \"urn:ngsi-ld:null\""
            )));
        }
    }
    Ok(())
}
