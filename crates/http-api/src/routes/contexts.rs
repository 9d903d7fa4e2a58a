//! @context resources (clauses 5.13, 6.29, 6.30): Add, List, Serve, Delete and Reload the
//! @contexts the broker stores. They are broker-wide, not per tenant.

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use chrono::{DateTime, SecondsFormat, Utc};
use rigel_jsonld::{ContextInfo, ContextKind};
use serde_json::{json, Map, Value};

use crate::negotiation::{negotiate, request_media};
use crate::request::{has_declared_length, read_json, Params};
use crate::{ApiError, AppState, BASE_PATH};

/// The collection's path below the API base.
const COLLECTION: &str = "/jsonldContexts";

/// POST /jsonldContexts — Add @context (5.13.2).
#[utoipa::path(post, path = "/ngsi-ld/v1/jsonldContexts", tag = "@contexts",
    request_body(content = Object, description = "A JSON object whose \"@context\" member is the @context to host"),
    responses((status = 201, description = "Created; Location is the path of the hosted @context"), (status = 400, description = "InvalidRequest (not an object with @context) / BadRequestData (invalid @context)"), (status = 415, description = "Unsupported Content-Type")))]
pub async fn add_context(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    Params::parse(&req, &[])?;
    request_media(&req)?;
    if !has_declared_length(&req) {
        return Err(ApiError::LengthRequired);
    }
    let body = read_json(payload, &state.limits).await?;
    let info = state.resolver.add_context(&body).await?;
    let location = format!("{BASE_PATH}{COLLECTION}/{}", info.local_id);
    Ok(HttpResponse::Created()
        .insert_header((header::LOCATION, location))
        .finish())
}

/// GET /jsonldContexts — List @contexts (5.13.3).
#[utoipa::path(get, path = "/ngsi-ld/v1/jsonldContexts", tag = "@contexts",
    params(("details" = Option<bool>, Query, description = "Metadata objects instead of URLs"),
        ("kind" = Option<String>, Query, description = "Cached, Hosted or ImplicitlyCreated")),
    responses((status = 200, description = "URLs, or metadata objects with details=true", body = Vec<Object>), (status = 400, description = "BadRequestData")))]
pub async fn list_contexts(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let media = negotiate(&req, false)?;
    let params = Params::parse(&req, &["details", "kind"])?;
    let details = params.flag("details")?;
    let kind = params
        .get("kind")
        .map(str::parse::<ContextKind>)
        .transpose()?;
    let served_at = served_at(&req);
    let tenant = crate::request::tenant(&req)?;
    let contexts = state
        .resolver
        .list_contexts_for(kind, tenant.name())
        .into_iter();
    let body: Vec<Value> = if details {
        contexts.map(|c| details_json(&c, &served_at)).collect()
    } else {
        contexts.map(|c| Value::String(c.url(&served_at))).collect()
    };
    Ok(HttpResponse::Ok()
        .content_type(media.content_type())
        .json(body))
}

/// GET /jsonldContexts/{contextId} — Serve @context (5.13.4).
#[utoipa::path(get, path = "/ngsi-ld/v1/jsonldContexts/{contextId}", tag = "@contexts",
    params(("contextId" = String, Path, description = "Local id, or the original URL of a Cached @context"),
        ("details" = Option<bool>, Query, description = "Metadata instead of the content")),
    responses((status = 200, description = "The @context document, or its metadata with details=true", body = Object), (status = 400, description = "BadRequestData"), (status = 404, description = "ResourceNotFound"), (status = 422, description = "OperationNotSupported: the content of a Cached @context")))]
pub async fn serve_context(
    req: HttpRequest,
    path: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let media = negotiate(&req, false)?;
    let params = Params::parse(&req, &["details"])?;
    let body = if params.flag("details")? {
        details_json(&state.resolver.context_details(&path)?, &served_at(&req))
    } else {
        state.resolver.serve_context(&path)?
    };
    Ok(HttpResponse::Ok()
        .content_type(media.content_type())
        .json(body))
}

/// DELETE /jsonldContexts/{contextId} — Delete and Reload @context (5.13.5).
#[utoipa::path(delete, path = "/ngsi-ld/v1/jsonldContexts/{contextId}", tag = "@contexts",
    params(("contextId" = String, Path, description = "Local id, or the original URL of a Cached @context"),
        ("reload" = Option<bool>, Query, description = "Download a Cached @context again instead of deleting it")),
    responses((status = 204, description = "Deleted or reloaded"), (status = 400, description = "BadRequestData (the core @context; reload of an @context that is not Cached)"), (status = 404, description = "ResourceNotFound"), (status = 504, description = "LdContextNotAvailable: reloading failed")))]
pub async fn delete_context(
    req: HttpRequest,
    path: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let params = Params::parse(&req, &["reload"])?;
    if params.flag("reload")? {
        state.resolver.reload_context(&path).await?;
    } else {
        state.resolver.delete_context(&path).await?;
    }
    Ok(HttpResponse::NoContent().finish())
}

/// DELETE on the collection: the @context identifier is missing (5.13.5.4).
pub async fn missing_context_id() -> Result<HttpResponse, ApiError> {
    Err(ApiError::bad_data(
        "the @context identifier is missing from the path",
    ))
}

/// The absolute URL of the collection as this client reached the broker: served
/// @contexts are listed under it.
pub(crate) fn served_at(req: &HttpRequest) -> String {
    let connection = req.connection_info();
    format!(
        "{}://{}{BASE_PATH}{COLLECTION}",
        connection.scheme(),
        connection.host()
    )
}

/// The metadata object of clause 5.13.3.5.
fn details_json(info: &ContextInfo, served_at: &str) -> Value {
    let time = |t: DateTime<Utc>| Value::String(t.to_rfc3339_opts(SecondsFormat::Millis, true));
    let mut object = Map::new();
    object.insert("URL".into(), json!(info.url(served_at)));
    object.insert("localId".into(), json!(info.local_id));
    object.insert("kind".into(), json!(info.kind.as_str()));
    object.insert("createdAt".into(), time(info.created_at));
    if let Some(at) = info.expires_at {
        object.insert("expiresAt".into(), time(at));
    }
    if let Some(at) = info.last_usage {
        object.insert("lastUsage".into(), time(at));
    }
    object.insert("numberOfHits".into(), json!(info.number_of_hits));
    if let Some(extra) = &info.extra_info {
        object.insert("extraInfo".into(), json!(extra));
    }
    Value::Object(object)
}
