//! Parsing of NGSI-LD entity and attribute JSON (normalized or concise) into the typed model.
//!
//! Names are expanded through a [`TermMap`]; every rule broken gives `BadRequestData` with a
//! detail naming the offending member.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

use super::values::{
    check_language_map, check_object_list, check_objects, expand_vocab, infer_kind, is_null,
    kind_name, optional_string, parse_object_type, plain,
};
pub use super::values::{
    expand_attribute_json, is_attribute_object, is_ngsi_ld_null, is_null_payload, payload_member,
};
use crate::validate::{check_geometry, is_date_time, is_uri, is_valid_name, looks_like_geometry};
use crate::{Attribute, AttributeValue, Attributes, Entity, ModelError, TermMap};

/// The NGSI-LD Null (clause 4.5.0): deletes what it is assigned to in patches.
pub const NGSI_LD_NULL: &str = "urn:ngsi-ld:null";

pub(super) const NGSI_LD: &str = "https://uri.etsi.org/ngsi-ld/";

/// Members of an attribute object that are not sub-attributes.
pub(super) const ATTRIBUTE_MEMBERS: &[&str] = &[
    "type",
    "value",
    "object",
    "objectType",
    "languageMap",
    "vocab",
    "json",
    "valueList",
    "objectList",
    "datasetId",
    "observedAt",
    "unitCode",
    "valueType",
    "expiresAt",
    "lang",
];
/// System-generated or output-only members: accepted on input and ignored.
pub(super) const IGNORED_MEMBERS: &[&str] = &[
    "createdAt",
    "modifiedAt",
    "deletedAt",
    "instanceId",
    "previousValue",
    "previousObject",
    "previousLanguageMap",
    "previousVocab",
    "previousJson",
    "previousValueList",
    "previousObjectList",
];
/// The members carrying an attribute's payload; each kind has exactly one of them.
const PAYLOAD_MEMBERS: &[&str] = &[
    "value",
    "object",
    "languageMap",
    "vocab",
    "json",
    "valueList",
    "objectList",
];
/// Core terms of non-reified properties: never attribute names (clause 4.5.1).
pub const RESERVED_ATTRIBUTE_NAMES: &[&str] = &[
    "instanceId",
    "datasetId",
    "observedAt",
    "unitCode",
    "valueType",
    "value",
    "object",
    "objectType",
    "objectList",
    "valueList",
    "languageMap",
    "vocab",
    "json",
    "lang",
    "entity",
    "entityList",
];

/// One parsed instance of an attribute in a patch: set it, or delete it (NGSI-LD Null).
/// Patches live briefly in small vectors, so the size gap between variants does not matter.
#[derive(Debug, Clone, PartialEq)]
#[allow(clippy::large_enum_variant)]
pub enum Patch {
    Set(Attribute),
    Delete { dataset_id: Option<String> },
}

impl Patch {
    pub fn dataset_id(&self) -> Option<&str> {
        match self {
            Self::Set(a) => a.dataset_id.as_deref(),
            Self::Delete { dataset_id } => dataset_id.as_deref(),
        }
    }
}

/// A parsed attribute fragment: expanded attribute name -> instances to apply.
pub type Fragment = BTreeMap<String, Vec<Patch>>;

/// How strictly to parse: whether NGSI-LD Nulls (deletions) are allowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NullPolicy {
    Reject,
    Delete,
}

/// Parses a whole entity for creation or replacement. `id` and `type` are mandatory.
pub fn parse_entity(
    body: &Map<String, Value>,
    terms: &dyn TermMap,
    now: DateTime<Utc>,
) -> Result<Entity, ModelError> {
    let id = parse_entity_id(body)?;
    let types = parse_types(
        body.get("type")
            .or_else(|| body.get("@type"))
            .ok_or_else(|| ModelError::bad_data("the entity has no \"type\" member"))?,
        terms,
    )?;
    let scope = body.get("scope").map(parse_scope).transpose()?;
    let mut attributes = Attributes::new();
    for (name, patches) in parse_fragment_members(body, terms, NullPolicy::Reject, now)? {
        let instances = patches
            .into_iter()
            .filter_map(|p| match p {
                Patch::Set(a) => Some(a),
                Patch::Delete { .. } => None,
            })
            .collect();
        attributes.insert(name, instances);
    }
    Ok(Entity {
        id,
        types,
        scope,
        attributes,
        created_at: now,
        modified_at: now,
    })
}

/// Parses the attributes of a fragment (append, update, merge bodies). Entity-level members
/// (`id`, `type`, `scope`, `@context`) are skipped; callers read them separately.
pub fn parse_fragment(
    body: &Map<String, Value>,
    terms: &dyn TermMap,
    nulls: NullPolicy,
    now: DateTime<Utc>,
) -> Result<Fragment, ModelError> {
    parse_fragment_members(body, terms, nulls, now)
}

/// The `id` (or `@id`) of an entity body: mandatory, an absolute URI.
pub fn parse_entity_id(body: &Map<String, Value>) -> Result<String, ModelError> {
    let id = body
        .get("id")
        .or_else(|| body.get("@id"))
        .ok_or_else(|| ModelError::bad_data("the entity has no \"id\" member"))?;
    let id = id
        .as_str()
        .ok_or_else(|| ModelError::bad_data("the entity \"id\" must be a string"))?;
    if !is_uri(id) {
        return Err(ModelError::bad_data(format!(
            "the entity id {id:?} is not a URI"
        )));
    }
    Ok(id.to_owned())
}

/// Entity types: a name or a non-empty array of names, expanded, without duplicates.
pub fn parse_types(v: &Value, terms: &dyn TermMap) -> Result<Vec<String>, ModelError> {
    let names: Vec<&str> = match v {
        Value::String(s) => vec![s.as_str()],
        Value::Array(items) if !items.is_empty() => items
            .iter()
            .map(|i| {
                i.as_str()
                    .ok_or_else(|| ModelError::bad_data("entity types must be strings"))
            })
            .collect::<Result<_, _>>()?,
        _ => {
            return Err(ModelError::bad_data(
                "\"type\" must be a name or a non-empty array of names",
            ))
        }
    };
    let mut out: Vec<String> = Vec::with_capacity(names.len());
    for n in names {
        if !is_valid_name(n) {
            return Err(ModelError::bad_data(format!(
                "{n:?} is not a valid entity type name"
            )));
        }
        let iri = terms.expand(n).into_owned();
        if iri.starts_with('@') {
            return Err(ModelError::bad_data(format!(
                "{n:?} is a JSON-LD keyword, not an entity type"
            )));
        }
        if !out.contains(&iri) {
            out.push(iri);
        }
    }
    Ok(out)
}

/// Scopes (clause 4.18): `/segment/segment` strings, one or an array.
pub fn parse_scope(v: &Value) -> Result<Vec<String>, ModelError> {
    let items: Vec<&Value> = match v {
        Value::Array(a) => a.iter().collect(),
        other => vec![other],
    };
    items
        .into_iter()
        .map(|i| {
            let s = i
                .as_str()
                .ok_or_else(|| ModelError::bad_data("\"scope\" values must be strings"))?;
            let ok = s.starts_with('/')
                && s[1..].split('/').all(|seg| {
                    !seg.is_empty()
                        && seg
                            .chars()
                            .all(|c| c.is_alphanumeric() || c == '_' || c == '-')
                });
            if ok {
                Ok(s.to_owned())
            } else {
                Err(ModelError::bad_data(format!("{s:?} is not a valid scope")))
            }
        })
        .collect()
}

fn parse_fragment_members(
    body: &Map<String, Value>,
    terms: &dyn TermMap,
    nulls: NullPolicy,
    now: DateTime<Utc>,
) -> Result<Fragment, ModelError> {
    let mut out = Fragment::new();
    for (key, value) in body {
        if matches!(
            key.as_str(),
            "id" | "@id"
                | "type"
                | "@type"
                | "scope"
                | "@context"
                | "createdAt"
                | "modifiedAt"
                | "deletedAt"
        ) {
            continue;
        }
        if RESERVED_ATTRIBUTE_NAMES.contains(&key.as_str())
            || key.starts_with("previous") && IGNORED_MEMBERS.contains(&key.as_str())
        {
            return Err(ModelError::bad_data(format!(
                "{key:?} is a core NGSI-LD term and cannot name an attribute"
            )));
        }
        if !is_valid_name(key) {
            return Err(ModelError::bad_data(format!(
                "{key:?} is not a valid attribute name"
            )));
        }
        let name = terms.expand(key).into_owned();
        if name.starts_with('@') {
            return Err(ModelError::bad_data(format!(
                "{key:?} is a JSON-LD keyword, not an attribute name"
            )));
        }
        let patches = parse_instances(key, value, terms, nulls, now)?;
        out.entry(name).or_default().extend(patches);
    }
    for (name, patches) in &out {
        let mut seen: Vec<Option<&str>> = Vec::with_capacity(patches.len());
        for p in patches {
            if seen.contains(&p.dataset_id()) {
                return Err(ModelError::bad_data(format!(
                    "attribute {:?} has two instances with the same datasetId",
                    terms.compact(name)
                )));
            }
            seen.push(p.dataset_id());
        }
    }
    Ok(out)
}

/// Parses the value of one attribute member: one instance or an array of instances.
pub fn parse_instances(
    key: &str,
    value: &Value,
    terms: &dyn TermMap,
    nulls: NullPolicy,
    now: DateTime<Utc>,
) -> Result<Vec<Patch>, ModelError> {
    match value {
        Value::Array(items) if !items.is_empty() && items.iter().all(Value::is_object) => items
            .iter()
            .map(|i| parse_instance(key, i, terms, nulls, now))
            .collect(),
        other => Ok(vec![parse_instance(key, other, terms, nulls, now)?]),
    }
}

fn parse_instance(
    key: &str,
    value: &Value,
    terms: &dyn TermMap,
    nulls: NullPolicy,
    now: DateTime<Utc>,
) -> Result<Patch, ModelError> {
    let bad = |what: &str| ModelError::bad_data(format!("attribute {key:?}: {what}"));
    if is_null(value) {
        return match nulls {
            NullPolicy::Delete => Ok(Patch::Delete { dataset_id: None }),
            NullPolicy::Reject => Err(bad("null is not a valid attribute value")),
        };
    }
    let Some(obj) = value.as_object() else {
        // Concise: a bare value is a Property.
        return Ok(Patch::Set(plain(
            AttributeValue::Property(value.clone()),
            now,
        )));
    };
    if looks_like_geometry(value) {
        check_geometry(value).map_err(|e| bad(&e))?;
        return Ok(Patch::Set(plain(
            AttributeValue::GeoProperty(value.clone()),
            now,
        )));
    }
    let kind = match obj.get("type") {
        Some(Value::String(t)) => {
            Some(kind_name(t, terms).ok_or_else(|| bad(&format!("unknown attribute type {t:?}")))?)
        }
        Some(_) => return Err(bad("\"type\" must be a string")),
        None => infer_kind(obj),
    };
    let Some(kind) = kind else {
        // Concise: a JSON object without any NGSI-LD member is a structured Property value.
        return Ok(Patch::Set(plain(
            AttributeValue::Property(value.clone()),
            now,
        )));
    };
    if obj.contains_key("@context") {
        return Err(bad("an attribute cannot embed an @context (clause 5.5.7)"));
    }
    let own = payload_member(kind);
    if let Some(other) = PAYLOAD_MEMBERS
        .iter()
        .chain(&["entity", "entityList"])
        .find(|m| **m != own && obj.contains_key(**m))
    {
        return Err(bad(&format!("a {kind} cannot have a \"{other}\" member")));
    }
    if obj.contains_key("unitCode")
        && matches!(
            kind,
            "Relationship"
                | "LanguageProperty"
                | "VocabProperty"
                | "JsonProperty"
                | "ListRelationship"
        )
    {
        return Err(bad(&format!("a {kind} cannot have a \"unitCode\"")));
    }
    let dataset_id = match obj.get("datasetId") {
        None => None,
        Some(Value::String(d)) if is_uri(d) => Some(d.clone()),
        Some(_) => return Err(bad("\"datasetId\" must be a URI")),
    };
    let member = |m: &str| {
        obj.get(m)
            .ok_or_else(|| bad(&format!("a {kind} needs a \"{m}\" member")))
    };
    let payload = match kind {
        "Property" => member("value")?,
        "Relationship" => member("object")?,
        "GeoProperty" => member("value")?,
        "LanguageProperty" => member("languageMap")?,
        "VocabProperty" => member("vocab")?,
        "JsonProperty" => member("json")?,
        "ListProperty" => member("valueList")?,
        _ => member("objectList")?,
    };
    if is_null_payload(payload) {
        return match nulls {
            NullPolicy::Delete => Ok(Patch::Delete { dataset_id }),
            NullPolicy::Reject => Err(bad("an NGSI-LD Null is only allowed in patches")),
        };
    }
    let value = match kind {
        "Property" => AttributeValue::Property(payload.clone()),
        "Relationship" => AttributeValue::Relationship {
            object: check_objects(payload).map_err(|e| bad(&e))?,
            object_type: parse_object_type(obj, terms).map_err(|e| bad(&e))?,
        },
        "GeoProperty" => {
            check_geometry(payload).map_err(|e| bad(&e))?;
            AttributeValue::GeoProperty(payload.clone())
        }
        "LanguageProperty" => {
            AttributeValue::LanguageProperty(check_language_map(payload).map_err(|e| bad(&e))?)
        }
        "VocabProperty" => {
            AttributeValue::VocabProperty(expand_vocab(payload, terms).map_err(|e| bad(&e))?)
        }
        "JsonProperty" => AttributeValue::JsonProperty(payload.clone()),
        "ListProperty" => AttributeValue::ListProperty(
            payload
                .as_array()
                .ok_or_else(|| bad("\"valueList\" must be an array"))?
                .clone(),
        ),
        _ => AttributeValue::ListRelationship {
            object_list: check_object_list(payload).map_err(|e| bad(&e))?,
            object_type: parse_object_type(obj, terms).map_err(|e| bad(&e))?,
        },
    };
    let observed_at = optional_string(obj, "observedAt", key)?;
    if let Some(t) = &observed_at {
        if !is_date_time(t) {
            return Err(bad("\"observedAt\" must be an ISO 8601 date-time"));
        }
    }
    let expires_at = optional_string(obj, "expiresAt", key)?;
    if let Some(t) = &expires_at {
        if !is_date_time(t) {
            return Err(bad("\"expiresAt\" must be an ISO 8601 date-time"));
        }
    }
    let mut sub_attributes = BTreeMap::new();
    for (sub_key, sub_value) in obj {
        if ATTRIBUTE_MEMBERS.contains(&sub_key.as_str())
            || IGNORED_MEMBERS.contains(&sub_key.as_str())
        {
            continue;
        }
        if !is_valid_name(sub_key) {
            return Err(bad(&format!(
                "{sub_key:?} is not a valid sub-attribute name"
            )));
        }
        match parse_instance(sub_key, sub_value, terms, NullPolicy::Reject, now) {
            Ok(Patch::Set(sub)) => {
                sub_attributes.insert(terms.expand(sub_key).into_owned(), sub);
            }
            Ok(Patch::Delete { .. }) => {}
            Err(e) => {
                return Err(ModelError::bad_data(format!(
                    "attribute {key:?}: {}",
                    e.detail
                )))
            }
        }
    }
    Ok(Patch::Set(Attribute {
        value,
        dataset_id,
        observed_at,
        unit_code: optional_string(obj, "unitCode", key)?,
        value_type: optional_string(obj, "valueType", key)?,
        expires_at,
        sub_attributes,
        created_at: Some(now),
        modified_at: Some(now),
    }))
}
