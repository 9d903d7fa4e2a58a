//! What a forwarded request is made of: query values encoded as a query string needs them,
//! and the Query body (clause 5.2.23) of a POST query standing for the client's parameters.

use rigel_broker::federation::SourceQuery;
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

/// The Query body (5.2.23) of a POST query standing for the client's parameters; `attrs`
/// replaces the client's attribute list when the registration holds only some.
pub(crate) fn batch_query(request: &SourceQuery<'_>, attrs: Option<&[String]>) -> Value {
    let mut body = serde_json::Map::new();
    body.insert("type".into(), Value::String("Query".into()));
    let mut selector = serde_json::Map::new();
    for (name, value) in request.params {
        match name.as_str() {
            "type" | "id" | "idPattern" => {
                selector.insert(name.clone(), Value::String(value.clone()));
            }
            "attrs" if attrs.is_none() => {
                let list = value.split(',').map(|a| Value::String(a.trim().into()));
                body.insert("attrs".into(), Value::Array(list.collect()));
            }
            "q" | "scopeQ" | "csf" | "lang" => {
                body.insert(name.clone(), Value::String(value.clone()));
            }
            _ => {}
        }
    }
    if !request.ids.is_empty() && !selector.contains_key("id") {
        selector.insert("id".into(), Value::String(request.ids.join(",")));
    }
    if !selector.is_empty() {
        body.insert(
            "entities".into(),
            Value::Array(vec![Value::Object(selector)]),
        );
    }
    let param = |name: &str| {
        request
            .params
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    };
    if let (Some(georel), Some(geometry), Some(coordinates)) =
        (param("georel"), param("geometry"), param("coordinates"))
    {
        let coordinates = serde_json::from_str(coordinates)
            .unwrap_or_else(|_| Value::String(coordinates.to_owned()));
        let mut geo = serde_json::json!({
            "georel": georel, "geometry": geometry, "coordinates": coordinates
        });
        if let Some(property) = param("geoproperty") {
            geo["geoproperty"] = Value::String(property.to_owned());
        }
        body.insert("geoQ".into(), geo);
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
