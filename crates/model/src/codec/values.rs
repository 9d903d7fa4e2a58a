//! Checks and helpers for attribute payloads: kinds, NGSI-LD Nulls, URIs in relationships,
//! language maps, vocabularies, and the expansion of attribute fragments.

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

use super::parse::{ATTRIBUTE_MEMBERS, IGNORED_MEMBERS, NGSI_LD, NGSI_LD_NULL};
use crate::validate::{is_uri, is_valid_name, looks_like_geometry};
use crate::{Attribute, AttributeValue, ModelError, TermMap};

pub(super) fn is_null(v: &Value) -> bool {
    v.is_null() || v.as_str() == Some(NGSI_LD_NULL)
}

pub(super) fn plain(value: AttributeValue, now: DateTime<Utc>) -> Attribute {
    Attribute {
        created_at: Some(now),
        modified_at: Some(now),
        ..Attribute::new(value)
    }
}

/// Maps the attribute "type" member (a term or the full IRI) to a kind name.
pub(super) fn kind_name(t: &str, terms: &dyn TermMap) -> Option<&'static str> {
    let expanded = terms.expand(t);
    crate::ATTRIBUTE_KINDS
        .iter()
        .find(|k| **k == t || expanded.strip_prefix(NGSI_LD) == Some(**k))
        .copied()
}

pub(super) fn infer_kind(obj: &Map<String, Value>) -> Option<&'static str> {
    if let Some(v) = obj.get("value") {
        return Some(if looks_like_geometry(v) {
            "GeoProperty"
        } else {
            "Property"
        });
    }
    [
        ("object", "Relationship"),
        ("languageMap", "LanguageProperty"),
        ("vocab", "VocabProperty"),
        ("json", "JsonProperty"),
        ("valueList", "ListProperty"),
        ("objectList", "ListRelationship"),
    ]
    .into_iter()
    .find(|(m, _)| obj.contains_key(*m))
    .map(|(_, k)| k)
}

pub(super) fn optional_string(
    obj: &Map<String, Value>,
    member: &str,
    key: &str,
) -> Result<Option<String>, ModelError> {
    match obj.get(member) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(ModelError::bad_data(format!(
            "attribute {key:?}: \"{member}\" must be a string"
        ))),
    }
}

pub(super) fn is_null_list(v: &Value) -> bool {
    v.as_array().is_some_and(|a| a.len() == 1 && is_null(&a[0]))
}

pub(super) fn is_null_language_map(v: &Value) -> bool {
    v.as_object()
        .is_some_and(|m| m.len() == 1 && m.get("@none").is_some_and(is_null))
}

pub(super) fn check_objects(v: &Value) -> Result<Value, String> {
    match v {
        Value::String(s) if is_uri(s) => Ok(v.clone()),
        Value::Array(a) if !a.is_empty() && a.iter().all(|i| i.as_str().is_some_and(is_uri)) => {
            Ok(v.clone())
        }
        _ => Err("\"object\" must be a URI or a non-empty array of URIs".into()),
    }
}

pub(super) fn check_object_list(v: &Value) -> Result<Vec<String>, String> {
    let items = v.as_array().ok_or("\"objectList\" must be an array")?;
    items
        .iter()
        .map(|i| {
            let uri = match i {
                Value::String(s) => Some(s.as_str()),
                Value::Object(o) => o.get("object").and_then(Value::as_str),
                _ => None,
            };
            uri.filter(|u| is_uri(u))
                .map(str::to_owned)
                .ok_or_else(|| "\"objectList\" items must be {\"object\": URI}".to_owned())
        })
        .collect()
}

pub(super) fn parse_object_type(
    obj: &Map<String, Value>,
    terms: &dyn TermMap,
) -> Result<Option<Value>, String> {
    match obj.get("objectType") {
        None => Ok(None),
        Some(v) => expand_vocab(v, terms).map(Some),
    }
}

pub(super) fn check_language_map(v: &Value) -> Result<Map<String, Value>, String> {
    let m = v
        .as_object()
        .ok_or("\"languageMap\" must be a JSON object")?;
    for (tag, text) in m {
        let tag_ok = tag == "@none"
            || (!tag.is_empty() && tag.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'));
        let text_ok = text.is_string()
            || text
                .as_array()
                .is_some_and(|a| a.iter().all(Value::is_string));
        if !tag_ok {
            return Err(format!("{tag:?} is not a language tag"));
        }
        if !text_ok {
            return Err(format!(
                "the text for {tag:?} must be a string or an array of strings"
            ));
        }
    }
    Ok(m.clone())
}

pub(super) fn expand_vocab(v: &Value, terms: &dyn TermMap) -> Result<Value, String> {
    let one = |s: &str| -> Result<Value, String> {
        if is_valid_name(s) || is_uri(s) {
            Ok(Value::String(terms.expand(s).into_owned()))
        } else {
            Err(format!("{s:?} is not a valid vocabulary term"))
        }
    };
    match v {
        Value::String(s) => one(s),
        Value::Array(a) if !a.is_empty() => a
            .iter()
            .map(|i| {
                i.as_str()
                    .ok_or_else(|| "vocabulary values must be strings".to_owned())
                    .and_then(one)
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Value::Array),
        _ => Err("a vocabulary value must be a string or a non-empty array of strings".into()),
    }
}

/// Rewrites an attribute fragment so that every name in it is a full IRI, without otherwise
/// validating it: sub-attribute keys, `vocab` and `objectType` values are expanded, the kind in
/// `type` becomes its short core name. The result can be merged with an existing attribute
/// rendered through [`crate::IdentityTerms`] and parsed again with them.
/// With `members` the object is taken as a set of attribute members even when it has no
/// type or payload (a partial update body such as `{"observedAt": ...}`).
pub fn expand_attribute_json(value: &Value, terms: &dyn TermMap, members: bool) -> Value {
    let Some(obj) = value.as_object() else {
        return value.clone();
    };
    if looks_like_geometry(value) || !(members || is_attribute_object(obj)) {
        return value.clone();
    }
    let mut out = Map::with_capacity(obj.len());
    for (k, v) in obj {
        let v = match k.as_str() {
            "type" => match v.as_str().and_then(|t| kind_name(t, terms)) {
                Some(kind) => Value::String(kind.into()),
                None => v.clone(),
            },
            "vocab" | "objectType" => expand_vocab(v, terms).unwrap_or_else(|_| v.clone()),
            m if ATTRIBUTE_MEMBERS.contains(&m) || IGNORED_MEMBERS.contains(&m) => v.clone(),
            _ => {
                out.insert(
                    terms.expand(k).into_owned(),
                    expand_attribute_json(v, terms, false),
                );
                continue;
            }
        };
        out.insert(k.clone(), v);
    }
    Value::Object(out)
}

/// Whether a JSON object is an attribute (has a type, a payload member or attribute metadata)
/// rather than a concise structured value.
pub fn is_attribute_object(obj: &Map<String, Value>) -> bool {
    obj.contains_key("type")
        || infer_kind(obj).is_some()
        || ["datasetId", "observedAt", "unitCode"]
            .iter()
            .any(|m| obj.contains_key(*m))
}

/// The member holding the payload of an attribute kind (`value`, `object`, ...).
pub fn payload_member(kind: &str) -> &'static str {
    match kind {
        "Relationship" => "object",
        "LanguageProperty" => "languageMap",
        "VocabProperty" => "vocab",
        "JsonProperty" => "json",
        "ListProperty" => "valueList",
        "ListRelationship" => "objectList",
        _ => "value",
    }
}

/// Whether an attribute payload (`value`, `object`, `languageMap`, `valueList`, ...) is an
/// NGSI-LD Null in any of its spellings (clause 4.5.0).
pub fn is_null_payload(v: &Value) -> bool {
    is_null(v) || is_null_list(v) || is_null_language_map(v)
}

/// Whether a JSON value is an NGSI-LD Null (or JSON null).
pub fn is_ngsi_ld_null(v: &Value) -> bool {
    is_null(v)
}
