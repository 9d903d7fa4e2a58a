//! Content negotiation (clause 6.3.4): Accept for responses, Content-Type for request bodies.

use actix_web::http::header;
use actix_web::HttpRequest;

use crate::ApiError;

/// The representation of a response body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResponseMedia {
    /// `application/json`: the @context goes in a `Link` header.
    Json,
    /// `application/ld+json`: the @context goes in the body.
    LdJson,
    /// `application/geo+json`: GeoJSON features (retrieve and query only).
    GeoJson,
}

impl ResponseMedia {
    pub fn content_type(self) -> &'static str {
        match self {
            Self::Json => "application/json",
            Self::LdJson => "application/ld+json",
            Self::GeoJson => "application/geo+json",
        }
    }
}

/// Picks the response media type from `Accept`; `allow_geo` for retrieve/query operations.
/// No Accept header means `application/json`; nothing acceptable is 406.
pub fn negotiate(req: &HttpRequest, allow_geo: bool) -> Result<ResponseMedia, ApiError> {
    let Some(accept) = req.headers().get(header::ACCEPT) else {
        return Ok(ResponseMedia::Json);
    };
    let accept = accept.to_str().map_err(|_| ApiError::NotAcceptable)?;
    if accept.trim().is_empty() {
        return Ok(ResponseMedia::Json);
    }
    let mut best: Option<(f32, usize, ResponseMedia)> = None;
    for range in accept.split(',') {
        let mut parts = range.split(';');
        let media = parts.next().unwrap_or("").trim().to_ascii_lowercase();
        let q = parts
            .find_map(|p| {
                p.trim()
                    .strip_prefix("q=")
                    .and_then(|q| q.trim().parse::<f32>().ok())
            })
            .unwrap_or(1.0);
        if q <= 0.0 {
            continue;
        }
        let candidates: &[ResponseMedia] = match media.as_str() {
            "application/json" => &[ResponseMedia::Json],
            "application/ld+json" => &[ResponseMedia::LdJson],
            "application/geo+json" if allow_geo => &[ResponseMedia::GeoJson],
            "*/*" | "application/*" => &[ResponseMedia::Json],
            _ => &[],
        };
        for m in candidates {
            // Ties go to the spec's order: JSON, JSON-LD, GeoJSON.
            let rank = *m as usize;
            let better = match best {
                None => true,
                Some((bq, brank, _)) => q > bq || (q == bq && rank < brank),
            };
            if better {
                best = Some((q, rank, *m));
            }
        }
    }
    best.map(|(_, _, m)| m).ok_or(ApiError::NotAcceptable)
}

/// The media type of a request body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestMedia {
    /// `application/json` (or `application/merge-patch+json`): @context from `Link`.
    Json,
    /// `application/ld+json`: @context from the body.
    LdJson,
}

/// Checks `Content-Type` (clause 6.3.4): JSON, JSON-LD or merge-patch JSON, whatever the
/// parameters (`charset`); else 415.
pub fn request_media(req: &HttpRequest) -> Result<RequestMedia, ApiError> {
    let ct = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .ok_or(ApiError::UnsupportedMediaType)?;
    let essence = ct
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    match essence.as_str() {
        "application/json" => Ok(RequestMedia::Json),
        "application/ld+json" => Ok(RequestMedia::LdJson),
        // The spec names merge-patch for PATCH; clients also send it on POST (append
        // attributes), and it carries the same JSON (docs/conformance.md, tolerated input).
        "application/merge-patch+json" => Ok(RequestMedia::Json),
        _ => Err(ApiError::UnsupportedMediaType),
    }
}
