//! The body of POST /entityOperations/query (the Query data type, 5.2.23) turned into the
//! same parameters and filters as GET /entities, so both bindings behave alike.

use rigel_model::TermMap;
use serde_json::{Map, Value};

use crate::filters::{self, Filters};
use crate::request::Params;
use crate::ApiError;

/// Query members that carry a list, sent as the comma-separated parameter of the same name.
const LIST_MEMBERS: &[&str] = &["attrs", "pick", "omit", "containedBy", "datasetId"];
/// Query members that carry a string, sent as the parameter of the same name.
const STRING_MEMBERS: &[&str] = &["q", "scopeQ", "csf", "lang", "expandValues", "jsonKeys"];
/// Query members defined for other operations or features than Query Entities.
const IGNORED_MEMBERS: &[&str] = &["@context", "type", "entityMap", "entityMapLifetime"];

/// Merges the body's members into the URL parameters and builds the filters, with one
/// entity selector per element of `entities`.
pub fn filters(
    mut body: Map<String, Value>,
    url: Params,
    terms: &dyn TermMap,
) -> Result<(Params, Filters), ApiError> {
    match body.get("type").and_then(Value::as_str) {
        Some("Query") => {}
        _ => {
            return Err(ApiError::bad_data(
                "the body must be a Query (type \"Query\")",
            ))
        }
    }
    let mut pairs = url.into_pairs();
    let mut add = |name: &str, value: String| -> Result<(), ApiError> {
        if pairs.iter().any(|(n, _)| n == name) {
            return Err(ApiError::bad_data(format!(
                "{name} is given both in the URL and in the body"
            )));
        }
        pairs.push((name.to_owned(), value));
        Ok(())
    };
    let entities = body.remove("entities");
    if let Some(ordering) = body.remove("ordering") {
        for (name, value) in ordering_params(ordering)? {
            add(name, value)?;
        }
    }
    for name in ["join", "joinLevel", "local", "splitEntities"] {
        match body.remove(name) {
            None => {}
            Some(Value::String(text)) => add(name, text)?,
            Some(value @ (Value::Number(_) | Value::Bool(_))) => add(name, value.to_string())?,
            Some(_) => return Err(ApiError::bad_data(format!("{name} has the wrong type"))),
        }
    }
    let geo = body.remove("geoQ");
    if body.contains_key("temporalQ") || body.contains_key("aggrParams") {
        return Err(ApiError::bad_data(
            "temporalQ and aggrParams belong to temporal queries",
        ));
    }
    for (name, value) in &body {
        let name = name.as_str();
        if LIST_MEMBERS.contains(&name) {
            add(name, list_member(name, value)?)?;
        } else if STRING_MEMBERS.contains(&name) {
            let Some(text) = value.as_str() else {
                return Err(ApiError::bad_data(format!("{name} must be a string")));
            };
            add(name, text.to_owned())?;
        } else if !IGNORED_MEMBERS.contains(&name) {
            return Err(ApiError::bad_data(format!(
                "{name:?} is not a member of a Query"
            )));
        }
    }
    let params = Params::from_pairs(pairs);
    let mut filters = filters::from_params(&params, terms)?;
    if let Some(geo) = geo {
        filters.query.geo = geo_query(geo, terms)?;
    }
    if let Some(entities) = entities {
        let Value::Array(entities) = entities else {
            return Err(ApiError::bad_data(
                "entities must be an array of EntitySelectors",
            ));
        };
        if entities.is_empty() {
            return Err(ApiError::bad_data("entities must not be empty"));
        }
        if !filters.query.selectors.is_empty() {
            return Err(ApiError::bad_data(
                "entities cannot be combined with id, idPattern or type in the URL",
            ));
        }
        for selector in &entities {
            let (selector, all_types) = entity_selector(selector, terms)?;
            filters.local |= all_types;
            filters.query.selectors.extend(selector);
        }
    }
    Ok((params, filters))
}

/// The GeoQuery member (5.2.13): `georel`, `geometry`, `coordinates` (JSON, or a string
/// holding JSON) and `geoproperty`.
fn geo_query(geo: Value, terms: &dyn TermMap) -> Result<Option<rigel_query::GeoQuery>, ApiError> {
    let Value::Object(geo) = geo else {
        return Err(ApiError::bad_data("geoQ must be an object"));
    };
    let text = |name: &str| -> Result<Option<&str>, ApiError> {
        geo.get(name)
            .map(|v| {
                v.as_str()
                    .ok_or_else(|| ApiError::bad_data(format!("geoQ.{name} must be a string")))
            })
            .transpose()
    };
    let (georel, geometry, property) = (text("georel")?, text("geometry")?, text("geoproperty")?);
    if georel.is_none() || geometry.is_none() || !geo.contains_key("coordinates") {
        return Err(ApiError::bad_data(
            "geoQ needs georel, geometry and coordinates",
        ));
    }
    filters::geo_query(georel, geometry, geo.get("coordinates"), property, terms)
}

/// OrderingParams (5.2.43) as the orderBy, collation, orderGeometry and orderFrom parameters.
fn ordering_params(ordering: Value) -> Result<Vec<(&'static str, String)>, ApiError> {
    let Value::Object(ordering) = ordering else {
        return Err(ApiError::bad_data("ordering must be an object"));
    };
    let mut params = Vec::new();
    for (name, value) in ordering {
        let param = match name.as_str() {
            "orderBy" => "orderBy",
            "collation" => "collation",
            "geometry" => "orderGeometry",
            "coordinates" => "orderFrom",
            other => {
                return Err(ApiError::bad_data(format!(
                    "{other:?} is not a member of OrderingParams"
                )))
            }
        };
        let text = match (param, value) {
            ("orderBy", value) => list_member("orderBy", &value)?,
            ("orderFrom", value) => value.to_string(),
            (_, Value::String(text)) => text,
            _ => {
                return Err(ApiError::bad_data(format!(
                    "ordering.{name} must be a string"
                )))
            }
        };
        params.push((param, text));
    }
    Ok(params)
}

/// A list member as the comma-separated text of a parameter.
fn list_member(name: &str, value: &Value) -> Result<String, ApiError> {
    let items = match value {
        Value::String(s) => vec![s.as_str()],
        Value::Array(items) if !items.is_empty() => items
            .iter()
            .map(|i| {
                i.as_str()
                    .ok_or_else(|| ApiError::bad_data(format!("{name} must hold strings")))
            })
            .collect::<Result<_, _>>()?,
        _ => {
            return Err(ApiError::bad_data(format!(
                "{name} must be a non-empty array of strings"
            )))
        }
    };
    Ok(items.join(","))
}

/// One EntitySelector (5.2.33): `id`, `idPattern`, `type`.
fn entity_selector(
    value: &Value,
    terms: &dyn TermMap,
) -> Result<(Option<rigel_broker::query::EntitySelector>, bool), ApiError> {
    let Value::Object(selector) = value else {
        return Err(ApiError::bad_data("an EntitySelector must be an object"));
    };
    let text = |name: &'static str| -> Result<Option<&str>, ApiError> {
        selector
            .get(name)
            .map(|v| {
                v.as_str().ok_or_else(|| {
                    ApiError::bad_data(format!("EntitySelector.{name} must be a string"))
                })
            })
            .transpose()
    };
    if let Some(other) = selector
        .keys()
        .find(|k| !["id", "idPattern", "type"].contains(&k.as_str()))
    {
        return Err(ApiError::bad_data(format!(
            "{other:?} is not a member of an EntitySelector"
        )));
    }
    let Some(types) = text("type")? else {
        return Err(ApiError::bad_data("an EntitySelector needs a type"));
    };
    let ids: Option<Vec<&str>> = match selector.get("id") {
        None => None,
        Some(Value::String(id)) => Some(vec![id.as_str()]),
        Some(Value::Array(ids)) if !ids.is_empty() => Some(
            ids.iter()
                .map(|i| {
                    i.as_str()
                        .ok_or_else(|| ApiError::bad_data("EntitySelector.id must hold strings"))
                })
                .collect::<Result<_, _>>()?,
        ),
        Some(_) => {
            return Err(ApiError::bad_data(
                "EntitySelector.id must be a URI or a non-empty array of URIs",
            ))
        }
    };
    // The id takes precedence over the pattern (5.2.33).
    let pattern = if ids.is_some() {
        None
    } else {
        text("idPattern")?
    };
    filters::selector(ids, pattern, Some(types), terms)
}
