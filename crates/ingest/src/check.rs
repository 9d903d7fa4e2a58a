//! The checks a payload must pass before it is written: required fields, and per field a
//! type, an enumeration of allowed values and a numeric range.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::template::lookup;

/// The type a field must have.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FieldType {
    String,
    Number,
    Integer,
    Boolean,
    Object,
    Array,
    /// A string holding an ISO 8601 date-time with its offset (RFC 3339).
    DateTime,
}

/// The checks of one field.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FieldCheck {
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub type_: Option<FieldType>,
    /// The allowed values.
    #[serde(default, rename = "enum", skip_serializing_if = "Option::is_none")]
    pub allowed: Option<Vec<Value>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub minimum: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub maximum: Option<f64>,
}

impl FieldCheck {
    /// The check itself made sense (a range with numbers, min <= max).
    pub(crate) fn checked(&self, path: &str) -> Result<Self, String> {
        if let (Some(min), Some(max)) = (self.minimum, self.maximum) {
            if min > max {
                return Err(format!(
                    "field {path}: minimum {min} is above maximum {max}"
                ));
            }
        }
        if self.allowed.as_ref().is_some_and(Vec::is_empty) {
            return Err(format!("field {path}: an empty enum allows nothing"));
        }
        Ok(self.clone())
    }

    /// Why `value` fails the check, if it does.
    pub(crate) fn failure(&self, path: &str, value: &Value) -> Option<String> {
        if let Some(t) = self.type_ {
            let ok = match t {
                FieldType::String => value.is_string(),
                FieldType::Number => value.is_number(),
                FieldType::Integer => value.is_i64() || value.is_u64(),
                FieldType::Boolean => value.is_boolean(),
                FieldType::Object => value.is_object(),
                FieldType::Array => value.is_array(),
                FieldType::DateTime => value
                    .as_str()
                    .is_some_and(rigel_model::validate::is_date_time),
            };
            if !ok {
                let wanted = serde_json::to_value(t).ok();
                let wanted = wanted.as_ref().and_then(Value::as_str).unwrap_or("?");
                return Some(format!("field {path} is not a {wanted}: {value}"));
            }
        }
        if let Some(allowed) = &self.allowed {
            if !allowed.contains(value) {
                return Some(format!(
                    "field {path} is {value}, not one of {}",
                    Value::from(allowed.clone())
                ));
            }
        }
        if self.minimum.is_some() || self.maximum.is_some() {
            let Some(n) = value.as_f64() else {
                return Some(format!("field {path} is not a number: {value}"));
            };
            if self.minimum.is_some_and(|m| n < m) || self.maximum.is_some_and(|m| n > m) {
                return Some(format!(
                    "field {path} is {n}, outside [{}, {}]",
                    self.minimum.map_or("-inf".into(), |m| m.to_string()),
                    self.maximum.map_or("inf".into(), |m| m.to_string()),
                ));
            }
        }
        None
    }
}

/// Why a payload fails the rule's checks, if it does: the first failure.
pub(crate) fn failure(
    payload: &Value,
    required: &[Vec<String>],
    checks: &[(Vec<String>, FieldCheck)],
) -> Option<String> {
    for path in required {
        if lookup(payload, path).is_none() {
            return Some(format!("required field {} is missing", path.join(".")));
        }
    }
    for (path, check) in checks {
        if let Some(value) = lookup(payload, path) {
            if let Some(why) = check.failure(&path.join("."), value) {
                return Some(why);
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn check(v: Value) -> FieldCheck {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn types_enumerations_and_ranges_are_checked() {
        let status = check(json!({"type": "string", "enum": ["occupied", "vacant"]}));
        assert!(status.failure("status", &json!("vacant")).is_none());
        let why = status.failure("status", &json!("broken")).unwrap();
        assert!(why.contains("not one of"), "{why}");
        assert!(status
            .failure("status", &json!(1))
            .unwrap()
            .contains("not a string"));
        let time = check(json!({"type": "date-time"}));
        assert!(time.failure("t", &json!("2026-12-05T08:00:00Z")).is_none());
        assert!(time.failure("t", &json!("yesterday")).is_some());
        let level = check(json!({"type": "number", "minimum": 0, "maximum": 100}));
        assert!(level.failure("l", &json!(55.5)).is_none());
        assert!(level.failure("l", &json!(101)).unwrap().contains("outside"));
        assert!(check(json!({"type": "integer"}))
            .failure("i", &json!(1.5))
            .is_some());
    }

    #[test]
    fn required_fields_come_first_and_absent_fields_skip_their_checks() {
        let required = vec![vec!["sensor_id".to_owned()]];
        let checks = vec![(vec!["level".to_owned()], check(json!({"minimum": 0})))];
        assert_eq!(
            failure(&json!({"level": -1}), &required, &checks).unwrap(),
            "required field sensor_id is missing"
        );
        assert!(failure(&json!({"sensor_id": "a"}), &required, &checks).is_none());
        assert!(failure(&json!({"sensor_id": "a", "level": -1}), &required, &checks).is_some());
    }

    #[test]
    fn nonsensical_checks_are_refused() {
        assert!(check(json!({"minimum": 5, "maximum": 1}))
            .checked("x")
            .is_err());
        assert!(check(json!({"enum": []})).checked("x").is_err());
        assert!(serde_json::from_value::<FieldCheck>(json!({"type": "date"})).is_err());
    }
}
