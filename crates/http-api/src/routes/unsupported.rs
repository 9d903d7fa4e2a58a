//! Resources of the NGSI-LD API that Rigel does not provide yet: they answer
//! `OperationNotSupported` instead of pretending, after the HTTP preconditions every
//! operation shares (Accept 406, Content-Type 415).

use actix_web::http::Method;
use actix_web::HttpRequest;

use crate::negotiation::{negotiate, request_media};
use crate::ApiError;

/// Any request to an API area that is not implemented.
pub async fn not_implemented(req: HttpRequest) -> Result<actix_web::HttpResponse, ApiError> {
    if req.method() == Method::GET {
        // GeoJSON is acceptable for Query Entities only (clause 6.3.4).
        let query_entities =
            req.path().trim_end_matches('/') == format!("{}/entities", crate::BASE_PATH);
        negotiate(&req, query_entities)?;
    }
    if matches!(*req.method(), Method::POST | Method::PATCH | Method::PUT) {
        request_media(&req)?;
    }
    Err(ApiError::not_supported(format!(
        "{} {} is not supported by this broker yet",
        req.method(),
        req.path()
    )))
}
