//! Orion-LD's encodings of names and times, read defensively: its documents span years of
//! versions and two write paths (the NGSI-LD API, the NGSIv2 API), and reach us as
//! MongoDB Extended JSON (relaxed or canonical).

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::Value;

/// The core @context's vocabulary: what a term no @context defines expands to.
pub const DEFAULT_VOCAB: &str = "https://uri.etsi.org/ngsi-ld/default-context/";
/// The core @context's own terms.
const CORE: &str = "https://uri.etsi.org/ngsi-ld/";
/// Core GeoProperties Orion-LD keeps under their short names.
const SHORT_CORE: &[&str] = &["location", "observationSpace", "operationSpace"];
/// Orion-LD's expiration of a subscription that never expires (and anything beyond it).
pub const NEVER: f64 = 2_147_483_647.0;

/// The expanded name of an attribute or sub-attribute key: `=` back to `.` (MongoDB keys
/// cannot hold dots), short core names to their IRIs, other short names (written through
/// the NGSIv2 API) expanded with the core vocabulary.
pub fn attribute_name(key: &str) -> String {
    let name = key.replace('=', ".");
    expand(&name)
}

/// An entity type or name as an IRI: kept when it already is one.
pub fn expand(name: &str) -> String {
    if name.contains(':') {
        name.to_owned()
    } else if SHORT_CORE.contains(&name) {
        format!("{CORE}{name}")
    } else {
        format!("{DEFAULT_VOCAB}{name}")
    }
}

/// A number in any Extended JSON form (`1.5`, `{"$numberDouble": "1.5"}`, ...).
pub fn number(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        Value::Object(m) => [
            "$numberDouble",
            "$numberLong",
            "$numberInt",
            "$numberDecimal",
        ]
        .iter()
        .find_map(|k| m.get(*k))
        .and_then(Value::as_str)
        .and_then(|s| s.parse().ok()),
        _ => None,
    }
}

/// A time as Orion-LD stores it: seconds since the epoch (a double, or an integer in older
/// documents), a BSON date or an ISO 8601 string. Seconds are rounded to the millisecond
/// (a double's `.123` may read `.12299999`); negative numbers mean unset.
pub fn time(v: &Value) -> Option<DateTime<Utc>> {
    if let Some(secs) = number(v) {
        if !secs.is_finite() || secs < 0.0 {
            return None;
        }
        return DateTime::from_timestamp_millis((secs * 1000.0).round() as i64);
    }
    match v {
        Value::String(s) => DateTime::parse_from_rfc3339(s)
            .ok()
            .map(|t| t.with_timezone(&Utc)),
        Value::Object(m) => match m.get("$date")? {
            Value::String(s) => DateTime::parse_from_rfc3339(s)
                .ok()
                .map(|t| t.with_timezone(&Utc)),
            other => number(other).and_then(|ms| DateTime::from_timestamp_millis(ms as i64)),
        },
        _ => None,
    }
}

/// A time as NGSI-LD writes it (`observedAt`): ISO 8601, UTC, milliseconds.
pub fn iso(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// A string, also from an `{"$oid": ...}` ObjectId.
pub fn text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Object(m) => m.get("$oid").and_then(Value::as_str).map(str::to_owned),
        _ => None,
    }
}

/// A flag Orion keeps as a boolean or as the strings `"true"`/`"false"`.
pub fn flag(v: Option<&Value>) -> bool {
    match v {
        Some(Value::Bool(b)) => *b,
        Some(Value::String(s)) => s.eq_ignore_ascii_case("true"),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn keys_get_their_dots_back_and_short_names_are_expanded() {
        assert_eq!(
            attribute_name("https://uri=etsi=org/ngsi-ld/status"),
            "https://uri.etsi.org/ngsi-ld/status"
        );
        assert_eq!(
            attribute_name("location"),
            "https://uri.etsi.org/ngsi-ld/location"
        );
        assert_eq!(
            attribute_name("temperature"),
            format!("{DEFAULT_VOCAB}temperature")
        );
    }

    #[test]
    fn times_in_every_encoding_round_to_the_millisecond() {
        let expected = DateTime::parse_from_rfc3339("2024-06-03T10:00:00.123Z").ok();
        let expected = expected.map(|t| t.with_timezone(&Utc));
        assert_eq!(time(&json!(1717408800.123)), expected);
        assert_eq!(time(&json!({"$numberDouble": "1717408800.123"})), expected);
        assert_eq!(time(&json!("2024-06-03T10:00:00.123Z")), expected);
        assert_eq!(
            time(&json!({"$date": "2024-06-03T10:00:00.123Z"})),
            expected
        );
        assert_eq!(
            time(&json!({"$date": {"$numberLong": "1717408800123"}})),
            expected
        );
        assert_eq!(time(&json!(-1.0)), None);
        assert_eq!(time(&json!("yesterday")), None);
    }
}
