//! Authentication and rights at the edge, when the broker is configured with an issuer: every
//! NGSI-LD call needs a valid bearer token whose roles hold the rights the call needs over
//! the request's tenant. 401 with `WWW-Authenticate` without a valid token, 403 without the
//! right. The version document, the OpenAPI description and the health probes stay open.

use std::sync::Arc;

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::{header, Method, StatusCode};
use actix_web::middleware::Next;
use actix_web::{HttpMessage, HttpRequest, HttpResponse, ResponseError};
use rigel_auth::{AuthError, Caller, Right, Verifier};
use rigel_model::subscription::Owner;

use crate::ApiError;

/// The rights a call needs over its tenant; none for the open resources.
pub fn required_rights(method: &Method, path: &str) -> &'static [Right] {
    let Some(rest) = path.strip_prefix("/ngsi-ld/") else {
        return match path {
            "/statistics" => &[Right::Admin],
            _ => &[],
        };
    };
    let Some(rest) = rest.strip_prefix("v1/") else {
        // Rigel's own resources outside the standard tree.
        return &[Right::Admin];
    };
    let reads = matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS);
    let mut segments = rest.split('/');
    let first = segments.next().unwrap_or_default();
    let second = segments.next();
    match first {
        // Reading subscriptions shows their endpoints and credentials; making or changing
        // one also needs read, since its notifications carry entity data.
        "subscriptions" | "csourceSubscriptions" if reads => &[Right::Subscribe],
        "subscriptions" | "csourceSubscriptions" => &[Right::Subscribe, Right::Read],
        "csourceRegistrations" | "jsonldContexts" if reads => &[Right::Read],
        "csourceRegistrations" | "jsonldContexts" => &[Right::Admin],
        // Purge: every entity of a type (or of a tenant) at once.
        "entities" if second.is_none() && *method == Method::DELETE => &[Right::Admin],
        "entityOperations" if second == Some("query") => &[Right::Read],
        "temporal" if rest == "temporal/entityOperations/query" => &[Right::Read],
        // Entity maps are the paging state of queries.
        "entityMaps" | "info" | "types" | "attributes" => &[Right::Read],
        _ if reads => &[Right::Read],
        _ => &[Right::Write],
    }
}

/// The middleware: checks the token and the rights, and leaves the caller in the request's
/// extensions for the handlers (a subscription records its creator). `None`: open access.
pub async fn guard(
    verifier: Option<Arc<Verifier>>,
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let Some(verifier) = verifier else {
        return Ok(next.call(req).await?.map_into_boxed_body());
    };
    let rights = required_rights(req.method(), req.path());
    if rights.is_empty() {
        return Ok(next.call(req).await?.map_into_boxed_body());
    }
    let authorization = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    let checked = match verifier.authenticate(authorization).await {
        Ok(caller) => {
            // A tenant header the handlers will refuse counts as the default tenant here.
            let tenant = crate::request::tenant(req.request()).ok();
            let tenant = tenant.as_ref().and_then(|t| t.name());
            rights
                .iter()
                .try_for_each(|right| verifier.require(&caller, *right, tenant))
                .map(|()| caller)
        }
        Err(e) => Err(e),
    };
    match checked {
        Ok(caller) => {
            req.extensions_mut().insert(caller);
            Ok(next.call(req).await?.map_into_boxed_body())
        }
        Err(e) => {
            tracing::info!(path = req.path(), error = %e, "call refused");
            Ok(req.into_response(ApiError::Auth(e).error_response()))
        }
    }
}

/// The authenticated caller of a request, as a subscription's owner.
pub fn owner(req: &HttpRequest) -> Option<Owner> {
    req.extensions().get::<Caller>().map(|caller| Owner {
        subject: caller.subject.clone(),
        roles: caller.roles.clone(),
    })
}

pub(crate) fn status_of(error: &AuthError) -> StatusCode {
    match error {
        AuthError::Missing | AuthError::Invalid(_) => StatusCode::UNAUTHORIZED,
        AuthError::Forbidden { .. } => StatusCode::FORBIDDEN,
        AuthError::KeysUnavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
    }
}

/// The response to a refused call: RFC 9457's `about:blank` ProblemDetails (the NGSI-LD
/// error types name no authentication failure), with the RFC 6750 challenge on a 401.
pub(crate) fn refusal(error: &AuthError) -> HttpResponse {
    let status = status_of(error);
    let mut response = HttpResponse::build(status);
    match error {
        AuthError::Missing => {
            response.insert_header((header::WWW_AUTHENTICATE, r#"Bearer realm="ngsi-ld""#));
        }
        AuthError::Invalid(why) => {
            let why = why.replace(['"', '\\'], "'");
            response.insert_header((
                header::WWW_AUTHENTICATE,
                format!(
                    r#"Bearer realm="ngsi-ld", error="invalid_token", error_description="{why}""#
                ),
            ));
        }
        AuthError::KeysUnavailable(why) => {
            tracing::warn!(error = %why, "cannot check tokens");
            response.insert_header((header::RETRY_AFTER, "5"));
        }
        AuthError::Forbidden { .. } => {}
    }
    let detail = match error {
        // Where the keys come from is the operator's business.
        AuthError::KeysUnavailable(_) => "the broker cannot check tokens now; retry later".into(),
        other => other.to_string(),
    };
    response
        .content_type("application/json")
        .json(crate::problem::blank_problem(status, &detail))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_resource_needs_the_right_its_operation_calls_for() {
        use Right::*;
        let cases: &[(Method, &str, &[Right])] = &[
            (Method::GET, "/ngsi-ld/v1/entities", &[Read]),
            (Method::POST, "/ngsi-ld/v1/entities", &[Write]),
            (Method::DELETE, "/ngsi-ld/v1/entities", &[Admin]),
            (Method::DELETE, "/ngsi-ld/v1/entities/urn:a", &[Write]),
            (
                Method::PATCH,
                "/ngsi-ld/v1/entities/urn:a/attrs/x",
                &[Write],
            ),
            (
                Method::POST,
                "/ngsi-ld/v1/entityOperations/upsert",
                &[Write],
            ),
            (Method::POST, "/ngsi-ld/v1/entityOperations/query", &[Read]),
            (Method::POST, "/ngsi-ld/v1/temporal/entities", &[Write]),
            (Method::GET, "/ngsi-ld/v1/temporal/entities/urn:a", &[Read]),
            (
                Method::POST,
                "/ngsi-ld/v1/temporal/entityOperations/query",
                &[Read],
            ),
            (Method::GET, "/ngsi-ld/v1/types", &[Read]),
            (Method::GET, "/ngsi-ld/v1/subscriptions", &[Subscribe]),
            (
                Method::POST,
                "/ngsi-ld/v1/subscriptions",
                &[Subscribe, Read],
            ),
            (
                Method::PATCH,
                "/ngsi-ld/v1/csourceSubscriptions/urn:s",
                &[Subscribe, Read],
            ),
            (Method::GET, "/ngsi-ld/v1/csourceRegistrations", &[Read]),
            (Method::POST, "/ngsi-ld/v1/csourceRegistrations", &[Admin]),
            (Method::GET, "/ngsi-ld/v1/jsonldContexts", &[Read]),
            (Method::POST, "/ngsi-ld/v1/jsonldContexts", &[Admin]),
            (Method::DELETE, "/ngsi-ld/v1/jsonldContexts/urn:c", &[Admin]),
            (Method::PATCH, "/ngsi-ld/v1/entityMaps/urn:m", &[Read]),
            (Method::GET, "/ngsi-ld/ex/v1/ingestion/rules", &[Admin]),
            (Method::GET, "/statistics", &[Admin]),
            (Method::GET, "/version", &[]),
            (Method::GET, "/health/ready", &[]),
            (Method::GET, "/openapi.json", &[]),
        ];
        for (method, path, rights) in cases {
            assert_eq!(required_rights(method, path), *rights, "{method} {path}");
        }
    }
}
