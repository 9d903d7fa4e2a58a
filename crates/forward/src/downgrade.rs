//! Payloads for a source that conforms to an older version of the spec (clause 4.3.6.8,
//! `contextSourceInfo` `ngsildConformance`, e.g. `1.5`): what that version does not know
//! is removed or reformatted before the request goes out (Tables 4.3.6.8-1 to -3).
//!
//! - `scope` (1.4) and `expiresAt` (1.9) leave the entity.
//! - LanguageProperty (1.4), JsonProperty, VocabProperty and ListProperty (1.8) become
//!   Properties holding their languageMap, json, vocab or valueList as value;
//!   ListRelationship (1.8) becomes a Relationship holding its objectList as object.
//! - `datasetId`, `observedAt` and `unitCode` (1.3), `objectType` (1.8), `expiresAt` and
//!   `valueType` (1.9) leave the attributes.
//! - Before 1.3 an entity has one type (the first) and an attribute one instance (the
//!   default one, else the first).

use serde_json::{Map, Value};

/// A `major.minor` version.
pub(crate) type Version = (u32, u32);

/// The version `major.minor` names, if it is one.
pub(crate) fn version(text: &str) -> Option<Version> {
    let (major, minor) = text.trim().split_once('.')?;
    Some((major.parse().ok()?, minor.parse().ok()?))
}

/// The version a registration's source conforms to (`contextSourceInfo`
/// `ngsildConformance`), when it names an older one than this broker's.
pub(crate) fn of(reg: &rigel_model::registration::Registration) -> Option<Version> {
    reg.context_source_info
        .iter()
        .flatten()
        .find(|p| p.key == "ngsildConformance")
        .and_then(|p| version(&p.value))
        .filter(|v| *v < CURRENT)
}

/// What this broker speaks: nothing is removed for a source at it or later.
const CURRENT: Version = (1, 9);

/// Entity members and when they came.
const ENTITY_MEMBERS: &[(&str, Version)] = &[("scope", (1, 4)), ("expiresAt", (1, 9))];

/// Attribute members and when they came.
const ATTRIBUTE_MEMBERS: &[(&str, Version)] = &[
    ("datasetId", (1, 3)),
    ("observedAt", (1, 3)),
    ("unitCode", (1, 3)),
    ("objectType", (1, 8)),
    ("expiresAt", (1, 9)),
    ("valueType", (1, 9)),
];

/// Attribute kinds, when they came, what they become and which member becomes the value.
const KINDS: &[(&str, Version, &str, &str, &str)] = &[
    (
        "LanguageProperty",
        (1, 4),
        "Property",
        "languageMap",
        "value",
    ),
    ("JsonProperty", (1, 8), "Property", "json", "value"),
    ("VocabProperty", (1, 8), "Property", "vocab", "value"),
    ("ListProperty", (1, 8), "Property", "valueList", "value"),
    (
        "ListRelationship",
        (1, 8),
        "Relationship",
        "objectList",
        "object",
    ),
];

/// Entity members whose values are no attributes.
const NOT_ATTRIBUTES: &[&str] = &[
    "id",
    "@id",
    "type",
    "@type",
    "@context",
    "createdAt",
    "modifiedAt",
];

/// An entity, a batch of them or a fragment, for a source at `version`.
pub(crate) fn entity(body: &Value, version: Version) -> Value {
    if version >= CURRENT {
        return body.clone();
    }
    match body {
        Value::Array(items) => Value::Array(items.iter().map(|i| entity(i, version)).collect()),
        Value::Object(o) => {
            let mut out = Map::new();
            for (key, value) in o {
                if ENTITY_MEMBERS
                    .iter()
                    .any(|(name, since)| name == key && version < *since)
                {
                    continue;
                }
                let value = match key.as_str() {
                    "type" | "@type" if version < (1, 3) => match value {
                        Value::Array(types) => types.first().cloned().unwrap_or(Value::Null),
                        other => other.clone(),
                    },
                    k if NOT_ATTRIBUTES.contains(&k) => value.clone(),
                    _ => attribute(value, version),
                };
                out.insert(key.clone(), value);
            }
            Value::Object(out)
        }
        other => other.clone(),
    }
}

/// An attribute (one instance or several, or an attribute fragment) for a source at
/// `version`.
pub(crate) fn attribute(value: &Value, version: Version) -> Value {
    if version >= CURRENT {
        return value.clone();
    }
    match value {
        Value::Array(items) if items.iter().all(Value::is_object) => {
            if version < (1, 3) {
                let default = items
                    .iter()
                    .find(|i| i.get("datasetId").is_none())
                    .or_else(|| items.first());
                return default.map_or(Value::Null, |i| attribute(i, version));
            }
            Value::Array(items.iter().map(|i| attribute(i, version)).collect())
        }
        Value::Object(o) => {
            let mut out = Map::new();
            let kind = o.get("type").and_then(Value::as_str).and_then(|t| {
                KINDS
                    .iter()
                    .find(|(name, since, ..)| *name == t && version < *since)
            });
            for (key, member) in o {
                if ATTRIBUTE_MEMBERS
                    .iter()
                    .any(|(name, since)| name == key && version < *since)
                {
                    continue;
                }
                match (key.as_str(), kind) {
                    ("type", Some((_, _, becomes, _, _))) => {
                        out.insert(key.clone(), Value::String((*becomes).to_owned()));
                    }
                    (k, Some((_, _, _, from, to))) if k == *from => {
                        out.insert((*to).to_owned(), member.clone());
                    }
                    (
                        "type" | "value" | "object" | "languageMap" | "json" | "vocab"
                        | "valueList" | "objectList" | "lang" | "createdAt" | "modifiedAt"
                        | "instanceId",
                        _,
                    ) => {
                        out.insert(key.clone(), member.clone());
                    }
                    // A sub-attribute.
                    _ => {
                        out.insert(key.clone(), attribute(member, version));
                    }
                }
            }
            Value::Object(out)
        }
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use serde_json::json;

    use super::*;

    #[test]
    fn an_older_source_gets_what_its_version_knows() {
        let body = json!({
            "id": "urn:e:1", "type": ["Car", "Vehicle"], "scope": "/a", "expiresAt": "2030-01-01T00:00:00Z",
            "name": {"type": "LanguageProperty", "languageMap": {"en": "car"}},
            "mode": {"type": "VocabProperty", "vocab": "fast", "observedAt": "2024-01-01T00:00:00Z"},
            "owners": {"type": "ListRelationship", "objectList": [{"object": "urn:p:1"}], "objectType": "Person"},
            "speed": [
                {"type": "Property", "value": 1, "datasetId": "urn:d:gps", "unitCode": "KMH"},
                {"type": "Property", "value": 2, "accuracy": {"type": "Property", "value": 0.5, "observedAt": "2024-01-01T00:00:00Z"}}
            ]
        });
        let at_1_5 = entity(&body, version("1.5").unwrap());
        assert!(at_1_5.get("expiresAt").is_none());
        assert_eq!(at_1_5["scope"], "/a");
        assert_eq!(at_1_5["name"]["type"], "LanguageProperty");
        assert_eq!(
            at_1_5["mode"],
            json!({"type": "Property", "value": "fast", "observedAt": "2024-01-01T00:00:00Z"})
        );
        assert_eq!(
            at_1_5["owners"],
            json!({"type": "Relationship", "object": [{"object": "urn:p:1"}]})
        );
        let at_1_0 = entity(&body, version("1.0").unwrap());
        assert_eq!(at_1_0["type"], "Car");
        assert!(at_1_0.get("scope").is_none());
        assert_eq!(
            at_1_0["name"],
            json!({"type": "Property", "value": {"en": "car"}})
        );
        assert_eq!(
            at_1_0["speed"],
            json!({"type": "Property", "value": 2, "accuracy": {"type": "Property", "value": 0.5}})
        );
        assert_eq!(entity(&body, version("1.9").unwrap()), body);
        assert_eq!(version("one"), None);
    }
}
