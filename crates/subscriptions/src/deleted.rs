//! How deletions appear in notifications (clause 5.8.6): a deleted attribute (or instance) is
//! its name with `urn:ngsi-ld:null` as value, or, when a datasetId, system attributes or a
//! previous value must be shown, an object with the null in the kind's value member.

use chrono::{DateTime, Utc};
use rigel_model::codec::render::{format_time, Format};
use rigel_model::{Attribute, AttributeValue};
use serde_json::{Map, Value};

/// The value of something deleted (clause 5.8.6).
pub const NULL_URI: &str = "urn:ngsi-ld:null";

/// What a deleted instance must show besides the null.
pub struct DeletedStyle {
    pub format: Format,
    pub sys_attrs: bool,
    pub at: DateTime<Utc>,
}

/// The member holding an attribute kind's value, and its `previous...` counterpart.
pub fn value_member(value: &AttributeValue) -> (&'static str, &'static str) {
    match value {
        AttributeValue::Relationship { .. } => ("object", "previousObject"),
        AttributeValue::LanguageProperty(_) => ("languageMap", "previousLanguageMap"),
        AttributeValue::VocabProperty(_) => ("vocab", "previousVocab"),
        AttributeValue::JsonProperty(_) => ("json", "previousJson"),
        AttributeValue::ListProperty(_) => ("valueList", "previousValueList"),
        AttributeValue::ListRelationship { .. } => ("objectList", "previousObjectList"),
        _ => ("value", "previousValue"),
    }
}

/// One deleted instance, normalized or concise: `{"type", <member>: null, datasetId?,
/// createdAt/modifiedAt/deletedAt?, previous...?}`. `previous` is the instance's previous
/// value member as rendered, for `showChanges`.
pub fn deleted_instance(
    instance: &Attribute,
    style: &DeletedStyle,
    previous: Option<&Value>,
) -> Value {
    let (member, previous_member) = value_member(&instance.value);
    let mut out = Map::new();
    if style.format == Format::Normalized {
        out.insert(
            "type".into(),
            Value::String(instance.value.type_name().into()),
        );
    }
    let null = if member == "languageMap" {
        let mut map = Map::new();
        map.insert("@none".into(), Value::String(NULL_URI.into()));
        Value::Object(map)
    } else {
        Value::String(NULL_URI.into())
    };
    out.insert(member.into(), null);
    if let Some(d) = &instance.dataset_id {
        out.insert("datasetId".into(), Value::String(d.clone()));
    }
    if style.sys_attrs {
        if let Some(t) = &instance.created_at {
            out.insert("createdAt".into(), Value::String(format_time(t)));
        }
        if let Some(t) = &instance.modified_at {
            out.insert("modifiedAt".into(), Value::String(format_time(t)));
        }
        out.insert("deletedAt".into(), Value::String(format_time(&style.at)));
    }
    if let Some(previous) = previous {
        out.insert(previous_member.into(), previous.clone());
    }
    Value::Object(out)
}

/// A whole deleted attribute: one deleted instance standing for all of them (the default
/// instance, else the first), or the bare null in keyValues.
pub fn deleted_attribute(
    instances: &[Attribute],
    style: &DeletedStyle,
    previous: Option<&Value>,
) -> Value {
    if style.format == Format::KeyValues {
        return Value::String(NULL_URI.into());
    }
    let Some(first) = instances
        .iter()
        .find(|i| i.dataset_id.is_none())
        .or_else(|| instances.first())
    else {
        return Value::String(NULL_URI.into());
    };
    let whole = Attribute {
        dataset_id: None,
        ..first.clone()
    };
    let previous = previous_member_of(previous, first);
    deleted_instance(&whole, style, previous)
}

/// Adds deleted instances to an attribute rendered from its remaining instances.
pub fn add_deleted_instances(
    rendered: &mut Value,
    deleted: &[&Attribute],
    style: &DeletedStyle,
    previous: Option<&Value>,
) {
    if style.format == Format::KeyValues {
        // keyValues shows several instances as {"dataset": {datasetId or @none: value}}.
        let mut dataset = match rendered.take() {
            Value::Object(mut o) if o.len() == 1 && o.contains_key("dataset") => {
                match o.remove("dataset") {
                    Some(Value::Object(d)) => d,
                    _ => Map::new(),
                }
            }
            other => {
                let mut d = Map::new();
                d.insert("@none".into(), other);
                d
            }
        };
        for i in deleted {
            let key = i.dataset_id.clone().unwrap_or_else(|| "@none".into());
            dataset.insert(key, Value::String(NULL_URI.into()));
        }
        let mut o = Map::new();
        o.insert("dataset".into(), Value::Object(dataset));
        *rendered = Value::Object(o);
        return;
    }
    let mut list = match rendered.take() {
        Value::Array(list) => list,
        Value::Null => Vec::new(),
        one => vec![one],
    };
    for i in deleted {
        list.push(deleted_instance(i, style, previous_member_of(previous, i)));
    }
    *rendered = match <[Value; 1]>::try_from(list) {
        Ok([one]) => one,
        Err(many) => Value::Array(many),
    };
}

/// The previous value member of `instance` in its attribute's previous rendering (an object
/// or an array of them, matched by datasetId).
fn previous_member_of<'a>(previous: Option<&'a Value>, instance: &Attribute) -> Option<&'a Value> {
    let (member, _) = value_member(&instance.value);
    let same_dataset = |o: &Map<String, Value>| {
        o.get("datasetId").and_then(Value::as_str) == instance.dataset_id.as_deref()
    };
    match previous? {
        Value::Object(o) => o.get(member),
        Value::Array(list) => list
            .iter()
            .filter_map(Value::as_object)
            .find(|o| same_dataset(o))
            .and_then(|o| o.get(member)),
        _ => None,
    }
}
