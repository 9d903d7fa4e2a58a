//! Temporal Evolution of Entities (clauses 6.18-6.24): provision (upsert, add attributes,
//! delete the entity, an attribute or an instance, modify an instance) and consumption
//! (retrieve, query by GET and by POST /temporal/entityOperations/query).

use actix_web::http::header::{self, HeaderName, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use chrono::{DateTime, Utc};
use rigel_broker::federation::ClientQuery;
use rigel_broker::temporal::{HistoryHeader, InstanceCut, NewInstance, TemporalDatasets};
use rigel_broker::TemporalQuery;
use rigel_model::codec::temporal::{parse_temporal, TemporalBody, TemporalInstance};
use rigel_model::codec::write::json;
use rigel_model::validate::{is_uri, is_valid_name};
use rigel_model::TermMap;
use rigel_query::OrderBy;
use serde_json::{Map, Value};

use crate::context::{self, RequestContext};
use crate::filters;
use crate::negotiation::{negotiate, request_media};
use crate::representation::{render_options, respond_written, respond_written_object};
use crate::request::{has_declared_length, read_json, tenant, Params};
use crate::routes::entities::{entity_id, object_body};
use crate::temporal::{
    content_range, render_samples, temporal_params, write_history, TemporalParams,
};
use crate::{ApiError, AppState};

/// Parameters of Retrieve Temporal Evolution of an Entity (6.19.3.1).
const RETRIEVE_PARAMS: &[&str] = &[
    "aggrMethods",
    "aggrPeriodDuration",
    "attrs",
    "datasetId",
    "endTimeAt",
    "format",
    "lang",
    "lastN",
    "local",
    "omit",
    "options",
    "pick",
    "timeAt",
    "timeproperty",
    "timerel",
    "via",
];

/// Parameters of Query Temporal Evolution of Entities (6.18.3.2).
const QUERY_PARAMS: &[&str] = &[
    "aggrMethods",
    "aggrPeriodDuration",
    "attrs",
    "collation",
    "coordinates",
    "count",
    "csf",
    "datasetId",
    "endTimeAt",
    "expandValues",
    "format",
    "geometry",
    "geoproperty",
    "georel",
    "id",
    "idPattern",
    "jsonKeys",
    "lang",
    "lastN",
    "limit",
    "local",
    "offset",
    "omit",
    "options",
    "orderBy",
    "pick",
    "q",
    "scopeQ",
    "timeAt",
    "timeproperty",
    "timerel",
    "type",
    "via",
];

/// Response header carrying the total number of matches (clause 6.3.13).
const RESULTS_COUNT: HeaderName = HeaderName::from_static("ngsild-results-count");

/// The instances of a temporal body as the store records them.
fn new_instances(body: TemporalBody, now: DateTime<Utc>) -> Vec<NewInstance> {
    body.instances
        .into_iter()
        .map(
            |TemporalInstance {
                 attribute,
                 value,
                 deleted,
             }| {
                let deleted_at = deleted.then(|| {
                    value
                        .observed_at
                        .as_deref()
                        .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
                        .map_or(now, |t| t.with_timezone(&Utc))
                });
                NewInstance {
                    attribute,
                    value,
                    deleted_at,
                }
            },
        )
        .collect()
}

/// An attribute name of a path, expanded.
fn attribute_name(raw: &str, ctx: &RequestContext) -> Result<String, ApiError> {
    if !is_valid_name(raw) {
        return Err(ApiError::bad_data(format!(
            "{raw:?} is not a valid attribute name"
        )));
    }
    Ok(ctx.terms.expand(raw).into_owned())
}

/// POST /temporal/entities — Create or Update Temporal Evolution of an Entity (5.6.11).
pub async fn upsert_temporal(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    Params::parse(&req, &["local"])?;
    let tenant = tenant(&req)?;
    let (body, ctx) = object_body(&req, payload, &state).await?;
    let now = state.broker_now();
    let parsed = parse_temporal(&body, ctx.terms.as_ref(), true, now)?;
    let id = parsed.id.clone().unwrap_or_default();
    let header = HistoryHeader {
        id: id.clone(),
        types: parsed.types.clone(),
        scope: parsed.scope.clone(),
        created_at: now,
        modified_at: now,
        deleted_at: None,
    };
    let created = state
        .broker
        .upsert_temporal(&tenant, header, new_instances(parsed, now))
        .await?;
    Ok(if created {
        HttpResponse::Created()
            .insert_header((
                header::LOCATION,
                format!("/ngsi-ld/v1/temporal/entities/{id}"),
            ))
            .finish()
    } else {
        HttpResponse::NoContent().finish()
    })
}

/// POST /temporal/entities/{entityId}/attrs — Add Attributes to Temporal Evolution of an
/// Entity (5.6.12).
pub async fn add_temporal_attributes(
    req: HttpRequest,
    path: web::Path<String>,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    Params::parse(&req, &["local"])?;
    let id = entity_id(&path)?.to_owned();
    let tenant = tenant(&req)?;
    let (body, ctx) = object_body(&req, payload, &state).await?;
    let now = state.broker_now();
    let parsed = parse_temporal(&body, ctx.terms.as_ref(), false, now)?;
    if parsed.id.as_ref().is_some_and(|i| *i != id) {
        return Err(ApiError::bad_data(
            "the body's id is not the id in the path",
        ));
    }
    let types = parsed.types.clone();
    let scope = parsed.scope.clone();
    state
        .broker
        .add_temporal_attributes(&tenant, &id, types, scope, new_instances(parsed, now))
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// DELETE /temporal/entities/{entityId} — Delete Temporal Evolution of an Entity (5.6.16).
pub async fn delete_temporal(
    req: HttpRequest,
    path: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    Params::parse(&req, &["local", "via"])?;
    let id = entity_id(&path)?;
    let tenant = tenant(&req)?;
    context::from_link(&req, &state.resolver).await?;
    state.broker.delete_temporal(&tenant, id).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// DELETE /temporal/entities/{entityId}/attrs/{attrId} — Delete Attribute from Temporal
/// Evolution of an Entity (5.6.13).
pub async fn delete_temporal_attribute(
    req: HttpRequest,
    path: web::Path<(String, String)>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let params = Params::parse(&req, &["datasetId", "deleteAll", "local", "via"])?;
    let (id, attr) = path.into_inner();
    let id = entity_id(&id)?;
    let tenant = tenant(&req)?;
    let ctx = context::from_link(&req, &state.resolver).await?;
    let attr = attribute_name(&attr, &ctx)?;
    let datasets = if params.flag("deleteAll")? {
        TemporalDatasets::All
    } else {
        let dataset = params.get("datasetId").map(str::to_owned);
        if dataset.as_deref().is_some_and(|d| !is_uri(d)) {
            return Err(ApiError::bad_data("datasetId must be a URI"));
        }
        TemporalDatasets::One(dataset)
    };
    state
        .broker
        .delete_temporal_attribute(&tenant, id, &attr, datasets)
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// The instance id of a path, which must be a URI.
fn instance_id(raw: &str) -> Result<&str, ApiError> {
    if is_uri(raw) {
        Ok(raw)
    } else {
        Err(ApiError::bad_data(format!(
            "the instance id {raw:?} is not a URI"
        )))
    }
}

/// PATCH /temporal/entities/{entityId}/attrs/{attrId}/{instanceId} — Modify Attribute
/// instance in Temporal Evolution of an Entity (5.6.14).
pub async fn modify_temporal_instance(
    req: HttpRequest,
    path: web::Path<(String, String, String)>,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    Params::parse(&req, &["local"])?;
    let (id, attr, instance) = path.into_inner();
    let id = entity_id(&id)?.to_owned();
    let instance = instance_id(&instance)?.to_owned();
    let tenant = tenant(&req)?;
    let (mut body, ctx) = object_body(&req, payload, &state).await?;
    let short = attr.clone();
    let attr = attribute_name(&attr, &ctx)?;
    // Clients send the instance itself as often as the fragment holding it (5.6.14.3).
    if is_instance_object(&body) {
        let context = body.remove("@context");
        let mut wrapped = Map::new();
        wrapped.insert(short, Value::Object(body));
        if let Some(context) = context {
            wrapped.insert("@context".into(), context);
        }
        body = wrapped;
    }
    let parsed = parse_temporal(&body, ctx.terms.as_ref(), false, state.broker_now())?;
    let mut mine = parsed.instances.into_iter().filter(|i| i.attribute == attr);
    let (Some(first), None) = (mine.next(), mine.next()) else {
        return Err(ApiError::bad_data(
            "the body must hold exactly one instance of the attribute in the path",
        ));
    };
    state
        .broker
        .modify_temporal_instance(&tenant, &id, &attr, &instance, first.value)
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Whether a body is one attribute instance rather than a fragment of attributes.
fn is_instance_object(body: &Map<String, Value>) -> bool {
    let typed = body
        .get("type")
        .and_then(Value::as_str)
        .is_some_and(|t| rigel_model::ATTRIBUTE_KINDS.contains(&t));
    typed
        || [
            "value",
            "object",
            "languageMap",
            "vocab",
            "json",
            "valueList",
            "objectList",
        ]
        .iter()
        .any(|m| body.contains_key(*m))
}

/// DELETE /temporal/entities/{entityId}/attrs/{attrId}/{instanceId} — Delete Attribute
/// instance from Temporal Evolution of an Entity (5.6.15).
pub async fn delete_temporal_instance(
    req: HttpRequest,
    path: web::Path<(String, String, String)>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    Params::parse(&req, &["local", "via"])?;
    let (id, attr, instance) = path.into_inner();
    let id = entity_id(&id)?;
    let instance = instance_id(&instance)?;
    let tenant = tenant(&req)?;
    let ctx = context::from_link(&req, &state.resolver).await?;
    let attr = attribute_name(&attr, &ctx)?;
    state
        .broker
        .delete_temporal_instance(&tenant, id, &attr, instance)
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Marks a response cut to a page: 206 Partial Content with its `Content-Range` (6.3.10).
fn partial(response: &mut HttpResponse, cut: Option<&InstanceCut>, params: &TemporalParams) {
    if let Some(cut) = cut {
        *response.status_mut() = StatusCode::PARTIAL_CONTENT;
        if let Ok(v) = HeaderValue::from_str(&content_range(cut, params)) {
            response.headers_mut().insert(header::CONTENT_RANGE, v);
        }
    }
}

/// GET /temporal/entities/{entityId} — Retrieve Temporal Evolution of an Entity (5.7.3).
pub async fn retrieve_temporal(
    req: HttpRequest,
    path: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let media = negotiate(&req, false)?;
    let params = Params::parse(&req, RETRIEVE_PARAMS)?;
    let id = entity_id(&path)?;
    let tenant = tenant(&req)?;
    let ctx = context::from_link(&req, &state.resolver).await?;
    let terms = ctx.terms.as_ref();
    let mut temporal = temporal_params(params, false)?;
    let opts = render_options(&temporal.rest, terms)?;
    temporal.history.attrs = temporal
        .rest
        .list("attrs")?
        .map(|names| filters::attribute_names(&names, terms))
        .transpose()?;
    temporal.history.datasets = crate::representation::dataset_ids(&temporal.rest)?;
    let distribution = crate::distribution::of(&req, &temporal.rest, &ctx)?;
    let mut body = Vec::new();
    let (no_attributes, no_member, cut, warnings) = if temporal.paged() {
        let read = state
            .broker
            .retrieve_temporal_distributed(&tenant, id, &temporal.history, true, &distribution)
            .await?;
        let (read, warnings) = (read.value, read.warnings);
        let no_attributes = read.history.attributes.is_empty();
        body.reserve(
            256 * read
                .history
                .attributes
                .values()
                .map(Vec::len)
                .sum::<usize>(),
        );
        let no_member = write_history(&mut body, read.history, &temporal, terms, &opts);
        (no_attributes, no_member, read.cut, warnings)
    } else {
        let samples = state
            .broker
            .retrieve_temporal_samples_distributed(&tenant, id, &temporal.history, &distribution)
            .await?;
        let (samples, warnings) = (samples.value, samples.warnings);
        let rendered = render_samples(&samples, &temporal, terms, &opts);
        json(&mut body, &rendered);
        (
            samples.attributes.is_empty(),
            rendered.is_empty(),
            None,
            warnings,
        )
    };
    if (temporal.history.attrs.is_some() && no_attributes) || no_member {
        return Err(ApiError::Broker(rigel_broker::BrokerError::EntityNotFound(
            format!("{id} (nothing of it matches attrs, pick or omit)"),
        )));
    }
    let mut response = respond_written_object(&req, media, &ctx, body, no_member)?;
    partial(&mut response, cut.as_ref(), &temporal);
    crate::distribution::warn(&mut response, &warnings);
    Ok(response)
}

/// GET /temporal/entities — Query Temporal Evolution of Entities (5.7.4).
pub async fn query_temporal(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let media = negotiate(&req, false)?;
    let params = Params::parse(&req, QUERY_PARAMS)?;
    let tenant = tenant(&req)?;
    let ctx = context::from_link(&req, &state.resolver).await?;
    let temporal = temporal_params(params, true)?;
    let filters = filters::from_params(&temporal.rest, ctx.terms.as_ref())?;
    run_query(&req, media, &ctx, &state, tenant, temporal, filters).await
}

/// POST /temporal/entityOperations/query — Query Temporal Evolution of Entities (6.24).
pub async fn query_temporal_post(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let media = negotiate(&req, false)?;
    let url = Params::parse(
        &req,
        &["count", "limit", "offset", "options", "format", "local"],
    )?;
    let tenant = tenant(&req)?;
    request_media(&req)?;
    if !has_declared_length(&req) {
        return Err(ApiError::LengthRequired);
    }
    let body = read_json(payload, &state.limits).await?;
    let ctx = context::from_body(&req, request_media(&req)?, &body, &state.resolver).await?;
    let Value::Object(mut body) = body else {
        return Err(ApiError::invalid_request(
            "the request body must be a JSON object",
        ));
    };
    let mut pairs = url.into_pairs();
    for (name, value) in temporal_members(&mut body)? {
        if pairs.iter().any(|(n, _)| *n == name) {
            return Err(ApiError::bad_data(format!(
                "{name} is given both in the URL and in the body"
            )));
        }
        pairs.push((name, value));
    }
    let (params, filters) =
        crate::routes::query_body::filters(body, Params::from_pairs(pairs), ctx.terms.as_ref())?;
    let temporal = temporal_params(params, true)?;
    run_query(&req, media, &ctx, &state, tenant, temporal, filters).await
}

/// The members of `temporalQ` (TemporalQuery, 5.2.21) and `aggrParams`, taken out of a
/// Query body as the parameters of the GET binding.
fn temporal_members(body: &mut Map<String, Value>) -> Result<Vec<(String, String)>, ApiError> {
    let mut out = Vec::new();
    for member in ["temporalQ", "aggrParams"] {
        let Some(value) = body.remove(member) else {
            continue;
        };
        let Value::Object(members) = value else {
            return Err(ApiError::bad_data(format!("{member} must be an object")));
        };
        for (name, v) in members {
            let known = [
                "timerel",
                "timeAt",
                "endTimeAt",
                "timeproperty",
                "lastN",
                "aggrMethods",
                "aggrPeriodDuration",
            ];
            if !known.contains(&name.as_str()) {
                return Err(ApiError::bad_data(format!(
                    "{name:?} is not a member of {member}"
                )));
            }
            let text = match v {
                Value::String(s) => s,
                Value::Number(n) => n.to_string(),
                Value::Array(items) => items
                    .iter()
                    .filter_map(Value::as_str)
                    .collect::<Vec<_>>()
                    .join(","),
                _ => {
                    return Err(ApiError::bad_data(format!(
                        "{member}.{name} has the wrong type"
                    )))
                }
            };
            out.push((name, text));
        }
    }
    Ok(out)
}

/// `orderBy` of a temporal query: on `id` only (5.7.4.4), `true` when descending. Every
/// query runs on local information (no context source registrations yet), as ordering
/// requires.
fn descending_ids(params: &Params, terms: &dyn TermMap) -> Result<bool, ApiError> {
    let Some(spec) = params.get("orderBy") else {
        if params.get("collation").is_some() {
            return Err(ApiError::bad_data("collation is part of orderBy"));
        }
        return Ok(false);
    };
    OrderBy::parse(spec, terms)?.on_id_only().ok_or_else(|| {
        ApiError::bad_data(format!(
            "orderBy {spec:?}: the temporal API orders entities by id only (clause 5.7.4.4)"
        ))
    })
}

async fn run_query(
    req: &HttpRequest,
    media: crate::negotiation::ResponseMedia,
    ctx: &RequestContext,
    state: &AppState,
    tenant: rigel_model::Tenant,
    mut temporal: TemporalParams,
    filters: filters::Filters,
) -> Result<HttpResponse, ApiError> {
    filters.require_restriction()?;
    let terms = ctx.terms.as_ref();
    let opts = render_options(&temporal.rest, terms)?;
    let paging = filters::paging(&temporal.rest, &state.limits)?;
    temporal.history.attrs = filters.query.attrs.clone();
    temporal.history.datasets = crate::representation::dataset_ids(&temporal.rest)?;
    let query = TemporalQuery {
        entities: filters.query,
        history: temporal.history.clone(),
        offset: paging.offset,
        limit: paging.limit,
        count: paging.count,
        paged: temporal.paged(),
        descending: descending_ids(&temporal.rest, terms)?,
    };
    let distribution = crate::distribution::of(req, &temporal.rest, ctx)?;
    let client = ClientQuery {
        extra: crate::routes::query::forwarded_params(&temporal.rest),
        post: false,
        split: false,
    };
    let page = state
        .broker
        .query_temporal_distributed(&tenant, &query, &client, &distribution)
        .await?;
    let (page, warnings) = (page.value, page.warnings);
    let mut response = respond_written(
        req,
        media,
        ctx,
        page.entities.into_iter(),
        true,
        |out, h| write_history(out, h, &temporal, terms, &opts),
    )?;
    partial(&mut response, page.cut.as_ref(), &temporal);
    if let Some(total) = page.total {
        if let Ok(v) = HeaderValue::from_str(&total.to_string()) {
            response.headers_mut().insert(RESULTS_COUNT, v);
        }
    }
    for link in crate::routes::query::page_links(req, media, paging, page.more) {
        if let Ok(value) = HeaderValue::from_str(&link) {
            response.headers_mut().append(header::LINK, value);
        }
    }
    crate::distribution::warn(&mut response, &warnings);
    Ok(response)
}
