//! Query Entities (GET /entities, 6.4.3.2; POST /entityOperations/query, 6.23.3.1) and
//! Purge Entities (DELETE /entities, 6.4.3.3).

use std::collections::HashSet;
use std::sync::Arc;

use actix_web::http::header::{self, HeaderName, HeaderValue};
use actix_web::{web, HttpRequest, HttpResponse};
use rigel_broker::federation::ClientQuery;
use rigel_broker::query::{Paging, Purge};
use rigel_model::codec::render::{render_feature, RenderOptions};
use rigel_model::{Entity, Tenant, TermMap};
use rigel_query::OrderBy;
use serde_json::{Map, Value};

use crate::context::{self, RequestContext};
use crate::filters::{self, Filters};
use crate::linked::{render_joined, JoinSpec};
use crate::negotiation::{negotiate, ResponseMedia};
use crate::representation::{
    dataset_ids, render_options, respond, respond_array, respond_entities,
};
use crate::request::{tenant, Params};
use crate::{ApiError, AppState};

/// Parameters of Query Entities (Table 6.4.3.2-1) plus paging and counting.
const QUERY_PARAMS: &[&str] = &[
    "attrs",
    "collation",
    "containedBy",
    "coordinates",
    "count",
    "csf",
    "datasetId",
    "entityMap",
    "entityMapLifetime",
    "expandValues",
    "format",
    "geometry",
    "geometryProperty",
    "geoproperty",
    "georel",
    "id",
    "idPattern",
    "join",
    "joinLevel",
    "jsonKeys",
    "lang",
    "limit",
    "local",
    "offset",
    "omit",
    "options",
    "orderBy",
    "orderFrom",
    "orderGeometry",
    "pick",
    "q",
    "scopeQ",
    "splitEntities",
    "type",
    "via",
];

/// Parameters of Purge Entities (Table 6.4.3.3-1).
const PURGE_PARAMS: &[&str] = &[
    "attrs",
    "coordinates",
    "csf",
    "drop",
    "expandValues",
    "geometry",
    "geometryProperty",
    "geoproperty",
    "georel",
    "id",
    "idPattern",
    "jsonKeys",
    "keep",
    "local",
    "q",
    "scopeQ",
    "type",
    "via",
];

/// Response header carrying the total number of matches (clause 6.3.13).
const RESULTS_COUNT: HeaderName = HeaderName::from_static("ngsild-results-count");

/// GET /entities — Query Entities (5.7.2).
#[utoipa::path(get, path = "/ngsi-ld/v1/entities", tag = "Entities",
    params(("type" = Option<String>, Query, description = "Entity type selection (4.17)"), ("id" = Option<String>, Query, description = "Entity ids"),
        ("idPattern" = Option<String>, Query, description = "Regular expression over ids"), ("attrs" = Option<String>, Query, description = "Attributes to match and return"),
        ("q" = Option<String>, Query, description = "Query (4.9)"), ("georel" = Option<String>, Query, description = "Geo relationship (4.10)"),
        ("geometry" = Option<String>, Query, description = "Geometry type"), ("coordinates" = Option<String>, Query, description = "Coordinates (JSON)"),
        ("geoproperty" = Option<String>, Query, description = "GeoProperty to query (default location)"), ("scopeQ" = Option<String>, Query, description = "Scope query (4.19)"),
        ("orderBy" = Option<String>, Query, description = "Ordering (4.23), with local=true"), ("limit" = Option<usize>, Query, description = "Page size"),
        ("offset" = Option<usize>, Query, description = "First match to return"), ("count" = Option<bool>, Query, description = "Send NGSILD-Results-Count"),
        ("local" = Option<bool>, Query, description = "Local entities only")),
    responses((status = 200, description = "The matching entities (JSON array or GeoJSON FeatureCollection)", body = Object), (status = 400, description = "BadRequestData / InvalidRequest"), (status = 403, description = "TooManyResults / TooComplexQuery")))]
pub async fn query_entities(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let media = negotiate(&req, true)?;
    let params = Params::parse(&req, QUERY_PARAMS)?;
    let tenant = tenant(&req)?;
    let ctx = context::from_link(&req, &state.resolver).await?;
    let filters = filters::from_params(&params, ctx.terms.as_ref())?;
    let client = ClientQuery {
        extra: forwarded_params(&params),
        post: false,
        split: params.flag("splitEntities")?,
    };
    let asked = Asked { filters, client };
    run_query(&req, &state, &tenant, media, &params, &ctx, asked).await
}

/// POST /entityOperations/query — Query Entities with a Query body (5.7.2, 6.23.3.1).
#[utoipa::path(post, path = "/ngsi-ld/v1/entityOperations/query", tag = "Entities",
    request_body(content = Object, description = "NGSI-LD Query (5.2.23)"),
    params(("limit" = Option<usize>, Query, description = "Page size"), ("offset" = Option<usize>, Query, description = "First match to return"),
        ("count" = Option<bool>, Query, description = "Send NGSILD-Results-Count"), ("options" = Option<String>, Query, description = "keyValues, concise, sysAttrs")),
    responses((status = 200, description = "The matching entities", body = Object), (status = 400, description = "BadRequestData / InvalidRequest")))]
pub async fn query_entities_post(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let media = negotiate(&req, true)?;
    let url_params = Params::parse(&req, QUERY_PARAMS)?;
    let tenant = tenant(&req)?;
    let (body, ctx) = crate::routes::entities::object_body(&req, payload, &state).await?;
    let (params, filters) = super::query_body::filters(body, url_params, ctx.terms.as_ref())?;
    let client = ClientQuery {
        extra: forwarded_params(&params),
        post: true,
        split: params.flag("splitEntities")?,
    };
    let asked = Asked { filters, client };
    run_query(&req, &state, &tenant, media, &params, &ctx, asked).await
}

/// What the client asked: the query, and how context sources are to get it.
struct Asked {
    filters: Filters,
    client: ClientQuery,
}

/// The parameters passed on to context sources as the client wrote them: those the typed
/// query does not hold (the query itself is rebuilt from its parsed form).
const FORWARDED: &[&str] = &["csf", "datasetId", "expandValues", "jsonKeys"];

pub(crate) fn forwarded_params(params: &Params) -> Vec<(String, String)> {
    FORWARDED
        .iter()
        .filter_map(|name| params.get(name).map(|v| ((*name).to_owned(), v.to_owned())))
        .collect()
}

/// The shared part of both Query Entities bindings.
async fn run_query(
    req: &HttpRequest,
    state: &AppState,
    tenant: &Tenant,
    media: ResponseMedia,
    params: &Params,
    ctx: &RequestContext,
    asked: Asked,
) -> Result<HttpResponse, ApiError> {
    let Asked { filters, client } = asked;
    filters.require_restriction()?;
    let terms = ctx.terms.as_ref();
    if params.get("geometryProperty").is_some() && media != ResponseMedia::GeoJson {
        return Err(ApiError::bad_data(
            "geometryProperty needs Accept: application/geo+json",
        ));
    }
    let map = crate::routes::entity_maps::MapRequest::of(req, params)?;
    let join = JoinSpec::from_params(params)?;
    linked_terms_within_join(&filters, join.as_ref())?;
    let opts = render_options(params, terms)?;
    if join.is_none() && !opts.projection.nested.is_empty() {
        return Err(ApiError::bad_data(
            "nested pick/omit lists need linked entity retrieval (join)",
        ));
    }
    let order = order_by(params, &filters, terms)?;
    if map.is_some() && order.is_some() {
        return Err(ApiError::bad_data(
            "an EntityMap keeps the matches in id order: orderBy cannot be combined with it",
        ));
    }
    let paging = filters::paging(params, &state.limits)?;
    // One more than the page tells whether a next page exists.
    let probe = Paging {
        limit: paging.limit.saturating_add(1),
        ..paging
    };
    let distribution = crate::distribution::of(req, params, ctx)?;
    let distribution = rigel_broker::federation::Distribution {
        local: distribution.local || filters.local,
        ..distribution
    };
    let broker = &state.broker;
    let (found, map_used) = match map {
        None => (
            broker
                .query_distributed(tenant, filters.query, order, probe, &client, &distribution)
                .await?,
            None,
        ),
        Some(map) => {
            map.run(broker, tenant, filters.query, probe, &client, &distribution)
                .await?
        }
    };
    let warnings = found.warnings;
    let mut result = found.value;
    let has_next = result.entities.len() > paging.limit;
    result.entities.truncate(paging.limit);
    if let Some(datasets) = dataset_ids(params)? {
        for entity in &mut result.entities {
            // Copies only entities shared with the store's cache.
            let entity = Arc::make_mut(entity);
            for instances in entity.attributes.values_mut() {
                instances.retain(|a| datasets.contains(&a.dataset_id));
            }
            entity.attributes.retain(|_, v| !v.is_empty());
        }
    }
    let mut response = if media == ResponseMedia::GeoJson {
        let geometry = terms.expand(params.get("geometryProperty").unwrap_or("location"));
        let features = result
            .entities
            .iter()
            .map(|e| Value::Object(render_feature(e, terms, &opts, &geometry)))
            .collect();
        let mut collection = Map::new();
        collection.insert("type".into(), "FeatureCollection".into());
        collection.insert("features".into(), Value::Array(features));
        respond(req, media, ctx, collection)
    } else if let Some(join) = &join {
        let items = render_joined_all(state, tenant, &result.entities, terms, &opts, join).await?;
        respond_array(req, media, ctx, Value::Array(items))
    } else {
        respond_entities(
            req,
            media,
            ctx,
            result.entities.iter().map(|e| &**e),
            true,
            terms,
            &opts,
        )
    }?;
    let headers = response.headers_mut();
    if let Some(total) = result.total {
        headers.insert(RESULTS_COUNT, HeaderValue::from(total));
    }
    for link in page_links(req, media, paging, has_next) {
        if let Ok(value) = HeaderValue::from_str(&link) {
            headers.append(header::LINK, value);
        }
    }
    crate::distribution::warn(&mut response, &warnings);
    if let Some(used) = map_used {
        used.tell(&mut response);
    }
    Ok(response)
}

/// Linked-entity terms in q (`rel{attr}`) need Linked Entity retrieval, at least as deep
/// as they go (clause 5.7.2.4): else BadRequestData.
fn linked_terms_within_join(filters: &Filters, join: Option<&JoinSpec>) -> Result<(), ApiError> {
    let depth = filters.query.q.as_ref().map_or(0, |q| q.linked_depth());
    match join {
        _ if depth == 0 => Ok(()),
        None => Err(ApiError::bad_data(
            "q follows relationships (rel{attr}): that needs Linked Entity retrieval \
             (join=inline or join=flat)",
        )),
        Some(j) if depth > j.level => Err(ApiError::bad_data(format!(
            "q follows relationships {depth} levels deep, beyond joinLevel {}",
            j.level
        ))),
        Some(_) => Ok(()),
    }
}

/// `orderBy` (clause 4.23): only for local queries (clause 5.7.2.4).
fn order_by(
    params: &Params,
    filters: &Filters,
    terms: &dyn TermMap,
) -> Result<Option<OrderBy>, ApiError> {
    let Some(spec) = params.get("orderBy") else {
        if params.get("collation").is_some() {
            return Err(ApiError::bad_data("collation is part of orderBy"));
        }
        return Ok(None);
    };
    // Clause 5.7.2.4 allows ordering only when the execution is limited to the local scope:
    // the broker refuses it when a registration matches the query (`local=true` keeps
    // every query local).
    let _ = filters.local;
    Ok(Some(OrderBy::parse_with_origin(
        spec,
        terms,
        params.get("orderGeometry"),
        params.get("orderFrom"),
    )?))
}

/// Renders the page with a join: linked entities inline or appended (flat, each once).
async fn render_joined_all(
    state: &AppState,
    tenant: &Tenant,
    entities: &[Arc<Entity>],
    terms: &dyn TermMap,
    opts: &RenderOptions,
    join: &JoinSpec,
) -> Result<Vec<Value>, ApiError> {
    let mut items = Vec::with_capacity(entities.len());
    let mut seen = HashSet::new();
    for entity in entities {
        match render_joined(&state.broker, tenant, entity, terms, opts, join).await? {
            Value::Array(flat) => {
                for item in flat {
                    let id = item.get("id").and_then(Value::as_str).map(str::to_owned);
                    if id.is_none_or(|id| seen.insert(id)) {
                        items.push(item);
                    }
                }
            }
            one => {
                if let Some(id) = one.get("id").and_then(Value::as_str) {
                    seen.insert(id.to_owned());
                }
                items.push(one);
            }
        }
    }
    Ok(items)
}

/// `Link` values for the previous and next pages (clause 6.3.10), keeping every other
/// parameter of the request.
pub(crate) fn page_links(
    req: &HttpRequest,
    media: ResponseMedia,
    paging: Paging,
    has_next: bool,
) -> Vec<String> {
    let pairs: Vec<(String, String)> =
        serde_urlencoded::from_str(req.query_string()).unwrap_or_default();
    let link = |offset: usize, rel: &str| {
        let mut query: Vec<(String, String)> = pairs
            .iter()
            .filter(|(k, _)| k != "offset" && k != "limit")
            .cloned()
            .collect();
        query.push(("limit".into(), paging.limit.to_string()));
        query.push(("offset".into(), offset.to_string()));
        let query = serde_urlencoded::to_string(&query).unwrap_or_default();
        format!(
            "<{}?{query}>; rel=\"{rel}\"; type=\"{}\"",
            req.path(),
            media.content_type()
        )
    };
    let mut links = Vec::new();
    if paging.offset > 0 && paging.limit > 0 {
        links.push(link(paging.offset.saturating_sub(paging.limit), "prev"));
    }
    if has_next && paging.limit > 0 {
        links.push(link(paging.offset + paging.limit, "next"));
    }
    links
}

/// DELETE /entities — Purge Entities (5.6.21).
#[utoipa::path(delete, path = "/ngsi-ld/v1/entities", tag = "Entities",
    params(("type" = Option<String>, Query, description = "Entity type selection"), ("id" = Option<String>, Query, description = "Entity ids"),
        ("idPattern" = Option<String>, Query, description = "Regular expression over ids"), ("q" = Option<String>, Query, description = "Query (4.9)"),
        ("drop" = Option<String>, Query, description = "Delete only these attributes"), ("keep" = Option<String>, Query, description = "Delete every attribute but these")),
    responses((status = 204, description = "Purged"), (status = 400, description = "BadRequestData")))]
pub async fn purge_entities(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let params = Params::parse(&req, PURGE_PARAMS)?;
    let tenant = tenant(&req)?;
    let ctx = context::from_link(&req, &state.resolver).await?;
    let terms = ctx.terms.as_ref();
    let mut filters = filters::from_params(&params, terms)?;
    // The restrictive and exclusionary attribute lists are lists of attribute names, one of
    // the restrictions clause 5.6.21.4 accepts.
    filters.local |= params.get("drop").is_some() || params.get("keep").is_some();
    filters.require_restriction()?;
    let purge = match (params.list("drop")?, params.list("keep")?) {
        (Some(_), Some(_)) => return Err(ApiError::bad_data("drop and keep cannot be combined")),
        (Some(drop), None) => Purge::Drop(filters::attribute_names(&drop, terms)?),
        (None, Some(keep)) => Purge::Keep(filters::attribute_names(&keep, terms)?),
        (None, None) => Purge::Entities,
    };
    let distribution = crate::distribution::of(&req, &params, &ctx)?;
    let client = forwarded_params(&params);
    let forwarded = state
        .broker
        .forward_purge(&tenant, &filters.query, &purge, &client, &distribution)
        .await?;
    let local = state
        .broker
        .purge_entities(&tenant, filters.query, purge)
        .await;
    match forwarded {
        None => local
            .map(|_| HttpResponse::NoContent().finish())
            .map_err(Into::into),
        Some(parts) => crate::routes::distributed_batch::respond_purge(&parts, local),
    }
}
