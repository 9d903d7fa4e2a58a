//! Context Source Registration resources (clauses 5.9, 5.10, 6.8, 6.9): register, query,
//! retrieve, update and delete registrations.
//!
//! Querying matches registrations by entity type, ids, id pattern and attribute names
//! (clause 5.12; q adds the attributes it reads), a geoquery, a temporal query, scopeQ and
//! a context source filter `csf` (clause 5.10.2.4). The representation parameters `lang`,
//! `pick`, `omit` and `geometryProperty` are not provided yet and answer
//! `OperationNotSupported` instead of being ignored.

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use rigel_broker::temporal::TimeProperty;
use rigel_model::registration::parse::parse_registration;
use rigel_model::registration::render::render_registration;
use rigel_query::registration::{Period, Wanted};
use rigel_query::{QExpr, QOptions, ScopeExpr};
use serde_json::Value;

use crate::context;
use crate::filters;
use crate::negotiation::negotiate;
use crate::representation::{respond, respond_array};
use crate::request::{tenant, uri_segment, Params};
use crate::routes::entities::object_body;
use crate::temporal::time_query;
use crate::{ApiError, AppState, BASE_PATH};

/// Query parameters of Query Context Source Registrations that are not provided yet.
const NOT_YET: &[&str] = &["lang", "geometryProperty", "pick", "omit"];

/// The query parameters a registration query reads.
const PARAMS: &[&str] = &[
    "type",
    "id",
    "idPattern",
    "attrs",
    "q",
    "georel",
    "geometry",
    "coordinates",
    "geoproperty",
    "timerel",
    "timeAt",
    "endTimeAt",
    "timeproperty",
    "scopeQ",
    "csf",
    "limit",
    "offset",
    "count",
    "options",
    "local",
];

/// The registration id of a path, which must be a URI.
fn registration_id(raw: &str) -> Result<&str, ApiError> {
    uri_segment(raw, "registration")
}

/// A new registration id: unique in this broker's lifetime and across restarts.
fn new_registration_id() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let nanos = chrono::Utc::now().timestamp_nanos_opt().unwrap_or_default();
    format!("urn:ngsi-ld:ContextSourceRegistration:{nanos:x}{n:04x}")
}

/// POST /csourceRegistrations — Register Context Source (5.9.2).
#[utoipa::path(post, path = "/ngsi-ld/v1/csourceRegistrations", tag = "Context Sources",
    request_body(content = Object, content_type = "application/ld+json", description = "CSourceRegistration"),
    responses((status = 201, description = "Created; Location names the registration"), (status = 400, description = "BadRequestData / InvalidRequest"), (status = 409, description = "AlreadyExists / Conflict")))]
pub async fn create_registration(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    Params::parse(&req, &[])?;
    let tenant = tenant(&req)?;
    let (body, ctx) = object_body(&req, payload, &state).await?;
    let registration = parse_registration(
        &body,
        ctx.terms.as_ref(),
        state.broker_now(),
        new_registration_id,
    )?;
    let id = state
        .broker
        .create_registration(&tenant, registration)
        .await?;
    Ok(HttpResponse::Created()
        .insert_header((
            header::LOCATION,
            format!("{BASE_PATH}/csourceRegistrations/{id}"),
        ))
        .finish())
}

/// GET /csourceRegistrations — Query Context Source Registrations (5.10.2), paged.
#[utoipa::path(get, path = "/ngsi-ld/v1/csourceRegistrations", tag = "Context Sources",
    params(("type" = Option<String>, Query, description = "Entity type selection"), ("id" = Option<String>, Query, description = "Entity ids"),
        ("idPattern" = Option<String>, Query, description = "Entity id pattern"), ("attrs" = Option<String>, Query, description = "Attribute names"),
        ("limit" = Option<usize>, Query, description = "Page size"), ("offset" = Option<usize>, Query, description = "Page start"), ("count" = Option<bool>, Query, description = "Return NGSILD-Results-Count")),
    responses((status = 200, description = "Registrations", body = Vec<Object>), (status = 400, description = "BadRequestData")))]
pub async fn query_registrations(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let mut known = PARAMS.to_vec();
    known.extend_from_slice(NOT_YET);
    let params = Params::parse(&req, &known)?;
    if let Some(name) = NOT_YET.iter().find(|n| params.get(n).is_some()) {
        return Err(ApiError::not_supported(format!(
            "the {name} parameter of a registration query is not supported by this broker yet"
        )));
    }
    let sys_attrs = filters::sys_attrs_option(&params)?;
    let tenant = tenant(&req)?;
    let media = negotiate(&req, false)?;
    let ctx = context::from_link(&req, &state.resolver).await?;
    let terms = ctx.terms.as_ref();
    let (selector, _) = filters::selector(
        params.list("id")?,
        params.get("idPattern"),
        params.get("type"),
        terms,
    )?;
    let mut attributes = match params.list("attrs")? {
        Some(names) => filters::attribute_names(&names, terms)?,
        None => Vec::new(),
    };
    // The attributes q reads are matched like attrs (clause 5.10.2.4).
    let q = params
        .get("q")
        .map(|q| QExpr::parse(q, terms, &QOptions::default()))
        .transpose()?;
    if let Some(q) = &q {
        attributes.extend(q.attributes());
    }
    let geo = filters::geo_params(&params, terms)?;
    let period = period(&params)?;
    let scope = params.get("scopeQ").map(ScopeExpr::parse).transpose()?;
    let csf = params
        .get("csf")
        .map(|f| QExpr::parse(f, terms, &QOptions::default()))
        .transpose()?;
    if selector.as_ref().is_none_or(|s| s.types.is_none())
        && attributes.is_empty()
        && q.is_none()
        && geo.is_none()
    {
        return Err(ApiError::bad_data(
            "a registration query needs a type selection, attribute names, q or a geoquery \
             (clause 5.10.2.4)",
        ));
    }
    let wanted = Wanted {
        types: selector.as_ref().and_then(|s| s.types.as_ref()),
        ids: selector.as_ref().and_then(|s| s.ids.as_deref()),
        id_pattern: selector.as_ref().and_then(|s| s.id_pattern.as_ref()),
        attributes: &attributes,
        period,
        geo: geo.as_ref(),
        scope: scope.as_ref(),
        csf: csf.as_ref(),
        ..Wanted::default()
    };
    let paging = filters::paging(&params, &state.limits)?;
    let (page, total) = state
        .broker
        .query_registrations(&tenant, &wanted, paging.offset, paging.limit)
        .await?;
    let shown = page.len();
    let items: Vec<Value> = page
        .iter()
        .map(|r| Value::Object(render_registration(r, terms, sys_attrs)))
        .collect();
    let mut response = respond_array(&req, media, &ctx, Value::Array(items))?;
    filters::page_headers(
        &mut response,
        &paging,
        (shown, total),
        &format!("{BASE_PATH}/csourceRegistrations"),
        req.query_string(),
        media.content_type(),
    );
    Ok(response)
}

/// The temporal query of a registration query (clause 4.11), if any.
fn period(params: &Params) -> Result<Option<Period>, ApiError> {
    let (property, range, timerel) = time_query(params, false)?;
    Ok(timerel.map(|_| Period {
        management: property != TimeProperty::ObservedAt,
        from: range.from,
        to: range.to,
    }))
}

/// GET /csourceRegistrations/{registrationId} — Retrieve Context Source Registration (5.10.1).
#[utoipa::path(get, path = "/ngsi-ld/v1/csourceRegistrations/{registrationId}", tag = "Context Sources",
    params(("registrationId" = String, Path, description = "Registration id (a URI)")),
    responses((status = 200, description = "The registration", body = Object), (status = 400, description = "BadRequestData"), (status = 404, description = "ResourceNotFound")))]
pub async fn retrieve_registration(
    req: HttpRequest,
    path: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let params = Params::parse(&req, &["options", "local"])?;
    let sys_attrs = filters::sys_attrs_option(&params)?;
    let id = registration_id(&path)?;
    let tenant = tenant(&req)?;
    let media = negotiate(&req, false)?;
    let ctx = context::from_link(&req, &state.resolver).await?;
    let reg = state.broker.retrieve_registration(&tenant, id).await?;
    let body = render_registration(&reg, ctx.terms.as_ref(), sys_attrs);
    respond(&req, media, &ctx, body)
}

/// PATCH /csourceRegistrations/{registrationId} — Update Context Source Registration (5.9.3).
#[utoipa::path(patch, path = "/ngsi-ld/v1/csourceRegistrations/{registrationId}", tag = "Context Sources",
    params(("registrationId" = String, Path, description = "Registration id (a URI)")),
    request_body(content = Object, content_type = "application/ld+json", description = "Registration fragment"),
    responses((status = 204, description = "Updated"), (status = 400, description = "BadRequestData"), (status = 404, description = "ResourceNotFound"), (status = 409, description = "Conflict")))]
pub async fn update_registration(
    req: HttpRequest,
    path: web::Path<String>,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    Params::parse(&req, &[])?;
    let id = registration_id(&path)?.to_owned();
    let tenant = tenant(&req)?;
    let (body, ctx) = object_body(&req, payload, &state).await?;
    state
        .broker
        .update_registration(&tenant, &id, &body, ctx.terms.as_ref())
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// DELETE /csourceRegistrations/{registrationId} — Delete Context Source Registration (5.9.4).
#[utoipa::path(delete, path = "/ngsi-ld/v1/csourceRegistrations/{registrationId}", tag = "Context Sources",
    params(("registrationId" = String, Path, description = "Registration id (a URI)")),
    responses((status = 204, description = "Deleted"), (status = 400, description = "BadRequestData"), (status = 404, description = "ResourceNotFound")))]
pub async fn delete_registration(
    req: HttpRequest,
    path: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    Params::parse(&req, &[])?;
    let id = registration_id(&path)?;
    let tenant = tenant(&req)?;
    state.broker.delete_registration(&tenant, id).await?;
    Ok(HttpResponse::NoContent().finish())
}
