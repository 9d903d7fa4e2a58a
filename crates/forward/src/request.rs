//! What a forwarded request is made of: query values encoded as a query string needs them,
//! the query string rebuilt from the client's typed query, and the Query body (clause
//! 5.2.23) of a POST query.

use rigel_broker::federation::SourceQuery;
use rigel_model::TermMap;
use rigel_query::EntityQuery;
use serde_json::Value;

/// A query parameter name or value, percent-encoded where RFC 3986 requires it in a query
/// (and for `&`, `=`, `+`, `#` and `%`), so that ids, type names and lists stay as written
/// (`id=urn:ngsi-ld:Vehicle:1`).
pub(crate) fn encoded(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        let keep = byte.is_ascii_alphanumeric()
            || matches!(
                byte,
                b'-' | b'.'
                    | b'_'
                    | b'~'
                    | b':'
                    | b'@'
                    | b'/'
                    | b'?'
                    | b'!'
                    | b'$'
                    | b'\''
                    | b'('
                    | b')'
                    | b'*'
                    | b','
                    | b';'
            );
        if keep {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// Expanded names compacted with `terms`, comma separated.
pub(crate) fn compact_list(iris: &[String], terms: &dyn TermMap) -> String {
    iris.iter()
        .map(|iri| terms.compact(iri).into_owned())
        .collect::<Vec<_>>()
        .join(",")
}

/// The query string of a forwarded query or purge, one per entity selector (a GET takes
/// one): the selector with the registration's entity ids when the client named none, then
/// the conditions (`attrs` replaced by `attrs` when the registration holds only some), then
/// the parameters passed on as written.
pub(crate) fn query_strings(
    query: &EntityQuery,
    ids: &[String],
    attrs: Option<&[String]>,
    extra: &[(String, String)],
    terms: &dyn TermMap,
) -> Vec<Vec<(&'static str, String)>> {
    let selectors: Vec<Vec<(&'static str, String)>> = if query.selectors.is_empty() {
        vec![Vec::new()]
    } else {
        query.selectors.iter().map(|s| s.render(terms)).collect()
    };
    let mut conditions = query.render_conditions(terms);
    if let Some(attrs) = attrs {
        conditions.retain(|(name, _)| *name != "attrs");
        conditions.insert(0, ("attrs", attrs.join(",")));
    }
    selectors
        .into_iter()
        .map(|mut params| {
            if !ids.is_empty() && !params.iter().any(|(n, _)| *n == "id") {
                params.push(("id", ids.join(",")));
            }
            params.extend(conditions.iter().cloned());
            for (name, value) in extra {
                if let Some(known) = EXTRA.iter().find(|n| **n == name.as_str()) {
                    params.push((known, value.clone()));
                }
            }
            params
        })
        .collect()
}

/// The parameters a forwarded request may carry as the client wrote them.
const EXTRA: &[&str] = &["csf", "datasetId", "expandValues", "jsonKeys"];

/// The Query body (5.2.23) of a forwarded POST query: an entity selector per selector and
/// id, `attrs` (the registration's when it holds only some), `q`, `geoQ`, `scopeQ` and
/// `csf`.
pub(crate) fn batch_query(
    request: &SourceQuery<'_>,
    attrs: Option<&[String]>,
    terms: &dyn TermMap,
) -> Value {
    let mut body = serde_json::Map::new();
    body.insert("type".into(), Value::String("Query".into()));
    let mut entities = Vec::new();
    for selector in &request.query.selectors {
        let mut base = serde_json::Map::new();
        if let Some(types) = &selector.types {
            base.insert("type".into(), Value::String(types.render(terms)));
        }
        if let Some(pattern) = &selector.id_pattern {
            base.insert(
                "idPattern".into(),
                Value::String(pattern.as_str().to_owned()),
            );
        }
        let ids = selector.ids.as_deref().unwrap_or(request.ids);
        if ids.is_empty() {
            entities.push(Value::Object(base.clone()));
        }
        for id in ids {
            let mut one = base.clone();
            one.insert("id".into(), Value::String(id.clone()));
            entities.push(Value::Object(one));
        }
    }
    if request.query.selectors.is_empty() {
        for id in request.ids {
            entities.push(serde_json::json!({ "id": id }));
        }
    }
    if !entities.is_empty() {
        body.insert("entities".into(), Value::Array(entities));
    }
    let mut geo = serde_json::Map::new();
    for (name, value) in request.query.render_conditions(terms) {
        match name {
            "attrs" => {
                let list = value.split(',').map(|a| Value::String(a.to_owned()));
                body.insert("attrs".into(), Value::Array(list.collect()));
            }
            "q" | "scopeQ" => {
                body.insert(name.into(), Value::String(value));
            }
            "coordinates" => {
                let coordinates = serde_json::from_str(&value).unwrap_or(Value::String(value));
                geo.insert(name.into(), coordinates);
            }
            _ => {
                geo.insert(name.into(), Value::String(value));
            }
        }
    }
    if !geo.is_empty() {
        body.insert("geoQ".into(), Value::Object(geo));
    }
    if let Some((_, csf)) = request.extra.iter().find(|(n, _)| n == "csf") {
        body.insert("csf".into(), Value::String(csf.clone()));
    }
    if let Some(attrs) = attrs {
        body.insert("attrs".into(), serde_json::json!(attrs));
    }
    Value::Object(body)
}

#[cfg(test)]
mod tests {
    use super::encoded;

    #[test]
    fn query_values_keep_uris_and_lists_and_escape_what_a_query_cannot_hold() {
        assert_eq!(encoded("urn:ngsi-ld:Vehicle:1"), "urn:ngsi-ld:Vehicle:1");
        assert_eq!(encoded("Vehicle,Bus"), "Vehicle,Bus");
        assert_eq!(
            encoded(r#"speed>50;brand=="A B"&x"#),
            "speed%3E50;brand%3D%3D%22A%20B%22%26x"
        );
        assert_eq!(encoded("a+b#c%"), "a%2Bb%23c%25");
        assert_eq!(encoded("é"), "%C3%A9");
    }
}
