//! Entity attribute resources: append, update, partial update, replace, delete
//! (clauses 6.6.3, 6.7.3).

use actix_web::{web, HttpRequest, HttpResponse};
use rigel_broker::federation::{Forwarded, WriteKind};
use rigel_broker::{AttributeUpdate, UpdateResult};
use rigel_model::codec::parse::{
    expand_attribute_json, parse_fragment, parse_instances, parse_types, NullPolicy, Patch,
};
use rigel_model::validate::{is_uri, is_valid_name};
use rigel_model::TermMap;
use serde_json::{json, Map, Value};

use crate::request::{tenant, Params};
use crate::routes::distributed_write::{
    self, forward, left_for_local, single_local, written_attributes, LocalPart, Target,
};
use crate::routes::entities::{entity_id, scope_member, type_filter};
use crate::routes::write::EntityWrite;
use crate::{context, ApiError, AppState};

/// The attribute name of a path: present, valid, not `scope`; expanded.
fn attribute_name(raw: &str, terms: &dyn TermMap) -> Result<String, ApiError> {
    if raw.is_empty() {
        return Err(ApiError::bad_data(
            "the attribute name is missing from the path",
        ));
    }
    if !is_valid_name(raw) {
        return Err(ApiError::bad_data(format!(
            "{raw:?} is not a valid attribute name"
        )));
    }
    if raw == "scope" {
        return Err(ApiError::bad_data(
            "scope is not an attribute; update it through the entity",
        ));
    }
    Ok(terms.expand(raw).into_owned())
}

fn attribute_update(
    body: &Map<String, Value>,
    terms: &dyn TermMap,
    nulls: NullPolicy,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<AttributeUpdate, ApiError> {
    Ok(AttributeUpdate {
        attributes: parse_fragment(body, terms, nulls, now)?,
        types: body
            .get("type")
            .map(|t| parse_types(t, terms))
            .transpose()?
            .unwrap_or_default(),
        scope: scope_member(body)?,
    })
}

/// 204 when everything was applied, else 207 with the UpdateResult (clause 5.2.18). The body
/// carries no @context, so attribute names are given as full IRIs.
fn update_response(result: &UpdateResult) -> HttpResponse {
    if result.is_complete() {
        return HttpResponse::NoContent().finish();
    }
    let not_updated: Vec<Value> = result
        .not_updated
        .iter()
        .map(|(n, reason)| json!({ "attributeName": n, "reason": reason }))
        .collect();
    let updated = &result.updated;
    HttpResponse::MultiStatus()
        .content_type("application/json")
        .json(json!({ "updated": updated, "notUpdated": not_updated }))
}

/// POST /entities/{entityId}/attrs — Append Entity Attributes (5.6.3).
#[utoipa::path(post, path = "/ngsi-ld/v1/entities/{entityId}/attrs", tag = "Entity attributes",
    params(("entityId" = String, Path, description = "Entity id (URI)"), ("options" = Option<String>, Query, description = "noOverwrite")),
    request_body(content = Object, description = "Entity fragment"),
    responses((status = 204, description = "All appended"), (status = 207, description = "UpdateResult"), (status = 400, description = "BadRequestData"), (status = 404, description = "ResourceNotFound")))]
pub async fn append_attributes(
    req: HttpRequest,
    path: web::Path<String>,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let w = EntityWrite::read(
        &req,
        payload,
        &state,
        &path,
        &["options", "type", "local", "via"],
    )
    .await?;
    let overwrite = match w.params.get("options") {
        None => true,
        Some("noOverwrite") => false,
        Some(other) => return Err(ApiError::bad_data(format!("unknown option {other:?}"))),
    };
    let types = w.types()?;
    let names = written_attributes(&w.body, w.terms());
    let kind = WriteKind::Append {
        no_overwrite: !overwrite,
    };
    let target = w.target(types.as_deref());
    let forwarded = forward(&req, &state, &target, Some(&w.body), &names, kind).await?;
    let append = |body: &Map<String, Value>| -> Result<AttributeUpdate, ApiError> {
        attribute_update(body, w.terms(), NullPolicy::Reject, state.broker_now())
    };
    let Some(forwarded) = forwarded else {
        let update = append(&w.body)?;
        let result = state
            .broker
            .append_attributes(&w.tenant, &w.id, &update, overwrite, types.as_deref())
            .await?;
        return Ok(update_response(&result));
    };
    let local = if forwarded.local.is_empty() {
        LocalPart::None
    } else {
        let update = append(&left_for_local(&w.body, &forwarded))?;
        match state
            .broker
            .append_attributes(&w.tenant, &w.id, &update, overwrite, types.as_deref())
            .await
        {
            Ok(result) => LocalPart::Done(result),
            Err(e) => LocalPart::Failed(e.into()),
        }
    };
    distributed_write::respond(&forwarded, &names, local)
}

/// PATCH /entities/{entityId}/attrs — Update Entity Attributes (5.6.2).
#[utoipa::path(patch, path = "/ngsi-ld/v1/entities/{entityId}/attrs", tag = "Entity attributes",
    params(("entityId" = String, Path, description = "Entity id (URI)")), request_body(content = Object, description = "Entity fragment"),
    responses((status = 204, description = "All updated"), (status = 207, description = "UpdateResult"), (status = 400, description = "BadRequestData"), (status = 404, description = "ResourceNotFound")))]
pub async fn update_attributes(
    req: HttpRequest,
    path: web::Path<String>,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let w = EntityWrite::read(&req, payload, &state, &path, &["type", "local", "via"]).await?;
    let types = w.types()?;
    let names = written_attributes(&w.body, w.terms());
    let target = w.target(types.as_deref());
    let kind = WriteKind::Update;
    let forwarded = forward(&req, &state, &target, Some(&w.body), &names, kind).await?;
    let update = |body: &Map<String, Value>| -> Result<AttributeUpdate, ApiError> {
        attribute_update(body, w.terms(), NullPolicy::Delete, state.broker_now())
    };
    let Some(forwarded) = forwarded else {
        let result = state
            .broker
            .update_attributes(&w.tenant, &w.id, &update(&w.body)?, types.as_deref())
            .await?;
        return Ok(update_response(&result));
    };
    let local = if forwarded.local.is_empty() {
        LocalPart::None
    } else {
        let left = update(&left_for_local(&w.body, &forwarded))?;
        match state
            .broker
            .update_attributes(&w.tenant, &w.id, &left, types.as_deref())
            .await
        {
            Ok(result) => LocalPart::Done(result),
            Err(e) => LocalPart::Failed(e.into()),
        }
    };
    distributed_write::respond(&forwarded, &names, local)
}

/// PATCH /entities/{entityId}/attrs/{attrId} — Partial Attribute Update (5.6.4).
#[utoipa::path(patch, path = "/ngsi-ld/v1/entities/{entityId}/attrs/{attrId}", tag = "Entity attributes",
    params(("entityId" = String, Path, description = "Entity id (URI)"), ("attrId" = String, Path, description = "Attribute name")),
    request_body(content = Object, description = "Attribute fragment"),
    responses((status = 204, description = "Updated"), (status = 400, description = "BadRequestData"), (status = 404, description = "ResourceNotFound")))]
pub async fn partial_attribute_update(
    req: HttpRequest,
    path: web::Path<(String, String)>,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let w = EntityWrite::read(&req, payload, &state, &path.0, &["type", "local", "via"]).await?;
    let name = attribute_name(&path.1, w.terms())?;
    if let Some(d) = w.body.get("datasetId") {
        if !d.as_str().is_some_and(is_uri) {
            return Err(ApiError::bad_data("datasetId must be a URI"));
        }
    }
    // The body holds members of one attribute, so `id` there would be a sub-attribute.
    let fragment = expand_attribute_json(&Value::Object(w.body.clone()), w.terms(), true);
    let types = w.types()?;
    let names = [(path.1.clone(), name.clone())];
    let target = w.target(types.as_deref());
    let kind = WriteKind::PartialUpdate;
    let forwarded = forward(&req, &state, &target, Some(&w.body), &names, kind).await?;
    let local = match forwarded.as_ref().is_none_or(|f| !f.local.is_empty()) {
        true => Some(
            state
                .broker
                .partial_attribute_update(&w.tenant, &w.id, &name, &fragment, types.as_deref())
                .await,
        ),
        false => None,
    };
    single_answer(forwarded, &names, local)
}

/// PUT /entities/{entityId}/attrs/{attrId} — Replace Attribute (5.6.19).
#[utoipa::path(put, path = "/ngsi-ld/v1/entities/{entityId}/attrs/{attrId}", tag = "Entity attributes",
    params(("entityId" = String, Path, description = "Entity id (URI)"), ("attrId" = String, Path, description = "Attribute name")),
    request_body(content = Object, description = "Attribute"),
    responses((status = 204, description = "Replaced"), (status = 400, description = "BadRequestData"), (status = 404, description = "ResourceNotFound")))]
pub async fn replace_attribute(
    req: HttpRequest,
    path: web::Path<(String, String)>,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let w = EntityWrite::read(&req, payload, &state, &path.0, &["type", "local", "via"]).await?;
    let name = attribute_name(&path.1, w.terms())?;
    let body = Value::Object(w.body.clone());
    let instances: Vec<_> = parse_instances(
        &path.1,
        &body,
        w.terms(),
        NullPolicy::Reject,
        state.broker_now(),
    )?
    .into_iter()
    .filter_map(|p| match p {
        Patch::Set(a) => Some(a),
        Patch::Delete { .. } => None,
    })
    .collect();
    let types = w.types()?;
    let names = [(path.1.clone(), name.clone())];
    let target = w.target(types.as_deref());
    let kind = WriteKind::ReplaceAttribute;
    let forwarded = forward(&req, &state, &target, Some(&w.body), &names, kind).await?;
    let local = match forwarded.as_ref().is_none_or(|f| !f.local.is_empty()) {
        true => Some(
            state
                .broker
                .replace_attribute(&w.tenant, &w.id, &name, &instances, types.as_deref())
                .await,
        ),
        false => None,
    };
    single_answer(forwarded, &names, local)
}

/// DELETE /entities/{entityId}/attrs/{attrId} — Delete Attribute (5.6.5).
#[utoipa::path(delete, path = "/ngsi-ld/v1/entities/{entityId}/attrs/{attrId}", tag = "Entity attributes",
    params(("entityId" = String, Path, description = "Entity id (URI)"), ("attrId" = String, Path, description = "Attribute name"),
        ("datasetId" = Option<String>, Query, description = "Instance to delete"), ("deleteAll" = Option<bool>, Query, description = "Delete every instance")),
    responses((status = 204, description = "Deleted"), (status = 400, description = "BadRequestData"), (status = 404, description = "ResourceNotFound")))]
pub async fn delete_attribute(
    req: HttpRequest,
    path: web::Path<(String, String)>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let params = Params::parse(&req, &["datasetId", "deleteAll", "type", "local", "via"])?;
    let id = entity_id(&path.0)?;
    let tenant = tenant(&req)?;
    let ctx = context::from_link(&req, &state.resolver).await?;
    let types = type_filter(&params, ctx.terms.as_ref())?;
    if path.1 == "scope" {
        // Scope is an entity member, but clients delete it like an attribute.
        state
            .broker
            .delete_scope(&tenant, id, types.as_deref())
            .await?;
        return Ok(HttpResponse::NoContent().finish());
    }
    let name = attribute_name(&path.1, ctx.terms.as_ref())?;
    let dataset_id = params.get("datasetId");
    if dataset_id.is_some_and(|d| !is_uri(d)) {
        return Err(ApiError::bad_data("datasetId must be a URI"));
    }
    let delete_all = params.flag("deleteAll")?;
    let names = [(path.1.clone(), name.clone())];
    let target = Target {
        tenant: &tenant,
        id,
        types: types.as_deref(),
        params: &params,
        ctx: &ctx,
    };
    let kind = WriteKind::DeleteAttribute {
        dataset_id: dataset_id.map(str::to_owned),
        delete_all,
    };
    let forwarded = forward(&req, &state, &target, None, &names, kind).await?;
    let local = match forwarded.as_ref().is_none_or(|f| !f.local.is_empty()) {
        true => Some(
            state
                .broker
                .delete_attribute(&tenant, id, &name, dataset_id, delete_all, types.as_deref())
                .await,
        ),
        false => None,
    };
    single_answer(forwarded, &names, local)
}

/// The answer to a single-attribute write: the local result alone when no source took part.
fn single_answer(
    forwarded: Option<Forwarded>,
    names: &[(String, String)],
    local: Option<Result<(), rigel_broker::BrokerError>>,
) -> Result<HttpResponse, ApiError> {
    match forwarded {
        None => {
            local.transpose()?;
            Ok(HttpResponse::NoContent().finish())
        }
        Some(forwarded) => {
            let local = single_local(&names[0].1, local);
            distributed_write::respond(&forwarded, names, local)
        }
    }
}
