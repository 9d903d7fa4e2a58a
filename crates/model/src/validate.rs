//! Validators for the primitive shapes NGSI-LD constrains: URIs, names, date-times, GeoJSON.

use serde_json::Value;

/// Whether `s` is an absolute URI: a scheme (`ALPHA *(ALPHA / DIGIT / "+" / "-" / ".")`),
/// a colon and a non-empty rest without spaces, controls or the characters RFC 3986 excludes.
pub fn is_uri(s: &str) -> bool {
    let Some((scheme, rest)) = s.split_once(':') else {
        return false;
    };
    let mut chars = scheme.chars();
    let scheme_ok = chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
    scheme_ok
        && !rest.is_empty()
        && !rest.chars().any(|c| {
            c.is_whitespace()
                || c.is_control()
                || matches!(c, '<' | '>' | '"' | '{' | '}' | '|' | '\\' | '^' | '`')
        })
}

/// Whether `name` is acceptable as an entity type, attribute or sub-attribute name
/// (clause 4.6.2): either a term (`name` or `prefix:name` of letters, digits and `_`) or an
/// absolute IRI. Characters that break the query language are always refused.
pub fn is_valid_name(name: &str) -> bool {
    if name.is_empty()
        || name.chars().any(|c| {
            c.is_whitespace()
                || c.is_control()
                || matches!(c, '<' | '>' | '"' | '\'' | '=' | ';' | '(' | ')' | '\\')
        })
    {
        return false;
    }
    if name.contains("://") || name.starts_with("urn:") {
        return is_uri(name);
    }
    let term_ok = |t: &str| {
        let mut cs = t.chars();
        cs.next().is_some_and(|c| c.is_alphabetic() || c == '_')
            && cs.all(|c| c.is_alphanumeric() || matches!(c, '_' | '-' | '.'))
    };
    match name.split_once(':') {
        Some((prefix, rest)) => term_ok(prefix) && (term_ok(rest) || is_uri(name)),
        None => term_ok(name),
    }
}

/// Whether `s` is an ISO 8601 / RFC 3339 date-time with a time zone, as NGSI-LD requires.
pub fn is_date_time(s: &str) -> bool {
    chrono::DateTime::parse_from_rfc3339(s).is_ok()
}

/// Validates a GeoJSON geometry (RFC 7946 shapes); returns what is wrong, if anything.
pub fn check_geometry(v: &Value) -> Result<(), String> {
    let obj = v
        .as_object()
        .ok_or("a GeoJSON geometry must be a JSON object")?;
    let ty = obj
        .get("type")
        .and_then(Value::as_str)
        .ok_or("a GeoJSON geometry needs a string \"type\"")?;
    if ty == "GeometryCollection" {
        let geoms = obj
            .get("geometries")
            .and_then(Value::as_array)
            .ok_or("a GeometryCollection needs a \"geometries\" array")?;
        return geoms.iter().try_for_each(check_geometry);
    }
    let coords = obj
        .get("coordinates")
        .ok_or_else(|| format!("a {ty} geometry needs \"coordinates\""))?;
    match ty {
        "Point" => position(coords),
        "MultiPoint" => each(coords, position),
        "LineString" => line(coords),
        "MultiLineString" => each(coords, line),
        "Polygon" => polygon(coords),
        "MultiPolygon" => each(coords, polygon),
        other => Err(format!("{other:?} is not a GeoJSON geometry type")),
    }
}

/// Whether a JSON value looks like a GeoJSON geometry (used to infer GeoProperty).
pub fn looks_like_geometry(v: &Value) -> bool {
    v.get("type").and_then(Value::as_str).is_some_and(|t| {
        matches!(
            t,
            "Point"
                | "MultiPoint"
                | "LineString"
                | "MultiLineString"
                | "Polygon"
                | "MultiPolygon"
                | "GeometryCollection"
        )
    }) && (v.get("coordinates").is_some() || v.get("geometries").is_some())
}

fn each(v: &Value, f: fn(&Value) -> Result<(), String>) -> Result<(), String> {
    v.as_array()
        .ok_or("coordinates must be an array")?
        .iter()
        .try_for_each(f)
}

fn position(v: &Value) -> Result<(), String> {
    let a = v
        .as_array()
        .ok_or("a position must be an array of numbers")?;
    if !(2..=3).contains(&a.len()) {
        return Err("a position has 2 or 3 numbers".into());
    }
    let n: Vec<f64> = a
        .iter()
        .map(|x| x.as_f64().ok_or("a position must be an array of numbers"))
        .collect::<Result<_, _>>()?;
    if !(-180.0..=180.0).contains(&n[0]) || !(-90.0..=90.0).contains(&n[1]) {
        return Err(format!(
            "position [{}, {}] is out of range (longitude, latitude)",
            n[0], n[1]
        ));
    }
    Ok(())
}

fn line(v: &Value) -> Result<(), String> {
    let a = v
        .as_array()
        .ok_or("a LineString needs an array of positions")?;
    if a.len() < 2 {
        return Err("a LineString needs at least 2 positions".into());
    }
    a.iter().try_for_each(position)
}

fn polygon(v: &Value) -> Result<(), String> {
    let rings = v
        .as_array()
        .ok_or("a Polygon needs an array of linear rings")?;
    if rings.is_empty() {
        return Err("a Polygon needs at least one linear ring".into());
    }
    for ring in rings {
        let pts = ring
            .as_array()
            .ok_or("a linear ring must be an array of positions")?;
        if pts.len() < 4 {
            return Err("a linear ring needs at least 4 positions".into());
        }
        pts.iter().try_for_each(position)?;
        if pts.first() != pts.last() {
            return Err("a linear ring must be closed (first and last positions equal)".into());
        }
    }
    Ok(())
}
