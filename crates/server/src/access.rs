//! The outermost middleware of the API: gives every request an id (the client's
//! `X-Request-Id`, or a new one) echoed in the response, writes one request-log line per
//! request (method, path, tenant, status, latency, bytes, id; never bodies) and records the
//! request metrics by route template.

use std::time::Instant;

use actix_web::body::{BodySize, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue, CONTENT_LENGTH};
use actix_web::middleware::Next;
use actix_web::web;

use crate::health::Operations;
use crate::metrics::RequestLabels;

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Longest client-given request id kept; a longer or non-printable one is replaced.
const MAX_REQUEST_ID: usize = 128;

/// Whether the request log is written.
#[derive(Debug, Clone, Copy)]
pub struct AccessLog {
    pub enabled: bool,
}

/// A new request id: a random UUID drawn once per process with a counter in its last 64 bits,
/// so ids are unique across restarts and replicas without a random draw (a system call) per
/// request.
fn new_request_id() -> HeaderValue {
    static BASE: std::sync::OnceLock<u128> = std::sync::OnceLock::new();
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let base = *BASE.get_or_init(|| uuid::Uuid::new_v4().as_u128() & !u128::from(u64::MAX));
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    // The RFC 4122 variant bits (10) stay in place above the 62-bit counter.
    let low = (n & (u64::MAX >> 2)) | (1 << 63);
    let id = uuid::Uuid::from_u128(base | u128::from(low));
    HeaderValue::from_str(
        id.hyphenated()
            .encode_lower(&mut uuid::Uuid::encode_buffer()),
    )
    .unwrap_or(HeaderValue::from_static("unknown"))
}

/// The client's request id when it is usable (printable ASCII, bounded), else a new one.
fn request_id(req: &ServiceRequest) -> HeaderValue {
    req.headers()
        .get(&REQUEST_ID)
        .filter(|v| {
            let b = v.as_bytes();
            !b.is_empty() && b.len() <= MAX_REQUEST_ID && b.iter().all(|c| c.is_ascii_graphic())
        })
        .cloned()
        .unwrap_or_else(new_request_id)
}

fn header_text<'a>(req: &'a ServiceRequest, name: &str) -> Option<&'a str> {
    req.headers().get(name).and_then(|v| v.to_str().ok())
}

/// A route template without the regular expressions of its parameters:
/// `/entities/{entityId:[^/]*}` becomes `/entities/{entityId}`.
pub fn route_template(pattern: &str) -> String {
    let mut out = String::with_capacity(pattern.len());
    let mut depth = 0usize;
    let mut in_regex = false;
    for c in pattern.chars() {
        match c {
            '{' => {
                depth += 1;
                if !in_regex {
                    out.push(c);
                }
            }
            '}' => {
                depth = depth.saturating_sub(1);
                if depth == 0 {
                    in_regex = false;
                    out.push(c);
                }
            }
            ':' if depth == 1 && !in_regex => in_regex = true,
            _ if !in_regex => out.push(c),
            _ => {}
        }
    }
    out
}

/// The middleware (wrap it around the whole API app with `middleware::from_fn`).
pub async fn observe(
    log: AccessLog,
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<actix_web::body::BoxBody>, actix_web::Error> {
    let started = Instant::now();
    let id = request_id(&req);
    let method = req.method().clone();
    let path = req.path().to_owned();
    let tenant = header_text(&req, "NGSILD-Tenant")
        .or_else(|| header_text(&req, "Fiware-Service"))
        .unwrap_or("")
        .to_owned();
    let bytes_in = header_text(&req, CONTENT_LENGTH.as_str())
        .and_then(|v| v.parse::<u64>().ok())
        .unwrap_or(0);
    let ops = req.app_data::<web::Data<Operations>>().cloned();
    let mut response = next.call(req).await?.map_into_boxed_body();
    response.headers_mut().insert(REQUEST_ID, id.clone());
    // Header names go out capitalized (`Location`, `Content-Type`), as most servers write
    // them: HTTP says case does not matter, but clients written against other brokers
    // look some up by their exact spelling (the ETSI suite reads `Location` that way).
    response
        .response_mut()
        .head_mut()
        .set_camel_case_headers(true);
    let took = started.elapsed();
    let status = response.status().as_u16();
    let labels = RequestLabels {
        route: response
            .request()
            .match_pattern()
            .map_or_else(|| "unmatched".to_owned(), |p| route_template(&p)),
        method: method.as_str().to_owned(),
        status,
    };
    if let Some(ops) = ops {
        ops.metrics.request(&labels, took);
        if ops.health.is_draining() {
            // Shutting down: keep-alive clients must reconnect (and be refused) rather than
            // keep the connection, and the shutdown, going.
            response
                .response_mut()
                .head_mut()
                .set_connection_type(actix_web::http::ConnectionType::Close);
        }
    }
    if log.enabled {
        let bytes_out = match response.response().body().size() {
            BodySize::Sized(n) => n,
            BodySize::None | BodySize::Stream => 0,
        };
        tracing::info!(
            target: "rigel::request",
            method = %method,
            path = %path,
            route = %labels.route,
            tenant = %tenant,
            status,
            latency_ms = took.as_secs_f64() * 1000.0,
            bytes_in,
            bytes_out,
            request_id = id.to_str().unwrap_or(""),
            "request"
        );
    }
    Ok(response)
}
