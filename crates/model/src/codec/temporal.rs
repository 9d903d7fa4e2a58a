//! Parsing of the temporal representation of an entity (EntityTemporal, clause 5.2.20) as
//! clients send it to the temporal API: each attribute member holds one instance or an array
//! of instances, which may share a datasetId, and an instance whose payload is the NGSI-LD
//! Null records a deletion (4.5.7).

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

use super::parse::{
    parse_entity_id, parse_instances, parse_scope, parse_types, NullPolicy, Patch,
    RESERVED_ATTRIBUTE_NAMES,
};
use super::values::is_null;
use crate::validate::is_valid_name;
use crate::{Attribute, AttributeValue, ModelError, TermMap, SCOPE_IRI};

/// The NGSI-LD Null (clause 4.5.7).
pub const NGSI_LD_NULL: &str = "urn:ngsi-ld:null";

/// One parsed instance of a temporal body.
#[derive(Debug, Clone, PartialEq)]
pub struct TemporalInstance {
    /// Expanded attribute name.
    pub attribute: String,
    pub value: Attribute,
    /// A deletion instance: its payload is the NGSI-LD Null.
    pub deleted: bool,
}

/// A parsed EntityTemporal body.
#[derive(Debug, Clone, PartialEq)]
pub struct TemporalBody {
    /// Absent in an Add Attributes fragment.
    pub id: Option<String>,
    /// Expanded types; empty when the body names none.
    pub types: Vec<String>,
    /// The scope the body leaves the evolution with: `None` when it names no scope,
    /// empty when its last scope instance is a deletion.
    pub scope: Option<Vec<String>>,
    pub instances: Vec<TemporalInstance>,
}

/// Members of a temporal body that are not attributes.
pub const ENTITY_MEMBERS: &[&str] = &[
    "id",
    "@id",
    "type",
    "@type",
    "scope",
    "@context",
    "createdAt",
    "modifiedAt",
    "deletedAt",
];

/// Parses a temporal body; `id` and `type` are required when `whole` (an upsert), optional
/// otherwise (Add Attributes).
pub fn parse_temporal(
    body: &Map<String, Value>,
    terms: &dyn TermMap,
    whole: bool,
    now: DateTime<Utc>,
) -> Result<TemporalBody, ModelError> {
    let id = if whole || body.contains_key("id") || body.contains_key("@id") {
        Some(parse_entity_id(body)?)
    } else {
        None
    };
    let types = match body.get("type").or_else(|| body.get("@type")) {
        Some(t) => parse_types(t, terms)?,
        None if whole => return Err(ModelError::bad_data("the entity has no \"type\" member")),
        None => Vec::new(),
    };
    let mut instances = Vec::new();
    let scope = match body.get("scope") {
        Some(v) => scope_instances(v, terms, &mut instances, now)?,
        None => None,
    };
    for (key, value) in body {
        if ENTITY_MEMBERS.contains(&key.as_str()) {
            continue;
        }
        // expiresAt is an entity member of the core API, never part of a temporal body.
        let reserved = RESERVED_ATTRIBUTE_NAMES.contains(&key.as_str()) || key == "expiresAt";
        if reserved || !is_valid_name(key) {
            return Err(ModelError::bad_data(format!(
                "{key:?} cannot name an attribute of a temporal entity"
            )));
        }
        let name = terms.expand(key).into_owned();
        if name.starts_with('@') {
            return Err(ModelError::bad_data(format!(
                "{key:?} is a JSON-LD keyword, not an attribute name"
            )));
        }
        let items: Vec<&Value> = match value {
            Value::Array(items) if !items.is_empty() && items.iter().all(Value::is_object) => {
                items.iter().collect()
            }
            other => vec![other],
        };
        for item in items {
            instances.push(parse_one(key, &name, item, terms, now)?);
        }
    }
    Ok(TemporalBody {
        id,
        types,
        scope,
        instances,
    })
}

/// The scope of a temporal body (4.5.6) as instances of a Property filed under
/// [`SCOPE_IRI`]: either scopes as the core API writes them (one instance) or temporal
/// instances whose values are scopes. Returns the scopes of the last instance, the
/// evolution's scope from now on (empty when that instance is a deletion).
fn scope_instances(
    v: &Value,
    terms: &dyn TermMap,
    out: &mut Vec<TemporalInstance>,
    now: DateTime<Utc>,
) -> Result<Option<Vec<String>>, ModelError> {
    let temporal = match v {
        Value::Object(_) => true,
        Value::Array(items) => !items.is_empty() && items.iter().all(Value::is_object),
        _ => false,
    };
    if !temporal {
        let scopes = parse_scope(v)?;
        let values = scopes.iter().cloned().map(Value::String).collect();
        out.push(TemporalInstance {
            attribute: SCOPE_IRI.to_owned(),
            value: Attribute {
                created_at: Some(now),
                modified_at: Some(now),
                ..Attribute::new(AttributeValue::Property(Value::Array(values)))
            },
            deleted: false,
        });
        return Ok(Some(scopes));
    }
    let items: Vec<&Value> = match v {
        Value::Array(items) => items.iter().collect(),
        other => vec![other],
    };
    let mut latest = None;
    for item in items {
        let kind = item.get("type").and_then(Value::as_str);
        if kind.is_some_and(|k| k != "Property") {
            return Err(ModelError::bad_data(
                "a temporal \"scope\" instance is a Property",
            ));
        }
        let mut instance = parse_one("scope", SCOPE_IRI, item, terms, now)?;
        if !instance.value.sub_attributes.is_empty() {
            return Err(ModelError::bad_data(
                "a temporal \"scope\" instance has no sub-attributes but its temporal properties",
            ));
        }
        if !instance.deleted {
            let AttributeValue::Property(value) = &instance.value.value else {
                return Err(ModelError::bad_data(
                    "a temporal \"scope\" instance is a Property",
                ));
            };
            let scopes = parse_scope(value)?;
            let values = scopes.iter().cloned().map(Value::String).collect();
            instance.value.value = AttributeValue::Property(Value::Array(values));
            latest = Some(scopes);
        } else {
            instance.value.value = AttributeValue::Property(Value::Array(Vec::new()));
            latest = Some(Vec::new());
        }
        out.push(instance);
    }
    Ok(latest)
}

fn parse_one(
    key: &str,
    name: &str,
    item: &Value,
    terms: &dyn TermMap,
    now: DateTime<Utc>,
) -> Result<TemporalInstance, ModelError> {
    if is_null(item) {
        return Err(ModelError::bad_data(format!(
            "attribute {key:?}: null is not a temporal attribute instance"
        )));
    }
    let patches = parse_instances(key, item, terms, NullPolicy::Delete, now)?;
    let Some(patch) = patches.into_iter().next() else {
        return Err(ModelError::bad_data(format!("attribute {key:?} is empty")));
    };
    let obj = item.as_object();
    let observed_at = obj
        .and_then(|o| o.get("observedAt"))
        .and_then(Value::as_str)
        .map(str::to_owned);
    if let Some(t) = &observed_at {
        if !crate::validate::is_date_time(t) {
            return Err(ModelError::bad_data(format!(
                "attribute {key:?}: observedAt {t:?} is not a DateTime"
            )));
        }
    }
    match patch {
        Patch::Set(mut value) => {
            value.observed_at = value.observed_at.or(observed_at);
            Ok(TemporalInstance {
                attribute: name.to_owned(),
                value,
                deleted: false,
            })
        }
        Patch::Delete { dataset_id } => {
            let kind = obj
                .and_then(|o| o.get("type"))
                .and_then(Value::as_str)
                .unwrap_or("Property");
            let kind = kind.rsplit(['/', '#']).next().unwrap_or(kind);
            Ok(TemporalInstance {
                attribute: name.to_owned(),
                value: Attribute {
                    dataset_id,
                    observed_at,
                    created_at: Some(now),
                    modified_at: Some(now),
                    ..Attribute::new(null_of_kind(kind))
                },
                deleted: true,
            })
        }
    }
}

/// The NGSI-LD Null in the payload shape of an attribute kind named by its short type.
pub fn null_of_kind(kind: &str) -> AttributeValue {
    let null = || Value::String(NGSI_LD_NULL.into());
    match kind {
        "Relationship" => AttributeValue::Relationship {
            object: null(),
            object_type: None,
        },
        "GeoProperty" => AttributeValue::GeoProperty(null()),
        "LanguageProperty" => {
            let mut map = Map::new();
            map.insert("@none".into(), null());
            AttributeValue::LanguageProperty(map)
        }
        "VocabProperty" => AttributeValue::VocabProperty(null()),
        "JsonProperty" => AttributeValue::JsonProperty(null()),
        "ListProperty" => AttributeValue::ListProperty(vec![null()]),
        "ListRelationship" => AttributeValue::ListRelationship {
            object_list: vec![NGSI_LD_NULL.into()],
            object_type: None,
        },
        _ => AttributeValue::Property(null()),
    }
}
