//! Response representation options from query parameters (clauses 4.5, 4.15, 6.3.7-6.3.12)
//! and the writing of entity bodies with their @context.

use std::collections::HashSet;

use actix_web::http::header;
use actix_web::HttpResponse;
use rigel_model::codec::render::{Format, LangPreference, Projection, RenderOptions};
use rigel_model::validate::is_uri;
use rigel_model::TermMap;
use serde_json::{Map, Value};

use crate::context::RequestContext;
use crate::negotiation::ResponseMedia;
use crate::request::Params;
use crate::ApiError;

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
                other => return Err(ApiError::bad_data(format!("unknown option {other:?}"))),
            }
        }
    }
    if let Some(format) = params.get("format") {
        opts.format = match format {
            "keyValues" | "simplified" => Format::KeyValues,
            "concise" => Format::Concise,
            "normalized" => Format::Normalized,
            other => return Err(ApiError::bad_data(format!("unknown format {other:?}"))),
        };
    }
    opts.lang = params.get("lang").map(LangPreference::parse);
    let attrs = params.list("attrs")?;
    let pick = params.list("pick")?;
    let omit = params.list("omit")?;
    if pick.is_some() && omit.is_some() {
        return Err(ApiError::bad_data("pick and omit cannot be used together"));
    }
    let mut projection = Projection::default();
    if let Some(pick) = pick {
        projection.drop_id = !pick.contains(&"id");
        projection.drop_type = !pick.contains(&"type");
        projection.keep = Some(expand_names(pick.into_iter().filter(|n| !matches!(*n, "id" | "type")), terms)?);
    }
    if let Some(attrs) = attrs {
        let names = expand_names(attrs.into_iter(), terms)?;
        projection.keep = Some(match projection.keep.take() {
            Some(keep) => keep.intersection(&names).cloned().collect(),
            None => names,
        });
    }
    if let Some(omit) = omit {
        projection.drop_id = omit.contains(&"id");
        projection.drop_type = omit.contains(&"type");
        projection.drop = expand_names(omit.into_iter().filter(|n| !matches!(*n, "id" | "type")), terms)?;
    }
    opts.projection = projection;
    Ok(opts)
}

fn expand_names<'a>(names: impl Iterator<Item = &'a str>, terms: &dyn TermMap) -> Result<HashSet<String>, ApiError> {
    names
        .map(|n| {
            if rigel_model::validate::is_valid_name(n) {
                Ok(terms.expand(n).into_owned())
            } else {
                Err(ApiError::bad_data(format!("{n:?} is not a valid attribute name")))
            }
        })
        .collect()
}

/// The `datasetId` selection: URIs and `@none` (the default instance).
pub fn dataset_ids(params: &Params) -> Result<Option<Vec<Option<String>>>, ApiError> {
    let Some(ids) = params.list("datasetId")? else { return Ok(None) };
    ids.into_iter()
        .map(|d| match d {
            "@none" => Ok(None),
            d if is_uri(d) => Ok(Some(d.to_owned())),
            d => Err(ApiError::bad_data(format!("datasetId {d:?} is not a URI"))),
        })
        .collect::<Result<Vec<_>, _>>()
        .map(Some)
}

/// Writes a JSON body in the negotiated media type with the request's @context:
/// in a `Link` header for JSON and GeoJSON, in the body for JSON-LD.
pub fn respond(media: ResponseMedia, ctx: &RequestContext, mut body: Map<String, Value>) -> HttpResponse {
    let mut builder = HttpResponse::Ok();
    builder.content_type(media.content_type());
    match media {
        ResponseMedia::LdJson => {
            body.insert("@context".into(), ctx.body_context());
        }
        ResponseMedia::Json | ResponseMedia::GeoJson => {
            builder.insert_header((header::LINK, ctx.link_header()));
        }
    }
    builder.json(Value::Object(body))
}
