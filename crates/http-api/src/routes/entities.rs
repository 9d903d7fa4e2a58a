//! Entity resources: create, retrieve, delete, replace, merge (clauses 6.4.3.1, 6.5.3).

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use rigel_model::codec::parse::{expand_attribute_json, parse_entity, parse_scope, parse_types};
use rigel_model::codec::render::{render_feature, renders_nothing};
use rigel_model::validate::{is_uri, is_valid_name};
use rigel_model::TermMap;
use serde_json::{Map, Value};

use crate::context::{self, RequestContext};
use crate::linked::{render_joined, JoinSpec};
use crate::negotiation::{negotiate, request_media, ResponseMedia};
use crate::representation::{
    dataset_ids, render_options, respond, respond_array, respond_entities,
};
use crate::request::{has_declared_length, read_json, tenant, Params};
use crate::routes::write::EntityWrite;
use crate::{ApiError, AppState};
use rigel_broker::merge::MergeOptions;
use rigel_broker::EntityMerge;

/// Parameters of Retrieve Entity (Table 6.5.3.1-1).
const RETRIEVE_PARAMS: &[&str] = &[
    "attrs",
    "containedBy",
    "datasetId",
    "entityMap",
    "entityMapLifetime",
    "format",
    "geometryProperty",
    "join",
    "joinLevel",
    "lang",
    "local",
    "omit",
    "options",
    "pick",
    "type",
    "via",
];

/// The entity id of a path, which must be a URI.
pub(crate) fn entity_id(raw: &str) -> Result<&str, ApiError> {
    if raw.is_empty() {
        return Err(ApiError::bad_data("the entity id is missing from the path"));
    }
    if !is_uri(raw) {
        return Err(ApiError::bad_data(format!(
            "the entity id {raw:?} is not a URI"
        )));
    }
    Ok(raw)
}

/// The body of a write as a JSON object, with its resolved @context.
pub(crate) async fn object_body(
    req: &HttpRequest,
    payload: web::Payload,
    state: &AppState,
) -> Result<(Map<String, Value>, RequestContext), ApiError> {
    let media = request_media(req)?;
    if !has_declared_length(req) {
        return Err(ApiError::LengthRequired);
    }
    let body = read_json(payload, &state.limits).await?;
    if !body.is_object() {
        return Err(ApiError::invalid_request(
            "the request body must be a JSON object",
        ));
    }
    let ctx = context::from_body(req, media, &body, &state.resolver).await?;
    match body {
        Value::Object(o) => Ok((o, ctx)),
        _ => Err(ApiError::invalid_request(
            "the request body must be a JSON object",
        )),
    }
}

/// Entity types of a `type` query parameter, expanded.
pub(crate) fn type_filter(
    params: &Params,
    terms: &dyn TermMap,
) -> Result<Option<Vec<String>>, ApiError> {
    params
        .list("type")?
        .map(|types| {
            types
                .into_iter()
                .map(|t| {
                    if is_valid_name(t) {
                        Ok(terms.expand(t).into_owned())
                    } else {
                        Err(ApiError::bad_data(format!(
                            "{t:?} is not a valid entity type"
                        )))
                    }
                })
                .collect()
        })
        .transpose()
}

/// POST /entities — Create Entity (5.6.1).
#[utoipa::path(post, path = "/ngsi-ld/v1/entities", tag = "Entities",
    request_body(content = Object, content_type = "application/ld+json", description = "NGSI-LD Entity"),
    responses((status = 201, description = "Created; Location names the entity"), (status = 400, description = "BadRequestData / InvalidRequest"), (status = 409, description = "AlreadyExists"), (status = 415, description = "Unsupported Content-Type")))]
pub async fn create_entity(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    use crate::routes::distributed_write::{
        forward, left_for_local, respond_entity_write, written_attributes, Target,
    };
    let params = Params::parse(&req, &["local"])?;
    let tenant = tenant(&req)?;
    let (mut body, ctx) = object_body(&req, payload, &state).await?;
    let terms = ctx.terms.as_ref();
    let entity = parse_entity(&body, terms, state.broker_now())?;
    let location = format!("/ngsi-ld/v1/entities/{}", entity.id);
    body.remove("@context");
    let names = written_attributes(&body, terms);
    let target = Target {
        tenant: &tenant,
        id: &entity.id,
        types: Some(&entity.types),
        params: &params,
        ctx: &ctx,
    };
    let kind = rigel_broker::federation::WriteKind::CreateEntity;
    let Some(forwarded) = forward(&req, &state, &target, Some(&body), &names, kind).await? else {
        state.broker.create_entity(&tenant, entity).await?;
        return Ok(HttpResponse::Created()
            .insert_header((header::LOCATION, location))
            .finish());
    };
    // Sources that own every attribute leave nothing to create here.
    let local = if forwarded.owned && forwarded.local.is_empty() && !names.is_empty() {
        None
    } else {
        let left = left_for_local(&body, &forwarded);
        let local_entity = parse_entity(&left, terms, state.broker_now())?;
        Some(
            state
                .broker
                .create_entity(&tenant, local_entity)
                .await
                .map(|_| ()),
        )
    };
    respond_entity_write(&forwarded, &entity.id, local, Some(location))
}

/// GET /entities/{entityId} — Retrieve Entity (5.7.1).
#[utoipa::path(get, path = "/ngsi-ld/v1/entities/{entityId}", tag = "Entities",
    params(("entityId" = String, Path, description = "Entity id (URI)"),
        ("attrs" = Option<String>, Query, description = "Attributes to return"), ("pick" = Option<String>, Query, description = "Members to return"),
        ("omit" = Option<String>, Query, description = "Members to leave out"), ("type" = Option<String>, Query, description = "Entity types the entity must have"),
        ("options" = Option<String>, Query, description = "keyValues, concise, normalized, sysAttrs"), ("format" = Option<String>, Query, description = "keyValues, concise, normalized"),
        ("lang" = Option<String>, Query, description = "Preferred languages of LanguageProperties"), ("geometryProperty" = Option<String>, Query, description = "GeoProperty used as GeoJSON geometry"),
        ("datasetId" = Option<String>, Query, description = "Attribute instances to return"), ("join" = Option<String>, Query, description = "inline or flat linked entities"),
        ("joinLevel" = Option<u32>, Query, description = "Relationship hops to follow"), ("containedBy" = Option<String>, Query, description = "Entity ids already seen")),
    responses((status = 200, description = "The entity (application/json, application/ld+json or application/geo+json)", body = Object), (status = 400, description = "BadRequestData / InvalidRequest"), (status = 404, description = "ResourceNotFound / NonexistentTenant"), (status = 406, description = "Not acceptable")))]
pub async fn retrieve_entity(
    req: HttpRequest,
    path: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let media = negotiate(&req, true)?;
    let params = Params::parse(&req, RETRIEVE_PARAMS)?;
    let id = entity_id(&path)?;
    let tenant = tenant(&req)?;
    let join = JoinSpec::from_params(&params)?;
    if params.get("geometryProperty").is_some() && media != ResponseMedia::GeoJson {
        return Err(ApiError::bad_data(
            "geometryProperty needs Accept: application/geo+json",
        ));
    }
    if params.flag("entityMap")? {
        return Err(ApiError::not_supported("entity maps are not supported"));
    }
    let ctx = context::from_link(&req, &state.resolver).await?;
    let terms = ctx.terms.as_ref();
    let opts = render_options(&params, terms)?;
    if join.is_none() && !opts.projection.nested.is_empty() {
        return Err(ApiError::bad_data(
            "nested pick/omit lists need linked entity retrieval (join)",
        ));
    }
    let types = type_filter(&params, terms)?;
    let datasets = dataset_ids(&params)?;
    let asked: Vec<&str> = params.list("attrs")?.unwrap_or_default();
    let attributes = crate::filters::attribute_names(&asked, terms)?;
    let distribution = crate::distribution::of(&req, &params, &ctx)?;
    let found = state
        .broker
        .retrieve_distributed(&tenant, id, types.as_deref(), &attributes, &distribution)
        .await?;
    let warnings = found.warnings;
    let mut entity = found.value;
    if let Some(datasets) = &datasets {
        for instances in entity.attributes.values_mut() {
            instances.retain(|a| datasets.contains(&a.dataset_id));
        }
        entity.attributes.retain(|_, v| !v.is_empty());
    }
    if params.get("attrs").is_some() {
        if let Some(keep) = &opts.projection.keep {
            if !entity.attributes.keys().any(|k| keep.contains(k)) {
                return Err(ApiError::Broker(rigel_broker::BrokerError::EntityNotFound(
                    format!("{id} (none of the requested attributes)"),
                )));
            }
        }
    }
    if renders_nothing(&entity, &opts) {
        return Err(ApiError::Broker(rigel_broker::BrokerError::EntityNotFound(
            format!("{id} (pick/omit leave nothing to return)"),
        )));
    }
    let mut response = if let Some(join) = &join {
        let body = render_joined(&state.broker, &tenant, &entity, terms, &opts, join).await?;
        match body {
            Value::Object(o) => respond(&req, media, &ctx, o),
            other => respond_array(&req, media, &ctx, other),
        }
    } else if media == ResponseMedia::GeoJson {
        let geometry = params.get("geometryProperty").unwrap_or("location");
        let feature = render_feature(&entity, terms, &opts, &terms.expand(geometry));
        respond(&req, media, &ctx, feature)
    } else {
        respond_entities(
            &req,
            media,
            &ctx,
            std::iter::once(&entity),
            false,
            terms,
            &opts,
        )
    }?;
    crate::distribution::warn(&mut response, &warnings);
    Ok(response)
}

/// DELETE /entities/{entityId} — Delete Entity (5.6.6).
#[utoipa::path(delete, path = "/ngsi-ld/v1/entities/{entityId}", tag = "Entities",
    params(("entityId" = String, Path, description = "Entity id (URI)"), ("type" = Option<String>, Query, description = "Entity types the entity must have")),
    responses((status = 204, description = "Deleted"), (status = 400, description = "BadRequestData"), (status = 404, description = "ResourceNotFound")))]
pub async fn delete_entity(
    req: HttpRequest,
    path: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let params = Params::parse(&req, &["type", "local", "via"])?;
    let id = entity_id(&path)?;
    let tenant = tenant(&req)?;
    let ctx = context::from_link(&req, &state.resolver).await?;
    let types = type_filter(&params, ctx.terms.as_ref())?;
    let target = crate::routes::distributed_write::Target {
        tenant: &tenant,
        id,
        types: types.as_deref(),
        params: &params,
        ctx: &ctx,
    };
    let kind = rigel_broker::federation::WriteKind::DeleteEntity;
    let forwarded =
        crate::routes::distributed_write::forward(&req, &state, &target, None, &[], kind).await?;
    let local = state
        .broker
        .delete_entity(&tenant, id, types.as_deref())
        .await;
    match forwarded {
        None => {
            local?;
            Ok(HttpResponse::NoContent().finish())
        }
        Some(forwarded) => crate::routes::distributed_write::respond_entity_write(
            &forwarded,
            id,
            Some(local),
            None,
        ),
    }
}

/// PUT /entities/{entityId} — Replace Entity (5.6.18).
#[utoipa::path(put, path = "/ngsi-ld/v1/entities/{entityId}", tag = "Entities",
    params(("entityId" = String, Path, description = "Entity id (URI)")), request_body(content = Object, description = "NGSI-LD Entity"),
    responses((status = 204, description = "Replaced"), (status = 400, description = "BadRequestData"), (status = 404, description = "ResourceNotFound")))]
pub async fn replace_entity(
    req: HttpRequest,
    path: web::Path<String>,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    use crate::routes::distributed_write::{
        forward, left_for_local, respond, written_attributes, LocalPart,
    };
    let mut w = EntityWrite::read(&req, payload, &state, &path, &["type", "local", "via"]).await?;
    w.body.insert("id".into(), Value::String(w.id.clone()));
    let entity = parse_entity(&w.body, w.terms(), state.broker_now())?;
    let types = w.types()?;
    let names = written_attributes(&w.body, w.terms());
    let target = w.target(types.as_deref());
    let kind = rigel_broker::federation::WriteKind::ReplaceEntity;
    let Some(forwarded) = forward(&req, &state, &target, Some(&w.body), &names, kind).await? else {
        state
            .broker
            .replace_entity(&w.tenant, entity, types.as_deref())
            .await?;
        return Ok(HttpResponse::NoContent().finish());
    };
    // The local entity keeps the attributes no exclusive or redirect source took.
    let left = parse_entity(
        &left_for_local(&w.body, &forwarded),
        w.terms(),
        state.broker_now(),
    )?;
    let local = match state
        .broker
        .replace_entity(&w.tenant, left, types.as_deref())
        .await
    {
        Ok(_) => LocalPart::Done(rigel_broker::UpdateResult {
            updated: forwarded_local(&names, &forwarded),
            not_updated: Vec::new(),
        }),
        Err(e) => LocalPart::Failed(e.into()),
    };
    respond(&forwarded, &names, local)
}

/// The expanded names of the attributes left for the local entity.
fn forwarded_local(
    names: &[(String, String)],
    forwarded: &rigel_broker::federation::Forwarded,
) -> Vec<String> {
    names
        .iter()
        .filter(|(key, _)| forwarded.local.contains(key))
        .map(|(_, iri)| iri.clone())
        .collect()
}

/// PATCH /entities/{entityId} — Merge Entity (5.6.17).
#[utoipa::path(patch, path = "/ngsi-ld/v1/entities/{entityId}", tag = "Entities",
    params(("entityId" = String, Path, description = "Entity id (URI)")), request_body(content = Object, description = "Entity fragment (merge patch)"),
    responses((status = 204, description = "Merged"), (status = 400, description = "BadRequestData"), (status = 404, description = "ResourceNotFound")))]
pub async fn merge_entity(
    req: HttpRequest,
    path: web::Path<String>,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    const PARAMS: &[&str] = &[
        "observedAt",
        "lang",
        "format",
        "options",
        "type",
        "local",
        "via",
    ];
    use crate::routes::distributed_write::{
        forward, left_for_local, respond, written_attributes, LocalPart,
    };
    let w = EntityWrite::read(&req, payload, &state, &path, PARAMS).await?;
    let terms = w.terms();
    let merge_of = |body: &Map<String, Value>| -> Result<EntityMerge, ApiError> {
        Ok(EntityMerge {
            attributes: expanded_fragment(body, terms)?,
            types: body
                .get("type")
                .map(|t| parse_types(t, terms))
                .transpose()?
                .unwrap_or_default(),
            scope: scope_member(body)?,
            options: merge_options(&w.params)?,
        })
    };
    let merge = merge_of(&w.body)?;
    let types = w.types()?;
    let names = written_attributes(&w.body, terms);
    let target = w.target(types.as_deref());
    let kind = rigel_broker::federation::WriteKind::MergeEntity;
    let Some(forwarded) = forward(&req, &state, &target, Some(&w.body), &names, kind).await? else {
        state
            .broker
            .merge_entity(&w.tenant, &w.id, &merge, types.as_deref())
            .await?;
        return Ok(HttpResponse::NoContent().finish());
    };
    let local = if forwarded.local.is_empty() {
        LocalPart::None
    } else {
        let left = merge_of(&left_for_local(&w.body, &forwarded))?;
        match state
            .broker
            .merge_entity(&w.tenant, &w.id, &left, types.as_deref())
            .await
        {
            Ok(()) => LocalPart::Done(rigel_broker::UpdateResult {
                updated: forwarded_local(&names, &forwarded),
                not_updated: Vec::new(),
            }),
            Err(e) => LocalPart::Failed(e.into()),
        }
    };
    respond(&forwarded, &names, local)
}

/// PUT or PATCH on the entity collection: the entity id is missing from the path.
pub async fn missing_entity_id() -> Result<HttpResponse, ApiError> {
    Err(ApiError::bad_data("the entity id is missing from the path"))
}

/// The URL options of Merge Entity (Table 6.5.3.4-1).
fn merge_options(params: &Params) -> Result<MergeOptions, ApiError> {
    let mut key_values = false;
    for o in params
        .list("options")?
        .unwrap_or_default()
        .into_iter()
        .chain(params.get("format"))
    {
        match o {
            "keyValues" | "simplified" => key_values = true,
            "normalized" | "concise" => key_values = false,
            other => {
                return Err(ApiError::invalid_request(format!(
                    "unknown format {other:?}"
                )))
            }
        }
    }
    let observed_at = params.get("observedAt").map(str::to_owned);
    if observed_at
        .as_deref()
        .is_some_and(|t| !rigel_model::validate::is_date_time(t))
    {
        return Err(ApiError::bad_data(
            "observedAt must be an ISO 8601 date-time",
        ));
    }
    Ok(MergeOptions {
        key_values,
        lang: params.get("lang").map(str::to_owned),
        observed_at,
    })
}

/// A body's `id`, when present, must name the entity of the path.
pub(crate) fn check_body_id(body: &Map<String, Value>, id: &str) -> Result<(), ApiError> {
    match body.get("id").or_else(|| body.get("@id")) {
        Some(Value::String(b)) if b == id => Ok(()),
        Some(_) => Err(ApiError::bad_data(
            "the id in the body differs from the entity id of the path",
        )),
        None => Ok(()),
    }
}

/// The `scope` member of a fragment: `Some(empty)` for an NGSI-LD Null (remove).
pub(crate) fn scope_member(body: &Map<String, Value>) -> Result<Option<Vec<String>>, ApiError> {
    match body.get("scope") {
        None => Ok(None),
        Some(v) if rigel_model::codec::parse::is_ngsi_ld_null(v) => Ok(Some(Vec::new())),
        Some(v) => Ok(Some(parse_scope(v)?)),
    }
}

/// The attributes of a merge fragment with every name expanded.
pub(crate) fn expanded_fragment(
    body: &Map<String, Value>,
    terms: &dyn TermMap,
) -> Result<Map<String, Value>, ApiError> {
    let mut out = Map::new();
    for (key, value) in body {
        if matches!(
            key.as_str(),
            "id" | "@id" | "type" | "@type" | "scope" | "@context" | "createdAt" | "modifiedAt"
        ) {
            continue;
        }
        if !is_valid_name(key) {
            return Err(ApiError::bad_data(format!(
                "{key:?} is not a valid attribute name"
            )));
        }
        let expanded = match value {
            Value::Array(items) if !items.is_empty() && items.iter().all(Value::is_object) => {
                Value::Array(
                    items
                        .iter()
                        .map(|i| expand_attribute_json(i, terms, false))
                        .collect(),
                )
            }
            other => expand_attribute_json(other, terms, false),
        };
        out.insert(terms.expand(key).into_owned(), expanded);
    }
    Ok(out)
}
