//! Readers of JSON members shared by the parsers of subscriptions and registrations: each
//! refuses a wrong value with a `BadRequestData` naming the member.

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

use crate::subscription::KeyValuePair;
use crate::validate::is_uri;
use crate::ModelError;

pub(crate) fn bad(detail: impl Into<String>) -> ModelError {
    ModelError::bad_data(detail)
}

/// Looks a member up by its name or its JSON-LD keyword alias.
pub(crate) fn member<'a>(
    obj: &'a Map<String, Value>,
    name: &str,
    keyword: &str,
) -> Option<&'a Value> {
    obj.get(name).or_else(|| obj.get(keyword))
}

pub(crate) fn string(v: &Value, member: &str) -> Result<String, ModelError> {
    v.as_str()
        .map(str::to_owned)
        .ok_or_else(|| bad(format!("\"{member}\" must be a string")))
}

pub(crate) fn uri(v: &Value, member: &str) -> Result<String, ModelError> {
    match v.as_str() {
        Some(s) if is_uri(s) => Ok(s.to_owned()),
        _ => Err(bad(format!("\"{member}\" must be a URI"))),
    }
}

pub(crate) fn boolean(v: &Value, member: &str) -> Result<bool, ModelError> {
    v.as_bool()
        .ok_or_else(|| bad(format!("\"{member}\" must be a boolean")))
}

/// A number greater than 0.
pub(crate) fn positive(v: &Value, member: &str) -> Result<f64, ModelError> {
    v.as_f64()
        .filter(|n| *n > 0.0)
        .ok_or_else(|| bad(format!("\"{member}\" must be a number greater than 0")))
}

/// A DateTime member (clause 4.6.3).
pub(crate) fn date_time(v: &Value, member: &str) -> Result<DateTime<Utc>, ModelError> {
    date_time_text(&string(v, member)?, member)
}

/// A DateTime (clause 4.6.3); a comma may stand for the decimal point of the seconds.
pub(crate) fn date_time_text(s: &str, member: &str) -> Result<DateTime<Utc>, ModelError> {
    DateTime::parse_from_rfc3339(s)
        .or_else(|_| DateTime::parse_from_rfc3339(&s.replacen(',', ".", 1)))
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| {
            bad(format!(
                "\"{member}\" {s:?} is not a DateTime (YYYY-MM-DDThh:mm:ssZ)"
            ))
        })
}

/// Whether `s` is a version in the form `major.minor` (`ngsildConformance`).
pub(crate) fn is_version(s: &str) -> bool {
    let numeric = |p: &str| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit());
    s.split_once('.')
        .is_some_and(|(major, minor)| numeric(major) && numeric(minor))
}

/// A `KeyValuePair[]` (clause 5.2.22).
pub(crate) fn key_values(v: &Value, member: &str) -> Result<Vec<KeyValuePair>, ModelError> {
    let wrong = || {
        bad(format!(
            "\"{member}\" must be an array of {{\"key\": string, \"value\": string}} objects"
        ))
    };
    v.as_array()
        .ok_or_else(wrong)?
        .iter()
        .map(|item| {
            let obj = item.as_object().ok_or_else(wrong)?;
            let field = |k: &str| obj.get(k).and_then(Value::as_str).map(str::to_owned);
            match (field("key"), field("value")) {
                (Some(key), Some(value)) if !key.is_empty() => Ok(KeyValuePair { key, value }),
                _ => Err(wrong()),
            }
        })
        .collect()
}
