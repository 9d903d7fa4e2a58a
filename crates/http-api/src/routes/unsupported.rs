//! Resources of the NGSI-LD API that Rigel does not provide yet: they answer
//! `OperationNotSupported` instead of pretending.

use actix_web::HttpRequest;

use crate::ApiError;

/// Any request to an API area that is not implemented.
pub async fn not_implemented(req: HttpRequest) -> Result<actix_web::HttpResponse, ApiError> {
    Err(ApiError::not_supported(format!(
        "{} {} is not supported by this broker yet",
        req.method(),
        req.path()
    )))
}
