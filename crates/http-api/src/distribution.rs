//! How a request may be distributed to context sources (clauses 5.5.13, 6.3.17, 6.3.18):
//! its `local` parameter and `Via` header, the client's @context for forwarded requests,
//! and the `NGSILD-Warning` headers of sources that failed.

use std::sync::Arc;

use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::{HttpRequest, HttpResponse};
use rigel_broker::federation::{Distribution, Hop, SourceWarning};
use serde_json::Value;

use crate::context::RequestContext;
use crate::request::Params;
use crate::ApiError;

/// The distribution of a request from its `local` parameter, `Via` header and @context.
pub fn of(
    req: &HttpRequest,
    params: &Params,
    ctx: &RequestContext,
) -> Result<Distribution, ApiError> {
    let via_header = req
        .headers()
        .get_all("Via")
        .filter_map(|v| v.to_str().ok())
        .collect::<Vec<_>>()
        .join(", ");
    let via_header = (!via_header.is_empty()).then_some(via_header);
    Ok(Distribution {
        local: params.flag("local")?,
        via: via_header
            .as_deref()
            .map(Hop::parse_all)
            .unwrap_or_default(),
        via_header,
        terms: Arc::clone(&ctx.terms) as Arc<dyn rigel_model::TermMap + Send + Sync>,
        link: match &ctx.user {
            Some(Value::String(url)) => Some(url.clone()),
            _ => None,
        },
    })
}

/// Adds one `NGSILD-Warning` header per failed source: `code agent "text"`.
pub fn warn(response: &mut HttpResponse, warnings: &[SourceWarning]) {
    let name = HeaderName::from_static("ngsild-warning");
    for w in warnings {
        let agent = if w.registration.is_empty() {
            "-"
        } else {
            w.registration.as_str()
        };
        let text = w.text.replace('"', "'");
        if let Ok(value) = HeaderValue::from_str(&format!("{} {agent} \"{text}\"", w.code)) {
            response.headers_mut().append(name.clone(), value);
        }
    }
}
