//! EntityMaps (clauses 5.14, 5.2.39, HTTP binding 6.34-6.35): GET, PATCH and DELETE
//! /entityMaps/{id}, and the EntityMap side of Query Entities: `entityMap=true` makes one
//! (201, `NGSILD-EntityMap` naming it), the `NGSILD-EntityMap` header pages through one.

use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use rigel_broker::federation::{ClientQuery, Distributed, Distribution, EntityMap};
use rigel_broker::query::{Paging, QueryResult};
use rigel_broker::{Broker, BrokerError};
use rigel_model::Tenant;
use rigel_query::aggregate::PeriodDuration;
use rigel_query::EntityQuery;
use serde_json::{json, Map, Value};

use crate::context;
use crate::negotiation::negotiate;
use crate::representation::respond;
use crate::request::{read_json, tenant, Params};
use crate::{ApiError, AppState};

const HEADER: &str = "ngsild-entitymap";
const PATH: &str = "/ngsi-ld/v1/entityMaps/";

/// What a query asks of EntityMaps.
pub(crate) enum MapRequest {
    /// `entityMap=true`: make one, kept this long (`entityMapLifetime`) if given.
    Make(Option<std::time::Duration>),
    /// `NGSILD-EntityMap`: page through this one.
    Use(String),
}

/// The EntityMap a query made or used, to name in the answer.
pub(crate) struct MapUsed {
    id: String,
    made: bool,
}

impl MapRequest {
    /// The request's EntityMap header or flag, if any.
    pub(crate) fn of(req: &HttpRequest, params: &Params) -> Result<Option<Self>, ApiError> {
        if let Some(value) = req.headers().get(HEADER) {
            let text = value
                .to_str()
                .map_err(|_| ApiError::bad_data("the NGSILD-EntityMap header is not text"))?;
            // The resource URI this broker gave, or the map's id alone.
            let id = text.rsplit_once("/entityMaps/").map_or(text, |(_, id)| id);
            return Ok(Some(Self::Use(id.trim().to_owned())));
        }
        if !params.flag("entityMap")? {
            return Ok(None);
        }
        let lifetime = params
            .get("entityMapLifetime")
            .map(|text| {
                let d =
                    PeriodDuration::parse(text).map_err(|e| ApiError::bad_data(e.to_string()))?;
                let seconds = i64::from(d.months()) * 30 * 86_400 + d.fixed().num_seconds();
                Ok::<_, ApiError>(std::time::Duration::from_secs(
                    u64::try_from(seconds.max(1)).unwrap_or(1),
                ))
            })
            .transpose()?;
        Ok(Some(Self::Make(lifetime)))
    }

    /// Runs the query with the map.
    pub(crate) async fn run(
        self,
        broker: &Broker,
        tenant: &Tenant,
        query: EntityQuery,
        paging: Paging,
        client: &ClientQuery,
        distribution: &Distribution,
    ) -> Result<(Distributed<QueryResult>, Option<MapUsed>), BrokerError> {
        match self {
            Self::Use(id) => {
                let found = broker
                    .query_with_map(tenant, &id, paging, distribution)
                    .await?;
                Ok((found, Some(MapUsed { id, made: false })))
            }
            Self::Make(lifetime) => {
                let (found, map) = broker
                    .query_with_new_map(tenant, query, paging, client, distribution, lifetime)
                    .await?;
                let used = MapUsed {
                    id: map.id,
                    made: true,
                };
                Ok((found, Some(used)))
            }
        }
    }
}

impl MapUsed {
    /// Names the map in the answer (and makes it a 201 when the query made it).
    pub(crate) fn tell(&self, response: &mut HttpResponse) {
        if self.made {
            *response.status_mut() = StatusCode::CREATED;
        }
        if let Ok(value) = HeaderValue::from_str(&format!("{PATH}{}", self.id)) {
            response
                .headers_mut()
                .insert(HeaderName::from_static(HEADER), value);
        }
    }
}

fn map_json(map: &EntityMap) -> Map<String, Value> {
    let entities: Map<String, Value> = map
        .entities
        .iter()
        .map(|(id, held)| (id.clone(), json!(held)))
        .collect();
    let mut body = Map::new();
    body.insert("id".into(), json!(map.id));
    body.insert("type".into(), json!("EntityMap"));
    body.insert(
        "expiresAt".into(),
        json!(map
            .expires_at
            .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)),
    );
    body.insert("entityMap".into(), Value::Object(entities));
    body.insert("linkedMaps".into(), json!(map.linked));
    body
}

/// GET /entityMaps/{entityMapId} — Retrieve EntityMap (5.14.1).
#[utoipa::path(get, path = "/ngsi-ld/v1/entityMaps/{entityMapId}", tag = "Context sources",
    params(("entityMapId" = String, Path, description = "EntityMap id")),
    responses((status = 200, description = "EntityMap", body = Object), (status = 404, description = "ResourceNotFound")))]
pub async fn retrieve_entity_map(
    req: HttpRequest,
    path: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let media = negotiate(&req, false)?;
    Params::parse(&req, &[])?;
    let tenant = tenant(&req)?;
    let ctx = context::from_link(&req, &state.resolver).await?;
    let map = state.broker.entity_map(&tenant, map_id(&path)?)?;
    respond(&req, media, &ctx, map_json(&map))
}

/// PATCH /entityMaps/{entityMapId} — Update EntityMap (5.14.2): its `expiresAt`.
#[utoipa::path(patch, path = "/ngsi-ld/v1/entityMaps/{entityMapId}", tag = "Context sources",
    params(("entityMapId" = String, Path, description = "EntityMap id")),
    request_body(content = Object, description = "EntityMap fragment"),
    responses((status = 204, description = "Updated"), (status = 404, description = "ResourceNotFound")))]
pub async fn update_entity_map(
    req: HttpRequest,
    path: web::Path<String>,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    Params::parse(&req, &[])?;
    let tenant = tenant(&req)?;
    let id = map_id(&path)?;
    let Value::Object(body) = read_json(payload, &state.limits).await? else {
        return Err(ApiError::bad_data("an EntityMap fragment is a JSON object"));
    };
    let expires_at = body
        .get("expiresAt")
        .map(|v| {
            v.as_str()
                .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
                .map(|t| t.with_timezone(&chrono::Utc))
                .ok_or_else(|| ApiError::bad_data("expiresAt must be a DateTime"))
        })
        .transpose()?;
    state.broker.update_entity_map(&tenant, id, expires_at)?;
    Ok(HttpResponse::NoContent().finish())
}

/// DELETE /entityMaps/{entityMapId} — Delete EntityMap (5.14.3).
#[utoipa::path(delete, path = "/ngsi-ld/v1/entityMaps/{entityMapId}", tag = "Context sources",
    params(("entityMapId" = String, Path, description = "EntityMap id")),
    responses((status = 204, description = "Deleted"), (status = 404, description = "ResourceNotFound")))]
pub async fn delete_entity_map(
    req: HttpRequest,
    path: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    Params::parse(&req, &[])?;
    let tenant = tenant(&req)?;
    state.broker.delete_entity_map(&tenant, map_id(&path)?)?;
    Ok(HttpResponse::NoContent().finish())
}

/// The path's EntityMap id, a URI (5.14.1.4: else BadRequestData).
fn map_id(raw: &str) -> Result<&str, ApiError> {
    if rigel_model::validate::is_uri(raw) {
        Ok(raw)
    } else {
        Err(ApiError::bad_data(format!(
            "{raw:?} is not an EntityMap id (a URI)"
        )))
    }
}
