//! Context Source Identity (clauses 5.15, 5.2.40, HTTP binding 6.33): GET
//! /info/sourceIdentity tells who this broker is to the brokers that federate it: its id
//! (per tenant), its alias as it appears in `Via`, how long it has been up and its clock.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::{json, Value};

use crate::context;
use crate::negotiation::negotiate;
use crate::problem::blank_problem;
use crate::representation::respond;
use crate::request::{tenant, Params};
use crate::{ApiError, AppState};

/// GET /info/sourceIdentity — Retrieve Context Source Identity Information (5.15.1).
#[utoipa::path(get, path = "/ngsi-ld/v1/info/sourceIdentity", tag = "Context sources",
    responses((status = 200, description = "ContextSourceIdentity", body = Object), (status = 501, description = "The broker has no identity as a context source")))]
pub async fn retrieve_source_identity(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let media = negotiate(&req, false)?;
    Params::parse(&req, &[])?;
    let tenant = tenant(&req)?;
    let ctx = context::from_link(&req, &state.resolver).await?;
    let Some(identity) = state.broker.source_identity(&tenant) else {
        return Ok(HttpResponse::NotImplemented().json(blank_problem(
            StatusCode::NOT_IMPLEMENTED,
            "this broker is not set up as a context source (no alias)",
        )));
    };
    let up = (identity.now - identity.up_since).num_seconds().max(0);
    let body = json!({
        "id": identity.id,
        "type": "ContextSourceIdentity",
        "contextSourceAlias": identity.alias,
        "contextSourceUptime": format!("PT{up}S"),
        "contextSourceTimeAt": identity.now.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        "contextSourceExtras": {"broker": "Rigel", "version": env!("CARGO_PKG_VERSION")},
    });
    let Value::Object(body) = body else {
        return Ok(HttpResponse::InternalServerError().finish());
    };
    respond(&req, media, &ctx, body)
}
