//! The request's JSON-LD @context (clause 6.3.5): from the `Link` header or the body, resolved
//! through the shared [`ContextResolver`], and echoed in responses.

use std::sync::Arc;

use actix_web::http::header;
use actix_web::HttpRequest;
use rigel_jsonld::{ContextResolver, ResolvedContext, CORE_CONTEXT_URL};
use serde_json::Value;

use crate::negotiation::RequestMedia;
use crate::ApiError;

const JSONLD_CONTEXT_REL: &str = "http://www.w3.org/ns/json-ld#context";

/// The @context of one request.
pub struct RequestContext {
    /// The user context as the client sent it (a URL from `Link`, or the body's `@context`).
    pub user: Option<Value>,
    pub terms: Arc<ResolvedContext>,
}

impl RequestContext {
    /// The URL to advertise in a response `Link` header.
    pub fn link_url(&self) -> &str {
        match &self.user {
            Some(Value::String(url)) => url,
            _ => CORE_CONTEXT_URL,
        }
    }

    /// The `@context` member of a JSON-LD response body.
    pub fn body_context(&self) -> Value {
        self.user
            .clone()
            .unwrap_or_else(|| Value::String(CORE_CONTEXT_URL.to_owned()))
    }

    /// A `Link` header value pointing at this request's context.
    pub fn link_header(&self) -> String {
        format!(
            "<{}>; rel=\"{JSONLD_CONTEXT_REL}\"; type=\"application/ld+json\"",
            self.link_url()
        )
    }
}

/// The context URL of a JSON-LD `Link` header, if the request has one.
pub fn link_context(req: &HttpRequest) -> Result<Option<String>, ApiError> {
    for value in req.headers().get_all(header::LINK) {
        let value = value
            .to_str()
            .map_err(|_| ApiError::bad_data("the Link header is not valid text"))?;
        for link in split_links(value) {
            let mut parts = link.split(';');
            let target = parts.next().unwrap_or("").trim();
            let is_context = parts.any(|p| {
                let p = p.trim();
                p.strip_prefix("rel=")
                    .map(|r| r.trim_matches('"') == JSONLD_CONTEXT_REL)
                    .unwrap_or(false)
            });
            if !is_context {
                continue;
            }
            let url = target
                .strip_prefix('<')
                .and_then(|t| t.strip_suffix('>'))
                .filter(|u| !u.is_empty())
                .ok_or_else(|| ApiError::bad_data("the JSON-LD Link header has no <URL>"))?;
            return Ok(Some(url.to_owned()));
        }
    }
    Ok(None)
}

/// Splits a Link header value on commas outside `<...>` and quotes.
fn split_links(value: &str) -> Vec<&str> {
    let (mut out, mut start, mut in_angle, mut in_quote) = (Vec::new(), 0, false, false);
    for (i, c) in value.char_indices() {
        match c {
            '<' if !in_quote => in_angle = true,
            '>' if !in_quote => in_angle = false,
            '"' if !in_angle => in_quote = !in_quote,
            ',' if !in_angle && !in_quote => {
                out.push(&value[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(&value[start..]);
    out
}

/// Resolves the context of a request without a body (GET, DELETE): the `Link` header or none.
pub async fn from_link(
    req: &HttpRequest,
    resolver: &ContextResolver,
) -> Result<RequestContext, ApiError> {
    let user = link_context(req)?.map(Value::String);
    let terms = resolver.resolve(user.as_ref()).await?;
    note_use(req, resolver, user.as_ref());
    Ok(RequestContext { user, terms })
}

/// Remembers which remote @contexts the request's tenant named (its @context listing).
fn note_use(req: &HttpRequest, resolver: &ContextResolver, user: Option<&Value>) {
    if let Ok(tenant) = crate::request::tenant(req) {
        resolver.note_tenant_use(tenant.name(), user);
    }
}

/// Resolves the context of a request with a JSON body (clause 6.3.5): `Link` for JSON bodies
/// (which must not hold `@context`), the body's `@context` for JSON-LD ones (which must not
/// come with a `Link`).
pub async fn from_body(
    req: &HttpRequest,
    media: RequestMedia,
    body: &Value,
    resolver: &ContextResolver,
) -> Result<RequestContext, ApiError> {
    let in_body = body_context(body)?;
    let user = match media {
        RequestMedia::Json => {
            if in_body.is_some() {
                return Err(ApiError::bad_data(
                    "a body sent as application/json must not contain @context; use a Link header or application/ld+json",
                ));
            }
            link_context(req)?.map(Value::String)
        }
        RequestMedia::LdJson => {
            if link_context(req)?.is_some() {
                return Err(ApiError::bad_data(
                    "a body sent as application/ld+json carries its @context; a JSON-LD Link header is not allowed",
                ));
            }
            Some(in_body.ok_or_else(|| {
                ApiError::bad_data("a body sent as application/ld+json must contain @context")
            })?)
        }
    };
    let terms = resolver.resolve(user.as_ref()).await?;
    note_use(req, resolver, user.as_ref());
    Ok(RequestContext { user, terms })
}

/// The `@context` of a body: of the object, or common to the objects of an array.
fn body_context(body: &Value) -> Result<Option<Value>, ApiError> {
    match body {
        Value::Object(o) => Ok(o.get("@context").cloned()),
        Value::Array(items) => {
            let mut found: Option<Value> = None;
            for item in items {
                if let Some(c) = item.get("@context") {
                    if found.as_ref().is_some_and(|f| f != c) {
                        return Err(ApiError::bad_data(
                            "the items of the body have different @context values",
                        ));
                    }
                    found = Some(c.clone());
                }
            }
            Ok(found)
        }
        _ => Ok(None),
    }
}
