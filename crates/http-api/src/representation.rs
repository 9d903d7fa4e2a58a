//! Response representation options from query parameters (clauses 4.5, 4.15, 6.3.7-6.3.12)
//! and the writing of entity bodies with their @context.

use std::collections::HashSet;

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse, HttpResponseBuilder};
use rigel_model::codec::render::{Format, LangPreference, Projection, RenderOptions};
use rigel_model::codec::write::write_entity;
use rigel_model::validate::is_uri;
use rigel_model::{Entity, ErrorKind, ModelError, TermMap};
use serde_json::{Map, Value};

use crate::context::RequestContext;
use crate::negotiation::ResponseMedia;
use crate::projection;
use crate::request::Params;
use crate::{ApiError, AppState};

/// Reads `options`, `format`, `attrs`, `pick`, `omit` and `lang`.
pub fn render_options(params: &Params, terms: &dyn TermMap) -> Result<RenderOptions, ApiError> {
    let mut opts = RenderOptions::default();
    if let Some(options) = params.list("options")? {
        for o in options {
            match o {
                "keyValues" | "simplified" => opts.format = Format::KeyValues,
                "concise" => opts.format = Format::Concise,
                "normalized" => opts.format = Format::Normalized,
                "sysAttrs" => opts.sys_attrs = true,
                other => {
                    return Err(ApiError::invalid_request(format!(
                        "unknown option {other:?}"
                    )))
                }
            }
        }
    }
    if let Some(format) = params.get("format") {
        opts.format = match format {
            "keyValues" | "simplified" => Format::KeyValues,
            "concise" => Format::Concise,
            "normalized" => Format::Normalized,
            other => {
                return Err(ApiError::invalid_request(format!(
                    "unknown format {other:?}"
                )))
            }
        };
    }
    opts.lang = params.get("lang").map(LangPreference::parse);
    let attrs = params.list("attrs")?;
    let pick = params
        .get("pick")
        .map(projection::parse_members)
        .transpose()?;
    let omit = params
        .get("omit")
        .map(projection::parse_members)
        .transpose()?;
    if pick.is_some() && omit.is_some() {
        return Err(ApiError::bad_data("pick and omit cannot be used together"));
    }
    if attrs.is_some() && (pick.is_some() || omit.is_some()) {
        return Err(ApiError::bad_data(
            "attrs cannot be combined with pick or omit",
        ));
    }
    opts.projection = match (pick, omit, attrs) {
        (Some(pick), _, _) => projection::pick(&pick, terms),
        (_, Some(omit), _) => projection::omit(&omit, terms),
        (_, _, Some(attrs)) => Projection {
            keep: Some(expand_names(attrs.into_iter(), terms)?),
            ..Projection::default()
        },
        _ => Projection::default(),
    };
    Ok(opts)
}

fn expand_names<'a>(
    names: impl Iterator<Item = &'a str>,
    terms: &dyn TermMap,
) -> Result<HashSet<String>, ApiError> {
    names
        .map(|n| {
            if rigel_model::validate::is_valid_name(n) {
                Ok(terms.expand(n).into_owned())
            } else {
                Err(ApiError::bad_data(format!(
                    "{n:?} is not a valid attribute name"
                )))
            }
        })
        .collect()
}

/// The `datasetId` selection: URIs and `@none` (the default instance).
pub fn dataset_ids(params: &Params) -> Result<Option<Vec<Option<String>>>, ApiError> {
    let Some(ids) = params.list("datasetId")? else {
        return Ok(None);
    };
    ids.into_iter()
        .map(|d| match d {
            "@none" => Ok(None),
            d if is_uri(d) => Ok(Some(d.to_owned())),
            d => Err(ApiError::bad_data(format!("datasetId {d:?} is not a URI"))),
        })
        .collect::<Result<Vec<_>, _>>()
        .map(Some)
}

/// Whether the @context goes in the body: always for JSON-LD; for GeoJSON unless the client
/// asked for `Prefer: body=json` (clause 6.3.6); never for JSON (it goes in `Link`).
fn context_in_body(req: &HttpRequest, media: ResponseMedia) -> bool {
    match media {
        ResponseMedia::LdJson => true,
        ResponseMedia::Json => false,
        ResponseMedia::GeoJson => !req
            .headers()
            .get_all("Prefer")
            .filter_map(|v| v.to_str().ok())
            .any(|v| {
                v.split([',', ';'])
                    .any(|p| p.trim().eq_ignore_ascii_case("body=json"))
            }),
    }
}

/// Writes a JSON body in the negotiated media type with the request's @context, in the body
/// or in a `Link` header.
pub fn respond(
    req: &HttpRequest,
    media: ResponseMedia,
    ctx: &RequestContext,
    mut body: Map<String, Value>,
) -> Result<HttpResponse, ApiError> {
    let mut builder = HttpResponse::Ok();
    builder.content_type(media.content_type());
    if context_in_body(req, media) {
        body.insert("@context".into(), ctx.body_context());
    } else {
        builder.insert_header((header::LINK, ctx.link_header()));
    }
    bounded_json(req, builder, &Value::Object(body))
}

/// Writes a JSON array body (flattened linked entities, query results): each object gets the
/// @context for JSON-LD, the `Link` header carries it otherwise.
pub fn respond_array(
    req: &HttpRequest,
    media: ResponseMedia,
    ctx: &RequestContext,
    mut body: Value,
) -> Result<HttpResponse, ApiError> {
    let mut builder = HttpResponse::Ok();
    builder.content_type(media.content_type());
    if context_in_body(req, media) {
        if let Value::Array(items) = &mut body {
            for item in items.iter_mut().filter_map(Value::as_object_mut) {
                item.insert("@context".into(), ctx.body_context());
            }
        }
    } else {
        builder.insert_header((header::LINK, ctx.link_header()));
    }
    bounded_json(req, builder, &body)
}

/// The largest body a response to `req` may have (`Limits::max_response_bytes`).
fn response_bound(req: &HttpRequest) -> usize {
    req.app_data::<web::Data<AppState>>()
        .map_or(usize::MAX, |state| state.limits.max_response_bytes)
}

/// The `TooManyResults` answer for a body that would pass `bound` (clause 4.12: a hard limit
/// on the size of a generated response).
fn too_large(bound: usize) -> ApiError {
    ApiError::Model(ModelError::new(
        ErrorKind::TooManyResults,
        format!(
            "the response would be larger than {bound} bytes (--max-response-bytes); ask for \
             a smaller page (limit), fewer attributes (attrs, pick) or a narrower query"
        ),
    ))
}

/// Serializes `body` into the response, or refuses it when it passes the response bound.
fn bounded_json(
    req: &HttpRequest,
    mut builder: HttpResponseBuilder,
    body: &Value,
) -> Result<HttpResponse, ApiError> {
    let bound = response_bound(req);
    // Serializing a Value into a Vec cannot fail.
    let bytes = serde_json::to_vec(body).unwrap_or_default();
    if bytes.len() > bound {
        return Err(too_large(bound));
    }
    Ok(builder.body(bytes))
}

/// Writes entities rendered straight to bytes (`write_entity`): one object, or an array when
/// `many`; with the @context as each object's last member for JSON-LD, else in `Link`.
pub fn respond_entities<'a>(
    req: &HttpRequest,
    media: ResponseMedia,
    ctx: &RequestContext,
    entities: impl ExactSizeIterator<Item = &'a Entity>,
    many: bool,
    terms: &dyn TermMap,
    opts: &RenderOptions,
) -> Result<HttpResponse, ApiError> {
    respond_written(req, media, ctx, entities, many, |out, entity| {
        write_entity(out, entity, terms, opts)
    })
}

/// Writes objects that `write` appends to the body as JSON (returning whether one has no
/// member): one object, or an array when `many`; with the @context as each object's last
/// member for JSON-LD, else in `Link`. A body that grows past the response bound is dropped
/// as soon as it does, for a `TooManyResults` error.
pub fn respond_written<T>(
    req: &HttpRequest,
    media: ResponseMedia,
    ctx: &RequestContext,
    items: impl ExactSizeIterator<Item = T>,
    many: bool,
    mut write: impl FnMut(&mut Vec<u8>, T) -> bool,
) -> Result<HttpResponse, ApiError> {
    let (mut builder, context) = written_response(req, media, ctx);
    let bound = response_bound(req);
    let mut body = Vec::with_capacity((2048 * items.len().max(1)).min(bound));
    if many {
        body.push(b'[');
    }
    for (i, item) in items.enumerate() {
        if many && i > 0 {
            body.push(b',');
        }
        let empty = write(&mut body, item);
        if let Some(context) = &context {
            add_context(&mut body, context, empty);
        }
        if body.len() > bound {
            return Err(too_large(bound));
        }
    }
    if many {
        body.push(b']');
    }
    Ok(builder.body(body))
}

/// [`respond_written`] for one object already written to `body` (`empty`: it has no
/// member).
pub fn respond_written_object(
    req: &HttpRequest,
    media: ResponseMedia,
    ctx: &RequestContext,
    mut body: Vec<u8>,
    empty: bool,
) -> Result<HttpResponse, ApiError> {
    let (mut builder, context) = written_response(req, media, ctx);
    if let Some(context) = &context {
        add_context(&mut body, context, empty);
    }
    let bound = response_bound(req);
    if body.len() > bound {
        return Err(too_large(bound));
    }
    Ok(builder.body(body))
}

/// The response's builder and, for JSON-LD, the serialized @context each object ends with
/// (else the builder carries it in `Link`).
fn written_response(
    req: &HttpRequest,
    media: ResponseMedia,
    ctx: &RequestContext,
) -> (HttpResponseBuilder, Option<Vec<u8>>) {
    let mut builder = HttpResponse::Ok();
    builder.content_type(media.content_type());
    // Serializing a Value into a Vec cannot fail.
    let context = context_in_body(req, media)
        .then(|| serde_json::to_vec(&ctx.body_context()).unwrap_or_default());
    if context.is_none() {
        builder.insert_header((header::LINK, ctx.link_header()));
    }
    (builder, context)
}

/// Makes `context` the last member of the object `body` ends with.
fn add_context(body: &mut Vec<u8>, context: &[u8], empty: bool) {
    body.pop(); // the object's closing brace
    if !empty {
        body.push(b',');
    }
    body.extend_from_slice(b"\"@context\":");
    body.extend_from_slice(context);
    body.push(b'}');
}
