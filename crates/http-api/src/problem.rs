//! The HTTP edge of errors: every error becomes a ProblemDetails body (clause 5.5.2, 6.3.2)
//! with the spec's status code; media-type errors get their bare statuses (6.3.4).

use actix_web::http::{header, StatusCode};
use actix_web::{HttpResponse, ResponseError};
use rigel_broker::BrokerError;
use rigel_jsonld::JsonLdError;
use rigel_model::{ErrorKind, ModelError};
use serde_json::json;

/// Everything a handler can fail with.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error(transparent)]
    Broker(#[from] BrokerError),
    #[error(transparent)]
    JsonLd(#[from] JsonLdError),
    #[error(transparent)]
    Model(#[from] ModelError),
    #[error("unsupported media type")]
    UnsupportedMediaType,
    #[error("not acceptable")]
    NotAcceptable,
    #[error("request body larger than {0} bytes")]
    PayloadTooLarge(usize),
    #[error("method not allowed")]
    MethodNotAllowed(&'static str),
    #[error("Content-Length required")]
    LengthRequired,
    #[error("the request body did not arrive within {0:?}")]
    BodyTimeout(std::time::Duration),
    #[error(transparent)]
    Auth(#[from] rigel_auth::AuthError),
}

impl ApiError {
    /// Whether the error is the database being unreachable, failing over or too slow: a 503
    /// with `Retry-After`, since the same request may succeed later.
    fn is_unavailable(&self) -> bool {
        matches!(self, Self::Broker(BrokerError::Storage(e)) if e.is_retryable())
    }

    pub fn bad_data(detail: impl Into<String>) -> Self {
        Self::Model(ModelError::bad_data(detail))
    }

    pub fn invalid_request(detail: impl Into<String>) -> Self {
        Self::Model(ModelError::invalid_request(detail))
    }

    pub fn not_supported(detail: impl Into<String>) -> Self {
        Self::Model(ModelError::new(ErrorKind::OperationNotSupported, detail))
    }

    /// The ProblemDetails body of this error where it is reported inside another body, e.g.
    /// one entity's error in a BatchOperationResult (clause 5.2.17).
    pub(crate) fn problem_body(&self) -> serde_json::Value {
        if let Self::Broker(e @ BrokerError::LoopDetected(_)) = self {
            return loop_detected(&e.to_string());
        }
        if self.is_unavailable() {
            return unavailable();
        }
        let (kind, detail) = self
            .kind_and_detail()
            .unwrap_or((ErrorKind::InternalError, self.to_string()));
        if kind == ErrorKind::InternalError {
            tracing::error!(error = %self, "internal error");
            return problem_body(kind, INTERNAL_DETAIL);
        }
        problem_body(kind, &detail)
    }

    fn kind_and_detail(&self) -> Option<(ErrorKind, String)> {
        match self {
            Self::Broker(e) => Some((e.kind(), e.detail())),
            Self::JsonLd(e) => Some((e.kind(), e.to_string())),
            Self::Model(e) => Some((e.kind, e.detail.clone())),
            _ => None,
        }
    }
}

/// What a client is told of an internal error: its text (file paths, database messages)
/// goes to the log only.
const INTERNAL_DETAIL: &str =
    "the broker failed to handle the request; its log has the details (X-Request-Id)";

/// The HTTP status of an error kind (Table 6.3.2-1).
pub fn status_of(kind: ErrorKind) -> StatusCode {
    match kind {
        ErrorKind::AlreadyExists | ErrorKind::Conflict => StatusCode::CONFLICT,
        ErrorKind::BadRequestData | ErrorKind::InvalidRequest => StatusCode::BAD_REQUEST,
        ErrorKind::InternalError => StatusCode::INTERNAL_SERVER_ERROR,
        ErrorKind::LdContextNotAvailable => StatusCode::GATEWAY_TIMEOUT,
        ErrorKind::NoMultiTenantSupport => StatusCode::NOT_IMPLEMENTED,
        ErrorKind::NonexistentTenant | ErrorKind::ResourceNotFound => StatusCode::NOT_FOUND,
        ErrorKind::OperationNotSupported => StatusCode::UNPROCESSABLE_ENTITY,
        ErrorKind::TooComplexQuery | ErrorKind::TooManyResults => StatusCode::FORBIDDEN,
    }
}

/// The ProblemDetails body (RFC 7807) of an error kind.
pub(crate) fn problem_body(kind: ErrorKind, detail: &str) -> serde_json::Value {
    json!({ "type": kind.type_uri(), "title": kind.title(), "detail": detail })
}

/// A ProblemDetails response (RFC 7807) for an error kind.
pub fn problem(kind: ErrorKind, detail: &str) -> HttpResponse {
    HttpResponse::build(status_of(kind))
        .content_type("application/json")
        .json(problem_body(kind, detail))
}

/// How long a client is asked to wait before retrying while the database is unavailable.
const RETRY_AFTER_SECS: &str = "2";

fn unavailable() -> serde_json::Value {
    blank_problem(
        StatusCode::SERVICE_UNAVAILABLE,
        "the database is unavailable; retry later",
    )
}

/// The ProblemDetails of 508 Loop Detected (6.3.17), which no error type of the spec names.
fn loop_detected(detail: &str) -> serde_json::Value {
    blank_problem(StatusCode::LOOP_DETECTED, detail)
}

/// RFC 9457's `about:blank` ProblemDetails, titled as its status: the body of the statuses
/// no NGSI-LD error type names (gateway failures, loops, authentication, limits).
pub fn blank_problem(status: StatusCode, detail: &str) -> serde_json::Value {
    json!({
        "type": "about:blank",
        "title": status.canonical_reason().unwrap_or("Error"),
        "detail": detail,
    })
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        if self.is_unavailable() {
            return StatusCode::SERVICE_UNAVAILABLE;
        }
        match self {
            Self::Broker(BrokerError::LoopDetected(_)) => StatusCode::LOOP_DETECTED,
            Self::Broker(BrokerError::OverQuota(_)) => StatusCode::FORBIDDEN,
            Self::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::NotAcceptable => StatusCode::NOT_ACCEPTABLE,
            Self::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            Self::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
            Self::LengthRequired => StatusCode::LENGTH_REQUIRED,
            Self::BodyTimeout(_) => StatusCode::REQUEST_TIMEOUT,
            Self::Auth(e) => crate::guard::status_of(e),
            other => other
                .kind_and_detail()
                .map_or(StatusCode::INTERNAL_SERVER_ERROR, |(k, _)| status_of(k)),
        }
    }

    fn error_response(&self) -> HttpResponse {
        if self.is_unavailable() {
            tracing::warn!(error = %self, "database unavailable");
            return HttpResponse::ServiceUnavailable()
                .insert_header((header::RETRY_AFTER, RETRY_AFTER_SECS))
                .content_type("application/json")
                .json(unavailable());
        }
        match self {
            Self::Broker(e @ BrokerError::LoopDetected(_)) => {
                HttpResponse::build(StatusCode::LOOP_DETECTED)
                    .content_type("application/json")
                    .json(loop_detected(&e.to_string()))
            }
            Self::Broker(e @ BrokerError::OverQuota(_)) => HttpResponse::Forbidden()
                .content_type("application/json")
                .json(blank_problem(StatusCode::FORBIDDEN, &e.to_string())),
            Self::UnsupportedMediaType => HttpResponse::UnsupportedMediaType().finish(),
            Self::LengthRequired => HttpResponse::LengthRequired().finish(),
            // The rest of the body may still trickle in: the connection is not reused.
            Self::BodyTimeout(_) => HttpResponse::RequestTimeout()
                .insert_header((header::CONNECTION, "close"))
                .content_type("application/json")
                .json(blank_problem(
                    StatusCode::REQUEST_TIMEOUT,
                    &self.to_string(),
                )),
            Self::Auth(e) => crate::guard::refusal(e),
            Self::NotAcceptable => HttpResponse::NotAcceptable().json(json!({
                "type": ErrorKind::InvalidRequest.type_uri(),
                "title": "Not acceptable",
                "detail": "the Accept header allows none of the available representations",
                "available": ["application/json", "application/ld+json", "application/geo+json"],
            })),
            Self::PayloadTooLarge(_) => {
                let mut r = problem(ErrorKind::BadRequestData, &self.to_string());
                *r.status_mut() = StatusCode::PAYLOAD_TOO_LARGE;
                r
            }
            Self::MethodNotAllowed(allow) => {
                let mut r = problem(
                    ErrorKind::InvalidRequest,
                    "method not allowed on this resource",
                );
                *r.status_mut() = StatusCode::METHOD_NOT_ALLOWED;
                if let Ok(v) = header::HeaderValue::from_str(allow) {
                    r.headers_mut().insert(header::ALLOW, v);
                }
                r
            }
            other => {
                let (kind, detail) = other
                    .kind_and_detail()
                    .unwrap_or((ErrorKind::InternalError, other.to_string()));
                if kind == ErrorKind::InternalError {
                    tracing::error!(error = %other, "internal error");
                    return problem(kind, INTERNAL_DETAIL);
                }
                problem(kind, &detail)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_internal_error_tells_the_client_nothing_of_paths_or_database_messages() {
        let failure = rigel_storage::StorageError::Io(
            "No space left on device: /var/lib/rigel/rigel.wal".into(),
        );
        let error = ApiError::Broker(BrokerError::Storage(failure));
        let response = error.error_response();
        assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
        let body = error.problem_body().to_string();
        assert!(!body.contains("/var/lib"), "{body}");
        assert!(body.contains("InternalError"), "{body}");
    }
}
