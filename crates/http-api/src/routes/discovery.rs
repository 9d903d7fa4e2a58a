//! Discovery (clauses 5.7.5-5.7.10, HTTP binding 6.25-6.28): GET /types, /types/{type},
//! /attributes and /attributes/{attrId}, compacted with the request's @context; the local
//! types and attributes merged with those of the context sources registered for them
//! (5.7.11), a failing source reported in `NGSILD-Warning`.

use actix_web::{web, HttpRequest, HttpResponse};
use rigel_broker::discovery::{AttributeDetails, TypeDetails};
use rigel_broker::federation::{Distributed, SourceDiscovery};
use rigel_model::TermMap;
use serde_json::{json, Map, Value};

use crate::context::{self, RequestContext};
use crate::distribution;
use crate::negotiation::negotiate;
use crate::representation::{respond, respond_array};
use crate::request::{tenant, Params};
use crate::{ApiError, AppState};

const LIST_PARAMS: &[&str] = &["details", "local", "via"];
const ONE_PARAMS: &[&str] = &["local", "via"];

/// A URI naming one generated list (the lists are computed, not stored).
fn list_id(kind: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!("urn:ngsi-ld:{kind}:{nanos:x}")
}

fn object(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(o) => o,
        _ => Map::new(),
    }
}

fn compact_all<'a>(iris: impl IntoIterator<Item = &'a String>, terms: &dyn TermMap) -> Vec<String> {
    let mut names: Vec<String> = iris
        .into_iter()
        .map(|iri| terms.compact(iri).into_owned())
        .collect();
    names.sort();
    names
}

/// Sorts details by the compacted name the client sees.
fn by_compacted<T>(items: &mut [T], iri: impl Fn(&T) -> &str, terms: &dyn TermMap) {
    items.sort_by_cached_key(|item| terms.compact(iri(item)).into_owned());
}

/// The types `ask` names, here and at the sources.
async fn types(
    req: &HttpRequest,
    state: &AppState,
    params: &Params,
    ctx: &RequestContext,
    ask: SourceDiscovery<'_>,
) -> Result<Distributed<Vec<TypeDetails>>, ApiError> {
    let tenant = tenant(req)?;
    let distribution = distribution::of(req, params, ctx)?;
    Ok(state
        .broker
        .types_distributed(&tenant, ask, &distribution)
        .await?)
}

/// The attributes `ask` names, here and at the sources.
async fn attributes(
    req: &HttpRequest,
    state: &AppState,
    params: &Params,
    ctx: &RequestContext,
    ask: SourceDiscovery<'_>,
) -> Result<Distributed<Vec<AttributeDetails>>, ApiError> {
    let tenant = tenant(req)?;
    let distribution = distribution::of(req, params, ctx)?;
    Ok(state
        .broker
        .attributes_distributed(&tenant, ask, &distribution)
        .await?)
}

/// The response with a warning for each failing source.
fn warned(
    mut response: HttpResponse,
    warnings: &[rigel_broker::federation::SourceWarning],
) -> HttpResponse {
    distribution::warn(&mut response, warnings);
    response
}

/// GET /types — Retrieve Available Entity Types (5.7.5) or their details (5.7.6).
#[utoipa::path(get, path = "/ngsi-ld/v1/types", tag = "Discovery",
    params(("details" = Option<bool>, Query, description = "EntityType objects instead of an EntityTypeList")),
    responses((status = 200, description = "EntityTypeList, or EntityType[] with details=true", body = Object)))]
pub async fn retrieve_entity_types(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let media = negotiate(&req, false)?;
    let params = Params::parse(&req, LIST_PARAMS)?;
    let ctx = context::from_link(&req, &state.resolver).await?;
    let terms = ctx.terms.as_ref();
    if !params.flag("details")? {
        let found = types(&req, &state, &params, &ctx, SourceDiscovery::Types).await?;
        let body = json!({
            "id": list_id("EntityTypeList"),
            "type": "EntityTypeList",
            "typeList": compact_all(found.value.iter().map(|d| &d.type_iri), terms),
        });
        return Ok(warned(
            respond(&req, media, &ctx, object(body))?,
            &found.warnings,
        ));
    }
    let found = types(&req, &state, &params, &ctx, SourceDiscovery::TypeDetails).await?;
    let mut details = found.value;
    by_compacted(&mut details, |d| &d.type_iri, terms);
    let items = details
        .iter()
        .map(|d| {
            json!({
                "id": d.type_iri,
                "type": "EntityType",
                "typeName": terms.compact(&d.type_iri),
                "attributeNames": compact_all(d.attributes.keys(), terms),
            })
        })
        .collect();
    Ok(warned(
        respond_array(&req, media, &ctx, Value::Array(items))?,
        &found.warnings,
    ))
}

/// GET /types/{type} — Retrieve Available Entity Type Information (5.7.7).
#[utoipa::path(get, path = "/ngsi-ld/v1/types/{type}", tag = "Discovery",
    params(("type" = String, Path, description = "Entity type name or IRI")),
    responses((status = 200, description = "EntityTypeInfo", body = Object), (status = 404, description = "No entity has this type")))]
pub async fn retrieve_entity_type_info(
    req: HttpRequest,
    path: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let media = negotiate(&req, false)?;
    let params = Params::parse(&req, ONE_PARAMS)?;
    let ctx = context::from_link(&req, &state.resolver).await?;
    let terms = ctx.terms.as_ref();
    let type_iri = terms.expand(&path).into_owned();
    let found = types(
        &req,
        &state,
        &params,
        &ctx,
        SourceDiscovery::TypeInfo(&type_iri),
    )
    .await?;
    let Some(TypeDetails {
        type_iri,
        entity_count,
        attributes,
    }) = found.value.into_iter().next()
    else {
        return Err(not_found(format!(
            "no entity has the type {}",
            path.as_str()
        )));
    };
    let mut attribute_details: Vec<Value> = attributes
        .iter()
        .map(|(name, kinds)| {
            json!({
                "id": name,
                "type": "Attribute",
                "attributeName": terms.compact(name),
                "attributeTypes": kinds.iter().collect::<Vec<_>>(),
            })
        })
        .collect();
    attribute_details.sort_by_cached_key(|a| a["attributeName"].as_str().map(str::to_owned));
    let body = json!({
        "id": type_iri,
        "type": "EntityTypeInfo",
        "typeName": terms.compact(&type_iri),
        "entityCount": entity_count,
        "attributeDetails": attribute_details,
    });
    Ok(warned(
        respond(&req, media, &ctx, object(body))?,
        &found.warnings,
    ))
}

/// An Attribute (5.2.28): in a detailed list (4.5.14) only its names and entity types; as
/// attribute information (4.5.15) also its count and kinds.
fn attribute_json(d: &AttributeDetails, terms: &dyn TermMap, full: bool) -> Value {
    let mut body = json!({
        "id": d.attribute_iri,
        "type": "Attribute",
        "attributeName": terms.compact(&d.attribute_iri),
        "typeNames": compact_all(&d.type_names, terms),
    });
    if full {
        body["attributeCount"] = json!(d.attribute_count);
        body["attributeTypes"] = json!(d.attribute_types.iter().collect::<Vec<_>>());
    }
    body
}

/// GET /attributes — Retrieve Available Attributes (5.7.8) or their details (5.7.9).
#[utoipa::path(get, path = "/ngsi-ld/v1/attributes", tag = "Discovery",
    params(("details" = Option<bool>, Query, description = "Attribute objects instead of an AttributeList")),
    responses((status = 200, description = "AttributeList, or Attribute[] with details=true", body = Object)))]
pub async fn retrieve_attributes(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let media = negotiate(&req, false)?;
    let params = Params::parse(&req, LIST_PARAMS)?;
    let ctx = context::from_link(&req, &state.resolver).await?;
    let terms = ctx.terms.as_ref();
    let details = params.flag("details")?;
    let ask = match details {
        true => SourceDiscovery::AttributeDetails,
        false => SourceDiscovery::Attributes,
    };
    let found = attributes(&req, &state, &params, &ctx, ask).await?;
    let mut listed = found.value;
    by_compacted(&mut listed, |d| &d.attribute_iri, terms);
    if !details {
        let body = json!({
            "id": list_id("AttributeList"),
            "type": "AttributeList",
            "attributeList": compact_all(listed.iter().map(|d| &d.attribute_iri), terms),
        });
        return Ok(warned(
            respond(&req, media, &ctx, object(body))?,
            &found.warnings,
        ));
    }
    let items = listed
        .iter()
        .map(|d| attribute_json(d, terms, false))
        .collect();
    Ok(warned(
        respond_array(&req, media, &ctx, Value::Array(items))?,
        &found.warnings,
    ))
}

/// GET /attributes/{attrId} — Retrieve Available Attribute Information (5.7.10).
#[utoipa::path(get, path = "/ngsi-ld/v1/attributes/{attrId}", tag = "Discovery",
    params(("attrId" = String, Path, description = "Attribute name or IRI")),
    responses((status = 200, description = "Attribute", body = Object), (status = 404, description = "No entity has this attribute")))]
pub async fn retrieve_attribute_info(
    req: HttpRequest,
    path: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let media = negotiate(&req, false)?;
    let params = Params::parse(&req, ONE_PARAMS)?;
    let ctx = context::from_link(&req, &state.resolver).await?;
    let terms = ctx.terms.as_ref();
    let iri = terms.expand(&path).into_owned();
    let ask = SourceDiscovery::AttributeInfo(&iri);
    let found = attributes(&req, &state, &params, &ctx, ask).await?;
    let warnings = found.warnings;
    let Some(found) = found.value.first() else {
        return Err(not_found(format!(
            "no entity has the attribute {}",
            path.as_str()
        )));
    };
    let body = object(attribute_json(found, terms, true));
    Ok(warned(respond(&req, media, &ctx, body)?, &warnings))
}

fn not_found(detail: String) -> ApiError {
    ApiError::Model(rigel_model::ModelError::new(
        rigel_model::ErrorKind::ResourceNotFound,
        detail,
    ))
}
