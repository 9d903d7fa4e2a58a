//! Context Source Registration Subscription resources (clauses 5.11, 6.12, 6.13): create,
//! query, retrieve, update and delete. They are handled as subscriptions are, in their
//! own collection.

use actix_web::{web, HttpRequest, HttpResponse};
use rigel_model::subscription::SubscriptionKind;

use super::subscriptions::{create, delete, query, retrieve, update};
use crate::{ApiError, AppState};

const KIND: SubscriptionKind = SubscriptionKind::Registrations;

/// POST /csourceSubscriptions — Create Context Source Registration Subscription (5.11.2).
#[utoipa::path(post, path = "/ngsi-ld/v1/csourceSubscriptions", tag = "Context Sources",
    request_body(content = Object, content_type = "application/ld+json", description = "NGSI-LD Subscription"),
    responses((status = 201, description = "Created; Location names the subscription"), (status = 400, description = "BadRequestData / InvalidRequest"), (status = 409, description = "AlreadyExists")))]
pub async fn create_csource_subscription(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    create(KIND, req, payload, state).await
}

/// GET /csourceSubscriptions — Query Context Source Registration Subscriptions (5.11.5), paged.
#[utoipa::path(get, path = "/ngsi-ld/v1/csourceSubscriptions", tag = "Context Sources",
    params(("limit" = Option<usize>, Query, description = "Page size"), ("offset" = Option<usize>, Query, description = "Page start"), ("count" = Option<bool>, Query, description = "Return NGSILD-Results-Count")),
    responses((status = 200, description = "Registration subscriptions", body = Vec<Object>), (status = 400, description = "BadRequestData")))]
pub async fn query_csource_subscriptions(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    query(KIND, req, state).await
}

/// GET /csourceSubscriptions/{subscriptionId} — Retrieve Context Source Registration
/// Subscription (5.11.4).
#[utoipa::path(get, path = "/ngsi-ld/v1/csourceSubscriptions/{subscriptionId}", tag = "Context Sources",
    params(("subscriptionId" = String, Path, description = "Subscription id (a URI)")),
    responses((status = 200, description = "The registration subscription", body = Object), (status = 400, description = "BadRequestData"), (status = 404, description = "ResourceNotFound")))]
pub async fn retrieve_csource_subscription(
    req: HttpRequest,
    path: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    retrieve(KIND, req, path, state).await
}

/// PATCH /csourceSubscriptions/{subscriptionId} — Update Context Source Registration
/// Subscription (5.11.3); a notification with every registration matching then follows.
#[utoipa::path(patch, path = "/ngsi-ld/v1/csourceSubscriptions/{subscriptionId}", tag = "Context Sources",
    params(("subscriptionId" = String, Path, description = "Subscription id (a URI)")),
    request_body(content = Object, content_type = "application/ld+json", description = "Subscription fragment"),
    responses((status = 204, description = "Updated"), (status = 400, description = "BadRequestData"), (status = 404, description = "ResourceNotFound")))]
pub async fn update_csource_subscription(
    req: HttpRequest,
    path: web::Path<String>,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    update(KIND, req, path, payload, state).await
}

/// DELETE /csourceSubscriptions/{subscriptionId} — Delete Context Source Registration
/// Subscription (5.11.6).
#[utoipa::path(delete, path = "/ngsi-ld/v1/csourceSubscriptions/{subscriptionId}", tag = "Context Sources",
    params(("subscriptionId" = String, Path, description = "Subscription id (a URI)")),
    responses((status = 204, description = "Deleted"), (status = 400, description = "BadRequestData"), (status = 404, description = "ResourceNotFound")))]
pub async fn delete_csource_subscription(
    req: HttpRequest,
    path: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    delete(KIND, req, path, state).await
}
