//! Subscription resources (clauses 5.8, 6.10, 6.11): create, query, retrieve, update and
//! delete subscriptions. The handling is shared with the Context Source Registration
//! Subscription resources (`csource_subscriptions`), which differ in kind and path only.

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use rigel_model::subscription::parse::parse_subscription;
use rigel_model::subscription::render::render_subscription;
use rigel_model::subscription::SubscriptionKind;
use rigel_model::validate::is_uri;
use serde_json::{Map, Value};

use crate::context::{self, RequestContext};
use crate::filters;
use crate::negotiation::negotiate;
use crate::representation::{respond, respond_array};
use crate::request::{tenant, uri_segment, Params};
use crate::routes::contexts::served_at;
use crate::routes::entities::object_body;
use crate::{ApiError, AppState, BASE_PATH};

/// The subscription id of a path, which must be a URI.
fn subscription_id(raw: &str) -> Result<&str, ApiError> {
    uri_segment(raw, "subscription")
}

/// The @context URL notifications use when the subscription names none (clause 5.8.1.4):
/// the request's own, a URL as sent, an inline @context stored as an ImplicitlyCreated one.
async fn notification_context(
    req: &HttpRequest,
    ctx: &RequestContext,
    state: &AppState,
) -> Result<String, ApiError> {
    match &ctx.user {
        None => Ok(ctx.link_url().to_owned()),
        Some(Value::String(url)) => Ok(url.clone()),
        Some(Value::Array(items)) if items.len() == 1 && items[0].is_string() => {
            Ok(items[0].as_str().unwrap_or_default().to_owned())
        }
        Some(inline) => {
            let info = state.resolver.add_implicit_context(inline).await?;
            Ok(format!("{}/{}", served_at(req), info.local_id))
        }
    }
}

/// A `jsonldContext` member must name a @context that can be had (LdContextNotAvailable
/// otherwise) and is valid (BadRequestData).
async fn check_jsonld_context(body: &Map<String, Value>, state: &AppState) -> Result<(), ApiError> {
    if let Some(Value::String(url)) = body.get("jsonldContext") {
        if !is_uri(url) {
            return Err(ApiError::bad_data("jsonldContext must be a URI"));
        }
        state
            .resolver
            .resolve(Some(&Value::String(url.clone())))
            .await?;
    }
    Ok(())
}

/// POST /subscriptions — Create Subscription (5.8.1).
#[utoipa::path(post, path = "/ngsi-ld/v1/subscriptions", tag = "Subscriptions",
    request_body(content = Object, content_type = "application/ld+json", description = "NGSI-LD Subscription"),
    responses((status = 201, description = "Created; Location names the subscription"), (status = 400, description = "BadRequestData / InvalidRequest"), (status = 409, description = "AlreadyExists")))]
pub async fn create_subscription(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    create(SubscriptionKind::Entities, req, payload, state).await
}

/// The collection path of a kind of subscription, under the API base.
fn collection(kind: SubscriptionKind) -> &'static str {
    match kind {
        SubscriptionKind::Entities => "subscriptions",
        SubscriptionKind::Registrations => "csourceSubscriptions",
    }
}

pub(crate) async fn create(
    kind: SubscriptionKind,
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    Params::parse(&req, &[])?;
    let tenant = tenant(&req)?;
    let (body, ctx) = object_body(&req, payload, &state).await?;
    check_jsonld_context(&body, &state).await?;
    let jsonld_context = notification_context(&req, &ctx, &state).await?;
    let mut subscription = parse_subscription(
        kind,
        &body,
        ctx.terms.as_ref(),
        &jsonld_context,
        state.broker_now(),
        new_subscription_id,
    )?;
    subscription.owner = crate::guard::owner(&req);
    let id = state
        .broker
        .create_subscription(&tenant, subscription, ctx.terms.as_ref())
        .await?;
    Ok(HttpResponse::Created()
        .insert_header((
            header::LOCATION,
            format!("{BASE_PATH}/{}/{id}", collection(kind)),
        ))
        .finish())
}

/// A new subscription id: unique in this broker's lifetime and across restarts.
fn new_subscription_id() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let nanos = chrono::Utc::now().timestamp_nanos_opt().unwrap_or_default();
    format!("urn:ngsi-ld:Subscription:{nanos:x}{n:04x}")
}

/// GET /subscriptions — Query Subscriptions (5.8.4), paged.
#[utoipa::path(get, path = "/ngsi-ld/v1/subscriptions", tag = "Subscriptions",
    params(("limit" = Option<usize>, Query, description = "Page size"), ("offset" = Option<usize>, Query, description = "Page start"), ("count" = Option<bool>, Query, description = "Return NGSILD-Results-Count")),
    responses((status = 200, description = "Subscriptions", body = Vec<Object>), (status = 400, description = "BadRequestData")))]
pub async fn query_subscriptions(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    query(SubscriptionKind::Entities, req, state).await
}

pub(crate) async fn query(
    kind: SubscriptionKind,
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let params = Params::parse(&req, &["limit", "offset", "count", "options", "local"])?;
    let sys_attrs = filters::sys_attrs_option(&params)?;
    let tenant = tenant(&req)?;
    let media = negotiate(&req, false)?;
    let ctx = context::from_link(&req, &state.resolver).await?;
    let paging = filters::paging(&params, &state.limits)?;
    let (page, total) = state
        .broker
        .query_subscriptions(kind, &tenant, paging.offset, paging.limit)
        .await?;
    let now = state.broker_now();
    let shown = page.len();
    let items: Vec<Value> = page
        .iter()
        .map(|s| Value::Object(render_subscription(s, ctx.terms.as_ref(), now, sys_attrs)))
        .collect();
    let mut response = respond_array(&req, media, &ctx, Value::Array(items))?;
    // The query of a subscription query has nothing but paging to keep.
    filters::page_headers(
        &mut response,
        &paging,
        (shown, total),
        &format!("{BASE_PATH}/{}", collection(kind)),
        "",
        media.content_type(),
    );
    Ok(response)
}

/// GET /subscriptions/{subscriptionId} — Retrieve Subscription (5.8.3).
#[utoipa::path(get, path = "/ngsi-ld/v1/subscriptions/{subscriptionId}", tag = "Subscriptions",
    params(("subscriptionId" = String, Path, description = "Subscription id (a URI)")),
    responses((status = 200, description = "The subscription", body = Object), (status = 400, description = "BadRequestData"), (status = 404, description = "ResourceNotFound")))]
pub async fn retrieve_subscription(
    req: HttpRequest,
    path: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    retrieve(SubscriptionKind::Entities, req, path, state).await
}

pub(crate) async fn retrieve(
    kind: SubscriptionKind,
    req: HttpRequest,
    path: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let params = Params::parse(&req, &["options", "local"])?;
    let sys_attrs = filters::sys_attrs_option(&params)?;
    let id = subscription_id(&path)?;
    let tenant = tenant(&req)?;
    let media = negotiate(&req, false)?;
    let ctx = context::from_link(&req, &state.resolver).await?;
    let sub = state
        .broker
        .retrieve_subscription(kind, &tenant, id)
        .await?;
    let body = render_subscription(&sub, ctx.terms.as_ref(), state.broker_now(), sys_attrs);
    respond(&req, media, &ctx, body)
}

/// PATCH /subscriptions/{subscriptionId} — Update Subscription (5.8.2).
#[utoipa::path(patch, path = "/ngsi-ld/v1/subscriptions/{subscriptionId}", tag = "Subscriptions",
    params(("subscriptionId" = String, Path, description = "Subscription id (a URI)")),
    request_body(content = Object, content_type = "application/ld+json", description = "Subscription fragment"),
    responses((status = 204, description = "Updated"), (status = 400, description = "BadRequestData"), (status = 404, description = "ResourceNotFound")))]
pub async fn update_subscription(
    req: HttpRequest,
    path: web::Path<String>,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    update(SubscriptionKind::Entities, req, path, payload, state).await
}

pub(crate) async fn update(
    kind: SubscriptionKind,
    req: HttpRequest,
    path: web::Path<String>,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    Params::parse(&req, &[])?;
    let id = subscription_id(&path)?.to_owned();
    let tenant = tenant(&req)?;
    let (body, ctx) = object_body(&req, payload, &state).await?;
    check_jsonld_context(&body, &state).await?;
    state
        .broker
        .update_subscription(kind, &tenant, &id, &body, ctx.terms.as_ref())
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// DELETE /subscriptions/{subscriptionId} — Delete Subscription (5.8.5).
#[utoipa::path(delete, path = "/ngsi-ld/v1/subscriptions/{subscriptionId}", tag = "Subscriptions",
    params(("subscriptionId" = String, Path, description = "Subscription id (a URI)")),
    responses((status = 204, description = "Deleted"), (status = 400, description = "BadRequestData"), (status = 404, description = "ResourceNotFound")))]
pub async fn delete_subscription(
    req: HttpRequest,
    path: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    delete(SubscriptionKind::Entities, req, path, state).await
}

pub(crate) async fn delete(
    kind: SubscriptionKind,
    req: HttpRequest,
    path: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    Params::parse(&req, &[])?;
    let id = subscription_id(&path)?;
    let tenant = tenant(&req)?;
    state.broker.delete_subscription(kind, &tenant, id).await?;
    Ok(HttpResponse::NoContent().finish())
}
